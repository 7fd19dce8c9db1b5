"""The per-process API key memo (MENTORAPI_API_KEY_CACHE_SECONDS): a hit skips the key query,
revocation in this process is immediate, elsewhere it takes effect within the TTL, and a key's
own expiry is exact."""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from mentorapi.apps import repository, service
from mentorapi.apps.keycache import ApiKeyCache, api_key_cache
from mentorapi.apps.models import ApiKey, App
from mentorapi.db.engine import Database
from mentorapi.kit.timezones import utcnow
from mentorapi.main import create_app
from tests.conftest import Tenant, count_statements, make_tenant
from tests.conftest import test_settings as settings_for  # aliased: not collected as a test

TTL = 60.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def cached_app(database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(settings_for(database_url, api_key_cache_seconds=TTL))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def cached_tenant(cached_app: FastAPI) -> AsyncIterator[Tenant]:
    async for tenant in make_tenant(cached_app, "cached tenant"):
        yield tenant


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(api_key_cache, "_clock", fake)
    return fake


def _key_queries(statements: list[str]) -> list[str]:
    return [s for s in statements if "api_keys" in s]


async def test_a_remembered_key_needs_no_query(cached_tenant: Tenant, clock: FakeClock) -> None:
    first = await cached_tenant.client.get("/v1/app")
    assert first.status_code == 200
    with count_statements() as statements:
        again = await cached_tenant.client.get("/v1/app")
        listed = await cached_tenant.client.get("/v1/mentors")
    assert again.status_code == 200
    assert again.json() == first.json()  # the remembered app is the same app
    assert listed.status_code == 200
    assert _key_queries(statements) == []


async def test_a_write_works_with_a_remembered_app(cached_tenant: Tenant, clock: FakeClock) -> None:
    await cached_tenant.client.get("/v1/app")  # remember the key
    created = await cached_tenant.client.post("/v1/skills", json={"slug": "cached", "name": "C"})
    assert created.status_code == 201, created.text
    assert (await cached_tenant.client.get("/v1/skills")).json()["data"][0]["slug"] == "cached"


async def test_revoking_in_this_process_is_immediate(
    cached_app: FastAPI, cached_tenant: Tenant, clock: FakeClock
) -> None:
    assert (await cached_tenant.client.get("/v1/app")).status_code == 200
    db: Database = cached_app.state.db
    async with db.sessionmaker() as s, s.begin():
        for key in await repository.list_keys(s, cached_tenant.id):
            await service.revoke_key(db_session=s, key_id=key.id)
    assert (await cached_tenant.client.get("/v1/app")).status_code == 401


async def test_revoking_elsewhere_takes_effect_within_the_ttl(
    cached_app: FastAPI, cached_tenant: Tenant, clock: FakeClock
) -> None:
    assert (await cached_tenant.client.get("/v1/app")).status_code == 200
    # Another process (the CLI) revokes the key: this process's memo is not told.
    db: Database = cached_app.state.db
    async with db.sessionmaker() as s, s.begin():
        await s.exec(
            update(ApiKey).where(col(ApiKey.app_id) == cached_tenant.id).values(revoked_at=utcnow())
        )
    clock.now += TTL - 1
    assert (await cached_tenant.client.get("/v1/app")).status_code == 200  # the documented window
    clock.now += 1
    assert (await cached_tenant.client.get("/v1/app")).status_code == 401


async def test_a_key_expiring_in_the_database_is_not_remembered_past_expiry(
    cached_app: FastAPI, cached_tenant: Tenant, clock: FakeClock
) -> None:
    db: Database = cached_app.state.db
    async with db.sessionmaker() as s, s.begin():
        await s.exec(
            update(ApiKey)
            .where(col(ApiKey.app_id) == cached_tenant.id)
            .values(expires_at=utcnow() + timedelta(hours=1))
        )
    assert (await cached_tenant.client.get("/v1/app")).status_code == 200
    async with db.sessionmaker() as s, s.begin():
        await s.exec(
            update(ApiKey)
            .where(col(ApiKey.app_id) == cached_tenant.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    # Still remembered (expiry an hour away as far as the memo knows), and still live there:
    assert (await cached_tenant.client.get("/v1/app")).status_code == 200
    clock.now += TTL
    assert (await cached_tenant.client.get("/v1/app")).status_code == 401


def test_the_memo_honours_ttl_and_key_expiry() -> None:
    clock = FakeClock()
    cache = ApiKeyCache(clock=clock)
    now = utcnow()
    app = App(id="app_01JD0000000000000000000000", name="a", created_at=now, updated_at=now)
    cache.put("live", app, None)
    cache.put("lapsed", app, now - timedelta(seconds=1))
    assert cache.get("lapsed", 5) is None
    remembered = cache.get("live", 5)
    assert remembered is not None
    assert (remembered.id, remembered.name) == (app.id, app.name)
    assert remembered is not app  # a fresh object each time, never a shared one
    clock.now += 5
    assert cache.get("live", 5) is None
    cache.put("live", app, None)
    cache.forget_app(app.id)
    assert cache.get("live", 5) is None


async def test_off_by_default_in_tests(tenant: Tenant) -> None:
    await tenant.client.get("/v1/app")
    with count_statements() as statements:
        assert (await tenant.client.get("/v1/app")).status_code == 200
    assert len(_key_queries(statements)) == 1
