"""API keys remembered per process on PostgreSQL (apps/keycache.py), forgotten on every change.

"Another process" is what the CLI is (`mentorapi apps revoke-key`): here its service call on a
session of its own, or plain SQL on a connection of its own, as a person with psql would. On
SQLite (no cache) the same requests must give the same answers.
"""

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from mentorapi.apps import keycache
from mentorapi.apps import repository as apps_repository
from mentorapi.apps import service as apps_service
from mentorapi.apps.keycache import KeyCache
from mentorapi.apps.models import AppRecord
from mentorapi.db.engine import Database
from mentorapi.db.listen import asyncpg_dsn
from tests.conftest import Tenant, count_statements, is_key_lookup


async def _lookups(client: httpx.AsyncClient) -> int:
    with count_statements() as statements:
        response = await client.get("/v1/app")
    assert response.status_code == 200, response.text
    return sum(1 for s in statements if is_key_lookup(s))


async def _notices_settled(keys: KeyCache, database_url: str) -> None:
    """Every notice already sent (the fixture's new app, an earlier test's writes) has arrived:
    PostgreSQL delivers notices in commit order, so once one sent now is heard, they all are.
    Without this, a notice landing between two lookups makes a test count one more."""
    seen = keys.generation()
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute(f"NOTIFY {keycache.CHANNEL}")
    finally:
        await connection.close()
    async with asyncio.timeout(5):
        while True:  # the cache has no event for a notice: poll its generation
            if keys.generation() != seen:
                break
            await asyncio.sleep(0.005)


async def _until_refused(client: httpx.AsyncClient) -> httpx.Response:
    """The first 401 (a notice takes a moment to arrive; a cached key must not outlive it)."""
    async with asyncio.timeout(5):
        while True:
            response = await client.get("/v1/app")
            if response.status_code == 401:
                return response
            assert response.status_code == 200, response.text
            await asyncio.sleep(0.01)


async def _plain_sql(db: Database, statement: str, **params: object) -> None:
    """A write that is neither the API nor its services: a connection of its own."""
    async with db.engine.begin() as connection:
        await connection.execute(text(statement), params)


async def test_postgresql_looks_a_key_up_once_sqlite_every_time(
    app: FastAPI, database_url: str, tenant: Tenant, dialect: str
) -> None:
    keys = app.state.key_cache
    if dialect == "postgresql":
        await _notices_settled(keys, database_url)
        assert [await _lookups(tenant.client) for _ in range(3)] == [1, 0, 0]
    else:
        assert keys is None
        assert [await _lookups(tenant.client) for _ in range(3)] == [1, 1, 1]


async def test_a_key_revoked_by_another_process_is_refused(db: Database, tenant: Tenant) -> None:
    await _lookups(tenant.client)
    assert (await tenant.client.get("/v1/app")).status_code == 200  # remembered, on PostgreSQL
    async with db.sessionmaker() as s, s.begin():  # the CLI's revoke, on its own session
        for key in await apps_repository.list_keys(s, tenant.id):
            await apps_service.revoke_key(db_session=s, key_id=key.id)
    response = await _until_refused(tenant.client)
    assert response.json()["status"] == 401


async def test_a_key_revoked_in_plain_sql_is_refused(db: Database, tenant: Tenant) -> None:
    await _lookups(tenant.client)
    await _plain_sql(
        db,
        "UPDATE api_keys SET revoked_at = :now WHERE app_id = :app_id",
        now=datetime.now(UTC),
        app_id=tenant.id,
    )
    await _until_refused(tenant.client)


async def test_an_app_changed_elsewhere_is_read_again(db: Database, tenant: Tenant) -> None:
    origin = "https://app.example"
    await _lookups(tenant.client)
    await _plain_sql(
        db,
        "UPDATE apps SET cors_origins = :origins WHERE id = :app_id",
        origins=f'["{origin}"]',
        app_id=tenant.id,
    )
    async with asyncio.timeout(5):
        while True:
            response = await tenant.client.get("/v1/mentors", headers={"Origin": origin})
            if response.headers.get("access-control-allow-origin") == origin:
                break
            await asyncio.sleep(0.01)


async def test_a_lost_listening_connection_forgets_everything_and_comes_back(
    app: FastAPI, database_url: str, tenant: Tenant, dialect: str
) -> None:
    if dialect != "postgresql":
        pytest.skip("PostgreSQL only: the LISTEN connection (SQLite keeps no cache, above)")
    keys: KeyCache = app.state.key_cache
    await _notices_settled(keys, database_url)
    await _lookups(tenant.client)
    assert await _lookups(tenant.client) == 0
    assert len(keys) > 0
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        ended = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = current_database()",
            keycache.APPLICATION_NAME,
        )
    finally:
        await connection.close()
    assert ended >= 1
    async with asyncio.timeout(5):
        while True:
            if not keys.listening:
                break
            await asyncio.sleep(0.01)
    assert len(keys) == 0
    # Meanwhile every request reads its key, and nothing is kept.
    assert await _lookups(tenant.client) == 1
    assert len(keys) == 0
    async with asyncio.timeout(10):
        await keys.until_listening()
    assert [await _lookups(tenant.client) for _ in range(2)] == [1, 0]


# --- the cache itself, without a database ---------------------------------------------------------

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def _record(app_id: str = "app_1") -> AppRecord:
    return AppRecord(app_id, "an app", "mts_x", None, None, [], NOW, NOW)


def _listening_cache(clock: Callable[[], float] = time.monotonic) -> KeyCache:
    cache = KeyCache("postgresql+asyncpg://nobody@127.0.0.1:1/none", clock=clock)
    cache._listening.set()  # as the listener does once LISTEN has run
    return cache


def test_a_lookup_overtaken_by_a_change_is_not_kept() -> None:
    cache = _listening_cache()
    before = cache.generation()
    cache.forget_all()  # a notice arrives while the lookup runs
    cache.keep("h", _record(), None, before)
    assert cache.get("h", NOW) is None
    cache.keep("h", _record(), None, cache.generation())
    assert cache.get("h", NOW) == _record()


def test_nothing_is_kept_while_not_listening() -> None:
    cache = KeyCache("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    cache.keep("h", _record(), None, cache.generation())
    assert cache.get("h", NOW) is None


def test_an_entry_ends_with_its_key_and_after_max_age() -> None:
    now = [100.0]
    cache = _listening_cache(clock=lambda: now[0])
    cache.keep("h", _record(), NOW + timedelta(seconds=1), cache.generation())
    assert cache.get("h", NOW) is not None
    assert cache.get("h", NOW + timedelta(seconds=1)) is None  # expired: gone
    cache.keep("h", _record(), None, cache.generation())
    now[0] += keycache.MAX_AGE - 1
    assert cache.get("h", NOW) is not None
    now[0] += 2
    assert cache.get("h", NOW) is None


def test_the_cache_starts_over_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keycache, "CAPACITY", 3)
    cache = _listening_cache()
    for n in range(3):
        cache.keep(f"h{n}", _record(), None, cache.generation())
    assert len(cache) == 3
    cache.keep("h3", _record(), None, cache.generation())
    assert len(cache) == 1
    assert cache.get("h3", NOW) is not None


async def test_a_client_reads_its_own_change_of_the_app_at_once(tenant: Tenant) -> None:
    """The process that commits a change forgets at once (its own notice comes later)."""
    for n in range(20):
        origins = [f"https://a{n}.example"]
        response = await tenant.client.patch("/v1/app", json={"cors_origins": origins})
        assert response.status_code == 200, response.text
        assert (await tenant.client.get("/v1/app")).json()["cors_origins"] == origins


def test_writes_to_apps_and_keys_are_recognised() -> None:
    for statement in (
        "UPDATE apps SET cors_origins=$1::JSON WHERE apps.id = $2::VARCHAR",
        "INSERT INTO api_keys (id, app_id) VALUES ($1, $2)",
        'DELETE FROM "apps" WHERE id = 1',
        "update api_keys set revoked_at = now()",
        "TRUNCATE TABLE api_keys",
    ):
        assert keycache._AUTH_WRITE.match(statement), statement
    for statement in (
        "SELECT apps.id FROM apps",
        "UPDATE mentors SET name = 'apps'",
        "INSERT INTO apps_archive VALUES (1)",
        "UPDATE api_keys_old SET x = 1",
    ):
        assert not keycache._AUTH_WRITE.match(statement), statement


async def test_the_cache_can_be_turned_off(database_url: str) -> None:
    from mentorapi.main import create_app
    from tests.conftest import make_tenant, running, test_settings

    settings = test_settings(database_url, key_cache=False)
    async with running(create_app(settings)) as application:
        assert application.state.key_cache is None
        async for tenant in make_tenant(application):
            assert [await _lookups(tenant.client) for _ in range(2)] == [1, 1]
