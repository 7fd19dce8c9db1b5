"""Planner statistics after a bulk import (db/statistics.py): a partner's first import into a
fresh database, nobody running ANALYZE, autovacuum off or not yet around.

Each PostgreSQL test gets a database of its own, migrated and never analyzed, as a new
deployment's is (the suite's shared database has seen everyone's rows)."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy.dialects import postgresql

from mentorapi.apps import service as apps_service
from mentorapi.db import fast
from mentorapi.db.engine import Database
from mentorapi.db.listen import asyncpg_dsn
from mentorapi.db.migrate import upgrade_async
from mentorapi.db.statistics import LOCK_KEY, analyze_stale
from mentorapi.kit.pagination import PageRequest
from mentorapi.main import create_app
from mentorapi.mentors import service as mentors_service
from mentorapi.mentors.models import Mentor
from tests import conftest

POSTGRES = "postgresql" in conftest.DATABASES
needs_postgres = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL is not among the test DBs")
MENTORS = 2000
# A profile of a typical length (the bench's are 200-300 characters).
BIO = (
    "I have spent twelve years in data and love helping people take the next step. Bring one "
    "concrete question and we will leave with a plan you can try this week."
)
# Generous: the keeper is given this long to do what takes it well under a second.
PATIENCE_SECONDS = 30.0


async def eventually(check: Callable[[], Awaitable[bool]]) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_SECONDS
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return await check()


@pytest.fixture
async def fresh_url() -> AsyncIterator[str]:
    name, url = await conftest._create_pg_database()
    try:
        await upgrade_async(url)
        yield url
    finally:
        await conftest._drop_pg_database(name)


def _app(url: str, **overrides: Any) -> FastAPI:
    return create_app(conftest.test_settings(url, **overrides))


async def _new_tenant(db: Database) -> str:
    async with db.sessionmaker() as s, s.begin():
        created, _ = await apps_service.create_app(db_session=s, name="partner")
    return created.id


async def _import(db: Database, app_id: str, count: int, start: int = 0) -> None:
    """`count` mentors written through the process's engine, in transactions of 500."""
    for first in range(start, start + count, 500):
        async with db.sessionmaker() as s, s.begin():
            s.add_all(
                Mentor(
                    app_id=app_id,
                    external_id=f"m-{n}",
                    name=f"Mentor {n}",
                    headline="Staff engineer at a logistics company",
                    bio=BIO,
                    timezone="UTC",
                )
                for n in range(first, min(first + 500, start + count))
            )


async def first_page_plan(db: Database, app_id: str) -> str:
    """EXPLAIN ANALYZE of the statement the first page of mentors runs, with its parameters
    (captured from the service on db.fast's path, as the bench does)."""
    captured: list[tuple[Any, dict[str, Any]]] = []
    original = fast.fetch

    async def spy(db_session: Any, statement: Any, params: Any) -> Any:
        captured.append((statement, dict(params)))
        return await original(db_session, statement, params)

    fast.fetch = spy  # type: ignore[assignment]
    try:
        async with db.read_sessionmaker() as s:
            await mentors_service.list_mentors(
                db_session=s, app_id=app_id, page=PageRequest(limit=20)
            )
    finally:
        fast.fetch = original  # type: ignore[assignment]
    statement, params = captured[-1]
    compiled = statement.compile(dialect=postgresql.asyncpg.dialect())
    values = compiled.construct_params(params)
    args = [values[name] for name in compiled.positiontup]
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        rows = await raw.driver_connection.fetch(  # type: ignore[union-attr]
            "EXPLAIN (ANALYZE, BUFFERS) " + compiled.string, *args
        )
    return "\n".join(row[0] for row in rows)


def walks_an_index(plan: str) -> bool:
    """The page read in id order from an index, 21 rows and done: no Sort of the app's rows."""
    return "Sort" not in plan and "Index Scan" in plan and "Bitmap" not in plan


async def _analyzed(url: str, table: str) -> tuple[int, Any]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await connection.fetchrow(
            "SELECT c.reltuples::bigint AS rows, s.last_analyze FROM pg_class c"
            " JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = $1",
            table,
        )
    finally:
        await connection.close()
    assert row is not None
    return row["rows"], row["last_analyze"]


async def _inserted(url: str, table: str, rows: int) -> bool:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        counted = await connection.fetchval(
            "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = $1", table
        )
    finally:
        await connection.close()
    return bool(counted is not None and counted >= rows)


@needs_postgres
async def test_the_first_page_after_a_bulk_import_walks_the_index(fresh_url: str) -> None:
    # Without the keeper (as before it, and as with autovacuum off or not yet round): the
    # planner guesses that app_id = $1 keeps 0.5% of the rows, reads the app's every mentor
    # and sorts them for 21.
    without = _app(fresh_url, auto_analyze=False)
    async with conftest.running(without):
        db: Database = without.state.db
        app_id = await _new_tenant(db)
        await _import(db, app_id, MENTORS)
        stale_plan = await first_page_plan(db, app_id)
    assert not walks_an_index(stale_plan), stale_plan

    # Another process, with its keeper: one write of its own is enough for it to look, and
    # what it looks at is PostgreSQL's view of the whole table, whoever wrote the rows.
    keeping = _app(fresh_url, auto_analyze=True, auto_analyze_delay_seconds=0.05)
    async with conftest.running(keeping):
        db = keeping.state.db
        await _import(db, app_id, 1, start=MENTORS)
        plan = ""

        async def fresh() -> bool:
            nonlocal plan
            plan = await first_page_plan(db, app_id)
            return walks_an_index(plan)

        assert await eventually(fresh), plan
    rows, last_analyze = await _analyzed(fresh_url, "mentors")
    assert last_analyze is not None
    assert rows == MENTORS + 1


@needs_postgres
async def test_an_import_through_many_processes_is_analyzed_as_a_whole(
    fresh_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Four processes import a quarter each at once: each keeper reads PostgreSQL's figures
    for the whole table, one analyzes at a time (the others skip that round), none fails."""
    caplog.set_level(logging.WARNING, logger="mentorapi")
    apps = [_app(fresh_url, auto_analyze=True, auto_analyze_delay_seconds=0.05) for _ in range(4)]
    async with (
        conftest.running(apps[0]),
        conftest.running(apps[1]),
        conftest.running(apps[2]),
        conftest.running(apps[3]),
    ):
        app_id = await _new_tenant(apps[0].state.db)
        quarter = MENTORS // 4
        await asyncio.gather(
            *(_import(a.state.db, app_id, quarter, start=i * quarter) for i, a in enumerate(apps))
        )

        async def whole() -> bool:
            # Analyzed as the rows came, the last time within the keeper's threshold (10%) of
            # the end: each process wrote a quarter, PostgreSQL's figures are the table's.
            rows, last_analyze = await _analyzed(fresh_url, "mentors")
            return last_analyze is not None and rows >= 0.9 * 4 * quarter

        assert await eventually(whole)
        assert walks_an_index(await first_page_plan(apps[0].state.db, app_id))
        assert sum(a.state.statistics.rounds for a in apps) >= 1
    assert not [r for r in caplog.records if r.getMessage().startswith("statistics:")]


@needs_postgres
async def test_a_round_skips_while_another_process_holds_it(fresh_url: str) -> None:
    application = _app(fresh_url)
    async with conftest.running(application):
        db: Database = application.state.db
        await _import(db, await _new_tenant(db), 600)
        holder = await asyncpg.connect(asyncpg_dsn(fresh_url))
        try:
            async with holder.transaction():
                await holder.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
                assert await analyze_stale(db.engine) is None
            analyzed = await analyze_stale(db.engine)
        finally:
            await holder.close()
    assert analyzed is not None
    assert "mentors" in [a.table for a in analyzed]


@needs_postgres
async def test_a_round_does_not_queue_behind_a_long_lock(fresh_url: str) -> None:
    """A VACUUM or a migration holding the table: the round gives up after lock_timeout (and
    the keeper tries again on the next burst) instead of waiting, transaction open, for it."""
    application = _app(fresh_url)
    async with conftest.running(application):
        db: Database = application.state.db
        await _import(db, await _new_tenant(db), 600)
        holder = await asyncpg.connect(asyncpg_dsn(fresh_url))
        try:
            async with holder.transaction():
                await holder.execute("LOCK TABLE mentors IN SHARE UPDATE EXCLUSIVE MODE")
                with pytest.raises(Exception, match="lock timeout"):
                    await asyncio.wait_for(analyze_stale(db.engine), timeout=20)
            analyzed = await analyze_stale(db.engine)
            assert analyzed is not None
            assert "mentors" in [a.table for a in analyzed]
            assert await analyze_stale(db.engine) == []
        finally:
            await holder.close()


async def test_the_keeper_runs_only_where_it_can_help(database_url: str) -> None:
    """PostgreSQL with auto_analyze on: a keeper; SQLite (no planner statistics to speak of
    here) or the setting off: none, and writing works the same."""
    for enabled in (True, False):
        application = _app(database_url, auto_analyze=enabled)
        async with conftest.running(application):
            keeper = application.state.statistics
            expected = enabled and application.state.db.dialect == "postgresql"
            assert (keeper is not None) == expected
            db: Database = application.state.db
            await _import(db, await _new_tenant(db), 3)


@needs_postgres
async def test_writes_that_commit_after_a_round_get_a_last_look(fresh_url: str) -> None:
    """The round after a burst runs while its transaction is still open (a slow import): it
    sees the pages but not the rows. With no write after the commit, only the keeper's last
    look, once the burst is over, brings the statistics to the rows."""
    application = _app(fresh_url, auto_analyze=True, auto_analyze_delay_seconds=0.05)
    async with conftest.running(application):
        db: Database = application.state.db
        keeper = application.state.statistics
        app_id = await _new_tenant(db)
        async with db.sessionmaker() as s, s.begin():
            s.add_all(
                Mentor(
                    app_id=app_id,
                    external_id=f"m-{n}",
                    name=f"Mentor {n}",
                    bio=BIO,
                    timezone="UTC",
                )
                for n in range(MENTORS)
            )
            await s.flush()

            async def looked() -> bool:
                return bool(keeper.rounds)

            assert await eventually(looked)  # a round, before the commit
        rows_before_commit, _ = await _analyzed(fresh_url, "mentors")
        assert rows_before_commit < MENTORS

        async def caught_up() -> bool:
            rows, _ = await _analyzed(fresh_url, "mentors")
            return rows >= 0.9 * MENTORS

        assert await eventually(caught_up)


@needs_postgres
async def test_a_burst_reanalyzes_a_table_analyzed_lately_only_once_it_doubled(
    fresh_url: str,
) -> None:
    """While writes go on (`settled=False`), a table analyzed in the last minute is analyzed
    again once it has doubled, not at every 10%: each ANALYZE makes every backend plan its
    statements on the table again (a burst of bookings into small tables was analyzed every
    2 s). The round after the burst (settled) applies the 10% rule."""
    application = _app(fresh_url, auto_analyze=False)
    async with conftest.running(application):
        db: Database = application.state.db
        app_id = await _new_tenant(db)
        await _import(db, app_id, 1000)
        # The inserts counted first (a backend reports them up to 10 s later), or they would
        # count as changes since the ANALYZE.
        assert await eventually(lambda: _inserted(fresh_url, "mentors", 1000))
        assert "mentors" in [a.table for a in await analyze_stale(db.engine) or []]
        assert (await _analyzed(fresh_url, "mentors"))[0] == 1000

        await _import(db, app_id, 500, start=1000)  # +50%: stale by the 10% rule
        assert "mentors" not in [
            a.table for a in await analyze_stale(db.engine, settled=False) or []
        ]
        assert (await _analyzed(fresh_url, "mentors"))[0] == 1000
        assert "mentors" in [a.table for a in await analyze_stale(db.engine) or []]
        assert (await _analyzed(fresh_url, "mentors"))[0] == 1500

        await _import(db, app_id, 1600, start=1500)  # more than doubled
        assert "mentors" in [a.table for a in await analyze_stale(db.engine, settled=False) or []]
        assert (await _analyzed(fresh_url, "mentors"))[0] == 3100
