"""Migrating an empty database gives exactly the models; downgrading removes everything."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mentorapi.db.listen import asyncpg_dsn
from mentorapi.db.migrate import alembic_config, downgrade, upgrade
from mentorapi.db.models import metadata
from mentorapi.db.tenancy import CrossTenant, across_tenants
from mentorapi.matching.models import compared, is_search_table
from tests.conftest import DATABASES, _create_pg_database, _drop_pg_database


@pytest.fixture(params=DATABASES)
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    else:
        name, url = await _create_pg_database()
        try:
            yield url
        finally:
            await _drop_pg_database(name)


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        # SQLite's FTS5 tables are the text engine's, not models (matching/models.py).
        opts={"compare_type": True, "include_object": compared(connection.dialect.name)},
    )
    return list(compare_metadata(context, metadata))


def _tables(connection: Connection) -> set[str]:
    names = set(inspect(connection).get_table_names()) - {"alembic_version"}
    return {name for name in names if not is_search_table(name)}


Keys = dict[str, tuple[list[str], set[tuple[Any, ...]]]]


def _model_keys() -> Keys:
    """Each table's primary key (in order) and foreign keys with their ON DELETE, from the
    models: Alembic's comparison sees neither a primary key's change nor its column order."""
    return {
        t.name: (
            [c.name for c in t.primary_key.columns],
            {
                (
                    tuple(c.name for c in fk.columns),
                    fk.referred_table.name,
                    tuple(e.column.name for e in fk.elements),
                    (fk.ondelete or "NO ACTION").upper(),
                )
                for fk in t.foreign_key_constraints
            },
        )
        for t in metadata.sorted_tables
    }


def _database_keys(connection: Connection) -> Keys:
    found = inspect(connection)
    return {
        name: (
            found.get_pk_constraint(name)["constrained_columns"],
            {
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    (fk["options"].get("ondelete") or "NO ACTION").upper(),
                )
                for fk in found.get_foreign_keys(name)
            },
        )
        for name in _tables(connection)
    }


def _exclusions(connection: Connection) -> list[str]:
    if connection.dialect.name != "postgresql":
        return []
    query = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'x'"
    return list(connection.execute(text(query)).scalars())


async def _inspect(url: str) -> tuple[list[Any], set[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff), await conn.run_sync(_tables)
    finally:
        await engine.dispose()


async def _keys(url: str) -> tuple[Keys, list[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_database_keys), await conn.run_sync(_exclusions)
    finally:
        await engine.dispose()


async def test_upgrade_gives_exactly_the_models_and_downgrade_removes_them(
    empty_database: str,
) -> None:
    await asyncio.to_thread(upgrade, empty_database)
    diff, tables = await _inspect(empty_database)
    assert diff == []
    assert tables == set(metadata.tables)
    keys, exclusions = await _keys(empty_database)
    assert keys == _model_keys()
    if "postgresql" in empty_database:
        assert sorted(exclusions) == [
            # Two taken seats of one mentee.
            "EXCLUDE USING gist (app_id WITH =, mentee_id WITH =, "
            "tstzrange(starts_at, ends_at) WITH &&) WHERE (((status)::text = 'taken'::text))",
            # Two requested or booked sessions of one mentor.
            "EXCLUDE USING gist (app_id WITH =, mentor_id WITH =, "
            "tstzrange(starts_at, ends_at) WITH &&) "
            "WHERE ((((status)::text = ANY ((ARRAY['requested'::character varying, "
            "'booked'::character varying])::text[])) AND (starts_at IS NOT NULL)))",
            # Two scheduled group sessions of one mentor.
            "EXCLUDE USING gist (app_id WITH =, mentor_id WITH =, "
            "tstzrange(starts_at, ends_at) WITH &&) WHERE (((status)::text = 'scheduled'::text))",
        ]

    await asyncio.to_thread(downgrade, empty_database, "base")
    _, tables = await _inspect(empty_database)
    assert tables == set()

    await asyncio.to_thread(upgrade, empty_database)  # and back up again, cleanly
    diff, _ = await _inspect(empty_database)
    assert diff == []


async def test_mentor_offers_are_filled_from_the_links(empty_database: str) -> None:
    """The offers migration copies each mentor's existing skills, in display order."""
    await asyncio.to_thread(upgrade, empty_database, "5139b158761e")
    engine = create_async_engine(empty_database)
    now = datetime(2026, 12, 1, 10, tzinfo=UTC)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO apps (id, name, token_secret, cors_origins, created_at, "
                    "updated_at) VALUES ('app_1', 'a', 's', '[]', :now, :now)"
                ),
                {"now": now},
            )
            for skill_id, slug in (("skl_1", "b-skill"), ("skl_2", "a-skill"), ("skl_3", "z")):
                await conn.execute(
                    text(
                        "INSERT INTO skills (id, app_id, slug, name, category, description, "
                        "version, created_at, updated_at) VALUES (:id, 'app_1', :slug, "
                        ":slug, NULL, '', 1, :now, :now)"
                    ),
                    {"id": skill_id, "slug": slug, "now": now},
                )
            for mentor_id in ("mtr_1", "mtr_2"):
                await conn.execute(
                    text(
                        "INSERT INTO mentors (id, app_id, external_id, name, headline, bio, "
                        "timezone, languages, formats, session_lengths, sessions_completed, "
                        "minutes_mentored, ratings_count, rating_sum, rating_avg, "
                        "mentees_helped, impact_stories, version, created_at, updated_at) "
                        "VALUES (:id, 'app_1', :id, 'M', '', '', 'UTC', '[]', '[]', '[15]', "
                        "0, 0, 0, 0, 0, 0, 0, 1, :now, :now)"
                    ),
                    {"id": mentor_id, "now": now},
                )
            for skill_id, level, note in (
                ("skl_1", 3, None),
                ("skl_2", 3, "x"),
                ("skl_3", 5, None),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO mentor_skills (mentor_id, skill_id, app_id, level, note) "
                        "VALUES ('mtr_1', :skill, 'app_1', :level, :note)"
                    ),
                    {"skill": skill_id, "level": level, "note": note},
                )
        await asyncio.to_thread(upgrade, empty_database)
        async with engine.connect() as conn:
            # What the migration wrote, for every app.
            every_app = across_tenants(
                text("SELECT id, offers FROM mentors"), CrossTenant.migration
            )
            rows = dict((await conn.execute(every_app)).all())
    finally:
        await engine.dispose()
    shown = {k: json.loads(v) if isinstance(v, str) else v for k, v in rows.items()}
    assert shown["mtr_2"] == []
    assert [(o["skill"]["slug"], o["level"], o["note"]) for o in shown["mtr_1"]] == [
        ("z", 5, None),
        ("a-skill", 3, "x"),
        ("b-skill", 3, None),
    ]
    assert shown["mtr_1"][0]["skill"] == {"id": "skl_3", "slug": "z", "name": "z", "category": None}


async def test_the_single_buffer_becomes_both_buffers_and_back(empty_database: str) -> None:
    """The booking-limits migration puts each mentor's `buffer_minutes` in both new buffers
    (the same slots as before); downgrading keeps the larger of the two."""
    await asyncio.to_thread(upgrade, empty_database, "d5e8f1a2b3c4")
    engine = create_async_engine(empty_database)
    now = datetime(2026, 12, 5, 9, tzinfo=UTC)
    every_app = CrossTenant.migration
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO apps (id, name, token_secret, cors_origins, created_at, "
                    "updated_at) VALUES ('app_1', 'a', 's', '[]', :now, :now)"
                ),
                {"now": now},
            )
            for mentor_id, buffer in (("mtr_1", 15), ("mtr_2", 0), ("mtr_3", 240)):
                await conn.execute(
                    text(
                        "INSERT INTO mentors (id, app_id, external_id, name, headline, bio, "
                        "timezone, languages, formats, session_lengths, sessions_completed, "
                        "minutes_mentored, ratings_count, rating_sum, rating_avg, "
                        "mentees_helped, impact_stories, offers, version, created_at, "
                        "updated_at) VALUES (:id, 'app_1', :id, 'M', '', '', 'UTC', '[]', "
                        "'[]', '[15]', 0, 0, 0, 0, 0, 0, 0, '[]', 1, :now, :now)"
                    ),
                    {"id": mentor_id, "now": now},
                )
                await conn.execute(
                    text(
                        "INSERT INTO availabilities (app_id, mentor_id, weekly, overrides, "
                        "buffer_minutes, min_notice_minutes, weekly_capacity, auto_accept, "
                        "version, created_at, updated_at) VALUES ('app_1', :id, '[]', '[]', "
                        ":buffer, 60, 5, true, 1, :now, :now)"
                    ),
                    {"id": mentor_id, "buffer": buffer, "now": now},
                )
        await asyncio.to_thread(upgrade, empty_database)
        read = across_tenants(
            text(
                "SELECT mentor_id, buffer_before_minutes, buffer_after_minutes, "
                "booking_horizon_days, daily_limit_sessions, daily_limit_minutes, "
                "min_notice_minutes, weekly_capacity FROM availabilities ORDER BY mentor_id"
            ),
            every_app,
        )
        async with engine.begin() as conn:
            upgraded = [tuple(row) for row in (await conn.execute(read)).all()]
            await conn.execute(
                across_tenants(
                    text(
                        "UPDATE availabilities SET buffer_before_minutes = 5, "
                        "buffer_after_minutes = 20 WHERE mentor_id = 'mtr_2'"
                    ),
                    every_app,
                )
            )
        await asyncio.to_thread(downgrade, empty_database, "d5e8f1a2b3c4")
        async with engine.connect() as conn:
            old = across_tenants(
                text("SELECT mentor_id, buffer_minutes FROM availabilities ORDER BY mentor_id"),
                every_app,
            )
            downgraded = [tuple(row) for row in (await conn.execute(old)).all()]
    finally:
        await engine.dispose()
    assert upgraded == [
        ("mtr_1", 15, 15, None, None, None, 60, 5),
        ("mtr_2", 0, 0, None, None, None, 60, 5),
        ("mtr_3", 240, 240, None, None, None, 60, 5),
    ]
    assert downgraded == [("mtr_1", 15), ("mtr_2", 20), ("mtr_3", 240)]


# --- index builds that leave tables open for writes (db/online.py) -------------------------------

BEFORE_ONLINE = "c4e6a8b0d2f1"  # the revision before the first index built CONCURRENTLY
# (revision before, migration that builds indexes CONCURRENTLY), in the chain's order
ONLINE_STEPS = (
    ("c4e6a8b0d2f1", "c4e6a8b0d2f3"),
    ("d1f3a5c7e9b2", "d2b4f6a8c0e1"),
    ("d2b4f6a8c0e1", "d3c5e7a9b1f4"),
)
ONLINE = (
    "ix_events_created_at",
    "ix_deliveries_finished",
    "ix_jobs_finished_at",
    "ix_mentoring_events_schedule_job",
)

APP = (
    "INSERT INTO apps (id, name, token_secret, cors_origins, created_at, updated_at) "
    "VALUES ('app_1', 'a', 's', '[]', now(), now())"
)
EVENT = (
    "INSERT INTO events (created_at, updated_at, app_id, id, type, object_id, sequence, data) "
    "VALUES (now(), now(), 'app_1', $1, 'webhook.test', NULL, 1, '{}')"
)
JOB = (
    "INSERT INTO jobs (created_at, updated_at, app_id, id, kind, status, payload, progress, "
    "attempts, run_after) VALUES (now(), now(), 'app_1', $1, 'match_run', 'queued', '{}', 0, "
    "0, now())"
)


def _stamp(url: str, revision: str) -> None:
    command.stamp(alembic_config(url), revision)


async def _pg_indexes(url: str) -> dict[str, tuple[bool, str]]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await connection.fetch(
            "SELECT c.relname, i.indisvalid, pg_get_indexdef(c.oid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ANY($1::text[])",
            list(ONLINE),
        )
    finally:
        await connection.close()
    return {name: (valid, definition) for name, valid, definition in rows}


async def test_the_online_index_migrations_run_again_and_rebuild_a_failed_build(
    empty_database: str,
) -> None:
    """Each step is safe to repeat (a migration re-run after a failure half-way, or by hand):
    an index already there is kept, one already gone is not dropped twice, and on PostgreSQL
    the INVALID leftover of a CONCURRENTLY build that failed is dropped and built anew."""
    url = empty_database
    await asyncio.to_thread(upgrade, url)
    for before, online in ONLINE_STEPS:  # each online migration alone, not those between
        await asyncio.to_thread(_stamp, url, before)
        await asyncio.to_thread(upgrade, url, online)  # every index is already there
    await asyncio.to_thread(_stamp, url, "head")
    diff, _ = await _inspect(url)
    assert diff == []

    for before, online in ONLINE_STEPS:
        for _ in range(2):  # the second time, every index is already gone
            await asyncio.to_thread(_stamp, url, online)
            await asyncio.to_thread(downgrade, url, before)
        await asyncio.to_thread(upgrade, url, online)
    await asyncio.to_thread(_stamp, url, "head")
    diff, _ = await _inspect(url)
    assert diff == []

    if "postgresql" not in url:
        return
    built = await _pg_indexes(url)
    # A build that failed half-way: a unique index over duplicates fails after creating its
    # catalog entry, and leaves it INVALID under the name (as a cancelled build would).
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("DROP INDEX ix_jobs_finished_at")
        await connection.execute(APP)
        for job_id in ("job_1", "job_2"):
            await connection.execute(JOB, job_id)
        with pytest.raises(asyncpg.UniqueViolationError):
            await connection.execute(
                "CREATE UNIQUE INDEX CONCURRENTLY ix_jobs_finished_at ON jobs (app_id)"
            )
    finally:
        await connection.close()
    assert (await _pg_indexes(url))["ix_jobs_finished_at"][0] is False
    await asyncio.to_thread(_stamp, url, "d1f3a5c7e9b2")  # before the jobs' index
    await asyncio.to_thread(upgrade, url)
    assert await _pg_indexes(url) == built
    assert all(valid for valid, _ in built.values())


@pytest.mark.skipif("postgresql" not in DATABASES, reason="PostgreSQL's lock on a table")
async def test_the_retention_indexes_build_while_events_are_written() -> None:
    """While the retention migration builds its index on `events`, a new writer of `events`
    goes on. The build is made to wait, deterministically, on a writer whose transaction is
    open when it starts (a CONCURRENTLY build waits for those; a plain one queues a SHARE lock
    behind them, and every later writer queues behind that); the test sees it waiting in
    pg_locks, then writes an event with a lock timeout."""
    name, url = await _create_pg_database()
    try:
        await asyncio.to_thread(upgrade, url, BEFORE_ONLINE)
        early = await asyncpg.connect(asyncpg_dsn(url))
        late = await asyncpg.connect(asyncpg_dsn(url))
        watcher = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await early.execute(APP)
            open_write = early.transaction()
            await open_write.start()
            await early.execute(EVENT, "evt_early")
            migration = asyncio.ensure_future(asyncio.to_thread(upgrade, url, "c4e6a8b0d2f3"))
            waiting = None
            for _ in range(600):  # until the build waits (30 s at most)
                waiting = await watcher.fetchval(
                    "SELECT a.query FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                    "WHERE NOT l.granted AND a.datname = current_database() "
                    "AND a.query ILIKE '%INDEX%ix_events_created_at%'"
                )
                if waiting is not None or migration.done():
                    break
                await asyncio.sleep(0.05)
            assert waiting is not None, "the index build never waited on the open writer"
            await late.execute("SET lock_timeout = '5s'")
            try:
                await late.execute(EVENT, "evt_late")
                blocked = None
            except asyncpg.LockNotAvailableError as error:
                blocked = error
            assert not migration.done()  # still waiting for the early writer
            await open_write.commit()
            await migration
        finally:
            for connection in (early, late, watcher):
                await connection.close()
        assert blocked is None, f"a writer of events waited on the index build: {waiting}"
        assert "CONCURRENTLY" in waiting
        indexes = await _pg_indexes(url)
        assert {name for name, (valid, _) in indexes.items() if valid} == set(ONLINE[:2])
    finally:
        await _drop_pg_database(name)
