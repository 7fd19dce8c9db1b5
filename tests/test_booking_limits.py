"""Booking limits: buffers before and after each session, daily limits of sessions and minutes
(a day in the mentor's zone), a booking horizon. Set on both faces, validated on both, and
honoured alike by slots, booking, reschedule and series, on both databases: slots never offer
what a booking would refuse, and a booking refuses what the limits forbid, also under
concurrent requests."""

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from mentorapi.availability import service as availability_service
from mentorapi.availability import slots
from mentorapi.db.engine import Database
from mentorapi.sessions import service as sessions_service
from mentorapi.sessions.models import Session
from tests.conftest import Tenant, count_statements, own
from tests.factories import (
    EVERY_DAY,
    as_member,
    book_session,
    bookable,
    create_mentee,
    mint_token,
    set_availability,
)
from tests.gql.helpers import error_codes, gql, gql_data
from tests.test_directory import assert_problem

MONDAY = {"start": "2027-01-11T00:00:00Z", "end": "2027-01-12T00:00:00Z", "duration": 30}
ROUND_THE_CLOCK = [
    {"day": d, "start": "00:00", "end": "24:00"}
    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
]
OPENAPI = Path(__file__).resolve().parents[1] / "openapi"


async def _slots(tenant: Tenant, mentor_id: str, **params: Any) -> list[str]:
    """The local start times (HH:MM, the mentor's zone) of the free slots."""
    response = await tenant.client.get(f"/v1/mentors/{mentor_id}/slots", params=params)
    assert response.status_code == 200, response.text
    return [s["local_start"][11:16] for s in response.json()["data"]]


async def _starts(tenant: Tenant, mentor_id: str, **params: Any) -> list[str]:
    response = await tenant.client.get(f"/v1/mentors/{mentor_id}/slots", params=params)
    assert response.status_code == 200, response.text
    return [s["starts_at"] for s in response.json()["data"]]


async def _refused(tenant: Tenant, base: dict[str, Any], starts_at: str, reason: str) -> None:
    response = await tenant.client.post("/v1/sessions", json={**base, "starts_at": starts_at})
    problem = assert_problem(response, 409)
    assert problem["reason"] == reason, problem
    assert reason in problem["detail"]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _clock(monkeypatch: pytest.MonkeyPatch, moment: str) -> None:
    """Move the clocks of booking and of slots (and of expiry) to `moment`."""
    at = _at(moment)
    monkeypatch.setattr(sessions_service, "now", lambda: at)
    monkeypatch.setattr(availability_service, "utcnow", lambda: at)


# --- setting them -------------------------------------------------------------------------------

LIMITS = {
    "buffer_before_minutes": 10,
    "buffer_after_minutes": 25,
    "booking_horizon_days": 120,
    "daily_limit_sessions": 3,
    "daily_limit_minutes": 75,
}

AVAILABILITY_FIELDS = """mentorId bufferBeforeMinutes bufferAfterMinutes bufferMinutes
  minNoticeMinutes bookingHorizonDays weeklyCapacity dailyLimitSessions dailyLimitMinutes
  version"""


async def test_put_and_read_on_both_faces(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    mentor = base["mentor_id"]
    path = f"/v1/mentors/{mentor}/availability"
    put = await tenant.client.put(path, json={"weekly": EVERY_DAY, **LIMITS})
    assert put.status_code == 200, put.text
    read = (await tenant.client.get(path)).json()
    for got in (put.json(), read):
        assert {k: got[k] for k in LIMITS} == LIMITS
        assert got["buffer_minutes"] == 25  # deprecated: the larger buffer
    query = f"query($m: ID!) {{ mentorAvailability(mentorId: $m) {{ {AVAILABILITY_FIELDS} }} }}"
    shown = (await gql_data(tenant.client, query, {"m": mentor}))["mentorAvailability"]
    assert shown["bufferBeforeMinutes"] == 10
    assert shown["bufferAfterMinutes"] == 25
    assert shown["bufferMinutes"] == 25
    assert shown["bookingHorizonDays"] == 120
    assert shown["dailyLimitSessions"] == 3
    assert shown["dailyLimitMinutes"] == 75

    mutation = f"""mutation($m: ID!, $input: AvailabilityInput!) {{
      setAvailability(mentorId: $m, input: $input) {{ {AVAILABILITY_FIELDS} }} }}"""
    changed = await gql_data(
        tenant.client,
        mutation,
        {
            "m": mentor,
            "input": {
                "bufferBeforeMinutes": 5,
                "dailyLimitSessions": 48,
                "dailyLimitMinutes": 1440,
                "bookingHorizonDays": 730,
            },
        },
    )
    got = changed["setAvailability"]
    # The whole availability is replaced, as PUT does: what is left out is the default.
    assert (got["bufferBeforeMinutes"], got["bufferAfterMinutes"], got["bufferMinutes"]) == (
        5,
        0,
        5,
    )
    assert (got["dailyLimitSessions"], got["dailyLimitMinutes"]) == (48, 1440)
    assert got["bookingHorizonDays"] == 730
    again = (await tenant.client.get(path)).json()
    assert again["daily_limit_sessions"] == 48
    assert again["booking_horizon_days"] == 730
    # null is "no limit".
    cleared = await tenant.client.put(path, json={"weekly": EVERY_DAY})
    assert {k: cleared.json()[k] for k in LIMITS} == {
        "buffer_before_minutes": 0,
        "buffer_after_minutes": 0,
        "booking_horizon_days": None,
        "daily_limit_sessions": None,
        "daily_limit_minutes": None,
    }


async def test_buffer_minutes_still_works_and_sets_both(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    path = f"/v1/mentors/{base['mentor_id']}/availability"
    old_client = await tenant.client.put(path, json={"weekly": EVERY_DAY, "buffer_minutes": 15})
    assert old_client.status_code == 200, old_client.text
    got = old_client.json()
    assert (got["buffer_before_minutes"], got["buffer_after_minutes"]) == (15, 15)
    assert got["buffer_minutes"] == 15

    # A client that sends back what it read (all three, consistent) is fine...
    echoed = {k: v for k, v in got.items() if k not in ("mentor_id", "timezone", "version")}
    echoed.pop("updated_at")
    split = {**echoed, "buffer_before_minutes": 5, "buffer_after_minutes": 20, "buffer_minutes": 20}
    answer = await tenant.client.put(path, json=split)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["buffer_before_minutes"], answer.json()["buffer_after_minutes"]) == (
        5,
        20,
    )
    # ...one that contradicts itself is told so, and nothing changes.
    for contradiction in (
        {"buffer_minutes": 10, "buffer_before_minutes": 5, "buffer_after_minutes": 20},
        {"buffer_minutes": 10, "buffer_before_minutes": 5},
    ):
        problem = assert_problem(await tenant.client.put(path, json=contradiction), 422)
        assert "buffer_minutes" in problem["detail"] or "buffer_minutes" in json.dumps(problem)
    assert_problem(await tenant.client.put(path, json={"buffer_minutes": None}), 422)
    assert (await tenant.client.get(path)).json()["version"] == answer.json()["version"]

    # GraphQL's deprecated input field, the same.
    mutation = """mutation($m: ID!, $input: AvailabilityInput!) {
      setAvailability(mentorId: $m, input: $input) {
        bufferBeforeMinutes bufferAfterMinutes bufferMinutes } }"""
    data = await gql_data(
        tenant.client, mutation, {"m": base["mentor_id"], "input": {"bufferMinutes": 30}}
    )
    assert data["setAvailability"] == {
        "bufferBeforeMinutes": 30,
        "bufferAfterMinutes": 30,
        "bufferMinutes": 30,
    }
    refused = await gql(
        tenant.client,
        mutation,
        {"m": base["mentor_id"], "input": {"bufferMinutes": 30, "bufferAfterMinutes": 5}},
    )
    assert error_codes(refused) == ["BAD_USER_INPUT"]


async def test_a_single_buffer_keeps_the_slots_it_gave(tenant: Tenant) -> None:
    """`buffer_minutes: 15` (both buffers 15) leaves exactly the slots it left before the split
    (tests/test_availability.py has the figures): 09:30-10:00 taken, nothing before 10:15."""
    base = await bookable(
        tenant.client,
        weekly=[{"day": "mon", "start": "09:00", "end": "11:00"}],
        buffer_minutes=15,
    )
    await book_session(tenant.client, base, "2027-01-11T08:30:00Z")
    assert await _slots(tenant, base["mentor_id"], **MONDAY) == ["10:15", "10:30"]


def test_the_openapi_document_and_the_sdl_mark_the_old_field_deprecated() -> None:
    schemas = json.loads((OPENAPI / "openapi.json").read_text())["components"]["schemas"]
    for name in ("AvailabilityPut", "AvailabilityRead"):
        field = schemas[name]["properties"]["buffer_minutes"]
        assert field["deprecated"] is True
        assert "buffer_before_minutes" in field["description"]
        assert "deprecated" not in schemas[name]["properties"]["buffer_before_minutes"]
    sdl = (OPENAPI / "schema.graphql").read_text()
    assert sdl.count("bufferMinutes: Int") == 2
    assert sdl.count('@deprecated(reason: "Use bufferBeforeMinutes and bufferAfterMinutes.")') == 2


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"daily_limit_sessions": 0}, "daily_limit_sessions"),
        ({"daily_limit_sessions": 49}, "daily_limit_sessions"),
        ({"daily_limit_sessions": 2.5}, "daily_limit_sessions"),
        ({"daily_limit_sessions": "three"}, "daily_limit_sessions"),
        ({"daily_limit_minutes": 4}, "daily_limit_minutes"),
        ({"daily_limit_minutes": 1441}, "daily_limit_minutes"),
        ({"daily_limit_minutes": 10**40}, "daily_limit_minutes"),
        ({"booking_horizon_days": 0}, "booking_horizon_days"),
        ({"booking_horizon_days": 731}, "booking_horizon_days"),
        ({"booking_horizon_days": "soon"}, "booking_horizon_days"),
        ({"buffer_before_minutes": -1}, "buffer_before_minutes"),
        ({"buffer_after_minutes": 241}, "buffer_after_minutes"),
        ({"buffer_minutes": 241}, "buffer_minutes"),
        ({"booking_horizon_days": 1, "min_notice_minutes": 1440}, "longer than min_notice"),
        ({"booking_horizon_days": 2, "min_notice_minutes": 3000}, "longer than min_notice"),
        ({"daily_limit": 3}, "daily_limit"),
    ],
)
async def test_limits_out_of_bounds_are_422_on_both_faces(
    tenant: Tenant, body: dict[str, Any], fragment: str
) -> None:
    base = await bookable(tenant.client)
    path = f"/v1/mentors/{base['mentor_id']}/availability"
    before = (await tenant.client.get(path)).json()
    problem = assert_problem(await tenant.client.put(path, json=body), 422)
    assert fragment in json.dumps(problem)
    assert (await tenant.client.get(path)).json() == before
    camel = {
        "".join(w.title() if i else w for i, w in enumerate(k.split("_"))): v
        for k, v in body.items()
    }
    mutation = """mutation($m: ID!, $input: AvailabilityInput!) {
      setAvailability(mentorId: $m, input: $input) { version } }"""
    answer = await gql(tenant.client, mutation, {"m": base["mentor_id"], "input": camel})
    assert answer.get("data") is None
    # Out of bounds (ours to refuse), a wrong type or an unknown field (GraphQL's): the same code.
    assert error_codes(answer) == ["BAD_USER_INPUT"], answer
    assert (await tenant.client.get(path)).json() == before


@pytest.mark.parametrize(
    "body",
    [
        {"daily_limit_sessions": 1, "daily_limit_minutes": 5, "booking_horizon_days": 1},
        {"daily_limit_sessions": 48, "daily_limit_minutes": 1440, "booking_horizon_days": 730},
        {"buffer_before_minutes": 240, "buffer_after_minutes": 0},
        {"buffer_before_minutes": 0, "buffer_after_minutes": 240},
        {"booking_horizon_days": 2, "min_notice_minutes": 2879},
    ],
)
async def test_limits_at_their_bounds_are_accepted(tenant: Tenant, body: dict[str, Any]) -> None:
    base = await bookable(tenant.client)
    path = f"/v1/mentors/{base['mentor_id']}/availability"
    response = await tenant.client.put(path, json=body)
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in body} == body


async def test_only_the_mentor_or_the_key_sets_them(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    other = await bookable(tenant.client)
    c = tenant.client
    path = f"/v1/mentors/{base['mentor_id']}/availability"
    mentor = (await c.get(f"/v1/mentors/{base['mentor_id']}")).json()
    other_mentor = (await c.get(f"/v1/mentors/{other['mentor_id']}")).json()
    mentee = (await c.get(f"/v1/mentees/{base['mentee_id']}")).json()
    body = {"weekly": EVERY_DAY, **LIMITS}
    for who, role in ((mentee, "mentee"), (other_mentor, "mentor")):
        async with as_member(c, await mint_token(c, who["external_id"], role)) as intruder:
            assert_problem(await intruder.put(path, json=body), 403)
            read = await intruder.get(path)
            assert read.status_code == 200
            assert read.json()["daily_limit_sessions"] is None
    async with as_member(c, await mint_token(c, mentor["external_id"], "mentor")) as own_mentor:
        mine = await own_mentor.put(path, json=body)
        assert mine.status_code == 200, mine.text
        assert mine.json()["daily_limit_sessions"] == 3


# --- buffers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "after"), [(30, 0), (0, 30), (30, 10), (10, 30)])
async def test_buffers_keep_sessions_apart_whichever_was_booked_first(
    tenant: Tenant, before: int, after: int
) -> None:
    """A session's before-buffer and the previous one's after-buffer must both hold no session:
    two sessions are at least the larger buffer apart, on both sides of a booked one, and the
    same whether the earlier or the later session was booked first."""
    base = await bookable(
        tenant.client,
        weekly=[{"day": "mon", "start": "09:00", "end": "13:00"}],
        buffer_before_minutes=before,
        buffer_after_minutes=after,
    )
    mentor = base["mentor_id"]
    await book_session(tenant.client, base, "2027-01-11T10:00:00Z")  # 11:00-11:30 Berlin
    # Starts from 10:30 (ends 11:00: 30 minutes clear before 11:00) and from 12:00.
    assert await _slots(tenant, mentor, **MONDAY) == [
        "09:00", "09:15", "09:30", "09:45", "10:00", "12:00", "12:15", "12:30",
    ]  # fmt: skip
    await _refused(tenant, base, "2027-01-11T09:15:00Z", slots.OVERLAP)  # 10:15-10:45
    await _refused(tenant, base, "2027-01-11T10:45:00Z", slots.OVERLAP)  # 11:45-12:15
    # The other order: a session booked at 10:00 local, then one right after its buffer.
    other = await bookable(
        tenant.client,
        weekly=[{"day": "mon", "start": "09:00", "end": "13:00"}],
        buffer_before_minutes=before,
        buffer_after_minutes=after,
    )
    await book_session(tenant.client, other, "2027-01-11T11:00:00Z")  # 12:00-12:30
    await book_session(tenant.client, other, "2027-01-11T10:00:00Z")  # 11:00-11:30, 30 before
    assert await _slots(tenant, other["mentor_id"], **MONDAY) == [
        "09:00", "09:15", "09:30", "09:45", "10:00",
    ]  # fmt: skip


# --- daily limits -------------------------------------------------------------------------------


async def test_daily_limit_of_sessions(tenant: Tenant) -> None:
    base = await bookable(tenant.client, daily_limit_sessions=2)
    mentor = base["mentor_id"]
    tuesday = {**MONDAY, "start": "2027-01-12T00:00:00Z", "end": "2027-01-13T00:00:00Z"}
    assert len(await _slots(tenant, mentor, **MONDAY)) == 31  # 09:00 to 16:30, every 15'
    first = await book_session(tenant.client, base, "2027-01-11T08:00:00Z")
    assert len(await _slots(tenant, mentor, **MONDAY)) == 29  # 09:00-09:30 taken
    await book_session(tenant.client, base, "2027-01-11T12:00:00Z")
    assert await _slots(tenant, mentor, **MONDAY) == []
    assert len(await _slots(tenant, mentor, **tuesday)) == 31
    await _refused(tenant, base, "2027-01-11T14:00:00Z", slots.DAILY_SESSIONS)
    cancelled = await tenant.client.post(
        f"/v1/sessions/{first['id']}/cancel", json={"by": "mentee", "reason": "clash"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert len(await _slots(tenant, mentor, **MONDAY)) == 28  # 13:00-13:30 is still taken
    await book_session(tenant.client, base, "2027-01-11T14:00:00Z")


async def test_daily_limit_of_minutes_depends_on_the_length(tenant: Tenant) -> None:
    base = await bookable(tenant.client, daily_limit_minutes=45)
    mentor = base["mentor_id"]
    await book_session(tenant.client, base, "2027-01-11T08:00:00Z")  # 30 minutes
    # 30 + 30 > 45: no 30-minute session is left that day; 30 + 15 fits.
    assert await _slots(tenant, mentor, **MONDAY) == []
    fifteen = await _slots(tenant, mentor, **{**MONDAY, "duration": 15})
    assert fifteen[:3] == ["09:30", "09:45", "10:00"]
    await _refused(tenant, base, "2027-01-11T10:00:00Z", slots.DAILY_MINUTES)
    await book_session(tenant.client, base, "2027-01-11T10:00:00Z", duration_minutes=15)
    assert await _slots(tenant, mentor, **{**MONDAY, "duration": 15}) == []
    # A limit shorter than the session: no such session on any day.
    await set_availability(tenant.client, mentor, daily_limit_minutes=20)
    week = {**MONDAY, "start": "2027-01-12T00:00:00Z", "end": "2027-01-19T00:00:00Z"}
    assert await _slots(tenant, mentor, **week) == []
    assert len(await _slots(tenant, mentor, **{**week, "duration": 15})) == 7 * 32


async def test_which_sessions_count_for_a_day(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for the weekly capacity: requested, booked, completed and no-show sessions count;
    declined, cancelled and expired ones (or requests nobody answered in time) do not."""
    base = await bookable(tenant.client, daily_limit_sessions=1, auto_accept=False)
    mentor = base["mentor_id"]
    session = await book_session(tenant.client, base, "2027-01-11T08:00:00Z")
    assert session["status"] == "requested"
    assert await _slots(tenant, mentor, **MONDAY) == []
    declined = await tenant.client.post(f"/v1/sessions/{session['id']}/decline", json={})
    assert declined.status_code == 200, declined.text
    assert len(await _slots(tenant, mentor, **MONDAY)) == 31
    session = await book_session(tenant.client, base, "2027-01-11T09:00:00Z")
    assert (await tenant.client.post(f"/v1/sessions/{session['id']}/accept")).status_code == 200
    await _refused(tenant, base, "2027-01-11T13:00:00Z", slots.DAILY_SESSIONS)
    for status, counts in (
        ("completed", True),
        ("no_show", True),
        ("cancelled", False),
        ("expired", False),
    ):
        async with db.sessionmaker() as s, s.begin():
            await s.exec(
                update(Session)
                .where(Session.app_id == tenant.id, Session.id == session["id"])  # type: ignore[arg-type]
                .values(status=status)
            )
        found = await _slots(tenant, mentor, **MONDAY)
        assert (found == []) is counts, status
    # A request nobody answered before it started is expired whether or not a worker said so.
    request = await book_session(tenant.client, base, "2027-01-11T15:00:00Z")
    assert request["status"] == "requested"
    _clock(monkeypatch, "2027-01-11T15:00:00Z")
    late = {**MONDAY, "start": "2027-01-11T15:00:00Z"}
    assert await _slots(tenant, mentor, **late) == ["16:00", "16:15", "16:30"]


async def test_a_day_is_the_mentors_local_day_across_dst(tenant: Tenant) -> None:
    """Berlin's 2027-03-28 lasts 23 hours (23:00Z to 22:00Z) and 2027-10-31 25 hours (22:00Z to
    23:00Z): sessions at both ends of each count for that one day, and the next day begins at
    local midnight. A day counted in UTC, or with one offset, would get each edge wrong."""
    base = await bookable(tenant.client, weekly=ROUND_THE_CLOCK, daily_limit_sessions=2)
    mentor = base["mentor_id"]
    for first, last, middle, next_day, day_start, day_end in (
        # spring: 00:00 CET, 23:30 CEST, 12:00 CEST; 00:00 the next day
        ("2027-03-27T23:00:00Z", "2027-03-28T21:30:00Z", "2027-03-28T10:00:00Z",
         "2027-03-28T22:00:00Z", "2027-03-27T23:00:00Z", "2027-03-28T22:00:00Z"),
        # autumn: 00:00 CEST, 23:30 CET, 12:00 CET; 00:00 the next day
        ("2027-10-30T22:00:00Z", "2027-10-31T22:30:00Z", "2027-10-31T11:00:00Z",
         "2027-10-31T23:00:00Z", "2027-10-30T22:00:00Z", "2027-10-31T23:00:00Z"),
    ):  # fmt: skip
        local_day = {"start": day_start, "end": day_end, "duration": 30}
        hours = (_at(day_end) - _at(day_start)) / timedelta(hours=1)
        assert len(await _starts(tenant, mentor, **local_day)) == hours * 4
        await book_session(tenant.client, base, first)
        await book_session(tenant.client, base, last)
        assert await _starts(tenant, mentor, **local_day) == []
        await _refused(tenant, base, middle, slots.DAILY_SESSIONS)
        two_hours = timedelta(hours=2)
        around = {
            "start": (_at(day_start) - two_hours).isoformat(),
            "end": (_at(day_end) + two_hours).isoformat(),
            "duration": 30,
        }
        found = await _starts(tenant, mentor, **around)
        # Only the neighbouring days' hours are left, outside the day and the two sessions.
        assert all(not (day_start <= s < day_end) for s in found), found
        assert next_day in found
        await book_session(tenant.client, base, next_day)


# --- the horizon --------------------------------------------------------------------------------


async def test_booking_horizon(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    _clock(monkeypatch, "2027-01-01T12:00:00Z")
    base = await bookable(tenant.client, booking_horizon_days=14)
    mentor = base["mentor_id"]
    window = {"start": "2027-01-14T00:00:00Z", "end": "2027-01-17T00:00:00Z", "duration": 30}
    found = await _starts(tenant, mentor, **window)
    # Berlin 09:00-17:00 is 08:00-16:00Z; 14 days after 12:00Z on the 1st: 12:00Z on the 15th.
    assert found[0] == "2027-01-14T08:00:00Z"
    assert found[-1] == "2027-01-15T12:00:00Z"  # a start at the horizon itself is offered
    await _refused(tenant, base, "2027-01-15T12:15:00Z", slots.HORIZON)
    await book_session(tenant.client, base, "2027-01-15T12:00:00Z")
    # Time passes: the same page (kept, availability/memo.py) shows what the new moment allows.
    _clock(monkeypatch, "2027-01-02T09:00:00Z")
    later = await _starts(tenant, mentor, **window)
    assert later[-1] == "2027-01-16T09:00:00Z"
    assert "2027-01-15T15:30:00Z" in later
    await book_session(tenant.client, base, "2027-01-16T09:00:00Z")
    # Rescheduling moves a booking: the horizon holds there too.
    session = await book_session(tenant.client, base, "2027-01-05T08:00:00Z")
    moved = await tenant.client.post(
        f"/v1/sessions/{session['id']}/reschedule", json={"starts_at": "2027-01-20T08:00:00Z"}
    )
    assert assert_problem(moved, 409)["reason"] == slots.HORIZON
    # A series: every occurrence past the horizon is listed, nothing is booked.
    series = await tenant.client.post(
        "/v1/series",
        json={**base, "starts_at": "2027-01-04T08:00:00Z", "count": 4, "interval_weeks": 1},
    )
    conflicts = assert_problem(series, 409)["conflicts"]
    assert [(c["index"], c["reason"]) for c in conflicts] == [
        (2, slots.HORIZON),
        (3, slots.HORIZON),
    ]
    listed = await tenant.client.get("/v1/sessions", params={"mentor_id": mentor, "limit": 100})
    assert len(listed.json()["data"]) == 3


# --- series -------------------------------------------------------------------------------------


async def test_series_checks_each_occurrence_against_the_daily_limits(tenant: Tenant) -> None:
    base = await bookable(tenant.client, daily_limit_sessions=1, daily_limit_minutes=60)
    other_mentee = await create_mentee(tenant.client)
    await book_session(
        tenant.client, base, "2027-01-25T12:00:00Z", mentee_id=other_mentee["id"]
    )  # the third Monday is full
    series = await tenant.client.post(
        "/v1/series",
        json={**base, "starts_at": "2027-01-11T08:00:00Z", "count": 4, "interval_weeks": 1},
    )
    conflicts = assert_problem(series, 409)["conflicts"]
    assert conflicts == [
        {"index": 2, "starts_at": "2027-01-25T08:00:00Z", "reason": slots.DAILY_SESSIONS}
    ]
    # One session of 30 minutes a day would fit the minutes, not the count: a series on free
    # days is booked whole.
    booked = await tenant.client.post(
        "/v1/series",
        json={**base, "starts_at": "2027-01-12T08:00:00Z", "count": 3, "interval_weeks": 1},
    )
    assert booked.status_code == 201, booked.text
    tuesday = {**MONDAY, "start": "2027-01-19T00:00:00Z", "end": "2027-01-20T00:00:00Z"}
    assert await _slots(tenant, base["mentor_id"], **tuesday) == []


async def test_reschedule_within_a_full_day_and_onto_one(tenant: Tenant) -> None:
    base = await bookable(tenant.client, daily_limit_sessions=1)
    session = await book_session(tenant.client, base, "2027-01-11T08:00:00Z")
    await book_session(tenant.client, base, "2027-01-12T08:00:00Z")
    # The session does not count against itself: later the same day is fine.
    same_day = await tenant.client.post(
        f"/v1/sessions/{session['id']}/reschedule", json={"starts_at": "2027-01-11T13:00:00Z"}
    )
    assert same_day.status_code == 200, same_day.text
    full = await tenant.client.post(
        f"/v1/sessions/{session['id']}/reschedule", json={"starts_at": "2027-01-12T13:00:00Z"}
    )
    assert assert_problem(full, 409)["reason"] == slots.DAILY_SESSIONS


async def test_graphql_booking_is_refused_alike(tenant: Tenant) -> None:
    from tests.gql.test_sessions_gql import BOOK, book_input

    base = await bookable(tenant.client, daily_limit_sessions=1)
    await book_session(tenant.client, base, "2027-01-11T08:00:00Z")
    answer = await gql(tenant.client, BOOK, {"input": book_input(base, "2027-01-11T12:00:00Z")})
    assert error_codes(answer) == ["CONFLICT"]
    assert slots.DAILY_SESSIONS in answer["errors"][0]["message"]


# --- the slots route stays one statement --------------------------------------------------------


async def test_slots_with_every_limit_run_one_statement(tenant: Tenant) -> None:
    base = await bookable(tenant.client, **LIMITS, weekly_capacity=20)
    await book_session(tenant.client, base, "2027-01-11T08:00:00Z")
    await book_session(tenant.client, base, "2027-01-12T09:00:00Z")
    params = {"start": "2027-01-11T00:00:00Z", "end": "2027-02-10T00:00:00Z", "duration": 30}
    for _ in range(2):  # computed, then the kept page
        with count_statements() as statements:
            found = await _starts(tenant, base["mentor_id"], **params)
        assert len(found) > 100
        assert len(own(statements)) == 1, statements


# --- concurrency --------------------------------------------------------------------------------


async def test_daily_limits_hold_under_concurrency(tenant: Tenant, dialect: str) -> None:
    """20 (SQLite: 6) bookings of different free times of one day at once: exactly as many
    succeed as the limit allows. The mentor row lock (sessions/repository.py `lock_mentor`)
    makes each booking count the ones committed before it; without it they all count none."""
    n = 20 if dialect == "postgresql" else 6
    base = await bookable(tenant.client, daily_limit_sessions=3)
    mentees = [await create_mentee(tenant.client) for _ in range(n)]
    # n sessions of 15 minutes one after the other (09:00 to 14:00 Berlin): none overlaps.
    times = [f"2027-01-11T{8 + i // 4:02}:{15 * (i % 4):02}:00Z" for i in range(n)]
    body = {**base, "duration_minutes": 15}
    responses = await asyncio.gather(
        *(
            tenant.client.post("/v1/sessions", json={**body, "mentee_id": m["id"], "starts_at": t})
            for m, t in zip(mentees, times, strict=True)
        )
    )
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 3, codes
    assert codes.count(409) == n - 3, codes
    listed = await tenant.client.get("/v1/sessions", params={"mentor_id": base["mentor_id"]})
    assert len(listed.json()["data"]) == 3

    minutes = await bookable(tenant.client, daily_limit_minutes=60)
    responses = await asyncio.gather(
        *(tenant.client.post("/v1/sessions", json={**minutes, "starts_at": t}) for t in times[::2])
    )
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 2, codes  # 2 x 30 minutes, half an hour apart


# --- slots never offer what a booking refuses ---------------------------------------------------


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    before=st.sampled_from([0, 10, 30]),
    after=st.sampled_from([0, 15, 45]),
    daily_sessions=st.sampled_from([None, 1, 2, 3]),
    daily_minutes=st.sampled_from([None, 45, 60, 90]),
    data=st.data(),
)
async def test_an_offered_slot_is_booked_and_any_other_start_refused(
    tenant: Tenant,
    before: int,
    after: int,
    daily_sessions: int | None,
    daily_minutes: int | None,
    data: st.DataObject,
) -> None:
    base = await bookable(
        tenant.client,
        weekly=[{"day": d, "start": "09:00", "end": "12:00"} for d in ("mon", "tue")],
        buffer_before_minutes=before,
        buffer_after_minutes=after,
        daily_limit_sessions=daily_sessions,
        daily_limit_minutes=daily_minutes,
    )
    mentor = base["mentor_id"]
    days = {"start": "2027-01-11T00:00:00Z", "end": "2027-01-13T00:00:00Z", "duration": 30}
    grid = [
        f"2027-01-{day}T{8 + q // 4:02}:{15 * (q % 4):02}:00Z"
        for day in (11, 12)
        for q in range(11)
    ]  # every start of a 30-minute session in the windows
    for _ in range(data.draw(st.integers(0, 3), label="booked first")):
        offered = await _starts(tenant, mentor, **days)
        if offered:
            await book_session(tenant.client, base, data.draw(st.sampled_from(offered)))
    offered = await _starts(tenant, mentor, **days)
    assert set(offered) <= set(grid)
    for at in data.draw(st.lists(st.sampled_from(grid), max_size=4, unique=True), label="tried"):
        response = await tenant.client.post("/v1/sessions", json={**base, "starts_at": at})
        if at in offered:
            assert response.status_code == 201, (at, response.text)
            undo = await tenant.client.post(
                f"/v1/sessions/{response.json()['id']}/cancel", json={"by": "mentee"}
            )
            assert undo.status_code == 200
        else:
            assert response.status_code == 409, (at, response.text)


async def test_a_kept_slots_page_follows_every_limit(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same query after each change of a limit: the page kept for it (availability/memo.py)
    is never shown again once what it was computed from has changed."""
    _clock(monkeypatch, "2027-01-10T12:00:00Z")
    base = await bookable(tenant.client)
    mentor = base["mentor_id"]
    await book_session(tenant.client, base, "2027-01-11T10:00:00Z")  # 11:00-11:30 Berlin
    await book_session(tenant.client, base, "2027-01-12T10:00:00Z", duration_minutes=15)
    week = {"start": "2027-01-11T00:00:00Z", "end": "2027-01-14T00:00:00Z", "duration": 30}
    seen = [await _starts(tenant, mentor, **week)]
    for change in (
        {"buffer_before_minutes": 30},
        {"buffer_before_minutes": 30, "buffer_after_minutes": 45},
        {"daily_limit_minutes": 45},  # Monday is full, Tuesday not (15 + 30)
        {"daily_limit_sessions": 1},  # both are
        {"booking_horizon_days": 2},
    ):
        await set_availability(tenant.client, mentor, **change)
        found = await _starts(tenant, mentor, **week)
        assert found not in seen, change
        seen.append(found)
        await set_availability(tenant.client, mentor)
        assert await _starts(tenant, mentor, **week) == seen[0], change
