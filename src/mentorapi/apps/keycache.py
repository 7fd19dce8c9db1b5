"""A short per-process memo of "this API key belongs to that app", so the hot path does not
query the key on every request.

The trade-off, documented in the README: a revoked key (`mentorapi apps revoke-key`, run in
another process) keeps working for at most MENTORAPI_API_KEY_CACHE_SECONDS (default 5) in the
server processes that saw it last; 0 turns the memo off. Expiry is exact: the key's `expires_at`
is remembered and checked on every hit, so a rotated key lapses on time. Only successful
lookups are remembered; an unknown key always asks the database. The app's own columns (its
name) may likewise be up to that many seconds old on the authenticated request.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mentorapi.apps.models import App
from mentorapi.kit.timezones import utcnow

MAX_ENTRIES = 10_000  # live keys per process; far above any real tenant count


@dataclass(frozen=True, slots=True)
class _Entry:
    # The app's column values, never a session-bound object (that belongs to one request).
    app_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    key_expires_at: datetime | None
    stored_at: float


class ApiKeyCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, _Entry] = {}
        self._clock = clock

    def get(self, key_hash: str, ttl: float) -> App | None:
        """A fresh (transient) App for a remembered live key, or None: ask the database."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if self._clock() - entry.stored_at >= ttl or (
            entry.key_expires_at is not None and entry.key_expires_at <= utcnow()
        ):
            self._entries.pop(key_hash, None)
            return None
        return App(
            id=entry.app_id,
            name=entry.name,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
        )

    def put(self, key_hash: str, app: App, key_expires_at: datetime | None) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()  # crude but bounded; a refill costs one query per key
        self._entries[key_hash] = _Entry(
            app.id, app.name, app.created_at, app.updated_at, key_expires_at, self._clock()
        )

    def forget(self, key_hash: str) -> None:
        self._entries.pop(key_hash, None)

    def forget_app(self, app_id: str) -> None:
        for key_hash in [h for h, e in self._entries.items() if e.app_id == app_id]:
            del self._entries[key_hash]

    def clear(self) -> None:
        self._entries.clear()


# One per process: API processes are otherwise stateless, and this holds nothing that must be
# shared (a miss is one indexed query).
api_key_cache = ApiKeyCache()
