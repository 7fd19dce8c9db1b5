"""Several workers on one queue, and a worker process killed mid-delivery."""

import asyncio
import os
import signal
import sys
from collections import Counter

import pytest

from mentorapi.db.engine import Database
from mentorapi.webhooks import outbox
from mentorapi.webhooks.models import EventType
from tests.conftest import Tenant
from tests.webhooks.conftest import StartWorker, attempts, create_endpoint, event, eventually
from tests.webhooks.receiver import Received, Receiver, Reply

DELIVERIES = 200


@pytest.mark.postgres_only
async def test_two_workers_deliver_each_event_exactly_once(
    tenant: Tenant, start_worker: StartWorker, db: Database
) -> None:
    async def slow_ok(_r: Received) -> Reply:
        await asyncio.sleep(0.005)  # long enough that both workers have deliveries in flight
        return Reply()

    async with Receiver(slow_ok) as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        first = await start_worker(own_engine=True, webhook_worker_concurrency=8)
        second = await start_worker(own_engine=True, webhook_worker_concurrency=8)
        event_ids: list[str] = []
        for batch in range(DELIVERIES // 20):  # commits while both workers are claiming
            async with db.sessionmaker() as s, s.begin():
                for i in range(20):
                    recorded = await outbox.record(
                        s,
                        app_id=tenant.id,
                        type=EventType.session_booked,
                        data={"id": f"ses_{batch}_{i}"},
                    )
                    event_ids.append(recorded.id)
        await receiver.wait_count(DELIVERIES, within=60)
        await eventually(lambda: _all_saved(tenant, endpoint["id"]), within=30)
        await asyncio.sleep(0.5)  # a duplicate would arrive now, if there were one
        received = Counter(r.headers["webhook-id"] for r in receiver.requests)
        assert set(received) == set(event_ids)
        assert max(received.values()) == 1
        log = await attempts(tenant, endpoint["id"])
        assert len(log) == DELIVERIES
        assert first.delivered > 0
        assert second.delivered > 0


async def _all_saved(tenant: Tenant, endpoint_id: str) -> bool:
    return len(await attempts(tenant, endpoint_id)) >= DELIVERIES


async def test_killed_worker_process_loses_nothing(
    tenant: Tenant, start_worker: StartWorker, database_url: str
) -> None:
    """`mentorapi worker` is killed with SIGKILL while the receiver holds its request; a second
    worker delivers the event once the dead worker's lease ends."""
    calls = 0

    def hang_first(_r: Received) -> Reply:
        nonlocal calls
        calls += 1
        return Reply(hang=True) if calls == 1 else Reply()

    async with Receiver(hang_first) as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        env = dict(
            os.environ,
            MENTORAPI_DATABASE_URL=database_url,
            MENTORAPI_WEBHOOK_ALLOW_PRIVATE_URLS="true",
            MENTORAPI_WEBHOOK_LEASE_SECONDS="2",
            MENTORAPI_WEBHOOK_TIMEOUT_SECONDS="1.5",
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mentorapi.cli", "worker", env=env
        )
        try:
            sent = await tenant.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
            [first] = await receiver.wait_count(1, within=30)
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        assert process.returncode == -signal.SIGKILL
        event_id = sent.json()["id"]
        assert first.headers["webhook-id"] == event_id
        assert (await event(tenant, event_id))["deliveries"][0]["status"] == "pending"

        await start_worker()
        _, second = await receiver.wait_count(2, within=30)
        assert second.headers["webhook-id"] == event_id
        await eventually(lambda: _succeeded(tenant, event_id))
        # The dead worker recorded nothing; the one attempt on record is the successful one.
        assert [a["status_code"] for a in await attempts(tenant, endpoint["id"])] == [200]


async def _succeeded(tenant: Tenant, event_id: str) -> bool:
    return bool((await event(tenant, event_id))["deliveries"][0]["status"] == "succeeded")


@pytest.mark.postgres_only
async def test_notify_wakes_an_idle_worker(tenant: Tenant, start_worker: StartWorker) -> None:
    """With polling every ten minutes, only LISTEN/NOTIFY can make this delivery arrive."""
    async with Receiver() as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        await start_worker(poll_seconds=600)
        await asyncio.sleep(0.5)  # its first claim found nothing; it is now asleep
        for _ in range(3):  # three separate commits, three wake-ups
            await tenant.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
        received = await receiver.wait_count(3, within=20)
        assert len({r.headers["webhook-id"] for r in received}) == 3
