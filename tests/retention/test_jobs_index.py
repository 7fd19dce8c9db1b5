"""The prune of finished jobs reads them through ix_jobs_finished_at, oldest first, instead of
scanning every finished job: on PostgreSQL with 200,000 finished jobs (analysed), both the plan
made for the values (the first executions of a prepared statement) and the generic plan (what
a prepared statement may switch to later) use it; SQLite plans with it too. Whether a mentoring
event names a job (one of the references that keep it) is asked through
ix_mentoring_events_schedule_job, never by reading every event."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.dialects.sqlite import aiosqlite

from mentorapi.db.listen import asyncpg_dsn
from mentorapi.db.migrate import upgrade
from mentorapi.jobs.repository import finished_before
from mentorapi.retention import BATCH_SIZE, JOB_REFERENCES
from tests.conftest import DATABASES, _create_pg_database, _drop_pg_database

FINISHED_JOBS = 200_000
EVENTS = FINISHED_JOBS // 4
BEFORE = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(params=DATABASES)
async def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
    else:
        name, url = await _create_pg_database()
        try:
            await asyncio.to_thread(upgrade, url)
            yield url
        finally:
            await _drop_pg_database(name)


def _compiled(dialect: Any) -> tuple[str, list[Any]]:
    query = finished_before(before=BEFORE, limit=BATCH_SIZE, kept_by=JOB_REFERENCES)
    compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    values = [compiled.params[name] for name in compiled.positiontup or ()]
    return str(compiled), [v.value if hasattr(v, "value") else v for v in values]


SEED_POSTGRESQL = f"""
INSERT INTO apps (id, name, token_secret, cors_origins, created_at, updated_at)
VALUES ('app_1', 'a', 's', '[]', now(), now());
INSERT INTO jobs (created_at, updated_at, app_id, id, kind, status, payload, progress,
                  attempts, run_after, finished_at)
SELECT t, t, 'app_1', 'job_' || n, 'match_run',
       CASE WHEN n % 2 = 0 THEN 'succeeded' ELSE 'failed' END, '{{}}', 1, 1, t, t
FROM generate_series(1, {FINISHED_JOBS}) AS n,
     LATERAL (SELECT timestamptz '2026-06-01' + n * interval '1 minute' AS t) AS at;
INSERT INTO jobs (created_at, updated_at, app_id, id, kind, status, payload, progress,
                  attempts, run_after)
SELECT now(), now(), 'app_1', 'queued_' || n, 'match_run', 'queued', '{{}}', 0, 0, now()
FROM generate_series(1, 2000) AS n;
-- Events whose schedule a job built (every fourth job), and events never scheduled.
INSERT INTO mentoring_events (created_at, updated_at, app_id, id, title, starts_at, timezone,
                              rounds, round_minutes, transition_minutes, table_capacity,
                              meetings_per_mentee, mode, registration_closes_at, status,
                              registrations_version, schedule_status, schedule_version,
                              schedule_job_id, schedule_stats, version)
SELECT now(), now(), 'app_1', 'mev_' || n, 'e', now(), 'UTC', 3, 10, 5, 4, 2, 'speed',
       now(), 'draft', 0, 'none', 0, CASE WHEN n <= {EVENTS} THEN 'job_' || (4 * n) END,
       '{{}}', 1
FROM generate_series(1, 2 * {EVENTS}) AS n;
ANALYZE;
"""


def _literal(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text.replace("'", "''") + "'"


async def _postgresql_plans(url: str) -> list[str]:
    sql, values = _compiled(pg_asyncpg.dialect())
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(SEED_POSTGRESQL)
        plans = []
        for mode in ("force_custom_plan", "force_generic_plan"):
            async with connection.transaction():
                await connection.execute(f"SET LOCAL plan_cache_mode = {mode}")
                await connection.execute(f"PREPARE pick AS {sql}")
                # EXPLAIN takes no parameters: the values as literals (all of them ours).
                arguments = ", ".join(_literal(v) for v in values)
                rows = await connection.fetch(f"EXPLAIN EXECUTE pick({arguments})")
                plans.append("\n".join(row[0] for row in rows))
                await connection.execute("DEALLOCATE pick")
        return plans
    finally:
        await connection.close()


def _sqlite_plan(path: str) -> str:
    sql, values = _compiled(aiosqlite.dialect())
    values = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO apps (id, name, token_secret, cors_origins, created_at, updated_at) "
            "VALUES ('app_1', 'a', 's', '[]', '2026-01-01', '2026-01-01')"
        )
        connection.executemany(
            "INSERT INTO jobs (created_at, updated_at, app_id, id, kind, status, payload, "
            "progress, attempts, run_after, finished_at) VALUES (?, ?, 'app_1', ?, 'match_run', "
            "?, '{}', 1, 1, ?, ?)",
            (
                (at, at, f"job_{n}", "succeeded" if n % 2 else "failed", at, at)
                for n in range(20_000)
                for at in (f"2026-06-01T00:00:{n % 60:02d}.{n:06d}+00:00",)
            ),
        )
        connection.executemany(
            "INSERT INTO mentoring_events (created_at, updated_at, app_id, id, title, "
            "starts_at, timezone, rounds, round_minutes, transition_minutes, table_capacity, "
            "meetings_per_mentee, mode, registration_closes_at, status, registrations_version, "
            "schedule_status, schedule_version, schedule_job_id, schedule_stats, version) "
            "VALUES ('2026-01-01', '2026-01-01', 'app_1', ?, 'e', '2026-01-01', 'UTC', 3, 10, "
            "5, 4, 2, 'speed', '2026-01-01', 'draft', 0, 'none', 0, ?, '{}', 1)",
            ((f"mev_{n}", f"job_{4 * n}" if n < 5_000 else None) for n in range(10_000)),
        )
        connection.execute("ANALYZE")
        rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", values).fetchall()
    return "\n".join(str(row[-1]) for row in rows)


async def test_the_prune_of_finished_jobs_reads_them_by_the_finish_time_index(
    migrated: str,
) -> None:
    if migrated.startswith("sqlite"):
        plan = await asyncio.to_thread(_sqlite_plan, migrated.split("///", 1)[1])
        assert "SCAN jobs USING INDEX ix_jobs_finished_at" in plan or (
            "SEARCH jobs USING INDEX ix_jobs_finished_at" in plan
        ), plan
        assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan
        assert "mentoring_events USING COVERING INDEX ix_mentoring_events_schedule_job" in plan
        assert "SCAN mentoring_events" not in plan, plan
        return
    for plan in await _postgresql_plans(migrated):
        assert "ix_jobs_finished_at on jobs" in plan, plan
        assert "Seq Scan on jobs" not in plan, plan
        assert "Sort" not in plan, plan  # read in finished_at order, not sorted
        assert "ix_mentoring_events_schedule_job on mentoring_events" in plan, plan
        assert "Seq Scan on mentoring_events" not in plan, plan
