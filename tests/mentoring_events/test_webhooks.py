"""The events' webhooks: `schedule_published` with the publishing, and the time-driven
`round_started` and `ended` sent by the reminders worker at their times, once each."""

from sqlmodel import col, select

from mentorapi.db.engine import Database
from mentorapi.mentoring_events import repository, timed
from mentorapi.reminders import keys
from mentorapi.reminders import repository as queue
from mentorapi.reminders.models import ScheduledNotification
from mentorapi.reminders.worker import Scheduler
from mentorapi.webhooks.models import Delivery, Event
from tests import conftest
from tests.conftest import Tenant
from tests.mentoring_events.conftest import ManualClock, at, published_event
from tests.webhooks.conftest import create_endpoint


async def _sent(db: Database, app_id: str) -> list[Event]:
    async with db.sessionmaker() as s:
        query = (
            select(Event)
            .where(col(Event.app_id) == app_id, col(Event.type).like("mentoring_event.%"))
            .order_by(col(Event.created_at), col(Event.id))
        )
        return list((await s.exec(query)).all())


async def _queued(db: Database, app_id: str) -> list[tuple[str, str]]:
    async with db.sessionmaker() as s:
        query = (
            select(ScheduledNotification)
            .where(col(ScheduledNotification.app_id) == app_id)
            .order_by(col(ScheduledNotification.due_at))
        )
        rows = (await s.exec(query)).all()
        return [(r.kind, r.due_at.isoformat()) for r in rows]


async def test_the_rounds_and_the_end_go_at_their_times(
    tenant: Tenant, clock: ManualClock, db: Database, database_url: str
) -> None:
    endpoint = await create_endpoint(tenant, "http://127.0.0.1:9/hook")
    ready = await published_event(tenant, 2, 3, rounds=3, meetings_per_mentee=2)
    [published] = await _sent(db, tenant.id)
    assert published.type == "mentoring_event.schedule_published"
    assert published.object_id == ready.id
    assert published.data["assignments"] == len(ready.schedule["assignments"])
    assert (published.data["from_round"], published.data["status"]) == (1, "scheduled")
    assert await _queued(db, tenant.id) == [
        ("round_started", "2031-03-04T17:00:00+00:00"),
        ("round_started", "2031-03-04T17:09:00+00:00"),
        ("round_started", "2031-03-04T17:18:00+00:00"),
        ("event_ended", "2031-03-04T17:25:00+00:00"),
    ]

    scheduler = Scheduler(db, conftest.test_settings(database_url), clock=clock)
    # (The worker serves every app: other tests' rows go too; this app's events are read.)
    clock.set("2031-03-04T16:59:59Z")
    await scheduler.run_due()
    assert len(await _sent(db, tenant.id)) == 1
    clock.set("2031-03-04T17:00:00.200000Z")
    await scheduler.run_due()
    assert len(await _sent(db, tenant.id)) == 2
    first = (await _sent(db, tenant.id))[-1]
    key = timed.round_key(ready.id, 1, at("2031-03-04T17:00:00Z"))
    assert first.id == keys.event_id(tenant.id, key, at("2031-03-04T17:00:00Z"))
    assert first.type == "mentoring_event.round_started"
    assert first.created_at == at("2031-03-04T17:00:00Z")
    assert {k: first.data[k] for k in ("round", "round_starts_at", "round_ends_at", "status")} == {
        "round": 1,
        "round_starts_at": "2031-03-04T17:00:00Z",
        "round_ends_at": "2031-03-04T17:07:00Z",
        "status": "live",
    }
    assert (first.data["due_at"], first.data["lateness_seconds"]) == ("2031-03-04T17:00:00Z", 0.2)
    async with db.sessionmaker() as s:
        deliveries = (
            await s.exec(
                select(Delivery).where(
                    col(Delivery.app_id) == tenant.id, col(Delivery.event_id) == first.id
                )
            )
        ).all()
    assert [d.endpoint_id for d in deliveries] == [endpoint["id"]]

    # The worker was down for the rest: everything goes late, once, saying so.
    clock.set("2031-03-04T18:00:00Z")
    await scheduler.run_due()
    await scheduler.run_due()
    sent = await _sent(db, tenant.id)
    assert [e.type for e in sent] == [
        "mentoring_event.schedule_published",
        "mentoring_event.round_started",
        "mentoring_event.round_started",
        "mentoring_event.round_started",
        "mentoring_event.ended",
    ]
    assert [e.data.get("round") for e in sent[1:]] == [1, 2, 3, 3]
    ended = sent[-1]
    assert (ended.data["status"], ended.data["lateness_seconds"]) == ("ended", 2100.0)
    assert await _queued(db, tenant.id) == []


async def test_planning_again_never_queues_a_round_that_has_begun(
    tenant: Tenant, clock: ManualClock, db: Database
) -> None:
    ready = await published_event(tenant, 2, 2, rounds=2, meetings_per_mentee=1)
    async with db.sessionmaker() as s, s.begin():
        event = await repository.get(s, tenant.id, ready.id, lock=True)
        assert event is not None
        queued = await repository.queued_keys(s, tenant.id, ready.id)
        await queue.delete_keys(s, tenant.id, queued)
        await timed.plan(s, event, now=at("2031-03-04T17:01:00Z"))  # round 1 has begun
    assert await _queued(db, tenant.id) == [
        ("round_started", "2031-03-04T17:09:00+00:00"),
        ("event_ended", "2031-03-04T17:16:00+00:00"),
    ]
