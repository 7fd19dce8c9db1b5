"""Periodic chores for the worker (or the in-process serve loop): one call, its own transaction.

- expire session requests nobody answered before their start time (and write their events);
- forget Idempotency-Keys older than 24 hours.

Reads also expire due requests of their app lazily, so a late worker is never visible.
"""

from dataclasses import dataclass
from datetime import datetime

from mentorapi.db.engine import Database
from mentorapi.kit.idempotency import purge_expired
from mentorapi.sessions import service as sessions_service

INTERVAL_SECONDS = 30


@dataclass(frozen=True)
class Chores:
    sessions_expired: int
    idempotency_keys_purged: int


async def run_once(db: Database, at: datetime | None = None) -> Chores:
    async with db.sessionmaker() as s, s.begin():
        expired = await sessions_service.expire_due(db_session=s, at=at)
        purged = await purge_expired(s, at)
    return Chores(sessions_expired=expired, idempotency_keys_purged=purged)
