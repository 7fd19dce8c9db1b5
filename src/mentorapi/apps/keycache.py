"""The apps of API keys, remembered by each process on PostgreSQL and forgotten the moment an app
or a key changes.

Every authenticated request looks its key up: on a slots request that statement was a fifth of
the CPU, on the server and in PostgreSQL. Each process keeps the apps of the keys it has seen,
and forgets all of them when PostgreSQL says an app or a key changed: triggers on `apps` and
`api_keys` (migration b7d41e6a0c53) NOTIFY `mentorapi_auth` at the commit of any statement that
writes them, whoever wrote it, and each process LISTENs on a connection of its own.

- Only while listening. Starting up, or with the connection lost, nothing is kept and every
  request reads the database, as without a cache; losing the connection forgets everything.
- A lookup that began before a change and ended after its notice is not kept (a generation
  count), so a revoked key is never remembered as live.
- A process forgets at once when it commits a write to `apps` or `api_keys` itself (`watch`),
  so a client reads its own change back (PATCH /v1/app, then GET). SQLAlchemy's commit event
  comes just before the commit: a lookup by another request in that instant can keep the old
  row until the notice, which follows the commit by about a millisecond.
- Other processes learn of a change from the notice: in the moment between a commit and its
  notice (about a millisecond on one host) they may still accept a key just revoked, as they
  would a request that had arrived a moment earlier.
- A key's expiry needs no notice: each entry holds it and is checked on every use.
- A silent network failure cannot leave entries standing: the listener checks its connection
  every few seconds, and no entry is used after `MAX_AGE`.
- Unknown keys are never kept (a client cannot fill the memory), and at `CAPACITY` keys the
  cache starts over.
"""

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from mentorapi.apps.models import AppRecord
from mentorapi.db.listen import listen

CHANNEL = "mentorapi_auth"
APPLICATION_NAME = "mentorapi key cache"  # how the listener shows in pg_stat_activity
CAPACITY = 10_000
MAX_AGE = 60.0  # seconds an entry may be used, notices or not
PING_EVERY = 5.0  # seconds between checks that the listening connection still answers
# A statement that writes apps or keys, or deletes a member (whose tokens then lapse), as
# SQLAlchemy (or a person) writes one.
_AUTH_WRITE = re.compile(
    r'\s*(?:(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?)\s+"?(?:apps|api_keys)\b'
    r'|DELETE\s+FROM\s+"?(?:mentors|mentees)\b)',
    re.IGNORECASE,
)
_TOUCHED = "mentorapi_auth_written"  # in a connection's info, until its commit or rollback


@dataclass(frozen=True, slots=True)
class Entry:
    app: AppRecord
    expires_at: datetime | None  # the key's
    kept_at: float  # on the cache's clock (time.monotonic)


class KeyCache:
    def __init__(self, database_url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._database_url = database_url
        self._entries: dict[str, Entry] = {}
        self._generation = 0
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Told after each forgetting: whoever else holds credentials (graphql/sockets.py).
        self.on_forget: list[Callable[[], None]] = []

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def until_listening(self) -> None:
        await self._listening.wait()

    # --- use -------------------------------------------------------------------------------------

    def get(self, key_hash: str, now: datetime) -> AppRecord | None:
        """The app of a live key seen before, or None (then look it up, and `keep` it)."""
        entry = self.entry(key_hash, now)
        return entry.app if entry is not None else None

    def entry(self, key_hash: str, now: datetime) -> Entry | None:
        """`get`, with the key's expiry."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if (entry.expires_at is not None and entry.expires_at <= now) or (
            self._clock() - entry.kept_at > MAX_AGE
        ):
            self._entries.pop(key_hash, None)
            return None
        return entry

    def generation(self) -> int:
        """Take before a lookup, give back to `keep` after it."""
        return self._generation

    def keep(
        self, key_hash: str, app: AppRecord, expires_at: datetime | None, generation: int
    ) -> None:
        if not self.listening or generation != self._generation:
            return  # not listening, or something changed while the lookup ran
        if len(self._entries) >= CAPACITY:
            self._entries.clear()
        self._entries[key_hash] = Entry(app, expires_at, self._clock())

    def forget_all(self) -> None:
        self._generation += 1
        self._entries.clear()
        for callback in self.on_forget:
            callback()

    def __len__(self) -> int:
        return len(self._entries)

    # --- this process's own writes -------------------------------------------------------------

    def watch(self, engine: AsyncEngine) -> None:
        """Forget at the commit of any write to apps or keys on this engine."""
        watch_auth_writes(engine, self.forget_all)

    # --- listening -------------------------------------------------------------------------------

    async def start(self) -> None:
        listening = listen(
            self._database_url,
            CHANNEL,
            self.forget_all,
            name=APPLICATION_NAME,
            on_up=self._start_listening,
            on_down=self._stop_listening,
            ping_every=PING_EVERY,
        )
        self._task = asyncio.create_task(listening, name="key cache LISTEN")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _stop_listening(self) -> None:
        self._listening.clear()
        self.forget_all()

    def _start_listening(self) -> None:
        self.forget_all()  # whatever was read before we listened
        self._listening.set()


class _AuthWrites:
    def __init__(self, committed: Callable[[], None]) -> None:
        self.committed = committed

    def statement(
        self, conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        if _AUTH_WRITE.match(statement):
            conn.info[_TOUCHED] = True

    def commit(self, conn: Any) -> None:
        if conn.info.pop(_TOUCHED, False):
            self.committed()

    def rollback(self, conn: Any) -> None:
        # A dropped connection's rollback: it has no info to read (asking raises), and nothing
        # it wrote can have been committed.
        if not conn.invalidated:
            conn.info.pop(_TOUCHED, None)


def watch_auth_writes(engine: AsyncEngine, committed: Callable[[], None]) -> None:
    """Call `committed` at the commit of any write to apps or keys (or a member's deletion) on
    this engine: this process's own changes, on any database."""
    writes = _AuthWrites(committed)
    sync = engine.sync_engine
    event.listen(sync, "before_cursor_execute", writes.statement)
    event.listen(sync, "commit", writes.commit)
    event.listen(sync, "rollback", writes.rollback)


def create_key_cache(database_url: str) -> KeyCache | None:
    """A cache on PostgreSQL; None on SQLite (no NOTIFY between processes)."""
    if not database_url.startswith("postgresql"):
        return None
    return KeyCache(database_url)
