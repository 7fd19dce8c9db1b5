"""An event whose start comes before its schedule is published is `expired`: read so from the
clock (REST and GraphQL), final (every change is a 409), and announced once by the reminders
worker as `mentoring_event.expired` at its start."""

from sqlmodel import col, select

from mentorapi.db.engine import Database
from mentorapi.mentoring_events import timed
from mentorapi.reminders import keys
from mentorapi.reminders.models import ScheduledNotification
from mentorapi.reminders.worker import Scheduler
from mentorapi.webhooks.models import Event
from tests import conftest
from tests.conftest import Tenant
from tests.gql.helpers import error_codes, gql, gql_data
from tests.mentoring_events.conftest import (
    START,
    ManualClock,
    at,
    create_event,
    get,
    people,
    post,
    published_event,
)
from tests.test_directory import assert_problem

STATUS = "query($id: ID!) { mentoringEvent(id: $id) { status registrationOpen } }"


async def _expired_events(db: Database, app_id: str) -> list[Event]:
    async with db.sessionmaker() as s:
        query = select(Event).where(
            col(Event.app_id) == app_id, col(Event.type) == "mentoring_event.expired"
        )
        return list((await s.exec(query)).all())


async def _queued(db: Database, app_id: str) -> list[tuple[str, str]]:
    async with db.sessionmaker() as s:
        query = select(ScheduledNotification).where(col(ScheduledNotification.app_id) == app_id)
        return sorted((r.kind, r.key) for r in (await s.exec(query)).all())


async def test_an_event_never_published_expires_at_its_start(
    tenant: Tenant, clock: ManualClock
) -> None:
    c = tenant.client
    crowd = await people(c, 1, 2)
    event = await create_event(c, registration_closes_at=START)
    draft = await create_event(c, open_=False)
    path = f"/v1/mentoring-events/{event['id']}"
    await post(c, f"{path}/registrations", {"mentor_id": crowd.mentor_ids[0]}, 201)
    ask = "How do I build a pivot table that refreshes itself?"
    await post(c, f"{path}/registrations", {"mentee_id": crowd.mentee_ids[0], "ask": ask}, 201)

    clock.set("2031-03-04T16:59:59Z")
    assert (await get(c, path))["status"] == "open"
    found = await gql_data(c, STATUS, {"id": event["id"]})
    assert found["mentoringEvent"] == {"status": "OPEN", "registrationOpen": True}

    clock.set(START)
    read = await get(c, path)
    assert (read["status"], read["registration_open"]) == ("expired", False)
    assert (await get(c, f"/v1/mentoring-events/{draft['id']}"))["status"] == "expired"
    listed = {e["id"]: e["status"] for e in (await get(c, "/v1/mentoring-events"))["data"]}
    assert (listed[event["id"]], listed[draft["id"]]) == ("expired", "expired")
    found = await gql_data(c, STATUS, {"id": event["id"]})
    assert found["mentoringEvent"] == {"status": "EXPIRED", "registrationOpen": False}

    # Final: every change is a 409 that says so, and changes nothing.
    member = crowd.mentee_ids[0]
    refused = [
        await c.post(f"{path}/registrations", json={"mentee_id": crowd.mentee_ids[1], "ask": ask}),
        await c.delete(f"{path}/registrations/{member}"),
        await c.post(f"{path}/check-ins", json={"member_id": member}),
        await c.post(f"{path}/no-shows", json={"member_id": member}),
        await c.post(f"{path}/schedule"),
        await c.post(f"{path}/schedule/publish"),
        await c.post(f"/v1/mentoring-events/{draft['id']}/open"),
    ]
    for response in refused:
        problem = assert_problem(response, 409)
        assert "expired" in problem["detail"], problem
        assert problem["event_status"] == "expired"
    after = await get(c, path)
    assert (after["version"], after["counts"]) == (read["version"], read["counts"])
    registrations = await get(c, f"{path}/registrations")
    assert [r["attendance"] for r in registrations["data"]] == ["registered", "registered"]

    answer = await gql(
        c,
        """mutation($id: ID!, $m: ID!) {
          checkInToMentoringEvent(eventId: $id, memberId: $m) { registration { attendance } } }""",
        {"id": event["id"], "m": member},
    )
    assert error_codes(answer) == ["CONFLICT"]


async def test_the_worker_announces_the_expiry_once(
    tenant: Tenant, clock: ManualClock, db: Database, database_url: str
) -> None:
    event = await create_event(tenant.client)
    key = timed.expiry_key(event["id"], at(START))
    assert await _queued(db, tenant.id) == [("event_expired", key)]

    scheduler = Scheduler(db, conftest.test_settings(database_url), clock=clock)
    clock.set("2031-03-04T16:59:59Z")
    await scheduler.run_due()
    assert await _expired_events(db, tenant.id) == []
    clock.set("2031-03-04T17:00:00.500000Z")
    await scheduler.run_due()
    [expired] = await _expired_events(db, tenant.id)
    assert expired.id == keys.event_id(tenant.id, key, at(START))
    assert (expired.object_id, expired.created_at) == (event["id"], at(START))
    read = await get(tenant.client, f"/v1/mentoring-events/{event['id']}")
    assert expired.data == {**read, "due_at": START, "lateness_seconds": 0.5}
    assert expired.data["status"] == "expired"
    assert await _queued(db, tenant.id) == []


async def test_a_published_event_does_not_expire(
    tenant: Tenant, clock: ManualClock, db: Database, database_url: str
) -> None:
    ready = await published_event(tenant, 2, 3, rounds=3, meetings_per_mentee=2)
    assert "event_expired" not in [kind for kind, _ in await _queued(db, tenant.id)]
    # An expiry row left over (as if a worker had claimed it before the publish): dropped.
    async with db.sessionmaker() as s, s.begin():
        s.add(
            ScheduledNotification(
                app_id=tenant.id,
                key=timed.expiry_key(ready.id, at(START)),
                kind="event_expired",
                due_at=at(START),
                mentoring_event_id=ready.id,
            )
        )
    scheduler = Scheduler(db, conftest.test_settings(database_url), clock=clock)
    clock.set(START)
    await scheduler.run_due()
    assert await _expired_events(db, tenant.id) == []
    assert (await get(tenant.client, f"/v1/mentoring-events/{ready.id}"))["status"] == "live"
