"""Periodic chores for the worker (or the in-process serve loop): one call, its own transaction.

- expire session requests nobody answered before their start time (and write their events);
- forget Idempotency-Keys older than 24 hours;
- prune webhook deliveries, events and finished jobs past their retention (retention.py);
- delete the rows of full rate-limit buckets (MENTORAPI_RATE_LIMIT_BACKEND=postgres);
each but the first in bounded batches of their own short transactions.

Reads also expire due requests of their app lazily, so a late worker is never visible.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import astuple, dataclass
from datetime import datetime

from mentorapi.db.engine import Database
from mentorapi.kit.idempotency import purge_expired
from mentorapi.kit.ratelimit import purge_full_buckets
from mentorapi.retention import BATCH_SIZE, Retention, in_batches
from mentorapi.sessions import service as sessions_service

log = logging.getLogger("mentorapi")

INTERVAL_SECONDS = 30


@dataclass(frozen=True)
class Chores:
    sessions_expired: int
    idempotency_keys_purged: int
    rate_limit_buckets_purged: int = 0
    deliveries_pruned: int = 0
    events_pruned: int = 0
    jobs_pruned: int = 0


async def run_once(
    db: Database, at: datetime | None = None, *, retention: Retention | None = None
) -> Chores:
    """One round. `at` moves the clock of expiry and of the purges of keys and buckets (tests);
    retention prunes by the wall clock, so a round run at a later `at` never prunes today's
    webhooks and jobs. `retention`: the windows and this process's sweep (defaults if None)."""
    async with db.sessionmaker() as s, s.begin():
        expired = await sessions_service.expire_due(db_session=s, at=at)
    keys = await in_batches(db, lambda s: purge_expired(s, at, limit=BATCH_SIZE))
    pruned = await (retention or Retention()).prune(db)
    # The table exists on every database; only the postgres backend writes to it.
    buckets = await purge_full_buckets(db.engine, at.timestamp() if at is not None else None)
    return Chores(
        sessions_expired=expired,
        idempotency_keys_purged=keys,
        rate_limit_buckets_purged=buckets,
        deliveries_pruned=pruned.deliveries,
        events_pruned=pruned.events,
        jobs_pruned=pruned.jobs,
    )


async def run_periodically(
    db: Database,
    interval: float = INTERVAL_SECONDS,
    chores: Callable[[Database], Awaitable[Chores]] | None = None,
    *,
    retention: Retention | None = None,
) -> None:
    """`chores` (a round of `run_once`, with `retention` kept from round to round) now and
    then every `interval` seconds, until cancelled. A failing round (the database away for a
    moment, say) is logged and the next round tries again: the loop itself never dies of it."""
    if chores is None:
        kept = retention or Retention()

        async def chores(database: Database) -> Chores:
            return await run_once(database, retention=kept)

    while True:
        try:
            done = await chores(db)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("housekeeping failed; trying again in %s s", interval)
        else:
            if any(astuple(done)):
                log.info(
                    "housekeeping: %d requests expired, %d idempotency keys purged, "
                    "%d full rate-limit buckets purged, %d webhook deliveries, %d events "
                    "and %d jobs pruned",
                    done.sessions_expired,
                    done.idempotency_keys_purged,
                    done.rate_limit_buckets_purged,
                    done.deliveries_pruned,
                    done.events_pruned,
                    done.jobs_pruned,
                )
        await asyncio.sleep(interval)


def start(
    db: Database, interval: float = INTERVAL_SECONDS, retention: Retention | None = None
) -> "asyncio.Task[None]":
    return asyncio.create_task(
        run_periodically(db, interval, retention=retention), name="mentorapi-housekeeping"
    )


async def stop(task: "asyncio.Task[None]") -> None:
    """Cancel the loop and wait for it: a round in flight rolls back, nothing is left running."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
