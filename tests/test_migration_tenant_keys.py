"""The tenant-keys migration on a database with rows in every table: nothing lost, link rows
moved to their owner's app, keys that refuse a reference to another app's row, the same
cascades as before, and a downgrade that gives the rows back unchanged."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, event, insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mentorapi.db.migrate import alembic_config, downgrade, upgrade
from mentorapi.db.tenancy import CrossTenant, across_tenants
from tests.conftest import DATABASES, _create_pg_database, _drop_pg_database

TENANT_KEYS = "2d1ddacc8d5b"
# The revision just before (whatever the migrations are chained to).
BEFORE = str(
    ScriptDirectory.from_config(alembic_config("")).get_revision(TENANT_KEYS).down_revision
)
NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)
APPS = ("app_a", "app_b")


@pytest.fixture(params=DATABASES)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tenant_keys.db'}"
    else:
        name, url = await _create_pg_database()
        try:
            yield url
        finally:
            await _drop_pg_database(name)


def _engine(url: str) -> AsyncEngine:
    """An engine that enforces foreign keys on SQLite too, as the service's does."""
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":

        def on(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

        event.listen(engine.sync_engine, "connect", on)
    return engine


def _value(column: Any) -> Any:
    """Some value for a NOT NULL column, by its reflected type."""
    kind = type(column.type).__name__.upper()
    if "JSON" in kind:
        return []
    if "BOOL" in kind:
        return False
    if "INT" in kind:
        return 1
    if "FLOAT" in kind or "DOUBLE" in kind or "REAL" in kind or "NUMERIC" in kind:
        return 0.5
    if "TIMESTAMP" in kind or "DATETIME" in kind:
        return NOW
    if kind == "DATE":
        return date(2026, 12, 1)
    return "x"


def _rows(app: str) -> list[tuple[str, dict[str, Any]]]:
    """A whole graph of one app's rows, parents first: (table, the values that matter)."""

    def i(prefix: str) -> str:
        return f"{prefix}_{app}"

    return [
        ("apps", {"id": app, "cors_origins": []}),
        ("skills", {"id": i("skl"), "app_id": app, "slug": i("s")}),
        ("skills", {"id": i("skl2"), "app_id": app, "slug": i("s2")}),
        ("mentors", {"id": i("mtr"), "app_id": app, "external_id": i("m")}),
        ("mentees", {"id": i("mte"), "app_id": app, "external_id": i("e")}),
        ("availabilities", {"mentor_id": i("mtr"), "app_id": app}),
        ("mentor_skills", {"mentor_id": i("mtr"), "skill_id": i("skl"), "app_id": app}),
        ("mentee_skills", {"mentee_id": i("mte"), "skill_id": i("skl"), "app_id": app}),
        ("goals", {"id": i("gol"), "app_id": app, "mentee_id": i("mte"), "skill_id": i("skl")}),
        ("milestones", {"id": i("mls"), "app_id": app, "goal_id": i("gol")}),
        ("series", {"id": i("ser"), "app_id": app, "mentor_id": i("mtr"), "mentee_id": i("mte")}),
        (
            "sessions",
            {
                "id": i("ses"),
                "app_id": app,
                "mentor_id": i("mtr"),
                "mentee_id": i("mte"),
                "skill_id": i("skl"),
                "series_id": i("ser"),
                "status": "booked",
                "starts_at": NOW,
                "ends_at": NOW.replace(hour=11),
            },
        ),
        (
            "sessions",
            {
                "id": i("ses2"),
                "app_id": app,
                "mentor_id": i("mtr"),
                "mentee_id": i("mte"),
                "skill_id": i("skl2"),
                "status": "completed",
            },
        ),
        ("session_notes", {"session_id": i("ses"), "app_id": app}),
        ("action_items", {"id": i("act"), "app_id": app, "session_id": i("ses")}),
        (
            "feedback",
            {
                "id": i("fbk"),
                "app_id": app,
                "session_id": i("ses2"),
                "mentor_id": i("mtr"),
                "mentee_id": i("mte"),
                "author": "mentee",
            },
        ),
        ("impact_updates", {"id": i("imp"), "app_id": app, "feedback_id": i("fbk")}),
        ("webhook_endpoints", {"id": i("whe"), "app_id": app}),
        ("events", {"id": i("evt"), "app_id": app, "object_id": i("ses"), "data": {}}),
        (
            "deliveries",
            {"id": i("dlv"), "app_id": app, "event_id": i("evt"), "endpoint_id": i("whe")},
        ),
        (
            "delivery_attempts",
            {
                "id": i("dla"),
                "app_id": app,
                "delivery_id": i("dlv"),
                "endpoint_id": i("whe"),
                "event_id": i("evt"),
            },
        ),
        ("api_keys", {"id": i("key"), "app_id": app, "key_hash": i("hash")}),
        ("idempotency_keys", {"app_id": app, "key": "k", "expires_at": NOW}),
    ]


# A link whose app_id was not its mentor's: the migration moves it to the mentor's app.
STRAY_LINK = {"mentor_id": "mtr_app_a", "skill_id": "skl2_app_a", "app_id": "app_b"}


def _seed(connection: Connection) -> None:
    meta = MetaData()
    meta.reflect(connection)
    for app in APPS:
        for name, values in _rows(app):
            table = meta.tables[name]
            row = {c.name: _value(c) for c in table.columns if not c.nullable}
            row.update(values)
            connection.execute(insert(table).values(row))
    link = meta.tables["mentor_skills"]
    row = {c.name: _value(c) for c in link.columns if not c.nullable}
    connection.execute(insert(link).values({**row, **STRAY_LINK}))


def _snapshot(connection: Connection) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of every table, as sorted (column, value) pairs."""
    meta = MetaData()
    meta.reflect(connection)
    found = {}
    for name in meta.tables:
        if name == "alembic_version":
            continue
        rows = connection.execute(
            across_tenants(text(f"SELECT * FROM {name}"), CrossTenant.migration)
        )
        found[name] = {
            tuple(sorted((k, repr(v) if isinstance(v, list | dict) else v) for k, v in r))
            for r in (row._mapping.items() for row in rows)
        }
    return found


async def _run(url: str, work: Any, *, commit: bool = True) -> Any:
    engine = _engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.run_sync(work)
            if commit:
                await conn.commit()
            return result
    finally:
        await engine.dispose()


def _moved(before: dict[str, set[tuple[Any, ...]]]) -> dict[str, set[tuple[Any, ...]]]:
    """`before` as the upgrade leaves it: the stray link in its mentor's app."""
    after = dict(before)
    after["mentor_skills"] = {
        tuple(
            (k, "app_a" if k == "app_id" and dict(row)["mentor_id"] == "mtr_app_a" else v)
            for k, v in row
        )
        for row in before["mentor_skills"]
    }
    return after


async def test_upgrade_keeps_every_row_and_downgrade_gives_them_back(database: str) -> None:
    await asyncio.to_thread(upgrade, database, BEFORE)
    await _run(database, _seed)
    before = await _run(database, _snapshot)
    assert sum(len(rows) for rows in before.values()) == 2 * len(_rows("a")) + 1

    await asyncio.to_thread(upgrade, database, TENANT_KEYS)
    after = await _run(database, _snapshot)
    assert after == _moved(before)
    assert {dict(r)["app_id"] for r in after["mentor_skills"]} == {"app_a", "app_b"}

    await asyncio.to_thread(downgrade, database, BEFORE)
    assert await _run(database, _snapshot) == after
    await asyncio.to_thread(upgrade, database, TENANT_KEYS)  # and up again
    assert await _run(database, _snapshot) == after


def _refused(connection: Connection, statement: str) -> bool:
    """Whether the database refuses `statement` (rolled back to a savepoint either way)."""
    savepoint = connection.begin_nested()
    try:
        connection.execute(text(statement))
    except IntegrityError:
        savepoint.rollback()
        return True
    savepoint.rollback()
    return False


def _session_row(**values: str) -> str:
    row = {
        "id": "'ses_new'",
        "app_id": "'app_b'",
        "mentor_id": "'mtr_app_b'",
        "mentee_id": "'mte_app_b'",
        "skill_id": "'skl_app_b'",
        "created_at": "CURRENT_TIMESTAMP",
        "updated_at": "CURRENT_TIMESTAMP",
        "status": "'cancelled'",
        "topic": "'t'",
        "questions": "'[]'",
        "format": "'video'",
        "duration_minutes": "15",
        "history": "'[]'",
        "version": "1",
        **{k: f"'{v}'" for k, v in values.items()},
    }
    return f"INSERT INTO sessions ({', '.join(row)}) VALUES ({', '.join(row.values())})"


def _check_keys(connection: Connection) -> dict[str, Any]:
    """What the database refuses and what it deletes, all rolled back at the end."""
    outcome: dict[str, Any] = {
        "same app": _refused(connection, _session_row()),
        # Another app's mentor, mentee, skill or series: no longer possible at all.
        "other app's mentor": _refused(connection, _session_row(mentor_id="mtr_app_a")),
        "other app's mentee": _refused(connection, _session_row(mentee_id="mte_app_a")),
        "other app's skill": _refused(connection, _session_row(skill_id="skl_app_a")),
        "other app's series": _refused(connection, _session_row(series_id="ser_app_a")),
        "a skill in use": _refused(
            connection, "DELETE FROM skills WHERE app_id = 'app_a' AND id = 'skl_app_a'"
        ),
    }
    connection.execute(text("DELETE FROM mentors WHERE app_id = 'app_a' AND id = 'mtr_app_a'"))
    left = _snapshot(connection)
    outcome["left"] = {
        name: sorted(dict(r).get("app_id", dict(r).get("id")) for r in rows)
        for name, rows in left.items()
    }
    return outcome  # not committed


async def test_the_keys_refuse_another_apps_rows_and_cascade_as_before(database: str) -> None:
    await asyncio.to_thread(upgrade, database, BEFORE)
    await _run(database, _seed)
    await asyncio.to_thread(upgrade, database, TENANT_KEYS)
    outcome = await _run(database, _check_keys, commit=False)
    assert outcome.pop("same app") is False  # the row itself is fine
    left = outcome.pop("left")
    assert all(outcome.values()), outcome
    # Deleting app_a's mentor took everything that hung from it, in app_a only.
    for name in (
        "availabilities",
        "series",
        "sessions",
        "session_notes",
        "action_items",
        "feedback",
        "impact_updates",
        "mentor_skills",
    ):
        assert set(left[name]) == {"app_b"}, (name, left[name])
    assert left["skills"] == ["app_a", "app_a", "app_b", "app_b"]
    assert left["mentees"] == ["app_a", "app_b"]


async def test_a_reference_across_apps_stops_the_upgrade_before_any_change(
    database: str,
) -> None:
    await asyncio.to_thread(upgrade, database, BEFORE)
    await _run(database, _seed)

    def cross(connection: Connection) -> None:
        # Possible before: only app_id -> apps was a foreign key of the app's own.
        connection.execute(text(_session_row(id="ses_cross", mentor_id="mtr_app_a")))

    await _run(database, cross)
    before = await _run(database, _snapshot)
    with pytest.raises(RuntimeError, match="1 rows of sessions whose mentor_id is not a row of"):
        await asyncio.to_thread(upgrade, database, TENANT_KEYS)
    assert await _run(database, _snapshot) == before

    def revision(connection: Connection) -> str:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()

    assert await _run(database, revision) == BEFORE
