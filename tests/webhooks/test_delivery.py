"""Delivery to a real HTTP receiver on loopback, on SQLite and PostgreSQL: signatures, retries,
410, rotation, timeouts, redirects, recovery, rollback, a worker that dies mid-delivery."""

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from standardwebhooks.webhooks import Webhook

from mentorapi.db.engine import Database
from mentorapi.kit.timezones import utcnow
from mentorapi.main import create_app
from mentorapi.webhooks import outbox
from mentorapi.webhooks.models import EventType, WebhookEndpoint
from tests.conftest import Tenant, make_tenant
from tests.conftest import test_settings as settings_for
from tests.webhooks.conftest import (
    StartWorker,
    attempts,
    create_endpoint,
    event,
    eventually,
    send_test,
)
from tests.webhooks.receiver import Received, Receiver, Reply


def verify(secret: str, request: Received) -> Any:
    """Verification as a client app does it: with the standardwebhooks package, not our code."""
    return Webhook(secret).verify(request.body, request.headers)


async def delivery_status(tenant: Tenant, event_id: str) -> str:
    return str((await event(tenant, event_id))["deliveries"][0]["status"])


async def test_signed_delivery_verifies_with_standardwebhooks(
    tenant: Tenant, start_worker: StartWorker
) -> None:
    async with Receiver() as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        other = await create_endpoint(tenant, receiver.url("/other"))
        await start_worker()
        sent = await send_test(tenant, endpoint["id"])
        [request] = await receiver.wait_count(1)
        payload = verify(endpoint["secret"], request)
        assert payload["type"] == "webhook.test"
        assert payload["data"]["endpoint_id"] == endpoint["id"]
        assert set(json.loads(request.body)) == {"type", "timestamp", "data"}
        assert request.headers["webhook-id"] == sent["id"]
        assert request.headers["webhook-timestamp"].isdigit()
        assert request.headers["webhook-signature"].startswith("v1,")
        assert " " not in request.headers["webhook-signature"]
        assert request.path == receiver.prefix  # not /other: a test goes to one endpoint
        await eventually(lambda: _is(tenant, sent["id"], "succeeded"))
        [attempt] = await attempts(tenant, endpoint["id"])
        assert attempt["status_code"] == 200
        assert attempt["response_excerpt"] == "ok"
        assert attempt["duration_ms"] >= 0
        assert attempt["next_attempt_at"] is None
        assert await attempts(tenant, other["id"]) == []


async def _is(tenant: Tenant, event_id: str, status: str) -> bool:
    return await delivery_status(tenant, event_id) == status


async def test_failures_retry_on_the_schedule_then_give_up_and_recover(
    tenant: Tenant, start_worker: StartWorker
) -> None:
    failing = True

    def respond(_r: Received) -> Reply:
        return Reply(500, body=b"x" * 5000) if failing else Reply(204, body=b"")

    async with Receiver(respond) as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        await start_worker(webhook_retry_schedule="0.2,0.4,0.6")
        sent = await send_test(tenant, endpoint["id"])
        await eventually(lambda: _is(tenant, sent["id"], "failed"))
        assert len(receiver.requests) == 4  # the first attempt and three retries, no more
        assert {r.headers["webhook-id"] for r in receiver.requests} == {sent["id"]}
        for request in receiver.requests:
            verify(endpoint["secret"], request)
        log = await attempts(tenant, endpoint["id"])
        assert [a["attempt"] for a in log] == [1, 2, 3, 4]
        assert {a["status_code"] for a in log} == {500}
        assert {len(a["response_excerpt"]) for a in log} == {1024}
        # Each retry is planned from its attempt by the schedule, with at most 10 % jitter.
        for attempt, delay in zip(log, [0.2, 0.4, 0.6], strict=False):
            planned = _seconds_between(attempt["created_at"], attempt["next_attempt_at"])
            assert delay * 0.9 - 0.01 <= planned <= delay * 1.1 + 0.01
        assert log[-1]["next_attempt_at"] is None
        assert (await event(tenant, sent["id"]))["deliveries"][0]["attempts"] == 4
        path = f"/v1/webhook-endpoints/{endpoint['id']}"
        assert (await tenant.client.get(path)).json()["failing_since"] is not None

        failing = False
        recovered = await tenant.client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/recover",
            json={"since": (utcnow() - timedelta(minutes=5)).isoformat()},
        )
        assert recovered.json() == {"queued": 1}
        await eventually(lambda: _is(tenant, sent["id"], "succeeded"))
        assert len(receiver.requests) == 5
        assert (await tenant.client.get(path)).json()["failing_since"] is None


def _seconds_between(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


async def test_410_gone_disables_the_endpoint(
    tenant: Tenant, start_worker: StartWorker, db: Database
) -> None:
    async with Receiver(lambda _r: Reply(410, body=b"gone for good")) as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        await start_worker()
        sent = await send_test(tenant, endpoint["id"])
        await eventually(lambda: _is(tenant, sent["id"], "failed"))
        read = (await tenant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
        assert read["enabled"] is False
        assert "410" in read["disabled_reason"]
        log = await attempts(tenant, endpoint["id"])
        assert [(a["kind"], a["status_code"]) for a in log] == [
            ("attempt", 410),
            ("endpoint.disabled", None),
        ]
        assert len(receiver.requests) == 1
        # A disabled endpoint gets no deliveries for new events.
        async with db.sessionmaker() as s, s.begin():
            later = await outbox.record(
                s, app_id=tenant.id, type=EventType.session_booked, data={"id": "ses_x"}
            )
        assert (await event(tenant, later.id))["deliveries"] == []


async def test_five_days_without_success_disables(
    tenant: Tenant, start_worker: StartWorker, db: Database
) -> None:
    async with Receiver(lambda _r: Reply(500)) as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        async with db.sessionmaker() as s, s.begin():
            await s.exec(
                update(WebhookEndpoint)
                .where(
                    WebhookEndpoint.app_id == tenant.id,  # type: ignore[arg-type]
                    WebhookEndpoint.id == endpoint["id"],  # type: ignore[arg-type]
                )
                .values(failing_since=utcnow() - timedelta(days=5, minutes=1))
            )
        await start_worker()
        sent = await send_test(tenant, endpoint["id"])
        await eventually(lambda: _is(tenant, sent["id"], "failed"))
        read = (await tenant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
        assert read["enabled"] is False
        assert "5 days" in read["disabled_reason"]
        assert [a["kind"] for a in await attempts(tenant, endpoint["id"])] == [
            "attempt",
            "endpoint.disabled",
        ]
        # Enabling again starts afresh.
        enabled = await tenant.client.patch(
            f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": True}
        )
        assert enabled.json()["disabled_reason"] is None
        assert enabled.json()["failing_since"] is None


async def test_rotation_overlap_signs_with_both_secrets(
    tenant: Tenant, start_worker: StartWorker
) -> None:
    async with Receiver() as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        rotated = await tenant.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret")
        new_secret = rotated.json()["secret"]
        await start_worker()
        await send_test(tenant, endpoint["id"])
        [request] = await receiver.wait_count(1)
        signatures = request.headers["webhook-signature"].split(" ")
        assert len(signatures) == 2
        assert all(s.startswith("v1,") for s in signatures)
        verify(new_secret, request)
        verify(endpoint["secret"], request)
        # Each signature on its own verifies with exactly one of the secrets.
        for secret, signature in zip([new_secret, endpoint["secret"]], signatures, strict=True):
            alone = dict(request.headers, **{"webhook-signature": signature})
            Webhook(secret).verify(request.body, alone)


async def test_timeouts_and_redirects_are_failures(
    tenant: Tenant, start_worker: StartWorker
) -> None:
    replies = [Reply(delay=3.0), Reply(302, {"location": "http://127.0.0.1:1/"}), Reply(200)]

    async with Receiver(lambda _r: replies.pop(0)) as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        await start_worker(webhook_timeout_seconds=0.5, webhook_retry_schedule="0.2,0.2,0.2")
        sent = await send_test(tenant, endpoint["id"])
        await eventually(lambda: _is(tenant, sent["id"], "succeeded"))
        log = await attempts(tenant, endpoint["id"])
        assert [a["status_code"] for a in log] == [None, 302, 200]
        assert "timed out" in log[0]["error"]
        assert "redirects are not followed" in log[1]["error"]
        assert len(receiver.requests) == 3


async def test_retry_after_is_honoured(tenant: Tenant, start_worker: StartWorker) -> None:
    async with Receiver(lambda _r: Reply(429, {"retry-after": "120"})) as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        await start_worker(webhook_retry_schedule="0.2")
        await send_test(tenant, endpoint["id"])
        await receiver.wait_count(1)
        await eventually(lambda: _has_attempts(tenant, endpoint["id"], 1))
        [attempt] = await attempts(tenant, endpoint["id"])
        assert attempt["status_code"] == 429
        assert _seconds_between(attempt["created_at"], attempt["next_attempt_at"]) >= 119


@pytest.mark.parametrize("value", ["\xb2", "Mon, 23 Nov 99999999999 12:01:00 GMT"])
async def test_a_retry_after_we_cannot_read_is_ignored(
    tenant: Tenant, start_worker: StartWorker, value: str
) -> None:
    """It raised out of `send`: the attempt was recorded as our internal error, without the
    receiver's status, and logged as a bug."""
    async with Receiver(lambda _r: Reply(503, {"retry-after": value})) as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        await start_worker(webhook_retry_schedule="0.2")
        await send_test(tenant, endpoint["id"])
        await receiver.wait_count(1)
        await eventually(lambda: _has_attempts(tenant, endpoint["id"], 1))
        [attempt] = (await attempts(tenant, endpoint["id"]))[:1]
        assert attempt["status_code"] == 503, attempt
        assert attempt["error"] == "HTTP 503"


async def _has_attempts(tenant: Tenant, endpoint_id: str, count: int) -> bool:
    return len(await attempts(tenant, endpoint_id)) >= count


async def test_redeliver_sends_the_same_event_again(
    tenant: Tenant, start_worker: StartWorker
) -> None:
    async with Receiver() as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        await start_worker()
        sent = await send_test(tenant, endpoint["id"])
        await eventually(lambda: _is(tenant, sent["id"], "succeeded"))
        again = await tenant.client.post(f"/v1/events/{sent['id']}/redeliver")
        assert again.status_code == 202
        assert again.json() == {"queued": 1}
        first, second = await receiver.wait_count(2)
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == sent["id"]
        assert first.body == second.body


async def test_rolled_back_changes_send_nothing(
    tenant: Tenant, start_worker: StartWorker, db: Database
) -> None:
    async with Receiver() as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        async with db.sessionmaker() as s:
            rolled_back = await outbox.record(
                s,
                app_id=tenant.id,
                type=EventType.session_booked,
                data={"id": "ses_rolledback"},
                object_id="ses_rolledback",
            )
            await s.rollback()
        await start_worker()
        # A later committed event arrives; the rolled-back one never does.
        async with db.sessionmaker() as s, s.begin():
            committed = await outbox.record(
                s, app_id=tenant.id, type=EventType.session_booked, data={"id": "ses_kept"}
            )
        await receiver.wait_count(1)
        await eventually(lambda: _is(tenant, committed.id, "succeeded"))
        assert [r.headers["webhook-id"] for r in receiver.requests] == [committed.id]
        assert (await tenant.client.get(f"/v1/events/{rolled_back.id}")).status_code == 404
        assert [a["event_id"] for a in await attempts(tenant, endpoint["id"])] == [committed.id]


async def test_events_carry_a_per_object_sequence(tenant: Tenant, db: Database) -> None:
    async with db.sessionmaker() as s, s.begin():
        for type_ in (EventType.session_requested, EventType.session_booked):
            await outbox.record(
                s, app_id=tenant.id, type=type_, data={"id": "ses_seq"}, object_id="ses_seq"
            )
    listed = await tenant.client.get("/v1/events", params={"object_id": "ses_seq"})
    assert [(e["type"], e["sequence"]) for e in listed.json()["data"]] == [
        ("session.booked", 2),
        ("session.requested", 1),
    ]


async def test_a_claim_dropped_mid_delivery_is_delivered_after_its_lease(
    tenant: Tenant, start_worker: StartWorker
) -> None:
    """A worker that claimed and died: its rows are due again when the lease ends."""
    async with Receiver() as receiver:
        endpoint = await create_endpoint(tenant, receiver.url())
        sent = await send_test(tenant, endpoint["id"])
        doomed = await start_worker(webhook_lease_seconds=1.0)
        await doomed.stop()  # it never sends what it is about to claim
        claimed = await doomed.claim(100)
        assert sent["id"] in {job.event_id for job in claimed}
        await start_worker()
        [request] = await receiver.wait_count(1)
        assert request.headers["webhook-id"] == sent["id"]
        await eventually(lambda: _is(tenant, sent["id"], "succeeded"))


async def test_endpoint_deleted_mid_delivery_does_not_block_other_results(
    tenant: Tenant, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    release = asyncio.Event()

    async def respond(request: Received) -> Reply:
        if request.path.endswith("/slow"):
            await release.wait()
        return Reply()

    async with Receiver(respond) as receiver:
        slow = await create_endpoint(tenant, receiver.url("/slow"))
        fast = await create_endpoint(tenant, receiver.url("/fast"))
        await start_worker()
        await send_test(tenant, slow["id"])
        await receiver.wait_count(1)
        assert (
            await tenant.client.delete(f"/v1/webhook-endpoints/{slow['id']}")
        ).status_code == 204
        sent = await send_test(tenant, fast["id"])
        release.set()
        await eventually(lambda: _is(tenant, sent["id"], "succeeded"))
        assert len(await attempts(tenant, fast["id"])) == 1
        await asyncio.sleep(0.3)  # the slow attempt's result is saved (or would fail) by now
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_worker_runs_inside_the_app(database_url: str) -> None:
    """`serve` starts a worker in the app's lifespan (MENTORAPI_WEBHOOK_WORKER_ENABLED)."""
    application = create_app(settings_for(database_url, webhook_worker_enabled=True))
    async with Receiver() as receiver, application.router.lifespan_context(application):
        async for tenant in make_tenant(application, "in-app worker"):
            endpoint = await create_endpoint(tenant, receiver.url())
            sent = await send_test(tenant, endpoint["id"])
            [request] = await receiver.wait_count(1)
            assert verify(endpoint["secret"], request)["type"] == "webhook.test"
            assert request.headers["webhook-id"] == sent["id"]


async def test_a_session_of_the_test_after_a_get_writes_as_a_writer(
    tenant: Tenant, db: Database
) -> None:
    """The test client runs each request as a server does, in a context of its own: a GET's
    read-only intent (db/uow.py) does not leak into the test. Otherwise a session the test
    opens afterwards (as test_410_gone_disables_the_endpoint records an event) begins DEFERRED
    on SQLite, and its first write fails at once ("database is locked": SQLite does not wait
    to upgrade a read transaction) when a worker's poll holds the write lock at that moment."""
    await tenant.client.get("/v1/webhook-endpoints")
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold_the_write_lock() -> None:  # a worker's claim, made slow
        async with db.sessionmaker() as w, w.begin():
            await w.exec(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.app_id == "app_none")  # type: ignore[arg-type]
                .values(version=WebhookEndpoint.version)
            )
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_write_lock())
    await holding.wait()
    asyncio.get_running_loop().call_later(0.3, release.set)
    # As a writer, the session waits for the lock (busy_timeout) and then writes.
    async with db.sessionmaker() as s, s.begin():
        later = await outbox.record(
            s, app_id=tenant.id, type=EventType.session_booked, data={"id": "ses_x"}
        )
    await holder
    assert (await event(tenant, later.id))["deliveries"] == []
