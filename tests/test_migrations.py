"""Migrating an empty database gives exactly the models; downgrading removes everything."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mentorapi.db.migrate import downgrade, upgrade
from mentorapi.db.models import metadata
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
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def _inspect(url: str) -> tuple[list[Any], set[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff), await conn.run_sync(_tables)
    finally:
        await engine.dispose()


async def test_upgrade_gives_exactly_the_models_and_downgrade_removes_them(
    empty_database: str,
) -> None:
    await asyncio.to_thread(upgrade, empty_database)
    diff, tables = await _inspect(empty_database)
    assert diff == []
    assert tables == set(metadata.tables)

    await asyncio.to_thread(downgrade, empty_database, "base")
    _, tables = await _inspect(empty_database)
    assert tables == set()

    await asyncio.to_thread(upgrade, empty_database)  # and back up again, cleanly
    diff, _ = await _inspect(empty_database)
    assert diff == []
