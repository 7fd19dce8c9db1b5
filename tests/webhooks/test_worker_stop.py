"""A worker that is stopped (SIGTERM, a rolling restart) leaves nothing to a lease: what is in
flight finishes and is saved, what it cannot finish in MENTORAPI_SHUTDOWN_TIMEOUT_SECONDS or
has not started is handed back, due at once for another worker."""

import asyncio
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from mentorapi.db.engine import Database
from mentorapi.kit.timezones import utcnow
from mentorapi.webhooks.models import Delivery
from mentorapi.webhooks.repository import Job
from mentorapi.webhooks.worker import Worker
from tests.conftest import Tenant
from tests.conftest import test_settings as settings_for
from tests.webhooks.conftest import StartWorker, attempts, create_endpoint, eventually, send_test
from tests.webhooks.receiver import Received, Receiver, Reply


async def _deliveries(db: Database, tenant: Tenant) -> list[Delivery]:
    async with db.sessionmaker() as s:
        query = select(Delivery).where(col(Delivery.app_id) == tenant.id)
        return list((await s.exec(query)).all())


async def test_stop_lets_the_attempt_in_flight_finish_and_saves_it(
    tenant: Tenant, start_worker: StartWorker, db: Database
) -> None:
    async def slow(_r: Received) -> Reply:
        await asyncio.sleep(0.5)
        return Reply()

    async with Receiver(slow) as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        worker = await start_worker()
        await send_test(tenant, endpoint["id"])
        await receiver.wait_count(1)
        await worker.stop()  # the answer is still 0.5 s away
        [delivery] = await _deliveries(db, tenant)
        assert (delivery.status, delivery.attempts) == ("succeeded", 1)
        assert [a["status_code"] for a in await attempts(tenant, endpoint["id"])] == [200]
        assert worker.released == 0


async def test_stop_hands_back_an_attempt_it_cannot_finish_due_at_once(
    tenant: Tenant, start_worker: StartWorker, db: Database
) -> None:
    """The receiver never answers; the attempt would time out in 10 s, the lease in 60: the
    worker stops after MENTORAPI_SHUTDOWN_TIMEOUT_SECONDS (1) and the delivery is due now,
    no attempt counted, and the next worker sends it at once."""
    calls = 0

    def hang_first(_r: Received) -> Reply:
        nonlocal calls
        calls += 1
        return Reply(hang=True) if calls == 1 else Reply()

    async with Receiver(hang_first) as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        worker = await start_worker(
            webhook_timeout_seconds=10, webhook_lease_seconds=60, shutdown_timeout_seconds=1
        )
        sent = await send_test(tenant, endpoint["id"])
        await receiver.wait_count(1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await worker.stop()
        assert loop.time() - started < 5
        assert worker.released == 1
        [delivery] = await _deliveries(db, tenant)
        assert (delivery.status, delivery.attempts) == ("pending", 0)
        assert delivery.next_attempt_at is not None
        assert delivery.next_attempt_at <= utcnow()

        await start_worker(webhook_lease_seconds=60)
        _, again = await receiver.wait_count(2, within=10)
        assert again.headers["webhook-id"] == sent["id"]

        async def succeeded() -> bool:
            [row] = await _deliveries(db, tenant)
            return row.status == "succeeded"

        await eventually(succeeded)


class StoppedAsItClaims(Worker):
    """Asked to stop just as its claim comes back: between claiming and sending."""

    async def claim(self, limit: int) -> list[Job]:
        jobs = await super().claim(limit)
        if jobs:
            self.stopping = asyncio.create_task(self.stop())  # runs before the sends start
        return jobs


async def test_a_claim_made_as_the_worker_stops_is_handed_back_unsent(
    tenant: Tenant, database_url: str, db: Database
) -> None:
    async with Receiver() as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        for _ in range(3):
            await send_test(tenant, endpoint["id"])
        before: datetime = utcnow()
        settings = settings_for(database_url, webhook_lease_seconds=60, webhook_timeout_seconds=2)
        worker = StoppedAsItClaims(db, settings)
        await worker.start()
        await eventually(lambda: _has(worker, "stopping"))
        await worker.stopping
        await asyncio.sleep(0.2)
        assert receiver.requests == []
        rows = await _deliveries(db, tenant)
        assert [(r.status, r.attempts) for r in rows] == [("pending", 0)] * 3
        # Due now, not in 60 s; and made due after they were claimed, not just left as they were.
        assert all(r.next_attempt_at is not None for r in rows)
        assert all(before <= r.next_attempt_at <= utcnow() for r in rows)  # type: ignore[operator]
        assert worker.released == 3


async def _has(worker: Any, name: str) -> bool:
    return hasattr(worker, name)
