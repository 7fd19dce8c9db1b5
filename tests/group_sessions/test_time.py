"""A group session takes the mentor's time as a one-to-one session does (slots, overlaps,
buffers, capacity and daily limits), and a mentee is never in two places at once: a seat
against another seat, a seat against a one-to-one session, either way round."""

from typing import Any

from mentorapi.availability import slots
from mentorapi.group_sessions import places
from tests.conftest import Tenant
from tests.factories import create_mentee
from tests.group_sessions.conftest import (
    ASK,
    MONDAY_9,
    MONDAY_10,
    create_group,
    group_world,
    mentees,
    take_seat,
)
from tests.test_directory import assert_problem

MONDAY = {"start": "2027-01-11T00:00:00Z", "end": "2027-01-12T00:00:00Z", "duration": 30}


async def _local_starts(tenant: Tenant, mentor_id: str) -> list[str]:
    response = await tenant.client.get(f"/v1/mentors/{mentor_id}/slots", params=MONDAY)
    assert response.status_code == 200, response.text
    return [s["local_start"][11:16] for s in response.json()["data"]]


def _booking(base: dict[str, Any], mentee_id: str, starts_at: str) -> dict[str, Any]:
    return {
        "mentor_id": base["mentor_id"],
        "mentee_id": mentee_id,
        "skill_id": base["skill_id"],
        "topic": "Review my window functions for the sales report",
        "format": "video",
        "duration_minutes": 30,
        "starts_at": starts_at,
    }


async def test_slots_leave_out_a_group_session_and_come_back_when_it_is_cancelled(
    tenant: Tenant,
) -> None:
    base = await group_world(tenant.client, buffer_after_minutes=15)
    before = await _local_starts(tenant, base["mentor_id"])
    assert {"09:00", "09:30"} <= set(before)
    group = await create_group(tenant.client, base)  # 09:00-09:30 Berlin
    during = await _local_starts(tenant, base["mentor_id"])
    # 08:30 would end at 09:00 (fine); 09:00-09:30 is taken, and its 15-minute after-buffer
    # keeps 09:30 free of a start.
    assert "08:30" not in during  # outside the 09:00 window anyway
    assert not {"09:00", "09:15", "09:30"} & set(during)
    assert "09:45" in during
    await tenant.client.post(f"/v1/group-sessions/{group['id']}/cancel")
    assert await _local_starts(tenant, base["mentor_id"]) == before


async def test_one_to_one_and_group_sessions_never_overlap_either_way(tenant: Tenant) -> None:
    c = tenant.client
    base = await group_world(c)
    await create_group(c, base)
    (ana,) = await mentees(c, 1)
    booking = await c.post("/v1/sessions", json=_booking(base, ana, "2027-01-11T08:15:00Z"))
    assert assert_problem(booking, 409)["reason"] == slots.OVERLAP
    booked = await c.post("/v1/sessions", json=_booking(base, ana, MONDAY_10))
    assert booked.status_code == 201, booked.text
    over = await c.post("/v1/group-sessions", json={**base, "starts_at": "2027-01-11T09:15:00Z"})
    assert assert_problem(over, 409)["reason"] == slots.OVERLAP
    also = await c.post("/v1/group-sessions", json={**base, "starts_at": MONDAY_9})
    assert assert_problem(also, 409)["reason"] == slots.OVERLAP
    # A one-to-one session moved onto the group session is refused too.
    moved = await c.post(
        f"/v1/sessions/{booked.json()['id']}/reschedule", json={"starts_at": MONDAY_9}
    )
    assert assert_problem(moved, 409)["reason"] == slots.OVERLAP


async def test_a_group_session_counts_as_one_session_for_the_limits(tenant: Tenant) -> None:
    c = tenant.client
    base = await group_world(c, daily_limit_sessions=2, daily_limit_minutes=60, weekly_capacity=3)
    await create_group(c, base, duration_minutes=30, seats=12)  # one session, 30 minutes
    await create_group(c, base, MONDAY_10, duration_minutes=15)  # two sessions, 45 minutes
    (ana,) = await mentees(c, 1)
    third = await c.post("/v1/sessions", json=_booking(base, ana, "2027-01-11T11:00:00Z"))
    assert assert_problem(third, 409)["reason"] == slots.DAILY_SESSIONS
    # Tuesday: 60 minutes of a group session would fit; the week holds one more session only.
    await create_group(c, base, "2027-01-12T08:00:00Z", duration_minutes=60)
    week = await c.post("/v1/group-sessions", json={**base, "starts_at": "2027-01-13T08:00:00Z"})
    assert assert_problem(week, 409)["reason"] == slots.CAPACITY
    minutes = await c.post(
        "/v1/group-sessions",
        json={**base, "starts_at": "2027-01-12T10:00:00Z", "duration_minutes": 15},
    )
    assert assert_problem(minutes, 409)["reason"] in {slots.DAILY_MINUTES, slots.CAPACITY}


async def test_a_group_session_fits_the_availability_like_a_booking(tenant: Tenant) -> None:
    c = tenant.client
    base = await group_world(c, min_notice_minutes=60)
    night = await c.post("/v1/group-sessions", json={**base, "starts_at": "2027-01-11T20:00:00Z"})
    assert assert_problem(night, 409)["reason"] == slots.OUTSIDE
    past = await c.post("/v1/group-sessions", json={**base, "starts_at": "2020-01-06T08:00:00Z"})
    assert assert_problem(past, 409)["reason"] == slots.NOTICE


async def test_a_seat_and_a_one_to_one_session_of_one_mentee_never_overlap(
    tenant: Tenant,
) -> None:
    c = tenant.client
    base = await group_world(c)
    other = await group_world(c)
    group = await create_group(c, base)  # Monday 08:00-08:30 UTC
    ana = (await create_mentee(c))["id"]
    # Ana books a one-to-one with another mentor at 08:15: the seat is then refused...
    booked = await c.post("/v1/sessions", json=_booking(other, ana, "2027-01-11T08:15:00Z"))
    assert booked.status_code == 201, booked.text
    seat = await c.post(
        f"/v1/group-sessions/{group['id']}/seats", json={"mentee_id": ana, "ask": ASK}
    )
    assert assert_problem(seat, 409)["reason"] == places.ELSEWHERE
    # ... until that session is cancelled.
    await c.post(f"/v1/sessions/{booked.json()['id']}/cancel", json={"by": "mentee"})
    await take_seat(c, group["id"], ana)
    # With the seat, a one-to-one at that time is refused, booked, moved or in a series.
    again = await c.post("/v1/sessions", json=_booking(other, ana, "2027-01-11T08:15:00Z"))
    assert assert_problem(again, 409)["reason"] == places.ELSEWHERE
    later = await c.post("/v1/sessions", json=_booking(other, ana, "2027-01-11T08:30:00Z"))
    assert later.status_code == 201, later.text  # ends where it starts: no overlap
    moved = await c.post(
        f"/v1/sessions/{later.json()['id']}/reschedule", json={"starts_at": "2027-01-11T08:00:00Z"}
    )
    assert assert_problem(moved, 409)["reason"] == places.ELSEWHERE
    series = await c.post(
        "/v1/series",
        json={**_booking(other, ana, "2027-01-04T08:00:00Z"), "count": 3},
    )
    conflicts = assert_problem(series, 409)["conflicts"]
    assert [(x["index"], x["reason"]) for x in conflicts] == [(1, places.ELSEWHERE)]


async def test_two_seats_of_one_mentee_never_overlap(tenant: Tenant) -> None:
    c = tenant.client
    first = await create_group(c, await group_world(c))  # 08:00-08:30
    second = await create_group(c, await group_world(c), "2027-01-11T08:15:00Z")
    third = await create_group(c, await group_world(c), "2027-01-11T08:30:00Z")
    (ana,) = await mentees(c, 1)
    await take_seat(c, first["id"], ana)
    refused = await c.post(
        f"/v1/group-sessions/{second['id']}/seats", json={"mentee_id": ana, "ask": ASK}
    )
    assert assert_problem(refused, 409)["reason"] == places.ELSEWHERE
    await take_seat(c, third["id"], ana)  # back to back is fine


async def test_a_group_session_moves_only_where_every_attendee_is_free(tenant: Tenant) -> None:
    c = tenant.client
    base = await group_world(c)
    group = await create_group(c, base)
    ana, ben = await mentees(c, 2)
    for m in (ana, ben):
        await take_seat(c, group["id"], m)
    elsewhere = await create_group(c, await group_world(c), "2027-01-12T08:00:00Z")
    await take_seat(c, elsewhere["id"], ana)
    moved = await c.post(
        f"/v1/group-sessions/{group['id']}/reschedule",
        json={"starts_at": "2027-01-12T08:00:00Z"},
    )
    problem = assert_problem(moved, 409)
    assert (problem["reason"], problem["attendees_elsewhere"]) == (places.ELSEWHERE, 1)
    ok = await c.post(
        f"/v1/group-sessions/{group['id']}/reschedule", json={"starts_at": "2027-01-12T09:00:00Z"}
    )
    assert ok.status_code == 200, ok.text
    # The seats moved with it: Ana is now busy at the new time and free at the old one.
    other = await group_world(c)
    clash = await c.post("/v1/sessions", json=_booking(other, ana, "2027-01-12T09:00:00Z"))
    assert assert_problem(clash, 409)["reason"] == places.ELSEWHERE
    free = await c.post("/v1/sessions", json=_booking(other, ana, MONDAY_9))
    assert free.status_code == 201, free.text
