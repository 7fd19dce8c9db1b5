"""Every database test runs twice: on SQLite and on PostgreSQL (a fresh database per run).

Isolation comes from tenancy rather than rolled-back transactions: each test gets a new client
app, and no app can see another's rows. Commits are real, so commit-time behaviour (constraints,
the outbox, concurrent writers on real connections) is what the tests see.
Set MENTORAPI_TEST_DATABASES=sqlite (or postgresql) to run one of them only.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from mentorapi.apps import service as apps_service
from mentorapi.config import Settings
from mentorapi.db.engine import Database, statement_counter
from mentorapi.db.migrate import upgrade_async
from mentorapi.main import create_app
from tests import tenancy_hook

# Every statement the suite runs, on every engine, must say which app it is for.
tenancy_hook.install()

DATABASES = [
    d.strip()
    for d in os.environ.get("MENTORAPI_TEST_DATABASES", "sqlite,postgresql").split(",")
    if d.strip()
]
POSTGRES_ADMIN_URL = os.environ.get(
    "MENTORAPI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


async def _create_pg_database() -> tuple[str, str]:
    name = f"mentorapi_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    return name, url.render_as_string(hide_password=False)


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Here, not in a directory's conftest, so that the marker alone is enough wherever it is.
    skip = pytest.mark.skip(reason="PostgreSQL only (row locks, LISTEN/NOTIFY)")
    for item in items:
        if item.get_closest_marker("postgres_only") and "postgresql" not in item.name:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _every_statement_scoped() -> Iterator[None]:
    """Fail the test on any unscoped statement run since the last test ended (by the test, its
    fixtures, or code that swallowed the error: a worker's loop). A test that provokes one on
    purpose takes it off the list itself."""
    yield
    found = list(tenancy_hook.violations)
    tenancy_hook.violations.clear()
    if found:
        pytest.fail("unscoped statements:\n" + "\n".join(found), pytrace=False)


# Unscoped statements that xdist workers (`make test` runs two) found after their last test.
_workers_violations: list[str] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    _workers_violations.extend(getattr(node, "workeroutput", {}).get("unscoped_statements", []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # What session-scoped fixtures ran while tearing down, after the last test.
    found = tenancy_hook.violations + _workers_violations
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:
        # An xdist worker's exit status is not the run's: hand them to the controller.
        worker_output["unscoped_statements"] = found
    elif found:
        print("\nunscoped statements:\n" + "\n".join(found))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", params=DATABASES)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated, empty database of each kind, for the whole test session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade_async(url)
        yield url
    elif request.param == "postgresql":
        # No skip: a suite that quietly ran on SQLite only would hide PostgreSQL failures.
        name, url = await _create_pg_database()
        try:
            await upgrade_async(url)
            yield url
        finally:
            await _drop_pg_database(name)
    else:
        raise ValueError(f"unknown test database {request.param!r}")


def test_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "rate_limits_enabled": False,
        "webhook_allow_private_urls": True,
        "webhook_worker_enabled": False,
        "housekeeping_enabled": False,
        "auto_analyze": False,
        "demo_key_file": str(Path(os.devnull)),
    }
    values.update(overrides)
    return Settings(**values)


async def until_listening(application: FastAPI) -> None:
    """On PostgreSQL, wait for the app's key cache to listen (it starts in the background), so
    that whether a key lookup runs does not depend on how fast the test started."""
    keys = application.state.key_cache
    if keys is not None:
        async with asyncio.timeout(10):
            await keys.until_listening()


@asynccontextmanager
async def running(application: FastAPI) -> AsyncIterator[FastAPI]:
    """An app through its lifespan, started (key cache listening)."""
    async with application.router.lifespan_context(application):
        await until_listening(application)
        yield application


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    async with running(create_app(test_settings(database_url))) as application:
        yield application


@pytest.fixture(scope="session")
def db(app: FastAPI) -> Database:
    database: Database = app.state.db
    return database


@pytest.fixture
def dialect(db: Database) -> str:
    return db.dialect


class ServerTransport(httpx.ASGITransport):
    """The app in process, each request in a task of its own, as a server (uvicorn) runs it:
    what a request sets in context variables stays in the request, as in production. Through
    the plain ASGITransport a GET's read-only intent (db/uow.py) leaked into the test, so a
    session the test then opened began DEFERRED on SQLite, and its first write failed at once
    ("database is locked") if a worker held the write lock at that moment. A task starts with a
    copy of the test's context: what the test sets (count_statements) the request still sees."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await asyncio.create_task(super().handle_async_request(request))


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no credentials."""
    transport = ServerTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@dataclass
class Tenant:
    id: str
    key: str
    client: httpx.AsyncClient


async def make_tenant(app: FastAPI, name: str = "test app") -> AsyncIterator[Tenant]:
    database: Database = app.state.db
    async with database.sessionmaker() as s, s.begin():
        created, issued = await apps_service.create_app(db_session=s, name=name)
    transport = ServerTransport(app=app)
    headers = {"Authorization": f"Bearer {issued.secret}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as client:
        yield Tenant(id=created.id, key=issued.secret, client=client)


@pytest.fixture
async def tenant(app: FastAPI) -> AsyncIterator[Tenant]:
    """A fresh client app with an API key, and a client that authenticates as it."""
    async for t in make_tenant(app, "tenant A"):
        yield t


@pytest.fixture
async def other_tenant(app: FastAPI) -> AsyncIterator[Tenant]:
    async for t in make_tenant(app, "tenant B"):
        yield t


def is_key_lookup(statement: str) -> bool:
    """The API-key lookup of authentication (skipped on PostgreSQL for a key the process has
    seen: apps/keycache.py)."""
    return "api_keys.key_hash" in statement


def own(statements: list[str]) -> list[str]:
    """The statements of a request but the API-key lookup."""
    return [s for s in statements if not is_key_lookup(s)]


@contextmanager
def count_statements() -> Iterator[list[str]]:
    """Collect the SQL statements run inside the block (requests made through ServerTransport
    run in a copy of the test's context, which holds this list, so their statements are counted
    too)."""
    statements: list[str] = []
    token = statement_counter.set(statements)
    try:
        yield statements
    finally:
        statement_counter.reset(token)
