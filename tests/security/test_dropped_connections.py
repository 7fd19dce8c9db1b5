"""A connection dropped under the service (a server restart, a failover, an admin terminating
backends) is never a 500: a read is retried once on a fresh connection; a write, or a read that
fails twice, is a 503 problem+json with Retry-After, rolled back. GraphQL answers such a failure
with SERVICE_UNAVAILABLE and no data.

On PostgreSQL the tests terminate the test app's own backends (tagged with an application_name,
so the suite's shared app and its listeners are left alone) from a separate asyncpg connection:
between requests, at a chosen moment inside a request (right after the pool hands a connection
out, `Dropper`), and at random while many requests run. On SQLite, where no server can drop us,
`Dropper` closes the driver's connection under the request instead: the same code paths.
"""

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.util import await_

from mentorapi.db.engine import create_database
from mentorapi.db.listen import asyncpg_dsn
from mentorapi.main import create_app
from mentorapi.webhooks.worker import Worker
from tests import conftest
from tests.conftest import Tenant, make_tenant, running
from tests.factories import bookable, unique
from tests.gql.helpers import error_codes
from tests.webhooks.conftest import attempts, create_endpoint, eventually, send_test
from tests.webhooks.receiver import Receiver

TAG = "mentorapi dropped-connection test"
SLOTS_QUERY = "start=2027-03-22T00:00:00Z&end=2027-03-29T00:00:00Z&duration=30"
GQL_QUERY = "query ($id: ID!) { mentor(id: $id) { id name } }"
GQL_MUTATION = """mutation ($input: CreateSkillInput!) { createSkill(input: $input) { id } }"""


def _tag_connections(application: FastAPI) -> None:
    """Name every new connection of the app's pool, so that the tests terminate only those."""

    def name(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        cparams.setdefault("server_settings", {})["application_name"] = TAG

    event.listen(application.state.db.engine.sync_engine, "do_connect", name)


@pytest.fixture
async def dropping_app(database_url: str) -> AsyncIterator[FastAPI]:
    async with running(create_app(conftest.test_settings(database_url))) as application:
        if application.state.db.dialect == "postgresql":
            _tag_connections(application)
        yield application


def _postgres(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("terminating backends is PostgreSQL's; SQLite has no server to drop us")


@pytest.fixture
async def dropping_tenant(dropping_app: FastAPI) -> AsyncIterator[Tenant]:
    async for t in make_tenant(dropping_app, "dropped connections"):
        yield t


async def _terminate(database_url: str) -> int:
    """Terminate the app's backends; return once they are gone (and the app's side of each
    socket has had a moment to see it closed, as it would between two requests)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        ended: int = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND application_name = $1",
            TAG,
        )
        # This database's only: another test process may hold backends of the same name.
        gone = (
            "SELECT count(*) = 0 FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = $1"
        )
        async with asyncio.timeout(10):
            while not await connection.fetchval(gone, TAG):  # noqa: ASYNC110 - in the database
                await asyncio.sleep(0.01)
    finally:
        await connection.close()
    await asyncio.sleep(0.05)
    return ended


class Dropper:
    """Drops the connection the pool hands out, for the next `armed` checkouts: terminates its
    backend from another connection (PostgreSQL), or closes it under SQLAlchemy (SQLite). It
    runs after the pool's own liveness check (db/dropped.py), so the request gets a dead one."""

    def __init__(self, application: FastAPI, database_url: str) -> None:
        self.database_url = database_url
        self.spared = 0
        self.armed = 0
        self.dropped = 0
        event.listen(application.state.db.engine.sync_engine.pool, "checkout", self._checkout)

    def arm(self, times: int, after: int = 0) -> None:
        """Drop `times` checkouts, after letting `after` through."""
        self.spared, self.armed, self.dropped = after, times, 0

    def _checkout(self, _dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if self.spared > 0:
            self.spared -= 1
            return
        if self.armed <= 0:
            return
        self.armed -= 1
        self.dropped += 1
        # Checkout runs inside SQLAlchemy's greenlet: it may wait for a coroutine.
        await_(self._drop(record.driver_connection))

    async def _drop(self, driver: Any) -> None:
        if not self.database_url.startswith("postgresql"):
            await driver.close()
            return
        connection = await asyncpg.connect(asyncpg_dsn(self.database_url))
        try:
            assert await connection.fetchval(
                "SELECT pg_terminate_backend($1)", driver.get_server_pid()
            )
        finally:
            await connection.close()


@pytest.fixture
def dropper(dropping_app: FastAPI, database_url: str) -> Dropper:
    return Dropper(dropping_app, database_url)


@dataclass
class Fixture:
    tenant: Tenant
    mentor_id: str
    base: dict[str, Any]


async def _data(tenant: Tenant) -> Fixture:
    base = await bookable(tenant.client)
    return Fixture(tenant, base["mentor_id"], base)


def _reads(f: Fixture) -> dict[str, Callable[[], Awaitable[httpx.Response]]]:
    client = f.tenant.client
    return {
        "GET list": lambda: client.get("/v1/skills"),
        "GET by id": lambda: client.get(f"/v1/mentees/{f.base['mentee_id']}"),
        "GET /v1/mentors (lean)": lambda: client.get("/v1/mentors"),
        "GET slots (lean)": lambda: client.get(f"/v1/mentors/{f.mentor_id}/slots?{SLOTS_QUERY}"),
    }


def _graphql_query(f: Fixture) -> Awaitable[httpx.Response]:
    return f.tenant.client.post(
        "/graphql", json={"query": GQL_QUERY, "variables": {"id": f.mentor_id}}
    )


def _graphql_mutation(f: Fixture, slug: str) -> Awaitable[httpx.Response]:
    variables = {"input": {"slug": slug, "name": "Dropped"}}
    return f.tenant.client.post("/graphql", json={"query": GQL_MUTATION, "variables": variables})


def _post(f: Fixture, slug: str, **headers: str) -> Awaitable[httpx.Response]:
    return f.tenant.client.post(
        "/v1/skills", json={"slug": slug, "name": "Dropped"}, headers=headers
    )


def _requests(f: Fixture) -> dict[str, Callable[[], Awaitable[httpx.Response]]]:
    return {
        **_reads(f),
        "POST": lambda: _post(f, unique("dropped")),
        "GraphQL query": lambda: _graphql_query(f),
        "GraphQL mutation": lambda: _graphql_mutation(f, unique("gql-dropped")),
    }


def _is_graphql(name: str) -> bool:
    return name.startswith("GraphQL")


def _broken(name: str, response: httpx.Response) -> str | None:
    """How `response` breaks the contract, or None."""
    if _is_graphql(name):
        if response.status_code != 200:
            return f"GraphQL answered {response.status_code}: {response.text[:200]}"
        body = response.json()
        codes = error_codes(body)
        if codes and (set(codes) != {"SERVICE_UNAVAILABLE"} or body.get("data") is not None):
            return f"GraphQL errors {body['errors']} with data {body.get('data')}"
        return None
    if response.status_code == 503:
        return _not_unavailable(response)
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:200]}"
    return None


def _not_unavailable(response: httpx.Response) -> str | None:
    """How `response` is not the 503 of a dropped connection, or None."""
    if response.status_code != 503:
        return f"{response.status_code}: {response.text[:200]}"
    if not response.headers.get("retry-after", "").isdigit():
        return "503 without Retry-After"
    if not 1 <= int(response.headers["retry-after"]) <= 10:
        return f"Retry-After {response.headers['retry-after']}"
    if response.headers["content-type"] != "application/problem+json":
        return "503 that is not problem+json"
    return None


async def _skill_slugs(tenant: Tenant) -> set[str]:
    response = await tenant.client.get("/v1/skills", params={"limit": 100})
    assert response.status_code == 200, response.text
    return {s["slug"] for s in response.json()["data"]}


async def test_every_request_after_the_backends_were_terminated_succeeds(
    dropping_app: FastAPI, dropping_tenant: Tenant, database_url: str
) -> None:
    _postgres(database_url)
    f = await _data(dropping_tenant)
    for name, request in _requests(f).items():
        # Fill the pool with connections of the app, then drop every one of them.
        await asyncio.gather(*(f.tenant.client.get("/v1/skills") for _ in range(5)))
        assert await _terminate(database_url) >= 1
        response = await request()
        assert response.status_code < 300, (name, response.status_code, response.text)
        if _is_graphql(name):
            assert not response.json().get("errors"), (name, response.json())


async def test_a_read_whose_connection_drops_is_run_again(
    dropping_tenant: Tenant, dropper: Dropper
) -> None:
    f = await _data(dropping_tenant)
    for name, request in _reads(f).items():
        expected = await request()
        assert expected.status_code == 200, (name, expected.text)
        dropper.arm(1)
        response = await request()
        assert dropper.dropped == 1, name
        assert response.status_code == 200, (name, response.status_code, response.text)
        assert response.json() == expected.json(), name


async def test_a_read_whose_connection_drops_twice_is_a_503_with_retry_after(
    dropping_tenant: Tenant, dropper: Dropper
) -> None:
    f = await _data(dropping_tenant)
    for name, request in _reads(f).items():
        dropper.arm(2)
        response = await request()
        assert dropper.dropped == 2, name
        assert _not_unavailable(response) is None, (name, _not_unavailable(response))
        assert response.json()["type"].endswith("/database-unavailable")
        assert (await request()).status_code == 200, name  # and then it works again


@pytest.mark.parametrize("idempotency_key", [None, "k"])
async def test_a_write_whose_connection_drops_is_a_503_and_changes_nothing(
    dropping_tenant: Tenant, dropper: Dropper, idempotency_key: str | None
) -> None:
    f = await _data(dropping_tenant)
    # With a key, the key is claimed and kept in the request's own transaction: one connection.
    headers = {"Idempotency-Key": unique(idempotency_key)} if idempotency_key else {}
    slug = unique("dropped")
    dropper.arm(1)
    response = await _post(f, slug, **headers)
    assert _not_unavailable(response) is None, _not_unavailable(response)
    assert slug not in await _skill_slugs(f.tenant)
    # The client's retry (the same key, if any) goes through.
    retried = await _post(f, slug, **headers)
    assert retried.status_code == 201, retried.text
    assert slug in await _skill_slugs(f.tenant)


async def test_graphql_answers_a_dropped_connection_with_service_unavailable_and_no_data(
    dropping_tenant: Tenant, dropper: Dropper
) -> None:
    f = await _data(dropping_tenant)
    slug = unique("gql-dropped")
    for name, request in (
        ("query", lambda: _graphql_query(f)),
        ("mutation", lambda: _graphql_mutation(f, slug)),
    ):
        dropper.arm(1)
        body = (await request()).json()
        assert dropper.dropped == 1, name
        assert body["data"] is None, (name, body)
        assert error_codes(body) == ["SERVICE_UNAVAILABLE"], (name, body)
        assert slug not in await _skill_slugs(f.tenant)
        # The client's retry goes through.
        retried = (await request()).json()
        assert not retried.get("errors"), (name, retried)
    assert slug in await _skill_slugs(f.tenant)


async def test_backends_terminated_while_requests_run_cost_no_5xx_but_503(
    dropping_tenant: Tenant, database_url: str
) -> None:
    _postgres(database_url)
    f = await _data(dropping_tenant)
    requests = _requests(f)
    broken: list[tuple[str, str]] = []
    answered: dict[str, int] = dict.fromkeys(requests, 0)
    stop = asyncio.Event()

    async def client(seed: int) -> None:
        chooser = random.Random(seed)
        names = list(requests)
        while not stop.is_set():
            name = chooser.choice(names)
            response = await requests[name]()
            answered[name] += 1
            why = _broken(name, response)
            if why is not None:
                broken.append((name, why))

    async def terminator() -> int:
        rounds = 0
        # At least 3 s and 5 rounds of terminations (a loaded machine makes rounds slow).
        async with asyncio.timeout(30):
            while rounds < 5 or asyncio.get_running_loop().time() < until:
                await asyncio.sleep(random.uniform(0.01, 0.08))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_terminate(database_url), 5)
                rounds += 1
        stop.set()
        return rounds

    until = asyncio.get_running_loop().time() + 3
    clients = [asyncio.create_task(client(seed)) for seed in range(6)]
    killing = asyncio.create_task(terminator())
    rounds = await killing
    await asyncio.gather(*clients)
    assert rounds >= 5
    assert broken == [], broken[:5]
    assert all(answered.values()), answered
    # Once the terminations stop, every read succeeds at once.
    for name, request in _reads(f).items():
        response = await request()
        assert response.status_code == 200, (name, response.text)


async def test_the_webhook_worker_survives_its_backends_being_terminated(
    tenant: Tenant, database_url: str
) -> None:
    _postgres(database_url)
    settings = conftest.test_settings(database_url, webhook_retry_schedule="0.3,0.6,0.9")
    database = create_database(settings)
    event.listen(
        database.engine.sync_engine,
        "do_connect",
        lambda _d, _r, _a, cparams: cparams.setdefault("server_settings", {}).update(
            application_name=TAG
        ),
    )
    worker = Worker(database, settings, poll_seconds=0.5)
    await worker.start()
    try:
        async with Receiver() as receiver:
            endpoint = await create_endpoint(tenant, receiver.url())
            await send_test(tenant, endpoint["id"])
            await receiver.wait_count(1)
            # Its pool and its LISTEN connection (named as every worker's: no other runs now).
            assert await _terminate(database_url) >= 1
            listening = await asyncpg.connect(asyncpg_dsn(database_url))
            try:
                assert await listening.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = $1",
                    "mentorapi webhooks",
                )
            finally:
                await listening.close()
            await send_test(tenant, endpoint["id"])
            await send_test(tenant, endpoint["id"])
            await receiver.wait_count(3, within=20)
            await eventually(lambda: _saved(tenant, endpoint["id"], 3), within=20)
    finally:
        await worker.stop()
        await database.dispose()


async def _saved(tenant: Tenant, endpoint_id: str, count: int) -> bool:
    return len(await attempts(tenant, endpoint_id)) >= count
