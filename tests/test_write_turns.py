"""Requests' write transactions take turns in a process (db/writers.py).

With MENTORAPI_DB_WRITE_CONCURRENCY=1 a booking waits, before it opens a transaction, while
another write holds the turn; waiters get it in the order they came; one more than
MENTORAPI_DB_WRITE_QUEUE waiting is answered 503 `database-busy` with Retry-After at once,
and a wait past MENTORAPI_DB_POOL_TIMEOUT_SECONDS the same, nothing written. A turn is given
back however its request ends (an error answer, a cancelled task, a client gone), so nothing
leaks. Bookings with an Idempotency-Key (the middleware's unit of work) and without (the
route's) alike, on both databases. No test here depends on timing: each waits for a state
(a request queued, a lock awaited) before it goes on.
"""

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from mentorapi.db.engine import Database
from mentorapi.main import create_app
from tests import conftest
from tests.conftest import Tenant, make_tenant, running
from tests.factories import bookable, unique

if TYPE_CHECKING:
    from mentorapi.db.writers import Writers

MONDAYS = [f"2027-02-{day:02d}T{hour:02d}:00:00Z" for day in (1, 8, 15) for hour in (8, 9, 10)]


@pytest.fixture(params=[True, False], ids=["key", "no-key"])
def keyed(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@asynccontextmanager
async def _app(database_url: str, **settings: Any) -> AsyncIterator[FastAPI]:
    values: dict[str, Any] = {"db_write_concurrency": 1, "db_pool_timeout_seconds": 30.0}
    values.update(settings)
    async with running(create_app(conftest.test_settings(database_url, **values))) as app:
        yield app


@asynccontextmanager
async def _tenant(app: FastAPI) -> AsyncIterator[Tenant]:
    async for tenant in make_tenant(app, "write turns"):
        # Bookings then write their created events (the outbox), whose order
        # `_created_order` reads; nothing is delivered (no worker in the tests' app).
        endpoint = {"url": "http://127.0.0.1:9/turns"}
        response = await tenant.client.post("/v1/webhook-endpoints", json=endpoint)
        assert response.status_code == 201, response.text
        yield tenant


def _writers(app: FastAPI) -> "Writers":
    database: Database = app.state.db
    return database.writers


async def until(condition: Callable[[], bool | Awaitable[bool]]) -> None:
    """Wait for a state, however long the machine takes to reach it (bounded: 30 s)."""
    async with asyncio.timeout(30):
        while True:
            found = condition()
            if found if isinstance(found, bool) else await found:
                return
            await asyncio.sleep(0.005)


@asynccontextmanager
async def turn_held(writers: "Writers") -> AsyncIterator[None]:
    """Hold the process's turn from a task of its own (not the test's context, which the
    requests' tasks copy), until the block ends."""
    taken, done = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with writers.turn():
            taken.set()
            await done.wait()

    holder = asyncio.create_task(hold())
    await taken.wait()
    try:
        yield
    finally:
        done.set()
        await holder


def _book(
    client: httpx.AsyncClient, base: dict[str, Any], starts_at: str, keyed: bool
) -> "asyncio.Task[httpx.Response]":
    headers = {"Idempotency-Key": unique("turn")} if keyed else {}
    body = {**base, "starts_at": starts_at}
    return asyncio.create_task(client.post("/v1/sessions", json=body, headers=headers))


def _is_busy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"].endswith("/database-busy"), response.json()


async def _created_order(app: FastAPI, tenant: Tenant) -> list[str]:
    """The starts of the tenant's sessions in the order they were created (their first events)."""
    database: Database = app.state.db
    async with database.sessionmaker() as s:
        rows = await s.connection()
        found = await rows.execute(
            text(
                "SELECT data FROM events WHERE app_id = :app"
                " AND type IN ('session.requested', 'session.booked')"
                " ORDER BY created_at, id"
            ),
            {"app": tenant.id},
        )
        return [
            (row[0] if isinstance(row[0], dict) else json.loads(row[0]))["starts_at"]
            for row in found
        ]


async def test_bookings_wait_their_turn_in_order_and_one_past_the_queue_is_refused_at_once(
    database_url: str, keyed: bool
) -> None:
    async with _app(database_url, db_write_queue=2) as app, _tenant(app) as tenant:
        writers = _writers(app)
        base = await bookable(tenant.client)
        async with turn_held(writers):
            first = _book(tenant.client, base, MONDAYS[0], keyed)
            await until(lambda: writers.waiting == 1)
            second = _book(tenant.client, base, MONDAYS[1], keyed)
            await until(lambda: writers.waiting == 2)
            # The queue is full: answered at once, while the turn is still held.
            _is_busy(
                await tenant.client.post("/v1/sessions", json={**base, "starts_at": MONDAYS[2]})
            )
            assert not first.done()
            assert not second.done()
        assert (await first).status_code == 201, (await first).text
        assert (await second).status_code == 201, (await second).text
        # One at a time, the first come first: its booking was created first.
        assert await _created_order(app, tenant) == MONDAYS[:2]
        assert (writers.running, writers.waiting) == (0, 0)
        # Nothing of the refused one was written; its slot books now.
        third = await tenant.client.post("/v1/sessions", json={**base, "starts_at": MONDAYS[2]})
        assert third.status_code == 201, third.text


async def test_a_wait_past_the_deadline_is_a_503_database_busy_and_writes_nothing(
    database_url: str, keyed: bool
) -> None:
    async with _app(database_url, db_pool_timeout_seconds=0.1) as app, _tenant(app) as tenant:
        writers = _writers(app)
        base = await bookable(tenant.client)
        async with turn_held(writers):
            _is_busy(await _book(tenant.client, base, MONDAYS[0], keyed))
            assert (writers.running, writers.waiting) == (1, 0)
        assert (writers.running, writers.waiting) == (0, 0)
        assert await _created_order(app, tenant) == []
        assert (await _book(tenant.client, base, MONDAYS[0], keyed)).status_code == 201


async def test_a_turn_is_given_back_by_a_request_that_fails(database_url: str, keyed: bool) -> None:
    async with _app(database_url) as app, _tenant(app) as tenant:
        writers = _writers(app)
        base = await bookable(tenant.client)
        refused = [
            {**base, "mentor_id": "men_nobody", "starts_at": MONDAYS[0]},  # 404
            {**base, "starts_at": "2020-01-06T08:00:00Z"},  # in the past: 422
        ]
        for body in refused:
            headers = {"Idempotency-Key": unique("turn")} if keyed else {}
            response = await tenant.client.post("/v1/sessions", json=body, headers=headers)
            assert response.status_code in (404, 409, 422), response.text
            assert (writers.running, writers.waiting) == (0, 0)
        assert (await _book(tenant.client, base, MONDAYS[0], keyed)).status_code == 201
        # A conflict (the same slot again) too.
        assert (await _book(tenant.client, base, MONDAYS[0], keyed)).status_code == 409
        assert (writers.running, writers.waiting) == (0, 0)


async def test_a_cancelled_waiter_leaves_the_queue(database_url: str, keyed: bool) -> None:
    async with _app(database_url) as app, _tenant(app) as tenant:
        writers = _writers(app)
        base = await bookable(tenant.client)
        async with turn_held(writers):
            gone = _book(tenant.client, base, MONDAYS[0], keyed)
            await until(lambda: writers.waiting == 1)
            kept = _book(tenant.client, base, MONDAYS[1], keyed)
            await until(lambda: writers.waiting == 2)
            gone.cancel()
            with pytest.raises(asyncio.CancelledError):
                await gone
            assert writers.waiting == 1
        # The turn went past the cancelled waiter to the next.
        assert (await kept).status_code == 201
        assert (writers.running, writers.waiting) == (0, 0)
        assert await _created_order(app, tenant) == [MONDAYS[1]]


@asynccontextmanager
async def _database_locked(app: FastAPI, tenant: Tenant, mentor_id: str) -> AsyncIterator[None]:
    """Make a booking of `mentor_id` wait inside its transaction (its turn held): PostgreSQL,
    the mentor's row locked by another connection; SQLite, its write lock held."""
    database: Database = app.state.db
    url = database.engine.url
    if database.dialect == "postgresql":
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn)
        try:
            async with connection.transaction():
                await connection.execute(
                    "SELECT 1 FROM mentors WHERE app_id = $1 AND id = $2 FOR UPDATE",
                    tenant.id,
                    mentor_id,
                )
                yield
        finally:
            await connection.close()
    else:
        connection = sqlite3.connect(str(url.database), isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield
            connection.execute("ROLLBACK")
        finally:
            connection.close()


async def _waiting_on_the_database(app: FastAPI) -> bool:
    """Whether a booking is inside its transaction, waiting for the lock `_database_locked`
    holds (SQLite: a request holds the turn; its BEGIN IMMEDIATE waits in busy_timeout)."""
    database: Database = app.state.db
    if database.dialect != "postgresql":
        return database.writers.running == 1
    dsn = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        waiting = await connection.fetchval(
            """SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'"""
        )
    finally:
        await connection.close()
    return bool(waiting)


async def test_a_cancelled_request_gives_its_turn_back_and_writes_nothing(
    database_url: str, keyed: bool
) -> None:
    async with _app(database_url) as app, _tenant(app) as tenant:
        writers = _writers(app)
        base = await bookable(tenant.client)
        async with _database_locked(app, tenant, base["mentor_id"]):
            held = _book(tenant.client, base, MONDAYS[0], keyed)
            await until(lambda: _waiting_on_the_database(app))
            assert writers.running == 1
            held.cancel()
        # Awaited once the lock is free: on SQLite the rollback waits for the connection's
        # thread, which waits in busy_timeout until then.
        with pytest.raises(asyncio.CancelledError):
            await held
        await until(lambda: writers.running == 0)
        assert writers.waiting == 0
        assert await _created_order(app, tenant) == []
        assert (await _book(tenant.client, base, MONDAYS[0], keyed)).status_code == 201


async def test_a_client_gone_while_its_booking_waits_leaks_no_turn(
    database_url: str, keyed: bool
) -> None:
    """As uvicorn runs it: the client's disconnect reaches the app as `http.disconnect` on its
    receive channel, and what it sends after is dropped; the request runs to its end."""
    async with _app(database_url) as app, _tenant(app) as tenant:
        writers = _writers(app)
        base = await bookable(tenant.client)
        body = json.dumps({**base, "starts_at": MONDAYS[0]}).encode()
        headers = [
            (b"host", b"test"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {tenant.key}".encode()),
        ]
        if keyed:
            headers.append((b"idempotency-key", unique("turn").encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/sessions",
            "raw_path": b"/v1/sessions",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("test", 80),
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        gone = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await gone.wait()
            return {"type": "http.disconnect"}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            if not gone.is_set():
                sent.append(message)

        async with turn_held(writers):
            request = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
            await until(lambda: writers.waiting == 1)
            gone.set()
        await request
        assert (writers.running, writers.waiting) == (0, 0)
        assert sent == []


async def test_a_turn_handed_to_a_waiter_cancelled_at_that_moment_goes_to_the_next() -> None:
    """The one race of a hand-over, made to happen: the turn is given to the first waiter and
    its task is cancelled before it resumes; the turn goes on to the next, none is lost."""
    from mentorapi.db.writers import Writers

    writers = Writers(concurrency=1, queue=10, timeout=30)
    await writers._acquire()
    first = asyncio.create_task(writers._acquire())
    second = asyncio.create_task(writers._acquire())
    await until(lambda: writers.waiting == 2)
    writers._release()  # to the first waiter...
    first.cancel()  # ...which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert (writers.running, writers.waiting) == (1, 0)
    writers._release()
    assert (writers.running, writers.waiting) == (0, 0)


_BOOK = "mutation($input: BookSessionInput!) { bookSession(input: $input) { id startsAt } }"


def _graphql_book(
    client: httpx.AsyncClient, base: dict[str, Any], starts_at: str
) -> "asyncio.Task[httpx.Response]":
    booking = {
        "mentorId": base["mentor_id"],
        "menteeId": base["mentee_id"],
        "skillId": base["skill_id"],
        "topic": base["topic"],
        "format": base["format"].upper(),
        "durationMinutes": base["duration_minutes"],
        "startsAt": starts_at,
    }
    body = {"query": _BOOK, "variables": {"input": booking}}
    return asyncio.create_task(client.post("/graphql", json=body))


async def test_a_graphql_mutation_over_http_takes_a_turn_as_rest_does(database_url: str) -> None:
    # GraphQL is admitted as REST is: its mutation's write transaction waits its turn in the
    # same queue before it opens, and gives it back when its unit of work ends. It used to open
    # at once, past any number of waiting REST writes.
    async with _app(database_url) as app, _tenant(app) as tenant:
        writers = _writers(app)
        base = await bookable(tenant.client)
        async with turn_held(writers):
            rest = _book(tenant.client, base, MONDAYS[0], False)
            await until(lambda: writers.waiting == 1)
            graphql = _graphql_book(tenant.client, base, MONDAYS[1])
            await until(lambda: writers.waiting == 2)
            assert not rest.done()
            assert not graphql.done()
        assert (await rest).status_code == 201, (await rest).text
        answer = (await graphql).json()
        assert "errors" not in answer, answer
        assert await _created_order(app, tenant) == MONDAYS[:2]
        assert (writers.running, writers.waiting) == (0, 0)
        # A mutation that fails gives its turn back too.
        again = (await _graphql_book(tenant.client, base, MONDAYS[1])).json()
        assert again["errors"][0]["extensions"]["code"] == "CONFLICT", again
        assert (writers.running, writers.waiting) == (0, 0)


async def test_a_graphql_mutation_without_a_turn_in_time_is_service_unavailable(
    database_url: str,
) -> None:
    async with _app(database_url, db_pool_timeout_seconds=0.1) as app, _tenant(app) as tenant:
        writers = _writers(app)
        base = await bookable(tenant.client)
        async with turn_held(writers):
            answer = (await _graphql_book(tenant.client, base, MONDAYS[0])).json()
            assert answer["data"] is None, answer
            assert [e["extensions"]["code"] for e in answer["errors"]] == ["SERVICE_UNAVAILABLE"]
            assert (writers.running, writers.waiting) == (1, 0)
        assert (writers.running, writers.waiting) == (0, 0)
        assert await _created_order(app, tenant) == []
        # A query takes no turn: it reads while a write holds the only one.
        async with turn_held(writers):
            read = await tenant.client.post(
                "/graphql", json={"query": "{ mentors { edges { node { id } } } }"}
            )
            assert read.status_code == 200, read.text
            assert "errors" not in read.json(), read.text
