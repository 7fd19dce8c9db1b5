"""A tiny in-process publish/subscribe for GraphQL subscriptions.

Publishers (the webhooks outbox, after its transaction commits) call `publish(topic, message)`;
a subscription resolver iterates `subscribe(topic)`. Topics are strings; scope them by tenant
(`topic_for(app_id, "session.booked")`) so no app ever sees another's messages.

In-process on purpose: it reaches the subscribers connected to this process only. With several
API processes, feed it from PostgreSQL LISTEN/NOTIFY in each process (the outbox already writes
the rows), so nothing shared lives in process memory.
A slow subscriber never blocks a publisher: its queue is bounded and it loses the oldest message.
"""

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

QUEUE_SIZE = 100


def topic_for(app_id: str, name: str) -> str:
    return f"{app_id}:{name}"


class PubSub:
    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._subscribers: defaultdict[str, set[asyncio.Queue[Any]]] = defaultdict(set)

    def subscribers(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))

    def publish(self, topic: str, message: Any) -> int:
        """Deliver to every current subscriber of `topic` without waiting; returns how many."""
        queues = self._subscribers.get(topic, set())
        for queue in queues:
            if queue.full():
                queue.get_nowait()  # drop the oldest: a stalled client must not stall us
            queue.put_nowait(message)
        return len(queues)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[Any]]:
        """`async with pubsub.subscribe(t) as messages: async for m in messages: ...`"""
        queue: asyncio.Queue[Any] = asyncio.Queue(self._queue_size)
        self._subscribers[topic].add(queue)

        async def messages() -> AsyncIterator[Any]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            self._subscribers[topic].discard(queue)
            if not self._subscribers[topic]:
                del self._subscribers[topic]
