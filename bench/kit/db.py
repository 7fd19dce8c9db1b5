"""Fresh, migrated PostgreSQL databases for benchmarks (dropped and recreated on every run)."""

import asyncio
import re

import asyncpg
from sqlalchemy.engine import make_url

from bench.kit.options import options
from mentorapi.db.listen import asyncpg_dsn
from mentorapi.db.migrate import upgrade

__all__ = ["OBSERVER", "asyncpg_dsn", "backend_pids", "fresh_database", "sqlalchemy_url"]

# The application_name of a bench's own connection that watches a run (bookings_load's
# pg_stat_activity sampler): its backend's CPU is the bench's, not the server's. Sampling every
# 20 ms it used 0.8 s of PostgreSQL CPU over a 54 s mentorapi run (0.4 ms a booking), 0.05 ms
# a booking over the ceiling's 7 s, a bias between the two.
OBSERVER = "mentorapi-bench-observer"

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def sqlalchemy_url(name: str) -> str:
    url = make_url(options().postgres_url).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


async def fresh_database(name: str) -> str:
    """Drop `name` if it exists, create it empty, migrate it to head; its SQLAlchemy URL."""
    if not _NAME.match(name):
        raise ValueError(f"not a safe database name: {name!r}")
    admin = await asyncpg.connect(options().postgres_url, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = sqlalchemy_url(name)
    # Alembic's env.py runs its own event loop: give it a thread.
    await asyncio.to_thread(upgrade, url)
    return url


async def backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends connected to the database of `url` (the servers' pools), for
    their CPU use (bench.kit.server.cpu_seconds): idle ones cost nothing over a run. Not the
    bench's own observers (OBSERVER)."""
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND application_name <> $1",
            OBSERVER,
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]
