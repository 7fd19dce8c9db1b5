"""An exhausted connection pool is "the database is busy", never a 500: a request that waits
MENTORAPI_DB_POOL_TIMEOUT_SECONDS for a pooled connection is answered 503 problem+json
`database-busy` with Retry-After (GraphQL: SERVICE_UNAVAILABLE with `retryAfter`, no data),
nothing written, and the pool is as it was; once connections are free again, requests succeed.

SQLAlchemy pools SQLite's file database too (5 connections and 10 overflow, whatever
MENTORAPI_DB_POOL_SIZE says), so the test holds every connection the pool will give, on both
databases, and with the rate limiter on (its PostgreSQL bucket statement has a small pool of
its own, which the test leaves free: the requests wait for the main pool) and off.
"""

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from graphql import GraphQLError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mentorapi.graphql.errors import BUSY_MESSAGE, is_expected, to_graphql_error
from mentorapi.main import create_app
from tests import conftest
from tests.conftest import Tenant, make_tenant, running
from tests.factories import bookable, unique
from tests.gql.helpers import error_codes, serve

TIMEOUT = 0.2
SLOTS_QUERY = "start=2027-03-22T00:00:00Z&end=2027-03-29T00:00:00Z&duration=30"
GQL_QUERY = "query ($id: ID!) { mentor(id: $id) { id name } }"
GQL_MUTATION = """mutation ($input: CreateSkillInput!) { createSkill(input: $input) { id } }"""


@pytest.fixture(params=[False, True], ids=["no-rate-limit", "rate-limit"])
async def small_app(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[FastAPI]:
    # A request needs one connection of the pool, rate limiter or not (the bucket statement
    # has its own: test_pool_hold_and_wait.py).
    settings = conftest.test_settings(
        database_url,
        db_pool_size=1,
        db_pool_timeout_seconds=TIMEOUT,
        rate_limits_enabled=request.param,
    )
    async with running(create_app(settings)) as application:
        yield application


@pytest.fixture
async def small_tenant(small_app: FastAPI) -> AsyncIterator[Tenant]:
    async for t in make_tenant(small_app, "pool timeout"):
        yield t


@asynccontextmanager
async def every_connection_held(engine: AsyncEngine) -> AsyncIterator[list[AsyncConnection]]:
    """Check out connections until the pool has none to give (its own TimeoutError says so)."""
    held: list[AsyncConnection] = []
    try:
        for _ in range(50):
            try:
                connection = await engine.connect()
            except PoolTimeout:
                break
            # Checked out (connect() takes it from the pool), no transaction begun: on SQLite a
            # write lock held here would make this a test of the lock, not of the pool.
            held.append(connection)
        else:
            raise AssertionError("the pool never ran out")
        yield held
    finally:
        for connection in held:
            await connection.close()


def _pool_state(engine: AsyncEngine) -> tuple[int, int, int]:
    pool: Any = engine.sync_engine.pool
    return pool.size(), pool.checkedout(), pool.overflow()


async def _skill_slugs(client: httpx.AsyncClient) -> set[str]:
    response = await client.get("/v1/skills", params={"limit": 100})
    assert response.status_code == 200, response.text
    return {s["slug"] for s in response.json()["data"]}


def _requests(
    client: httpx.AsyncClient, base: dict[str, Any], slugs: dict[str, str]
) -> dict[str, Callable[[], Awaitable[httpx.Response]]]:
    mentor = base["mentor_id"]
    # The reads first: after the pool is released they must answer what they answered before
    # it was held, before the writes add to what they read.
    return {
        "REST read": lambda: client.get(f"/v1/mentees/{base['mentee_id']}"),
        "REST list": lambda: client.get("/v1/skills"),
        "lean list": lambda: client.get("/v1/mentors"),
        "lean slots": lambda: client.get(f"/v1/mentors/{mentor}/slots?{SLOTS_QUERY}"),
        "GraphQL query": lambda: client.post(
            "/graphql", json={"query": GQL_QUERY, "variables": {"id": mentor}}
        ),
        "REST write": lambda: client.post(
            "/v1/skills", json={"slug": slugs["REST write"], "name": "Busy"}
        ),
        "REST write with Idempotency-Key": lambda: client.post(
            "/v1/skills",
            json={"slug": slugs["REST write with Idempotency-Key"], "name": "Busy"},
            headers={"Idempotency-Key": slugs["REST write with Idempotency-Key"]},
        ),
        "GraphQL mutation": lambda: client.post(
            "/graphql",
            json={
                "query": GQL_MUTATION,
                "variables": {"input": {"slug": slugs["GraphQL mutation"], "name": "Busy"}},
            },
        ),
    }


def _not_busy(name: str, response: httpx.Response) -> str | None:
    """How `response` is not the answer to a busy database, or None."""
    if name.startswith("GraphQL"):
        if response.status_code != 200:
            return f"GraphQL answered {response.status_code}: {response.text[:300]}"
        body = response.json()
        if body.get("data") is not None or error_codes(body) != ["SERVICE_UNAVAILABLE"]:
            return f"GraphQL answered {body}"
        if body["errors"][0]["extensions"].get("retryAfter") != 1:
            return f"GraphQL error without retryAfter: {body['errors']}"
        return None
    if response.status_code != 503:
        return f"{response.status_code}: {response.text[:300]}"
    if response.headers.get("retry-after") != "1":
        return f"Retry-After {response.headers.get('retry-after')!r}"
    if response.headers["content-type"] != "application/problem+json":
        return "503 that is not problem+json"
    if not response.json()["type"].endswith("/database-busy"):
        return f"503 of another kind: {response.json()}"
    return None


async def test_an_exhausted_pool_is_a_503_database_busy_and_nothing_is_written(
    small_app: FastAPI, small_tenant: Tenant
) -> None:
    client = small_tenant.client
    engine: AsyncEngine = small_app.state.db.engine
    base = await bookable(client)
    names = ["REST write", "REST write with Idempotency-Key", "GraphQL mutation"]
    slugs = {name: unique("busy") for name in names}
    requests = _requests(client, base, slugs)
    # Every request once first, so the caches (the API key's, ...) hold what they will hold.
    before = {}
    for name, request in requests.items():
        if name not in slugs:
            response = await request()
            assert response.status_code == 200, (name, response.text)
            assert not response.json().get("errors"), (name, response.text)
            before[name] = response.json()
    size = _pool_state(engine)[0]

    async with every_connection_held(engine) as held:
        exhausted = _pool_state(engine)
        assert exhausted[:2] == (size, len(held))
        for name, request in requests.items():
            response = await request()
            assert _not_busy(name, response) is None, (name, _not_busy(name, response))
        # The waits took nothing from the pool (no connection, no overflow slot).
        assert _pool_state(engine) == exhausted

    assert _pool_state(engine)[:2] == (size, 0)
    # Nothing written while busy; once released, every request goes through.
    assert not set(slugs.values()) & await _skill_slugs(client)
    for name, request in requests.items():
        response = await request()
        expected = 201 if name.startswith("REST write") else 200
        assert response.status_code == expected, (name, response.text)
        assert not response.json().get("errors"), (name, response.text)
        if name in before:
            assert response.json() == before[name], name
    assert set(slugs.values()) <= await _skill_slugs(client)


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return message


async def _query_over_websocket(url: str, key: str, mentor_id: str) -> dict[str, Any]:
    """The socket's first message after connection_init and, once acknowledged, the answer to
    one query; {"closed": code, "reason": reason} if the socket was closed instead."""
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
        await ws.send(json.dumps(init))
        try:
            ack = await _receive(ws)
            assert ack["type"] == "connection_ack", ack
            query = {"query": GQL_QUERY, "variables": {"id": mentor_id}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))
            return await _receive(ws)
        except ConnectionClosed as closed:
            if closed.rcvd is None:
                return {"closed": None}
            return {"closed": closed.rcvd.code, "reason": closed.rcvd.reason}


async def test_graphql_over_websocket_with_an_exhausted_pool_is_service_unavailable(
    small_app: FastAPI, small_tenant: Tenant
) -> None:
    engine: AsyncEngine = small_app.state.db.engine
    base = await bookable(small_tenant.client)
    # The socket is admitted at connection_init: that takes a connection of the pool when the
    # key is not cached (SQLite has no key cache); the rate limiter's bucket statement in
    # PostgreSQL takes one of its own pool, which is not held.
    keys = small_app.state.key_cache
    at_init = keys is None or not keys.listening
    async with serve(small_app) as url:
        ok = await _query_over_websocket(url, small_tenant.key, base["mentor_id"])
        assert ok["type"] == "next", ok
        assert ok["payload"]["data"]["mentor"]["id"] == base["mentor_id"], ok
        async with every_connection_held(engine):
            busy = await _query_over_websocket(url, small_tenant.key, base["mentor_id"])
        if at_init:
            # Refused as an empty bucket is (4403), not a socket crashed by an error (1011),
            # and the client is told why.
            reason = f"SERVICE_UNAVAILABLE: {BUSY_MESSAGE}"
            assert busy == {"closed": 4403, "reason": reason}, busy
        else:
            assert busy["type"] == "next", busy
            assert busy["payload"]["data"] is None, busy
            errors = busy["payload"]["errors"]
            assert [e["extensions"] for e in errors] == [
                {"code": "SERVICE_UNAVAILABLE", "retryAfter": 1}
            ], errors
        assert await _query_over_websocket(url, small_tenant.key, base["mentor_id"]) == ok


@pytest.mark.parametrize(
    "busy",
    [
        PoolTimeout("QueuePool limit of size 1 overflow 0 reached, connection timed out"),
        OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")),
    ],
    ids=["pool", "sqlite-lock"],
)
def test_graphql_maps_a_busy_database_to_service_unavailable(busy: Exception) -> None:
    """The pool's wait, and SQLite's lock (until now an INTERNAL error in GraphQL), are the
    same SERVICE_UNAVAILABLE with retryAfter a dropped connection is, with their own message."""
    error = to_graphql_error(GraphQLError("boom", original_error=busy))
    assert error.extensions == {"code": "SERVICE_UNAVAILABLE", "retryAfter": 1}
    assert error.message == BUSY_MESSAGE
    assert is_expected(GraphQLError("boom", original_error=busy))  # not logged as a bug
