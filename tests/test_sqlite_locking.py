"""SQLite has one writer: reads must not queue behind it, and a busy database is a 503."""

import asyncio
import json

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlmodel import col
from starlette.requests import Request

from mentorapi.apps.models import App
from mentorapi.db.engine import Database
from mentorapi.kit.problems import _database_busy
from tests.conftest import Tenant
from tests.factories import create_mentor


async def test_reads_do_not_wait_for_a_writer(tenant: Tenant, db: Database, dialect: str) -> None:
    if dialect != "sqlite":
        pytest.skip("PostgreSQL readers never wait for writers (MVCC); this is SQLite's lock")
    mentor = await create_mentor(tenant.client)
    async with db.sessionmaker() as writer:
        # An open write transaction holds SQLite's single write lock until it ends.
        await writer.exec(update(App).where(col(App.id) == tenant.id).values(name="held"))
        read = await asyncio.wait_for(tenant.client.get(f"/v1/mentors/{mentor['id']}"), 10)
        assert read.status_code == 200
        await writer.rollback()


async def test_a_busy_database_is_a_503_with_retry_after() -> None:
    exc = OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
    response = await _database_busy(Request({"type": "http", "method": "POST"}), exc)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert json.loads(bytes(response.body))["title"] == "Database busy"


async def test_other_operational_errors_stay_500() -> None:
    exc = OperationalError("SELECT", {}, Exception("disk I/O error"))
    response = await _database_busy(Request({"type": "http", "method": "GET"}), exc)
    assert response.status_code == 500
