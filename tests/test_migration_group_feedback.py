"""The group session feedback migration (d1f3a5c7e9b2) keeps the sessions' feedback as it is,
and its downgrade deletes only the group sessions' (whose `session_id` is NULL), on both
databases."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from mentorapi.db.migrate import downgrade, upgrade
from mentorapi.db.tenancy import CrossTenant, across_tenants
from tests.test_migrations import empty_database

__all__ = ["empty_database"]  # the fixture

BEFORE = "c4e6a8b0d2f3"
NOW = datetime(2026, 12, 8, 9, tzinfo=UTC)


def _filler(column: dict[str, Any]) -> Any:
    kind = column["type"]
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 2  # fits every CHECK here (group sessions: 2-12 seats)
    if isinstance(kind, sa.DateTime):
        return NOW
    if isinstance(kind, sa.JSON) or "JSON" in type(kind).__name__.upper():
        return "[]"
    return "x"


async def _insert(conn: AsyncConnection, table: str, **values: Any) -> None:
    """A row with `values`, every other NOT NULL column without a default filled in."""

    def columns(sync: Connection) -> list[dict[str, Any]]:
        return inspect(sync).get_columns(table)

    row = dict(values)
    for column in await conn.run_sync(columns):
        if column["name"] not in row and not column["nullable"] and column["default"] is None:
            row[column["name"]] = _filler(column)
    names = ", ".join(row)
    binds = ", ".join(f":{n}" for n in row)
    await conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({binds})"), row)


async def _feedback(conn: AsyncConnection) -> list[tuple[Any, ...]]:
    query = across_tenants(
        text("SELECT id, session_id FROM feedback ORDER BY id"), CrossTenant.migration
    )
    return [tuple(r) for r in (await conn.execute(query)).all()]


async def test_sessions_feedback_is_kept_and_group_feedback_goes_on_downgrade(
    empty_database: str,
) -> None:
    await asyncio.to_thread(upgrade, empty_database, BEFORE)
    engine = create_async_engine(empty_database)
    try:
        async with engine.begin() as conn:
            await _insert(conn, "apps", id="app_1", cors_origins="[]")
            await _insert(conn, "mentors", id="mtr_1", app_id="app_1", external_id="m")
            await _insert(conn, "mentees", id="mte_1", app_id="app_1", external_id="e")
            await _insert(conn, "skills", id="skl_1", app_id="app_1", slug="sql")
            await _insert(
                conn,
                "sessions",
                id="ses_1",
                app_id="app_1",
                mentor_id="mtr_1",
                mentee_id="mte_1",
                skill_id="skl_1",
                status="completed",
            )
            await _insert(
                conn,
                "feedback",
                id="fbk_1",
                app_id="app_1",
                session_id="ses_1",
                mentor_id="mtr_1",
                mentee_id="mte_1",
                author="mentee",
                rating=5,
                takeaways="[]",
            )
        await asyncio.to_thread(upgrade, empty_database)
        async with engine.begin() as conn:
            assert await _feedback(conn) == [("fbk_1", "ses_1")]
            await _insert(
                conn,
                "group_sessions",
                id="grp_1",
                app_id="app_1",
                mentor_id="mtr_1",
                skill_id="skl_1",
                status="completed",
                seats_taken=1,
                starts_at=NOW,
                ends_at=datetime(2026, 12, 8, 10, tzinfo=UTC),
            )
            await _insert(
                conn,
                "seats",
                id="sea_1",
                app_id="app_1",
                group_session_id="grp_1",
                mentee_id="mte_1",
                status="taken",
                starts_at=NOW,
                ends_at=datetime(2026, 12, 8, 10, tzinfo=UTC),
            )
            await _insert(
                conn,
                "feedback",
                id="fbk_2",
                app_id="app_1",
                group_session_id="grp_1",
                seat_id="sea_1",
                mentor_id="mtr_1",
                mentee_id="mte_1",
                author="mentee",
                rating=4,
                takeaways="[]",
            )
            await _insert(
                conn,
                "impact_updates",
                id="imp_1",
                app_id="app_1",
                feedback_id="fbk_2",
                text="Taught it to my team",
            )
            assert await _feedback(conn) == [("fbk_1", "ses_1"), ("fbk_2", None)]
        await asyncio.to_thread(downgrade, empty_database, BEFORE)
        async with engine.begin() as conn:
            assert await _feedback(conn) == [("fbk_1", "ses_1")]
            updates = across_tenants(text("SELECT id FROM impact_updates"), CrossTenant.migration)
            assert (await conn.execute(updates)).all() == []
        await asyncio.to_thread(upgrade, empty_database)  # and up again, cleanly
    finally:
        await engine.dispose()
