"""Alembic environment, async: runs migrations over the app's own async engine."""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mentorapi.config import get_settings
from mentorapi.db.models import metadata
from mentorapi.db.tenancy import CrossTenant, across_tenants
from mentorapi.matching.models import compared

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def _url() -> str:
    # The direct URL: migrations need a session of their own, not a PgBouncer transaction pool.
    return config.attributes.get("database_url") or get_settings().session_database_url


def _run(connection: Connection) -> None:
    # Data migrations rewrite every app's rows (modifies the connection in place).
    across_tenants(connection, CrossTenant.migration)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying tables
        compare_type=True,
        include_object=compared(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
