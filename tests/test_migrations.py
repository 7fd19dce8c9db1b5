"""Migrating an empty database gives exactly the models; downgrading removes everything."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mentorapi.db.migrate import downgrade, upgrade
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
