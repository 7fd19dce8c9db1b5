"""Tables that would grow for ever are purged by the housekeeping loop: full rate-limit buckets
(any row whose bucket is full again carries no state), in bounded batches."""

import time
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlmodel import col

from mentorapi import housekeeping
from mentorapi.db.engine import Database
from mentorapi.kit.ratelimit import PURGE_MARGIN_SECONDS, RateLimitBucket, purge_full_buckets
from tests.factories import unique

# A clock of our own, long before any real bucket's tat (other tests' rows are left alone).
NOW = 1_000_000.0


async def _add(db: Database, tats: Sequence[float], prefix: str) -> None:
    async with db.sessionmaker() as s, s.begin():
        s.add_all(RateLimitBucket(key=f"{prefix}:{i}", tat=tat) for i, tat in enumerate(tats))


async def _left(db: Database, prefix: str) -> list[float]:
    async with db.sessionmaker() as s:
        rows = await s.exec(
            select(RateLimitBucket.tat).where(col(RateLimitBucket.key).startswith(prefix + ":"))
        )
        return sorted(float(t) for t in rows.scalars())


async def test_full_buckets_are_purged_in_bounded_batches(db: Database) -> None:
    prefix = unique("hygiene")
    full = [NOW - PURGE_MARGIN_SECONDS - 1 - i for i in range(25)]
    # Still refilling, or full only since moments ago (a housekeeper's clock may run ahead).
    kept = [NOW + 30, NOW + 0.5, NOW - 1]
    await _add(db, full + kept, prefix)
    try:
        assert await purge_full_buckets(db.engine, NOW, batch_size=10, max_batches=2) == 20
        assert len(await _left(db, prefix)) == 5 + len(kept)
        assert await purge_full_buckets(db.engine, NOW, batch_size=10, max_batches=2) == 5
        assert await purge_full_buckets(db.engine, NOW, batch_size=10, max_batches=2) == 0
        assert await _left(db, prefix) == sorted(kept)
    finally:
        async with db.sessionmaker() as s, s.begin():
            await s.exec(delete(RateLimitBucket).where(col(RateLimitBucket.key).startswith(prefix)))


async def test_the_housekeeping_round_purges_full_buckets(db: Database) -> None:
    prefix = unique("hygiene")
    now = time.time()
    await _add(db, [now - 2 * PURGE_MARGIN_SECONDS, now + 3600], prefix)
    try:
        done = await housekeeping.run_once(db)
        assert done.rate_limit_buckets_purged >= 1
        assert await _left(db, prefix) == [now + 3600]
    finally:
        async with db.sessionmaker() as s, s.begin():
            await s.exec(delete(RateLimitBucket).where(col(RateLimitBucket.key).startswith(prefix)))
