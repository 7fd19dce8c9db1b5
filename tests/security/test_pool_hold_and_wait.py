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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from mentorapi.kit.ratelimit import PostgresRateLimiter
from mentorapi.main import create_app
from mentorapi.sessions import service as sessions_service
from tests import conftest
from tests.conftest import Tenant, make_tenant, running
from tests.factories import (
    as_member,
    book_session,
    bookable,
    create_mentor,
    mint_token,
    unique,
)

TIMEOUT = 0.5
POOL = 3
GQL_MUTATION = """mutation ($input: CreateSkillInput!) { createSkill(input: $input) { id } }"""


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


async def _cold_rest(client: httpx.AsyncClient) -> httpx.Response:
    return await _skill(client)


async def _cold_graphql(client: httpx.AsyncClient) -> httpx.Response:
    variables = {"input": {"slug": unique("hw"), "name": "Hold"}}
    return await client.post("/graphql", json={"query": GQL_MUTATION, "variables": variables})


async def _idempotent(client: httpx.AsyncClient) -> httpx.Response:
    # The key cached: only the claim (held in the request's transaction) holds a connection.
    assert (await client.get("/v1/skills")).status_code == 200
    return await _skill(client, **{"Idempotency-Key": unique("key")})


async def _member(client: httpx.AsyncClient, idempotency_key: str | None = None) -> httpx.Response:
    # The key cached first: what is left to look up is the member token's app.
    assert (await client.get("/v1/skills")).status_code == 200
    mentor = await create_mentor(client)
    token = await mint_token(client, mentor["external_id"], "mentor")
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    async with as_member(client, token) as member:
        return await member.patch(
            f"/v1/mentors/{mentor['id']}", json={"headline": "member write"}, headers=headers
        )


WRITES: dict[str, Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]] = {
    "cold REST write": _cold_rest,
    "cold GraphQL mutation": _cold_graphql,
    "write with Idempotency-Key": _idempotent,
    "member write": _member,
    "member write with Idempotency-Key": lambda client: _member(client, unique("key")),
}


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_write_needs_one_connection(small_app: FastAPI, write: str) -> None:
    async with _tenants(small_app, 1) as (tenant,):
        response = await WRITES[write](tenant.client)
        assert response.status_code in (200, 201), response.text
        assert not response.json().get("errors"), response.text


async def test_as_many_concurrent_cold_writes_as_connections_succeed(small_app: FastAPI) -> None:
    size = small_app.state.settings.db_pool_size
    async with _tenants(small_app, size) as tenants:
        cold = await asyncio.gather(*(_skill(t.client) for t in tenants))
        assert [r.status_code for r in cold] == [201] * size, [r.text for r in cold]
        keyed = await asyncio.gather(
            *(_skill(t.client, **{"Idempotency-Key": unique("key")}) for t in tenants)
        )
        assert [r.status_code for r in keyed] == [201] * size, [r.text for r in keyed]


async def test_a_read_that_repairs_state_succeeds(
    small_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A GET that finds a request nobody answered before it started expires it, in a short
    # write transaction of its own (db/uow.py `writable`): not while its read holds a
    # connection of the same pool. A member token's read holds one after its lookup.
    async with _tenants(small_app, 1) as (tenant,):
        base = await bookable(tenant.client, auto_accept=False)
        booked = await book_session(tenant.client, base, "2027-01-11T08:00:00Z")
        mentee = await tenant.client.get(f"/v1/mentees/{base['mentee_id']}")
        token = await mint_token(tenant.client, mentee.json()["external_id"], "mentee")
        moment = datetime(2027, 1, 11, 9, tzinfo=UTC)
        monkeypatch.setattr(sessions_service, "now", lambda: moment)
        async with as_member(tenant.client, token) as member:
            read = await member.get(f"/v1/sessions/{booked['id']}")
        assert read.status_code == 200, read.text
        assert read.json()["status"] == "expired"
