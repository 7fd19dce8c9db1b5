"""A group session's reminders (the mentor's and each seated mentee's), start and end: planned
with every change of it or its seats, in its transaction, and sent once each by the worker,
only while they still hold (REST and GraphQL alike)."""

from datetime import timedelta
from typing import Any

from mentorapi.db.engine import Database
from mentorapi.feedback.models import Feedback
from mentorapi.reminders import keys
from mentorapi.reminders.models import ScheduledNotification
from mentorapi.reminders.worker import Scheduler
from tests.conftest import Tenant
from tests.gql.helpers import gql_data
from tests.group_sessions.conftest import group_world, mentees, take_seat
from tests.reminders.conftest import Clock, at, queued, sent

MONDAY_9 = "2027-01-11T08:00:00Z"  # 09:00 in Berlin; 30 minutes
GROUP_TYPES = (
    "group_session.reminder",
    "seat.reminder",
    "group_session.started",
    "group_session.ended",
    "feedback.requested",
    "session.reminder",
)


async def _post(tenant: Tenant, path: str, body: Any = None) -> Any:
    response = await tenant.client.post(path, json=body or {})
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _group(tenant: Tenant, starts_at: str = MONDAY_9) -> tuple[dict[str, Any], list[str]]:
    base = await group_world(tenant.client)
    group = await _post(tenant, "/v1/group-sessions", {**base, "starts_at": starts_at})
    return group, await mentees(tenant.client, 3)


async def _plan(db: Database, tenant: Tenant) -> list[tuple[Any, ...]]:
    """(kind, due_at, minutes_before, whose: the group session's id or a seat's) per row."""
    return sorted(
        (r.kind, r.due_at.isoformat(), r.minutes_before, r.seat_id or r.group_session_id)
        for r in await queued(db, tenant.id)
    )


def _rows(group_id: str, seat_ids: list[str], starts: str, ends: str, *offsets: int) -> list[Any]:
    rows: list[tuple[Any, ...]] = [
        ("started", at(starts).isoformat(), None, group_id),
        ("ended", at(ends).isoformat(), None, group_id),
    ]
    for minutes in offsets:
        due = (at(starts) - timedelta(minutes=minutes)).isoformat()
        rows += [("reminder", due, minutes, whose) for whose in (group_id, *seat_ids)]
    return sorted(rows)


async def test_the_queue_follows_every_change_of_the_group_session_and_its_seats(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    group, (ana, ben, cleo) = await _group(tenant)
    gid, ends = group["id"], group["ends_at"]
    assert await _plan(db, tenant) == _rows(gid, [], MONDAY_9, ends, 1440, 60)

    seat_a = await take_seat(tenant.client, gid, ana)
    seat_b = await take_seat(tenant.client, gid, ben)
    assert await _plan(db, tenant) == _rows(
        gid, [seat_a["id"], seat_b["id"]], MONDAY_9, ends, 1440, 60
    )

    await _post(tenant, f"/v1/group-sessions/{gid}/seats/{seat_b['id']}/cancel", {"by": "mentee"})
    assert await _plan(db, tenant) == _rows(gid, [seat_a["id"]], MONDAY_9, ends, 1440, 60)

    # A seat taken after the 24-hour reminder's time gets only the reminders still to come.
    clock.set("2027-01-10T12:00:00Z")
    seat_c = await take_seat(tenant.client, gid, cleo)
    plan = await _plan(db, tenant)
    assert ("reminder", at("2027-01-11T07:00:00Z").isoformat(), 60, seat_c["id"]) in plan
    assert ("reminder", at("2027-01-10T08:00:00Z").isoformat(), 1440, seat_c["id"]) not in plan

    moved = await _post(
        tenant, f"/v1/group-sessions/{gid}/reschedule", {"starts_at": "2027-01-13T13:00:00Z"}
    )
    assert await _plan(db, tenant) == _rows(
        gid,
        [seat_a["id"], seat_c["id"]],
        "2027-01-13T13:00:00Z",
        moved["ends_at"],
        1440,
        60,
    )

    await _post(tenant, f"/v1/group-sessions/{gid}/cancel", {"reason": "Quarter close"})
    assert await _plan(db, tenant) == []


async def test_a_new_policy_applies_to_group_sessions_to_come(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    group, (ana, _, _) = await _group(tenant)
    seat = await take_seat(tenant.client, group["id"], ana)
    ends = group["ends_at"]
    response = await tenant.client.put(
        f"/v1/app/reminders/mentors/{group['mentor_id']}", json={"offsets_minutes": [30]}
    )
    assert response.status_code == 200, response.text
    assert await _plan(db, tenant) == _rows(group["id"], [seat["id"]], MONDAY_9, ends, 30)
    response = await tenant.client.put(
        "/v1/app/reminders", json={"offsets_minutes": [120], "feedback_request_delay_minutes": 5}
    )
    assert response.status_code == 200, response.text  # the mentor's own still win
    assert await _plan(db, tenant) == _rows(group["id"], [seat["id"]], MONDAY_9, ends, 30)
    response = await tenant.client.delete(f"/v1/app/reminders/mentors/{group['mentor_id']}")
    assert response.status_code in (200, 204), response.text
    assert await _plan(db, tenant) == _rows(group["id"], [seat["id"]], MONDAY_9, ends, 120)


async def test_the_worker_sends_each_at_its_time_once(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    group, (ana, ben, _) = await _group(tenant)
    gid = group["id"]
    seat_a = await take_seat(tenant.client, gid, ana)
    seat_b = await take_seat(tenant.client, gid, ben)
    await _post(tenant, f"/v1/group-sessions/{gid}/seats/{seat_b['id']}/cancel", {"by": "mentee"})
    current = (await tenant.client.get(f"/v1/group-sessions/{gid}")).json()

    clock.set("2027-01-10T07:59:59Z")
    await scheduler.run_due()
    assert await sent(db, tenant.id, *GROUP_TYPES) == []

    clock.set("2027-01-10T08:00:00Z")
    await scheduler.run_due()
    mentor, mentee = await sent(db, tenant.id, *GROUP_TYPES)
    if mentor.type != "group_session.reminder":
        mentor, mentee = mentee, mentor
    due = at("2027-01-10T08:00:00Z")
    timing = {"minutes_before": 1440, "due_at": "2027-01-10T08:00:00Z", "lateness_seconds": 0.0}
    assert (mentor.type, mentor.object_id) == ("group_session.reminder", gid)
    assert mentor.id == keys.event_id(tenant.id, keys.reminder(gid, at(MONDAY_9), 1440), due)
    assert mentor.data == {**current, **timing}
    assert (mentee.type, mentee.object_id) == ("seat.reminder", seat_a["id"])
    assert mentee.id == keys.event_id(
        tenant.id, keys.reminder(seat_a["id"], at(MONDAY_9), 1440), due
    )
    assert mentee.data == {**seat_a, "group_session": current, **timing}
    assert mentee.created_at == due

    # Planning again (a new policy with the same offsets) sends nothing twice.
    response = await tenant.client.put("/v1/app/reminders", json={"offsets_minutes": [1440, 60]})
    assert response.status_code == 200, response.text
    await scheduler.run_due()
    assert len(await sent(db, tenant.id, *GROUP_TYPES)) == 2

    for moment in ("2027-01-11T07:00:00Z", MONDAY_9, "2027-01-11T08:30:00Z"):
        clock.set(moment)
        await scheduler.run_due()
    types = [(e.type, e.object_id) for e in await sent(db, tenant.id, *GROUP_TYPES)]
    assert sorted(types[2:4]) == [("group_session.reminder", gid), ("seat.reminder", seat_a["id"])]
    assert types[4:] == [("group_session.started", gid), ("group_session.ended", gid)]
    ended = (await sent(db, tenant.id, "group_session.ended"))[0]
    assert (ended.data["id"], ended.data["due_at"]) == (gid, group["ends_at"])
    assert await queued(db, tenant.id) == []

    # Completing asks both sides of each taken seat for feedback, the app's delay (10 minutes)
    # after the end; the seat given back is asked nothing.
    completed = await _post(tenant, f"/v1/group-sessions/{gid}/complete")
    clock.set("2027-01-11T10:00:00Z")
    await scheduler.run_due()
    asked = (await sent(db, tenant.id, *GROUP_TYPES))[6:]
    assert sorted((e.type, e.object_id, e.data["party"]) for e in asked) == [
        ("feedback.requested", seat_a["id"], "mentee"),
        ("feedback.requested", seat_a["id"], "mentor"),
    ]
    due = "2027-01-11T08:40:00Z"
    for event in asked:
        party = event.data["party"]
        assert event.id == keys.event_id(
            tenant.id, keys.feedback_requested(seat_a["id"], party), at(due)
        )
        assert event.data == {
            **seat_a,
            "group_session": completed,
            "party": party,
            "due_at": due,
            "lateness_seconds": 4800.0,
        }
    assert await queued(db, tenant.id) == []


async def test_a_row_that_no_longer_holds_is_dropped(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    """The worker checks under the group session's lock: a row claimed after its seat was
    given back, or its group session cancelled, sends nothing."""
    group, (ana, _, _) = await _group(tenant)
    gid = group["id"]
    seat = await take_seat(tenant.client, gid, ana)
    await _post(tenant, f"/v1/group-sessions/{gid}/seats/{seat['id']}/cancel", {"by": "mentee"})
    again = await take_seat(tenant.client, gid, ana)  # a new seat: reminders of its own
    # The reminders of the seat given back, put back (as if a worker had claimed them before).
    async with db.sessionmaker() as s, s.begin():
        for row in await queued(db, tenant.id):
            if row.seat_id is not None:
                gone = {**row.model_dump(), "seat_id": seat["id"]}
                gone["key"] = keys.reminder(seat["id"], at(MONDAY_9), row.minutes_before or 0)
                s.add(ScheduledNotification(**gone))
    clock.set("2027-01-11T07:00:00Z")  # the 60-minute reminders' time; the 24-hour ones: late
    done = await scheduler.run_due()
    assert (done.claimed, done.sent) == (6, 2)
    assert sorted((e.type, e.object_id) for e in await sent(db, tenant.id, *GROUP_TYPES)) == [
        ("group_session.reminder", gid),
        ("seat.reminder", again["id"]),
    ]

    stale = [r.model_dump() for r in await queued(db, tenant.id)]  # the start and the end
    await _post(tenant, f"/v1/group-sessions/{gid}/cancel", {})
    assert await queued(db, tenant.id) == []
    async with db.sessionmaker() as s, s.begin():
        s.add_all(ScheduledNotification(**row) for row in stale)
    clock.set("2027-01-11T08:30:00Z")
    done = await scheduler.run_due()
    assert (done.claimed, done.sent) == (2, 0)
    assert len(await sent(db, tenant.id, *GROUP_TYPES)) == 2


async def test_graphql_changes_plan_the_same_rows(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    c = tenant.client
    base = await group_world(c)
    created = await gql_data(
        c,
        """mutation($input: CreateGroupSessionInput!) {
          createGroupSession(input: $input) { id endsAt } }""",
        {
            "input": {
                "mentorId": base["mentor_id"],
                "topic": base["topic"],
                "skillId": base["skill_id"],
                "format": "VIDEO",
                "durationMinutes": base["duration_minutes"],
                "seats": base["seats"],
                "startsAt": MONDAY_9,
            }
        },
    )
    gid = created["createGroupSession"]["id"]
    (ana,) = await mentees(c, 1)
    taken = await gql_data(
        c,
        """mutation($g: ID!, $m: ID!) {
          takeSeat(groupSessionId: $g, input: {menteeId: $m, ask: "Rank rows per region?"}) {
            id } }""",
        {"g": gid, "m": ana},
    )
    seat_id = taken["takeSeat"]["id"]
    ends = created["createGroupSession"]["endsAt"]
    assert await _plan(db, tenant) == _rows(gid, [seat_id], MONDAY_9, ends, 1440, 60)
    await gql_data(
        c,
        """mutation($g: ID!, $s: ID!) { cancelSeat(groupSessionId: $g, id: $s, by: MENTEE) {
          status } }""",
        {"g": gid, "s": seat_id},
    )
    assert await _plan(db, tenant) == _rows(gid, [], MONDAY_9, ends, 1440, 60)
    await gql_data(c, "mutation($g: ID!) { cancelGroupSession(id: $g) { status } }", {"g": gid})
    assert await _plan(db, tenant) == []


async def test_feedback_requests_follow_the_seats_and_the_feedback(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    """Completing plans a request per taken seat and party, the app's delay after the end (at
    completion, if that is later); feedback given takes that party's away; a new delay moves
    the rest; the worker drops one whose feedback arrived after it was claimed."""
    group, (ana, ben, cleo) = await _group(tenant)
    gid = group["id"]
    seat_a = await take_seat(tenant.client, gid, ana)
    seat_b = await take_seat(tenant.client, gid, ben)
    seat_c = await take_seat(tenant.client, gid, cleo)
    await _post(tenant, f"/v1/group-sessions/{gid}/seats/{seat_c['id']}/cancel", {"by": "mentee"})

    def requests(rows: list[ScheduledNotification]) -> list[tuple[str | None, str | None, str]]:
        return sorted(
            (r.seat_id, r.party, r.due_at.isoformat())
            for r in rows
            if r.kind == "feedback_requested"
        )

    clock.set("2027-01-11T08:35:00Z")  # 5 minutes after the end: before the delay is over
    await _post(tenant, f"/v1/group-sessions/{gid}/complete")
    due = at("2027-01-11T08:40:00Z").isoformat()
    assert requests(await queued(db, tenant.id)) == sorted(
        (s["id"], party, due) for s in (seat_a, seat_b) for party in ("mentee", "mentor")
    )
    for row in await queued(db, tenant.id):
        if row.kind == "feedback_requested":
            assert (row.group_session_id, row.session_id) == (gid, None)
            assert row.key == keys.feedback_requested(row.seat_id or "", row.party or "")

    # Ana's feedback: her request goes; the mentor's on her seat stays.
    given = await tenant.client.post(
        f"/v1/group-sessions/{gid}/feedback",
        json={"author": "mentee", "rating": 4, "mentee_id": ana},
    )
    assert given.status_code == 201, given.text
    left = requests(await queued(db, tenant.id))
    assert (seat_a["id"], "mentee", due) not in left
    assert len(left) == 3

    # A new delay moves the requests still queued (the group session has rows to send).
    response = await tenant.client.put(
        "/v1/app/reminders",
        json={"offsets_minutes": [1440, 60], "feedback_request_delay_minutes": 30},
    )
    assert response.status_code == 200, response.text
    later = at("2027-01-11T09:00:00Z").isoformat()
    assert {d for _, _, d in requests(await queued(db, tenant.id))} == {later}

    # Ben's feedback arrives after a worker would have claimed his request: dropped anyway.
    async with db.sessionmaker() as s, s.begin():
        s.add(
            Feedback(
                app_id=tenant.id,
                group_session_id=gid,
                seat_id=seat_b["id"],
                mentor_id=group["mentor_id"],
                mentee_id=ben,
                author="mentee",
                rating=5,
            )
        )
    clock.set("2027-01-11T09:00:00Z")
    await scheduler.run_due()
    asked = await sent(db, tenant.id, "feedback.requested")
    assert sorted((e.object_id, e.data["party"]) for e in asked) == [
        (seat_a["id"], "mentor"),
        (seat_b["id"], "mentor"),
    ]
    assert requests(await queued(db, tenant.id)) == []
    # Planning again (another policy) sends nothing twice.
    response = await tenant.client.put("/v1/app/reminders", json={"offsets_minutes": [60]})
    assert response.status_code == 200, response.text
    await scheduler.run_due()
    assert len(await sent(db, tenant.id, "feedback.requested")) == 2


async def test_a_group_session_completed_late_asks_at_completion(
    tenant: Tenant, db: Database, clock: Clock, scheduler: Scheduler
) -> None:
    group, (ana, _, _) = await _group(tenant)
    seat = await take_seat(tenant.client, group["id"], ana)
    clock.set("2027-01-12T10:00:00Z")  # a day after the end
    await _post(tenant, f"/v1/group-sessions/{group['id']}/complete")
    rows = [r for r in await queued(db, tenant.id) if r.kind == "feedback_requested"]
    assert sorted((r.seat_id, r.party, r.due_at) for r in rows) == [
        (seat["id"], "mentee", at("2027-01-12T10:00:00Z")),
        (seat["id"], "mentor", at("2027-01-12T10:00:00Z")),
    ]
    await scheduler.run_due()
    asked = await sent(db, tenant.id, "feedback.requested")
    assert {(e.object_id, e.data["lateness_seconds"]) for e in asked} == {(seat["id"], 0.0)}
    assert len(asked) == 2


async def test_a_cancelled_group_session_asks_no_feedback(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    group, (ana, _, _) = await _group(tenant)
    await take_seat(tenant.client, group["id"], ana)
    await _post(tenant, f"/v1/group-sessions/{group['id']}/cancel", {})
    assert await queued(db, tenant.id) == []
    refused = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/feedback",
        json={"author": "mentee", "rating": 4, "mentee_id": ana},
    )
    # Cancelled: no feedback, whoever asks (the state is checked before the seat).
    assert refused.status_code == 409, refused.text
    assert refused.json()["group_session_status"] == "cancelled"
