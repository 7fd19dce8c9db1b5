"""A tiny in-process publish/subscribe for GraphQL subscriptions.

Publishers call `publish(topic, message)`; a subscription resolver iterates `subscribe(topic)`.
Topics are strings; scope them by tenant (`topic_for(app_id, "session.booked")`) so no app ever
sees another's messages. What feeds it: graphql/feed.py after each commit of this process on
SQLite (one process); on PostgreSQL graphql/fanout.py, from the NOTIFY of every committed event
whichever process committed it.

A slow subscriber never blocks a publisher: its queue is bounded and it loses the oldest
message, but never silently: the next thing it reads is a `Gap` saying how many it lost, then
the messages that remain, in order. `interrupt()` gives every subscriber a `Gap` whose count is
unknown (the feed itself lost messages, e.g. its LISTEN connection was down).
"""

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

QUEUE_SIZE = 100


def topic_for(app_id: str, name: str) -> str:
    return f"{app_id}:{name}"


class GapReason(StrEnum):
    slow_subscriber = "slow_subscriber"  # this subscriber fell behind; its oldest were dropped
    feed_interrupted = "feed_interrupted"  # the process heard nothing for a while (LISTEN down)


@dataclass(frozen=True, slots=True)
class Gap:
    """Messages were lost just before the next one; `missed` is None when nobody can count them.
    `interruption`: the number of the pub/sub's `interrupt()` that lost them (the latest one,
    when the subscriber was told of several before it read), the same for every subscriber it
    told; None for a subscriber's own loss (slow_subscriber)."""

    reason: GapReason
    missed: int | None
    interruption: int | None = None


class _Subscriber:
    __slots__ = ("interrupted", "missed", "queue", "ready")

    def __init__(self) -> None:
        self.queue: deque[Any] = deque()
        self.missed = 0
        self.interrupted: int | None = None  # the latest interrupt() not yet reported
        self.ready = asyncio.Event()

    def gap(self) -> Gap | None:
        """The gap to report before the next message, if any (and forget it)."""
        if self.interrupted is not None:
            found = Gap(GapReason.feed_interrupted, None, self.interrupted)
        elif self.missed:
            found = Gap(GapReason.slow_subscriber, self.missed)
        else:
            return None
        self.interrupted, self.missed = None, 0
        return found


class PubSub:
    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._subscribers: defaultdict[str, set[_Subscriber]] = defaultdict(set)
        self._interruptions = 0

    def subscribers(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))

    def apps(self) -> set[str]:
        """The apps with a subscriber in this process (topics are `topic_for`'s)."""
        return {topic.partition(":")[0] for topic in self._subscribers}

    def publish(self, topic: str, message: Any) -> int:
        """Deliver to every current subscriber of `topic` without waiting; returns how many."""
        subscribers = self._subscribers.get(topic, set())
        for subscriber in subscribers:
            if len(subscriber.queue) >= self._queue_size:
                subscriber.queue.popleft()  # drop the oldest: a stalled client must not stall us
                subscriber.missed += 1
            subscriber.queue.append(message)
            subscriber.ready.set()
        return len(subscribers)

    def interrupt(self) -> int:
        """Tell every current subscriber that messages may have been lost; returns how many."""
        self._interruptions += 1
        told = 0
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.interrupted = self._interruptions
                subscriber.ready.set()
                told += 1
        return told

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[Any]]:
        """`async with pubsub.subscribe(t) as messages: async for m in messages: ...`; a
        message is what was published, or a `Gap`."""
        subscriber = _Subscriber()
        self._subscribers[topic].add(subscriber)

        async def messages() -> AsyncIterator[Any]:
            while True:
                # The gap first: what was lost came before everything still queued.
                gap = subscriber.gap()
                if gap is not None:
                    yield gap
                elif subscriber.queue:
                    yield subscriber.queue.popleft()
                else:
                    subscriber.ready.clear()
                    await subscriber.ready.wait()

        try:
            yield messages()
        finally:
            self._subscribers[topic].discard(subscriber)
            if not self._subscribers[topic]:
                del self._subscribers[topic]
