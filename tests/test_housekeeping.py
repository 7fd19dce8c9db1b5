"""The housekeeping loop in the app lifespan: it runs, survives a failing round, and stops."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from fastapi import FastAPI

from mentorapi import housekeeping
from mentorapi.db.engine import Database
from mentorapi.housekeeping import Chores
from mentorapi.kit.idempotency import IdempotencyKey
from mentorapi.kit.timezones import utcnow
from mentorapi.main import create_app
from tests import conftest
from tests.conftest import Tenant

# Generous: the loop is given this long to do what it does within milliseconds.
PATIENCE_SECONDS = 20.0


async def eventually(check: Callable[[], Awaitable[bool]]) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_SECONDS
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return await check()


def test_the_test_app_runs_no_housekeeping(app: FastAPI) -> None:
    assert app.state.housekeeping is None


async def test_the_lifespan_runs_housekeeping_and_stops_it(
    tenant: Tenant, db: Database, database_url: str
) -> None:
    async with db.sessionmaker() as s, s.begin():
        s.add(
            IdempotencyKey(
                app_id=tenant.id,
                key="stale",
                fingerprint="0" * 64,
                created_at=utcnow() - timedelta(hours=25),
                expires_at=utcnow() - timedelta(hours=1),
            )
        )

    async def purged() -> bool:
        async with db.sessionmaker() as s:
            return await s.get(IdempotencyKey, (tenant.id, "stale")) is None

    settings = conftest.test_settings(
        database_url, housekeeping_enabled=True, housekeeping_interval_seconds=0.05
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        task: asyncio.Task[None] = application.state.housekeeping
        assert task is not None
        assert await eventually(purged)
        assert not task.done()
    assert task.done()
    assert task.cancelled()


async def test_a_failing_round_is_logged_and_the_loop_goes_on(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    rounds = 0

    async def flaky(_: Database) -> Chores:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            raise RuntimeError("database away for a moment")
        return Chores(sessions_expired=0, idempotency_keys_purged=0)

    async def went_on() -> bool:
        return rounds >= 3

    caplog.set_level(logging.ERROR, logger="mentorapi")
    task = asyncio.create_task(housekeeping.run_periodically(db, 0.01, flaky))
    try:
        assert await eventually(went_on)
        assert not task.done()
    finally:
        await housekeeping.stop(task)
    assert task.cancelled()
    failures = [r for r in caplog.records if "housekeeping failed" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None


async def test_the_lifespan_prunes_by_the_configured_retention(
    tenant: Tenant, db: Database, database_url: str
) -> None:
    from mentorapi.kit.ids import new_id
    from mentorapi.webhooks.models import Delivery
    from tests.retention.conftest import create_endpoint, finish, record, rows

    await create_endpoint(tenant, "http://127.0.0.1:9/hook")
    events = await record(db, tenant, new_id("ses"), 2)
    await finish(db, tenant, events, ago=timedelta(days=3))

    async def pruned() -> bool:
        return await rows(db, tenant, Delivery) == []

    settings = conftest.test_settings(
        database_url,
        housekeeping_enabled=True,
        housekeeping_interval_seconds=0.05,
        webhook_retention_days=2,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        assert await eventually(pruned)
