"""No request holds one pooled connection while it waits for another from the same pool.

Held and waited for, a pool of N deadlocks under N such requests: each holds one connection
and waits for a second that only another's end would free, until every one of them is
answered 503 `database-busy` after MENTORAPI_DB_POOL_TIMEOUT_SECONDS (a pool of 1: the first
cold write after start-up). On PostgreSQL the rate limiter's bucket statement ran on a
connection of its own while the request's session held the one its key lookup (an API key not
yet cached, any member token) or its Idempotency-Key claim had taken; it now has a pool of its
own (`MENTORAPI_RATE_LIMIT_POOL_SIZE`), whose connections never wait for anything.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from mentorapi.kit.ratelimit import PostgresRateLimiter
from mentorapi.main import create_app
from tests import conftest
from tests.conftest import Tenant, make_tenant, running
from tests.factories import as_member, create_mentor, mint_token, unique

TIMEOUT = 0.5
POOL = 3


@pytest.fixture(params=[1, POOL], ids=["pool-1", f"pool-{POOL}"])
async def small_app(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[FastAPI]:
    settings = conftest.test_settings(
        database_url,
        db_pool_size=request.param,
        db_pool_timeout_seconds=TIMEOUT,
        rate_limits_enabled=True,
    )
    async with running(create_app(settings)) as application:
        if application.state.db.dialect == "postgresql":
            # What this is about: the bucket statement on PostgreSQL (auto picks it there).
            assert isinstance(application.state.rate_limiter, PostgresRateLimiter)
        yield application


@asynccontextmanager
async def _tenants(app: FastAPI, n: int) -> AsyncIterator[list[Tenant]]:
    # Made straight in the database: no request has seen their keys, none is cached.
    makers = [make_tenant(app, f"hold and wait {i}") for i in range(n)]
    tenants = [await anext(maker) for maker in makers]
    try:
        yield tenants
    finally:
        for maker in makers:
            await maker.aclose()


def _skill(client: httpx.AsyncClient, **headers: str) -> "asyncio.Future[httpx.Response]":
    slug = unique("hw")
    return asyncio.ensure_future(
        client.post("/v1/skills", json={"slug": slug, "name": "Hold"}, headers=headers)
    )


async def test_cold_writes_member_writes_and_idempotent_writes_succeed(small_app: FastAPI) -> None:
    async with _tenants(small_app, 1) as (tenant,):
        client = tenant.client
        # The first write after start-up, its key not cached yet.
        first = await _skill(client)
        assert first.status_code == 201, first.text
        keyed = await _skill(client, **{"Idempotency-Key": unique("key")})
        assert keyed.status_code == 201, keyed.text
        mentor = await create_mentor(client)
        token = await mint_token(client, mentor["external_id"], "mentor")
        async with as_member(client, token) as member:
            changed = await member.patch(
                f"/v1/mentors/{mentor['id']}", json={"headline": "member write"}
            )
            assert changed.status_code == 200, changed.text
            keyed = await member.patch(
                f"/v1/mentors/{mentor['id']}",
                json={"headline": "member write again"},
                headers={"Idempotency-Key": unique("key")},
            )
            assert keyed.status_code == 200, keyed.text


async def test_as_many_concurrent_cold_writes_as_connections_succeed(small_app: FastAPI) -> None:
    size = small_app.state.settings.db_pool_size
    async with _tenants(small_app, size) as tenants:
        cold = await asyncio.gather(*(_skill(t.client) for t in tenants))
        assert [r.status_code for r in cold] == [201] * size, [r.text for r in cold]
        keyed = await asyncio.gather(
            *(_skill(t.client, **{"Idempotency-Key": unique("key")}) for t in tenants)
        )
        assert [r.status_code for r in keyed] == [201] * size, [r.text for r in keyed]
