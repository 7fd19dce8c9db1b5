"""The queue of time-driven events follows every change of a session, in its transaction."""

from typing import Any

from mentorapi.db.engine import Database
from mentorapi.reminders.worker import Scheduler
from tests.conftest import Tenant
from tests.factories import book_session, bookable, create_mentee
from tests.reminders.conftest import Clock, plan

MONDAY_9 = "2027-01-11T08:00:00Z"  # 09:00 in Berlin, a 30-minute session

BOOKED_MONDAY_9 = [
    ("reminder", "2027-01-10T08:00:00Z", 1440),
    ("reminder", "2027-01-11T07:00:00Z", 60),
    ("started", "2027-01-11T08:00:00Z", None),
    ("ended", "2027-01-11T08:30:00Z", None),
    ("feedback_requested", "2027-01-11T08:40:00Z", "mentee"),
    ("feedback_requested", "2027-01-11T08:40:00Z", "mentor"),
]


async def _post(tenant: Tenant, path: str, body: Any = None) -> dict[str, Any]:
    response = await tenant.client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_booking_queues_its_reminders_start_end_and_feedback_requests(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    assert await plan(db, tenant.id, session["id"]) == BOOKED_MONDAY_9


async def test_a_request_gets_nothing_until_it_is_accepted(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    session = await book_session(tenant.client, base, MONDAY_9)
    assert await plan(db, tenant.id) == []
    await _post(tenant, f"/v1/sessions/{session['id']}/accept")
    assert await plan(db, tenant.id) == BOOKED_MONDAY_9


async def test_a_reminder_whose_time_has_passed_at_booking_is_skipped(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    clock.set("2027-01-11T07:15:00Z")  # 45 minutes before the start: the 60 is past
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    kinds = [row[0:3] for row in await plan(db, tenant.id, session["id"])]
    assert ("reminder", "2027-01-11T07:00:00Z", 60) not in kinds
    assert ("reminder", "2027-01-10T08:00:00Z", 1440) not in kinds
    assert kinds == BOOKED_MONDAY_9[2:]


async def test_a_reschedule_replaces_the_rows(tenant: Tenant, db: Database, clock: Clock) -> None:
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    await _post(
        tenant,
        f"/v1/sessions/{session['id']}/reschedule",
        {"starts_at": "2027-01-12T13:00:00Z"},
    )
    assert await plan(db, tenant.id) == [
        ("reminder", "2027-01-11T13:00:00Z", 1440),
        ("reminder", "2027-01-12T12:00:00Z", 60),
        ("started", "2027-01-12T13:00:00Z", None),
        ("ended", "2027-01-12T13:30:00Z", None),
        ("feedback_requested", "2027-01-12T13:40:00Z", "mentee"),
        ("feedback_requested", "2027-01-12T13:40:00Z", "mentor"),
    ]


async def test_cancel_decline_and_no_show_remove_the_rows(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    base = await bookable(tenant.client)
    cancelled = await book_session(tenant.client, base, MONDAY_9)
    no_show = await book_session(tenant.client, base, "2027-01-11T10:00:00Z")
    await _post(tenant, f"/v1/sessions/{cancelled['id']}/cancel", {"by": "mentor", "reason": "ill"})
    assert await plan(db, tenant.id, cancelled["id"]) == []
    assert len(await plan(db, tenant.id, no_show["id"])) == 6
    clock.set("2027-01-11T10:10:00Z")
    await _post(tenant, f"/v1/sessions/{no_show['id']}/no-show")
    assert await plan(db, tenant.id) == []


async def test_a_series_queues_every_occurrence_and_its_cancel_removes_those_to_come(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    base = await bookable(tenant.client)
    series = await _post(
        tenant, "/v1/series", {**base, "starts_at": MONDAY_9, "count": 4, "interval_weeks": 1}
    )
    ids = [s["id"] for s in series["sessions"]]
    for session_id in ids:
        assert len(await plan(db, tenant.id, session_id)) == 6
    # After the first occurrence started, cancelling the series leaves it as it was.
    clock.set("2027-01-11T08:05:00Z")
    await _post(tenant, f"/v1/series/{series['id']}/cancel", {"by": "mentee"})
    assert await plan(db, tenant.id, ids[0]) == BOOKED_MONDAY_9
    for session_id in ids[1:]:
        assert await plan(db, tenant.id, session_id) == []


async def test_completion_keeps_the_times_and_asks_for_feedback_at_once_when_late(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    base = await bookable(tenant.client)
    early = await book_session(tenant.client, base, MONDAY_9)
    late = await book_session(tenant.client, base, "2027-01-11T10:00:00Z")
    clock.set("2027-01-11T08:20:00Z")  # completed before its end: no more reminders
    await _post(tenant, f"/v1/sessions/{early['id']}/complete", {})
    assert await plan(db, tenant.id, early["id"]) == BOOKED_MONDAY_9[2:]
    # Not completed by the time of its feedback requests: they are dropped unsent...
    clock.set("2027-01-11T10:41:00Z")
    await scheduler.run_due()
    assert await plan(db, tenant.id, late["id"]) == []
    # ...and asked at once when the mentor completes it later.
    clock.set("2027-01-11T15:00:00Z")
    await _post(tenant, f"/v1/sessions/{late['id']}/complete", {})
    assert await plan(db, tenant.id, late["id"]) == [
        ("feedback_requested", "2027-01-11T15:00:00Z", "mentee"),
        ("feedback_requested", "2027-01-11T15:00:00Z", "mentor"),
    ]


async def test_feedback_given_removes_that_partys_request(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    clock.set("2027-01-11T08:35:00Z")
    await _post(tenant, f"/v1/sessions/{session['id']}/complete", {})
    await _post(tenant, f"/v1/sessions/{session['id']}/feedback", {"author": "mentee", "rating": 5})
    assert await plan(db, tenant.id, session["id"]) == [
        ("started", "2027-01-11T08:00:00Z", None),
        ("ended", "2027-01-11T08:30:00Z", None),
        ("feedback_requested", "2027-01-11T08:40:00Z", "mentor"),
    ]


async def test_an_async_session_is_asked_for_feedback_after_its_completion(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    base = await bookable(tenant.client)
    mentor = base["mentor_id"]
    await tenant.client.patch(f"/v1/mentors/{mentor}", json={"formats": ["video", "async"]})
    session = await _post(tenant, "/v1/sessions", {**base, "format": "async"})
    assert await plan(db, tenant.id, session["id"]) == []  # no times, no reminders
    await _post(tenant, f"/v1/sessions/{session['id']}/complete", {})
    rows = await plan(db, tenant.id, session["id"])
    assert [(kind, party) for kind, _due, party in rows] == [
        ("feedback_requested", "mentee"),
        ("feedback_requested", "mentor"),
    ]


async def test_action_items_fall_due_at_nine_in_the_mentees_zone(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    base = await bookable(tenant.client)  # the mentee lives in America/New_York
    session = await book_session(tenant.client, base, MONDAY_9)
    path = f"/v1/sessions/{session['id']}/action-items"
    item = await _post(tenant, path, {"text": "Add a growth column", "due_on": "2027-03-15"})
    await _post(tenant, path, {"text": "No date"})

    def items(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [r for r in rows if r[0] == "action_item_due"]

    # New York changed to summer time the day before: 09:00 EDT is 13:00 UTC.
    assert items(await plan(db, tenant.id)) == [("action_item_due", "2027-03-15T13:00:00Z", None)]
    changed = await tenant.client.patch(f"{path}/{item['id']}", json={"due_on": "2027-03-10"})
    assert changed.status_code == 200, changed.text
    assert items(await plan(db, tenant.id)) == [
        ("action_item_due", "2027-03-10T14:00:00Z", None)  # still EST: UTC-5
    ]
    moved = await tenant.client.patch(
        f"/v1/mentees/{base['mentee_id']}", json={"timezone": "Asia/Tokyo"}
    )
    assert moved.status_code == 200, moved.text
    assert items(await plan(db, tenant.id)) == [
        ("action_item_due", "2027-03-10T00:00:00Z", None)  # 09:00 in Tokyo
    ]
    done = await tenant.client.patch(f"{path}/{item['id']}", json={"done": True})
    assert done.status_code == 200, done.text
    assert items(await plan(db, tenant.id)) == []


async def test_another_mentees_booking_does_not_touch_these_rows(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    base = await bookable(tenant.client)
    first = await book_session(tenant.client, base, MONDAY_9)
    other = await create_mentee(tenant.client)
    second = await book_session(
        tenant.client, {**base, "mentee_id": other["id"]}, "2027-01-11T09:00:00Z"
    )
    await _post(tenant, f"/v1/sessions/{second['id']}/cancel", {"by": "mentee"})
    assert await plan(db, tenant.id, first["id"]) == BOOKED_MONDAY_9
