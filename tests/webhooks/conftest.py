"""Webhook test helpers: workers with a compressed schedule, and helpers to read the log."""

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from mentorapi.db.engine import Database, create_database
from mentorapi.webhooks.worker import Worker
from tests.conftest import Tenant, test_settings

StartWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def start_worker(database_url: str, db: Database) -> AsyncIterator[StartWorker]:
    """Start workers with a compressed retry schedule; every one is stopped at the end.
    `own_engine=True` gives the worker its own connection pool, as a separate process has."""
    started: list[tuple[Worker, Database | None]] = []

    async def start(
        own_engine: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        poll_seconds: float | None = None,
        **overrides: Any,
    ) -> Worker:
        values: dict[str, Any] = {
            "webhook_retry_schedule": "0.3,0.6,0.9",
            "webhook_timeout_seconds": 2.0,
            "webhook_lease_seconds": 30.0,
        }
        values.update(overrides)
        settings = test_settings(database_url, **values)
        database = create_database(settings) if own_engine else None
        worker = Worker(
            database or db, settings, ssl_context=ssl_context, poll_seconds=poll_seconds
        )
        await worker.start()
        started.append((worker, database))
        return worker

    yield start
    for worker, database in reversed(started):
        await worker.stop()
        if database is not None:
            await database.dispose()


async def create_endpoint(tenant: Tenant, url: str, **fields: Any) -> dict[str, Any]:
    response = await tenant.client.post("/v1/webhook-endpoints", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def attempts(tenant: Tenant, endpoint_id: str) -> list[dict[str, Any]]:
    """The endpoint's whole delivery log, oldest first."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        response = await tenant.client.get(
            f"/v1/webhook-endpoints/{endpoint_id}/deliveries", params=params
        )
        assert response.status_code == 200, response.text
        rows.extend(response.json()["data"])
        cursor = response.json()["next_cursor"]
        if not cursor:
            return list(reversed(rows))


async def event(tenant: Tenant, event_id: str) -> dict[str, Any]:
    response = await tenant.client.get(f"/v1/events/{event_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def send_test(tenant: Tenant, endpoint_id: str) -> dict[str, Any]:
    response = await tenant.client.post(f"/v1/webhook-endpoints/{endpoint_id}/test")
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Poll until `check()` holds (the worker runs concurrently); fail after `within` s."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - the state is in the database
            await asyncio.sleep(0.05)
