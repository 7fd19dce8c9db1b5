"""Periodic chores for the worker (or the in-process serve loop): one call, its own transaction.

- expire session requests nobody answered before their start time (and write their events);
- forget Idempotency-Keys older than 24 hours;
- delete the rows of full rate-limit buckets (MENTORAPI_RATE_LIMIT_BACKEND=postgres), in
  bounded batches of their own short transactions.

Reads also expire due requests of their app lazily, so a late worker is never visible.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from mentorapi.db.engine import Database
from mentorapi.kit.idempotency import purge_expired
from mentorapi.kit.ratelimit import purge_full_buckets
from mentorapi.sessions import service as sessions_service

log = logging.getLogger("mentorapi")

INTERVAL_SECONDS = 30


@dataclass(frozen=True)
class Chores:
    sessions_expired: int
    idempotency_keys_purged: int
    rate_limit_buckets_purged: int = 0


async def run_once(db: Database, at: datetime | None = None) -> Chores:
    async with db.sessionmaker() as s, s.begin():
        expired = await sessions_service.expire_due(db_session=s, at=at)
        purged = await purge_expired(s, at)
    # The table exists on every database; only the postgres backend writes to it.
    buckets = await purge_full_buckets(db.engine, at.timestamp() if at is not None else None)
    return Chores(
        sessions_expired=expired, idempotency_keys_purged=purged, rate_limit_buckets_purged=buckets
    )


async def run_periodically(
    db: Database,
    interval: float = INTERVAL_SECONDS,
    chores: Callable[[Database], Awaitable[Chores]] = run_once,
) -> None:
    """`chores` now and then every `interval` seconds, until cancelled. A failing round (the
    database away for a moment, say) is logged and the next round tries again: the loop itself
    never dies of it."""
    while True:
        try:
            done = await chores(db)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("housekeeping failed; trying again in %s s", interval)
        else:
            if (
                done.sessions_expired
                or done.idempotency_keys_purged
                or done.rate_limit_buckets_purged
            ):
                log.info(
                    "housekeeping: %d requests expired, %d idempotency keys purged, "
                    "%d full rate-limit buckets purged",
                    done.sessions_expired,
                    done.idempotency_keys_purged,
                    done.rate_limit_buckets_purged,
                )
        await asyncio.sleep(interval)


def start(db: Database, interval: float = INTERVAL_SECONDS) -> "asyncio.Task[None]":
    return asyncio.create_task(run_periodically(db, interval), name="mentorapi-housekeeping")


async def stop(task: "asyncio.Task[None]") -> None:
    """Cancel the loop and wait for it: a round in flight rolls back, nothing is left running."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
