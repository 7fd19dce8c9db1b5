"""The worker sends each queued event at its time, once, only while it still holds (a clock the
test sets: nothing here waits for real time)."""

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlmodel import col, select

from mentorapi.db.engine import Database
from mentorapi.graphql.feed import session_event
from mentorapi.reminders import keys
from mentorapi.reminders import repository as reminders_repository
from mentorapi.reminders.worker import Scheduler
from mentorapi.sessions import repository as sessions_repository
from mentorapi.sessions import service as sessions_service
from mentorapi.sessions.schemas import Cancel
from mentorapi.webhooks.models import Event
from tests.conftest import Tenant
from tests.factories import book_session, bookable
from tests.reminders.conftest import Clock, at, deliveries, plan, queued, sent
from tests.webhooks.conftest import create_endpoint

MONDAY_9 = "2027-01-11T08:00:00Z"  # a 30-minute session, 09:00 in Berlin


async def _post(tenant: Tenant, path: str, body: Any = None) -> Any:
    response = await tenant.client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _types(db: Database, tenant: Tenant) -> list[str]:
    return [e.type for e in await sent(db, tenant.id)]


async def test_each_event_goes_at_its_time_with_its_payload(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    endpoint = await create_endpoint(tenant, "http://127.0.0.1:9/hook")
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    sid = session["id"]

    clock.set("2027-01-10T07:59:59Z")
    await scheduler.run_due()
    assert await _types(db, tenant) == []

    clock.set("2027-01-10T08:00:00Z")
    await scheduler.run_due()
    [reminder] = await sent(db, tenant.id)
    key = keys.reminder(sid, at(MONDAY_9), 1440)
    assert reminder.id == keys.event_id(tenant.id, key, at("2027-01-10T08:00:00Z"))
    assert reminder.type == "session.reminder"
    assert reminder.object_id == sid
    assert reminder.created_at == at("2027-01-10T08:00:00Z")  # the webhook's `timestamp`
    assert reminder.data == {
        **session,
        "minutes_before": 1440,
        "due_at": "2027-01-10T08:00:00Z",
        "lateness_seconds": 0.0,
    }
    [delivery] = await deliveries(db, tenant.id, reminder.id)
    assert delivery.endpoint_id == endpoint["id"]

    clock.set("2027-01-11T07:00:00.250000Z")
    await scheduler.run_due()
    last = (await sent(db, tenant.id))[-1]
    assert (last.data["minutes_before"], last.data["lateness_seconds"]) == (60, 0.25)

    for moment in ("2027-01-11T08:00:00Z", "2027-01-11T08:30:00Z"):
        clock.set(moment)
        await scheduler.run_due()
    assert await _types(db, tenant) == [
        "session.reminder",
        "session.reminder",
        "session.started",
        "session.ended",
    ]
    ended = (await sent(db, tenant.id))[-1]
    assert ended.data["status"] == "booked"
    assert ended.data["due_at"] == "2027-01-11T08:30:00Z"

    clock.set("2027-01-11T08:32:00Z")
    await _post(tenant, f"/v1/sessions/{sid}/complete", {})
    await _post(
        tenant, f"/v1/sessions/{sid}/feedback", {"author": "mentor", "note": "Came well prepared"}
    )
    clock.set("2027-01-11T08:40:00Z")
    await scheduler.run_due()
    asked = await sent(db, tenant.id, "feedback.requested")
    assert [(e.data["party"], e.data["status"]) for e in asked] == [("mentee", "completed")]
    assert await plan(db, tenant.id) == []
    # The session's events, in one sequence with the changes a caller made.
    async with db.sessionmaker() as s:
        query = (
            select(Event)
            .where(col(Event.app_id) == tenant.id, col(Event.object_id) == sid)
            .order_by(col(Event.sequence))
        )
        log = [(e.sequence, e.type) for e in (await s.exec(query)).all()]
    assert log == [
        (1, "session.booked"),
        (2, "session.reminder"),
        (3, "session.reminder"),
        (4, "session.started"),
        (5, "session.ended"),
        (6, "session.completed"),
        (7, "feedback.requested"),
    ]


async def test_a_session_cancelled_a_second_before_its_reminder_gets_none(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    clock.set("2027-01-11T06:59:59Z")
    await _post(tenant, f"/v1/sessions/{session['id']}/cancel", {"by": "mentee"})
    for moment in ("2027-01-11T07:00:00Z", "2027-01-11T09:00:00Z"):
        clock.set(moment)
        await scheduler.run_due()
    assert await _types(db, tenant) == []


async def test_a_rescheduled_session_is_reminded_at_its_new_time_only(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    clock.set("2027-01-10T08:00:00Z")  # the first 24-hour reminder goes
    await scheduler.run_due()
    clock.set("2027-01-10T09:00:00Z")
    await _post(
        tenant,
        f"/v1/sessions/{session['id']}/reschedule",
        {"starts_at": "2027-01-12T13:00:00Z"},
    )
    # The old 60-minute reminder's time, then the new ones'.
    for moment in ("2027-01-11T07:00:00Z", "2027-01-11T13:00:00Z", "2027-01-12T12:00:00Z"):
        clock.set(moment)
        await scheduler.run_due()
    reminders = await sent(db, tenant.id, "session.reminder")
    assert [(e.data["starts_at"], e.data["minutes_before"]) for e in reminders] == [
        (MONDAY_9, 1440),
        ("2027-01-12T13:00:00Z", 1440),
        ("2027-01-12T13:00:00Z", 60),
    ]
    assert all(e.data["lateness_seconds"] == 0.0 for e in reminders)


async def test_a_late_worker_drops_reminders_past_the_grace_and_sends_the_rest_late(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    base = await bookable(tenant.client)
    first = await book_session(tenant.client, base, MONDAY_9)
    second = await book_session(tenant.client, base, "2027-01-11T12:00:00Z")
    # The worker was down from before the first reminder to 10 minutes into the first session.
    clock.set("2027-01-11T08:10:00Z")
    await scheduler.run_due()
    events = await sent(db, tenant.id)
    assert [(e.type, e.object_id, e.data["lateness_seconds"]) for e in events] == [
        ("session.started", first["id"], 600.0)
    ]
    # 100 s late is within the grace (300 s by default): sent, saying how late.
    clock.set("2027-01-11T11:01:40Z")
    await scheduler.run_due()
    last = (await sent(db, tenant.id))[-1]
    assert (last.object_id, last.data["minutes_before"], last.data["lateness_seconds"]) == (
        second["id"],
        60,
        100.0,
    )
    remaining = {(r.kind, r.session_id) for r in await queued(db, tenant.id)}
    assert ("reminder", first["id"]) not in remaining  # dropped, not kept for later


async def test_an_event_already_sent_is_never_sent_again(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    base = await bookable(tenant.client)
    await book_session(tenant.client, base, MONDAY_9)
    clock.set("2027-01-11T07:00:00Z")
    await scheduler.run_due()
    [reminder_60] = [e for e in await sent(db, tenant.id) if e.data["minutes_before"] == 60]
    # The same row again (as a new plan written while the worker sent it would give).
    row = {
        "app_id": tenant.id,
        "key": keys.reminder(reminder_60.object_id or "", at(MONDAY_9), 60),
        "kind": "reminder",
        "due_at": at("2027-01-11T07:00:00Z"),
        "session_id": reminder_60.object_id,
        "action_item_id": None,
        "party": None,
        "minutes_before": 60,
        "created_at": clock.now,
        "updated_at": clock.now,
    }
    async with db.sessionmaker() as s, s.begin():
        await reminders_repository.insert_rows(s, [row], clock.now)
    await scheduler.run_due()
    assert [e.id for e in await sent(db, tenant.id, "session.reminder")] == [reminder_60.id]
    assert [r.kind for r in await queued(db, tenant.id) if r.kind == "reminder"] == []


async def test_an_action_item_is_due_at_nine_unless_done(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    path = f"/v1/sessions/{session['id']}/action-items"
    open_item = await _post(tenant, path, {"text": "Growth column", "due_on": "2027-01-20"})
    done_item = await _post(tenant, path, {"text": "Share the sheet", "due_on": "2027-01-20"})
    response = await tenant.client.patch(f"{path}/{done_item['id']}", json={"done": True})
    assert response.status_code == 200, response.text
    clock.set("2027-01-20T13:59:00Z")  # 08:59 in New York
    await scheduler.run_due()
    assert await sent(db, tenant.id, "action_item.due") == []
    clock.set("2027-01-20T14:00:00Z")
    await scheduler.run_due()
    [due] = await sent(db, tenant.id, "action_item.due")
    assert due.object_id == open_item["id"]
    assert due.data == {
        **open_item,
        "mentee_id": base["mentee_id"],
        "mentor_id": base["mentor_id"],
        "due_at": "2027-01-20T14:00:00Z",
        "lateness_seconds": 0.0,
    }


@pytest.mark.postgres_only
async def test_a_cancel_racing_the_worker_waits_for_it_or_wins(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    """Both orders, on real concurrent transactions: a cancel under way when the reminder falls
    due keeps it from going; a reminder being sent when the cancel comes goes first, in
    order."""
    base = await bookable(tenant.client)
    won = await book_session(tenant.client, base, MONDAY_9)
    lost = await book_session(tenant.client, base, "2027-01-11T10:00:00Z")
    actor = await _api_key_caller(tenant)

    # 1. The cancel has locked the session (its first step) when the worker comes: the worker
    # leaves the session's rows, and the cancel then removes them.
    clock.set("2027-01-11T06:59:59Z")
    async with db.sessionmaker() as cancelling, cancelling.begin():
        await sessions_repository.get(cancelling, tenant.id, won["id"], for_update=True)
        clock.set("2027-01-11T07:00:00Z")
        done = await scheduler.run_once()  # another connection, at the due time
        assert done.deferred >= 1
        await sessions_service.cancel(
            db_session=cancelling,
            app_id=tenant.id,
            actor=actor,
            session_id=won["id"],
            data=Cancel(by="mentee"),
        )
    await scheduler.run_due()
    assert [e.object_id for e in await sent(db, tenant.id)] == []

    # 2. The worker holds the rows and the session when the cancel comes: the cancel waits.
    clock.set("2027-01-11T09:00:00Z")
    async with db.sessionmaker() as working, working.begin():
        from mentorapi.reminders import service as reminders_service

        round_ = await reminders_service.send_due(
            working, now=clock.now, limit=500, grace=scheduler.grace
        )
        assert round_.sent >= 1
        cancel = asyncio.create_task(
            tenant.client.post(f"/v1/sessions/{lost['id']}/cancel", json={"by": "mentor"})
        )
        await asyncio.sleep(0.3)
        assert not cancel.done()  # waiting for the worker's locks
    response = await cancel
    assert response.status_code == 200, response.text
    async with db.sessionmaker() as s:
        query = (
            select(Event)
            .where(col(Event.app_id) == tenant.id, col(Event.object_id) == lost["id"])
            .order_by(col(Event.sequence))
        )
        log = [(e.sequence, e.type) for e in (await s.exec(query)).all()]
    assert log == [(1, "session.booked"), (2, "session.reminder"), (3, "session.cancelled")]


async def _api_key_caller(tenant: Tenant) -> Any:
    from mentorapi.apps.caller import Caller

    return Caller.api_key(tenant.id)


def test_reminders_are_not_session_changes_for_subscribers() -> None:
    session = {"id": "ses_1", "mentor_id": "mtr_1", "mentee_id": "mte_1"}
    for type_, heard in [
        ("session.reminder", False),
        ("session.started", True),
        ("session.ended", True),
        ("feedback.requested", False),
        ("action_item.due", False),
    ]:
        row = Event(id="evt_1", app_id="app_1", type=type_, data=session)
        assert (session_event(row) is not None) is heard, type_


@pytest.mark.postgres_only
async def test_only_start_and_end_are_announced_to_subscriptions(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler, database_url: str
) -> None:
    """The trigger that feeds subscriptions on PostgreSQL leaves reminders out."""
    from mentorapi.db.listen import asyncpg_dsn

    heard: list[str] = []
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    await connection.add_listener("mentorapi_sessions", lambda *args: heard.append(args[3]))
    try:
        base = await bookable(tenant.client)
        session = await book_session(tenant.client, base, MONDAY_9)
        for moment in ("2027-01-11T07:00:00Z", "2027-01-11T08:00:00Z"):
            clock.set(moment)
            await scheduler.run_due()
        await asyncio.sleep(0.5)  # notices arrive asynchronously
    finally:
        await connection.close()
    ours = [h.split(" ")[1] for h in heard if h.startswith(tenant.id + " ")]
    events = {e.id: e.type for e in await sent(db, tenant.id)}
    assert sorted(events.values()) == ["session.reminder", "session.started"]
    assert [events.get(i, "booked") for i in ours[1:]] == ["session.started"]
    assert session["id"]


async def test_every_payload_has_exactly_the_documented_fields(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    """What the OpenAPI `webhooks` section documents (reminders/schemas.py) is what is sent."""
    from mentorapi.reminders.schemas import (
        ActionItemDueData,
        FeedbackRequestData,
        SessionReminderData,
        SessionTimeData,
    )

    documented = {
        "session.reminder": SessionReminderData,
        "session.started": SessionTimeData,
        "session.ended": SessionTimeData,
        "feedback.requested": FeedbackRequestData,
        "action_item.due": ActionItemDueData,
    }
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    await _post(
        tenant,
        f"/v1/sessions/{session['id']}/action-items",
        {"text": "Try it", "due_on": "2027-01-12"},
    )
    for moment in ("2027-01-11T07:00:00Z", "2027-01-11T08:00:00Z", "2027-01-11T08:30:00Z"):
        clock.set(moment)
        await scheduler.run_due()
    await _post(tenant, f"/v1/sessions/{session['id']}/complete", {})
    for moment in ("2027-01-11T08:40:00Z", "2027-01-12T14:00:00Z"):
        clock.set(moment)
        await scheduler.run_due()
    events = await sent(db, tenant.id)
    assert {e.type for e in events} == set(documented)
    for event in events:
        model = documented[event.type]
        assert set(event.data) == set(model.model_fields), event.type
        assert model.model_validate(event.data).model_dump(mode="json") == event.data


@pytest.mark.postgres_only
async def test_a_reschedule_racing_the_worker_waits_and_plans_the_new_time(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    """The worker is sending the 60-minute reminder when the mentee moves the session: the move
    waits for it, then plans the new time; the log is in order, and the new reminders go."""
    from mentorapi.reminders import service as reminders_service

    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    clock.set("2027-01-11T07:00:00Z")
    async with db.sessionmaker() as working, working.begin():
        round_ = await reminders_service.send_due(
            working, now=clock.now, limit=500, grace=scheduler.grace
        )
        assert round_.sent >= 1
        move = asyncio.create_task(
            tenant.client.post(
                f"/v1/sessions/{session['id']}/reschedule",
                json={"starts_at": "2027-01-12T13:00:00Z"},
            )
        )
        await asyncio.sleep(0.3)
        assert not move.done()  # waiting for the worker's locks
    response = await move
    assert response.status_code == 200, response.text
    assert [r for r in await plan(db, tenant.id) if r[0] == "reminder"] == [
        ("reminder", "2027-01-11T13:00:00Z", 1440),
        ("reminder", "2027-01-12T12:00:00Z", 60),
    ]
    async with db.sessionmaker() as s:
        query = (
            select(Event)
            .where(col(Event.app_id) == tenant.id, col(Event.object_id) == session["id"])
            .order_by(col(Event.sequence))
        )
        log = [(e.sequence, e.type) for e in (await s.exec(query)).all()]
    assert log == [(1, "session.booked"), (2, "session.reminder"), (3, "session.rescheduled")]


async def test_planning_a_series_costs_the_same_statements_for_2_or_26(
    tenant: Tenant, clock: Clock
) -> None:
    """The rows of every occurrence are planned together: no statement per occurrence."""
    from tests.conftest import count_statements

    async def planning_statements(count: int) -> list[str]:
        base = await bookable(tenant.client)
        with count_statements() as statements:
            response = await tenant.client.post(
                "/v1/series",
                json={**base, "starts_at": MONDAY_9, "count": count, "interval_weeks": 1},
            )
        assert response.status_code == 201, response.text
        tables = ("scheduled_notifications", "reminder_policies")
        return [s for s in statements if any(t in s for t in tables)]

    two, many = await planning_statements(2), await planning_statements(26)
    assert 2 <= len(two) == len(many) <= 4, many
