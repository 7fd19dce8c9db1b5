"""Real workers on real time: two at once send each event once; one killed mid-batch loses
none; a row written while a worker sleeps wakes it (PostgreSQL NOTIFY). Rows are made due a
moment from now by moving their times (the worker checks a row by its key, not its time)."""

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest

from mentorapi.db.engine import Database, create_database
from mentorapi.kit.timezones import utcnow
from mentorapi.reminders import repository as reminders_repository
from mentorapi.reminders.worker import Scheduler
from tests import conftest
from tests.conftest import Tenant
from tests.factories import bookable
from tests.reminders.conftest import move_due, queued, sent
from tests.webhooks.conftest import StartWorker, create_endpoint, eventually
from tests.webhooks.receiver import Receiver

# Five reminders, start and end: seven events for each booked occurrence (its two feedback
# requests are dropped: a booked session is not asked for feedback).
OFFSETS = [2880, 1440, 240, 60, 15]
SENT_PER_SESSION = len(OFFSETS) + 2
TIMED = ["session.reminder", "session.started", "session.ended", "feedback.requested"]


async def _series(tenant: Tenant, count: int, starts_at: str) -> list[str]:
    base = await bookable(tenant.client)
    response = await tenant.client.post(
        "/v1/series",
        json={**base, "starts_at": starts_at, "count": count, "interval_weeks": 1},
    )
    assert response.status_code == 201, response.text
    return [s["id"] for s in response.json()["sessions"]]


async def _queue(
    tenant: Tenant, db: Database, series: int, *, wake: Sequence[Scheduler] = ()
) -> int:
    """Book `series` weekly series of 26; every row due two seconds from now (`wake`: workers
    to tell); how many events they give."""
    response = await tenant.client.put("/v1/app/reminders", json={"offsets_minutes": OFFSETS})
    assert response.status_code == 200, response.text
    sessions = []
    for i in range(series):
        sessions += await _series(tenant, 26, f"2027-01-{11 + i:02d}T08:00:00Z")
    await move_due(db, tenant.id, utcnow() + timedelta(seconds=2))
    for scheduler in wake:
        scheduler.wake()  # a move is no new row: no NOTIFY
    return len(sessions) * SENT_PER_SESSION


SchedulerFactory = Callable[..., Awaitable[Scheduler]]


@pytest.fixture
async def start_scheduler(database_url: str) -> AsyncIterator[SchedulerFactory]:
    """Workers on the real clock, each with its own connection pool (as a process has)."""
    started: list[tuple[Scheduler, Database]] = []

    async def start(**overrides: Any) -> Scheduler:
        settings = conftest.test_settings(database_url, **overrides)
        database = create_database(settings)
        scheduler = Scheduler(database, settings)
        await scheduler.start()
        started.append((scheduler, database))
        return scheduler

    yield start
    for scheduler, database in reversed(started):
        await scheduler.stop()
        await database.dispose()


async def test_two_workers_send_each_event_exactly_once(
    tenant: Tenant, db: Database, start_scheduler: SchedulerFactory, start_worker: StartWorker
) -> None:
    async with Receiver() as receiver:
        await create_endpoint(tenant, receiver.url(), events=TIMED)
        first = await start_scheduler(scheduler_batch_size=10)
        second = await start_scheduler(scheduler_batch_size=10)
        await start_worker(own_engine=True, webhook_worker_concurrency=16)
        await start_worker(own_engine=True, webhook_worker_concurrency=16)
        # Both are asleep when the rows fall due, and wake for the same moment.
        expected = await _queue(tenant, db, series=2, wake=[first, second])
        await eventually(lambda: _empty(db, tenant), within=60)
        events = await sent(db, tenant.id)
        assert len(events) == expected
        received = await receiver.wait_count(expected, within=60)
        await asyncio.sleep(0.5)  # a duplicate would arrive now, if there were one
        by_id = Counter(r.headers["webhook-id"] for r in receiver.requests)
        assert set(by_id) == {e.id for e in events}
        assert max(by_id.values()) == 1
        assert len(received) == expected
        if db.dialect == "postgresql":  # on SQLite one writer at a time: either may do it all
            assert first.totals.sent > 0
            assert second.totals.sent > 0


async def _empty(db: Database, tenant: Tenant) -> bool:
    return not await queued(db, tenant.id)


async def test_a_worker_killed_mid_batch_loses_nothing(
    tenant: Tenant, db: Database, database_url: str, start_scheduler: SchedulerFactory
) -> None:
    """`mentorapi worker` is killed with SIGKILL while it works through the queue (a batch of
    2 rows a transaction); another worker then sends the rest, and every event exists once."""
    expected = await _queue(tenant, db, series=3)
    env = dict(
        os.environ,
        MENTORAPI_DATABASE_URL=database_url,
        MENTORAPI_SCHEDULER_BATCH_SIZE="2",
        MENTORAPI_WEBHOOK_ALLOW_PRIVATE_URLS="true",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mentorapi.cli", "worker", env=env, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await eventually(lambda: _some_sent(db, tenant), within=60)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    done_before = len(await sent(db, tenant.id))
    assert 0 < done_before < expected, "killed too late to prove anything: make it slower"
    await start_scheduler()
    await eventually(lambda: _empty(db, tenant), within=60)
    events = await sent(db, tenant.id)
    assert len(events) == expected
    assert len({(e.object_id, e.type, e.data.get("minutes_before")) for e in events}) == expected


async def _some_sent(db: Database, tenant: Tenant) -> bool:
    return len(await sent(db, tenant.id)) >= 10


@pytest.mark.postgres_only
async def test_a_row_written_while_the_worker_sleeps_wakes_it(
    tenant: Tenant, db: Database, start_scheduler: SchedulerFactory
) -> None:
    """The worker would sleep for ten minutes (its horizon); only the NOTIFY of the transaction
    that writes a row due in a second can make it send that row in time."""
    [session_id] = await _series_of_one(tenant)
    rows = await queued(db, tenant.id)
    started_row = next(r for r in rows if r.kind == "started")
    async with db.sessionmaker() as s, s.begin():
        await reminders_repository.delete_keys(s, tenant.id, [r.key for r in rows])
    scheduler = await start_scheduler()
    scheduler.horizon = 600.0
    await asyncio.sleep(0.5)  # it looked, found nothing due for a long while, and sleeps
    now = utcnow()
    row = {
        **{c: getattr(started_row, c) for c in ("app_id", "key", "kind", "session_id")},
        "due_at": now + timedelta(seconds=1),
        "action_item_id": None,
        "party": None,
        "minutes_before": None,
        "created_at": now,
        "updated_at": now,
    }
    async with db.sessionmaker() as s, s.begin():
        await reminders_repository.insert_rows(s, [row], now)
    await eventually(lambda: _some(db, tenant, "session.started"), within=20)
    [event] = await sent(db, tenant.id, "session.started")
    assert event.object_id == session_id


async def _series_of_one(tenant: Tenant) -> list[str]:
    base = await bookable(tenant.client)
    response = await tenant.client.post(
        "/v1/sessions", json={**base, "starts_at": "2027-02-01T08:00:00Z"}
    )
    assert response.status_code == 201, response.text
    return [response.json()["id"]]


async def _some(db: Database, tenant: Tenant, type_: str) -> bool:
    return bool(await sent(db, tenant.id, type_))
