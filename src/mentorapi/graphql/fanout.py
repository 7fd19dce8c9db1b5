"""Every committed `session.*` event (and every change of a speed-mentoring event's schedule),
from whichever process committed it, to this process's subscriptions (PostgreSQL).

A trigger on `events` (migration d5e8f1a2b3c4) NOTIFYs `mentorapi_sessions` with
`<app_id> <event_id>` as part of the committing transaction: any API process, `mentorapi
worker` (expiries, housekeeping), the CLI. PostgreSQL delivers the notices of different
transactions in commit order, and never those of a rollback. Each API process LISTENs on one
connection of its own (db/listen.py), queues the ids in the order heard, and one reader task
reads each burst with one SELECT (through the pool, like any request) and publishes the rows in
that same order to the in-process pub/sub. So each subscriber hears each change once (this is
the only path on PostgreSQL: graphql/feed.py's after-commit publisher is for SQLite), in commit
order, per session and overall.

Never silently lossy:
- While the LISTEN connection is down nothing is heard; when it is back every current
  subscriber gets a gap marker (`Gap(feed_interrupted)`) before anything else: whatever was
  committed meanwhile is not replayed, the client reads the sessions again.
- A burst that cannot be read (the database failing the SELECT) is dropped with a gap marker
  to every subscriber, likewise.
- A subscriber that falls behind loses its oldest messages and is told (graphql/pubsub.py).
The ids waiting to be read are bounded (`MAX_PENDING`): past it the oldest go, with a marker.
"""

import asyncio
import contextlib
import logging

from mentorapi.db.engine import Database
from mentorapi.db.listen import listen
from mentorapi.graphql.feed import message_of, publish
from mentorapi.graphql.pubsub import PubSub
from mentorapi.webhooks import repository

log = logging.getLogger("mentorapi.graphql")

CHANNEL = "mentorapi_sessions"
APPLICATION_NAME = "mentorapi subscriptions"  # how the listener shows in pg_stat_activity
PING_EVERY = 5.0  # seconds between checks that the listening connection still answers
BATCH = 500  # ids per SELECT
MAX_PENDING = 10_000  # ids heard and not yet read, at most
START_TIMEOUT = 10.0  # seconds start-up waits for LISTEN (subscribers meanwhile get a gap)


def parse(payload: str) -> tuple[str, str] | None:
    """(app_id, event_id) of a notice, or None for a payload we did not write."""
    app_id, _, event_id = payload.partition(" ")
    return (app_id, event_id) if app_id and event_id else None


class Fanout:
    def __init__(self, database: Database, pubsub: PubSub, database_url: str) -> None:
        self._database = database
        self._pubsub = pubsub
        self._database_url = database_url
        self._pending: list[tuple[str, str]] = []
        self._wake = asyncio.Event()
        self._listening = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0  # events handed to the pub/sub (for tests and curious operators)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def until_listening(self) -> None:
        await self._listening.wait()

    async def start(self) -> None:
        """Listen and read in the background; return once listening (or after START_TIMEOUT:
        serving subscriptions late is better than not serving the API)."""
        listening = listen(
            self._database_url,
            CHANNEL,
            lambda: None,
            name=APPLICATION_NAME,
            on_up=self._up,
            on_down=self._listening.clear,
            ping_every=PING_EVERY,
            on_payload=self._heard,
        )
        self._tasks = [
            asyncio.create_task(listening, name="subscriptions LISTEN"),
            asyncio.create_task(self._read_loop(), name="subscriptions read"),
        ]
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await self.until_listening()
        except TimeoutError:
            log.warning("subscriptions: not listening yet; subscribers will get a gap marker")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # --- hearing ---------------------------------------------------------------------------------

    def _up(self) -> None:
        # Whatever was committed while we were not listening is lost to everyone subscribed now.
        told = self._pubsub.interrupt()
        if told:
            log.warning("subscriptions: listening again; %d subscribers told of a gap", told)
        self._listening.set()

    def _heard(self, payload: str) -> None:
        key = parse(payload)
        if key is None:
            log.warning("subscriptions: a notice we cannot read: %r", payload[:100])
            return
        if len(self._pending) >= MAX_PENDING:
            # The reader cannot keep up (the database is slow or failing): drop the oldest,
            # and say so, rather than grow without bound.
            del self._pending[: len(self._pending) - MAX_PENDING + 1]
            self._pubsub.interrupt()
        self._pending.append(key)
        self._wake.set()

    # --- reading ---------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
                try:
                    await self._publish(batch)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("subscriptions: could not read %d events", len(batch))
                    self._pubsub.interrupt()

    async def _publish(self, batch: list[tuple[str, str]]) -> None:
        # Only what someone here listens to: with no subscriber of an app in this process,
        # nobody would hear its events (every API process hears every commit's notice).
        listening = self._pubsub.apps()
        batch = [key for key in batch if key[0] in listening]
        if not batch:
            return
        async with self._database.sessionmaker() as db_session:
            rows = await repository.events_by_keys(db_session, batch)
            # Read before the rollback below expires the rows.
            found = {(row.app_id, row.id): message_of(row) for row in rows}
            await db_session.rollback()  # read only: end the transaction, return the connection
        for key in batch:  # in the order heard: commit order
            event = found.get(key)
            if event is not None:
                publish(self._pubsub, event)
                self.published += 1
