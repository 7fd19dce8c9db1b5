"""Availability rules and the free slots they leave, DST included."""

from datetime import UTC, datetime
from typing import Any

import pytest

from mentorapi.db.engine import Database
from tests.conftest import Tenant
from tests.factories import book_session, bookable, create_mentor, set_availability


async def test_get_default_and_put_roundtrip(tenant: Tenant) -> None:
    mentor = await create_mentor(tenant.client)
    response = await tenant.client.get(f"/v1/mentors/{mentor['id']}/availability")
    assert response.status_code == 200
    assert response.json()["weekly"] == []
    assert response.json()["version"] == 0
    body = {
        "weekly": [
            {"day": "tue", "start": "13:00", "end": "15:00"},
            {"day": "mon", "start": "09:00", "end": "12:00"},
        ],
        "overrides": [{"date": "2026-12-24", "windows": []}],
        "buffer_minutes": 5,
        "min_notice_minutes": 60,
        "weekly_capacity": 5,
        "auto_accept": True,
    }
    put = await tenant.client.put(f"/v1/mentors/{mentor['id']}/availability", json=body)
    assert put.status_code == 200, put.text
    data = put.json()
    assert data["weekly"][0] == {"day": "mon", "start": "09:00", "end": "12:00"}
    assert data["overrides"] == [{"date": "2026-12-24", "windows": []}]
    assert data["timezone"] == "Europe/Berlin"
    assert data["version"] == 1
    assert put.headers["etag"] == '"1"'
    stale = await tenant.client.put(
        f"/v1/mentors/{mentor['id']}/availability", json=body, headers={"If-Match": '"0"'}
    )
    assert stale.status_code == 412
    again = await tenant.client.put(
        f"/v1/mentors/{mentor['id']}/availability", json=body, headers={"If-Match": '"1"'}
    )
    assert again.json()["version"] == 2


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"weekly": [{"day": "mon", "start": "10:00", "end": "09:00"}]}, "after start"),
        ({"weekly": [{"day": "mon", "start": "10:00", "end": "10:00"}]}, "after start"),
        (
            {
                "weekly": [
                    {"day": "mon", "start": "09:00", "end": "11:00"},
                    {"day": "mon", "start": "10:30", "end": "12:00"},
                ]
            },
            "overlap",
        ),
        ({"weekly": [{"day": "funday", "start": "09:00", "end": "10:00"}]}, ""),
        ({"weekly": [{"day": "mon", "start": "9:00", "end": "10:00"}]}, "HH:MM"),
        ({"weekly": [{"day": "mon", "start": "09:00", "end": "24:30"}]}, "HH:MM"),
        ({"weekly": [{"day": "mon", "start": 900, "end": "10:00"}]}, ""),
        (
            {
                "weekly": [
                    {"day": "mon", "start": f"{h:02}:00", "end": f"{h:02}:30"} for h in range(24)
                ]
                * 3
            },
            "",
        ),
        ({"overrides": [{"date": "2026-13-01", "windows": []}]}, ""),
        (
            {
                "overrides": [
                    {"date": "2026-12-24", "windows": []},
                    {"date": "2026-12-24", "windows": []},
                ]
            },
            "one override",
        ),
        ({"buffer_minutes": -1}, ""),
        ({"weekly_capacity": 0}, ""),
        ({"auto_accept": "maybe"}, ""),
        ({"weekly": "x" * 100_000}, ""),
        ({"surprise": 1}, ""),
    ],
)
async def test_invalid_availability_is_422(
    tenant: Tenant, body: dict[str, Any], fragment: str
) -> None:
    mentor = await create_mentor(tenant.client)
    response = await tenant.client.put(f"/v1/mentors/{mentor['id']}/availability", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert fragment in response.text
    unchanged = await tenant.client.get(f"/v1/mentors/{mentor['id']}/availability")
    assert unchanged.json()["version"] == 0


async def _slots(tenant: Tenant, mentor_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await tenant.client.get(f"/v1/mentors/{mentor_id}/slots", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def test_slots_follow_berlin_dst_and_show_new_york_time(tenant: Tenant) -> None:
    """Berlin springs forward on Sunday 2027-03-28, New York on 2027-03-14: a 09:00 Berlin
    window is 08:00Z before the switch and 07:00Z after it, and 04:00 then 03:00 in New York."""
    base = await bookable(
        tenant.client,
        weekly=[
            {"day": d, "start": "09:00", "end": "10:00"}
            for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        ],
    )
    slots = await _slots(
        tenant,
        base["mentor_id"],
        start="2027-03-26T00:00:00Z",
        end="2027-03-30T00:00:00Z",
        duration=30,
        timezone="America/New_York",
    )
    starts = [s["starts_at"] for s in slots]
    assert starts == [
        "2027-03-26T08:00:00Z", "2027-03-26T08:15:00Z", "2027-03-26T08:30:00Z",
        "2027-03-27T08:00:00Z", "2027-03-27T08:15:00Z", "2027-03-27T08:30:00Z",
        "2027-03-28T07:00:00Z", "2027-03-28T07:15:00Z", "2027-03-28T07:30:00Z",
        "2027-03-29T07:00:00Z", "2027-03-29T07:15:00Z", "2027-03-29T07:30:00Z",
    ]  # fmt: skip
    assert slots[0]["ends_at"] == "2027-03-26T08:30:00Z"
    assert slots[0]["local_start"] == "2027-03-26T04:00:00-04:00"
    assert slots[-1]["local_start"] == "2027-03-29T03:30:00-04:00"
    in_berlin = await _slots(
        tenant, base["mentor_id"], start="2027-03-27T00:00:00Z", end="2027-03-29T00:00:00Z",
        duration=30,
    )  # fmt: skip
    assert in_berlin[0]["local_start"] == "2027-03-27T09:00:00+01:00"
    assert in_berlin[-1]["local_start"] == "2027-03-28T09:30:00+02:00"


async def test_autumn_switch_and_a_window_across_the_spring_gap(tenant: Tenant) -> None:
    base = await bookable(
        tenant.client,
        weekly=[],
        overrides=[
            # 01:00-04:00 on the spring-forward night is two real hours.
            {"date": "2027-03-28", "windows": [{"start": "01:00", "end": "04:00"}]},
            # Berlin falls back on 2027-10-31: 09:00 local is 07:00Z before, 08:00Z after.
            {"date": "2027-10-30", "windows": [{"start": "09:00", "end": "09:30"}]},
            {"date": "2027-10-31", "windows": [{"start": "09:00", "end": "09:30"}]},
        ],
    )
    gap = await _slots(
        tenant, base["mentor_id"], start="2027-03-27T12:00:00Z", end="2027-03-28T12:00:00Z",
        duration=30,
    )  # fmt: skip
    assert gap[0]["starts_at"] == "2027-03-28T00:00:00Z"
    assert gap[-1]["starts_at"] == "2027-03-28T01:30:00Z"  # 03:30 CEST, ends 04:00 local
    assert len(gap) == 7
    autumn = await _slots(
        tenant, base["mentor_id"], start="2027-10-30T00:00:00Z", end="2027-11-01T00:00:00Z",
        duration=30,
    )  # fmt: skip
    assert [s["starts_at"] for s in autumn] == ["2027-10-30T07:00:00Z", "2027-10-31T08:00:00Z"]


async def test_overrides_buffer_capacity_and_existing_sessions(tenant: Tenant) -> None:
    base = await bookable(
        tenant.client,
        weekly=[{"day": "mon", "start": "09:00", "end": "11:00"},
                {"day": "tue", "start": "09:00", "end": "11:00"}],
        overrides=[{"date": "2027-01-12", "windows": [{"start": "14:00", "end": "15:00"}]}],
        buffer_minutes=15,
        weekly_capacity=2,
    )  # fmt: skip
    monday = {"start": "2027-01-11T00:00:00Z", "end": "2027-01-12T00:00:00Z", "duration": 30}
    assert len(await _slots(tenant, base["mentor_id"], **monday)) == 7  # 09:00 .. 10:30 local
    await book_session(tenant.client, base, "2027-01-11T08:30:00Z")  # 09:30-10:00 Berlin
    left = [s["local_start"][11:16] for s in await _slots(tenant, base["mentor_id"], **monday)]
    # 09:30-10:00 is taken; with 15 minutes of buffer around it nothing starts before 10:15.
    assert left == ["10:15", "10:30"]
    tuesday = await _slots(
        tenant, base["mentor_id"], start="2027-01-12T00:00:00Z", end="2027-01-13T00:00:00Z",
        duration=30,
    )  # fmt: skip
    assert [s["local_start"][11:16] for s in tuesday] == ["14:00", "14:15", "14:30"]
    await book_session(tenant.client, base, "2027-01-12T13:00:00Z")
    # Two sessions this week: the capacity is reached, nothing else that week.
    assert await _slots(tenant, base["mentor_id"], **monday) == []
    next_monday = {"start": "2027-01-18T00:00:00Z", "end": "2027-01-19T00:00:00Z", "duration": 30}
    assert len(await _slots(tenant, base["mentor_id"], **next_monday)) == 7


async def test_minimum_notice_hides_near_slots(tenant: Tenant) -> None:
    base = await bookable(tenant.client, weekly=[
        {"day": d, "start": "00:00", "end": "24:00"}
        for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    ], min_notice_minutes=60 * 24 * 40)  # fmt: skip
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    params = {
        "start": now.isoformat(),
        "end": (now + timedelta(days=31)).isoformat(),
        "duration": 15,
    }
    assert await _slots(tenant, base["mentor_id"], **params) == []
    await set_availability(tenant.client, base["mentor_id"], weekly=[
        {"day": d, "start": "00:00", "end": "24:00"}
        for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    ], min_notice_minutes=0)  # fmt: skip
    assert len(await _slots(tenant, base["mentor_id"], **params)) > 1000


S, E = "2027-01-11T00:00:00Z", "2027-01-12T00:00:00Z"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"start": "2027-01-11T00:00:00", "end": E, "duration": 30}, "timezone"),
        ({"start": S, "end": "2027-03-11T00:00:00Z", "duration": 30}, "31 days"),
        ({"start": E, "end": S, "duration": 30}, "after"),
        ({"start": S, "end": E, "duration": 45}, "offers"),
        ({"start": S, "end": E, "duration": 300}, ""),
        ({"start": "soon", "end": E, "duration": 30}, ""),
        ({"start": S, "end": E}, "duration"),
        ({"start": S, "end": E, "duration": 30, "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"start": S, "end": E, "duration": 30, "timezone": "x" * 5000}, ""),
        ({"start": "0001-01-01T00:00:00+05:00", "end": E, "duration": 30}, "between the years"),
        ({"start": S, "end": "9999-12-31T23:00:00-05:00", "duration": 30}, "between the years"),
    ],
)
async def test_bad_slot_queries_are_422(
    tenant: Tenant, params: dict[str, Any], fragment: str
) -> None:
    base = await bookable(tenant.client)
    response = await tenant.client.get(f"/v1/mentors/{base['mentor_id']}/slots", params=params)
    assert response.status_code == 422, response.text
    assert fragment in response.text


async def test_another_apps_mentor_is_404(tenant: Tenant, other_tenant: Tenant) -> None:
    mentor = await create_mentor(tenant.client)
    path = f"/v1/mentors/{mentor['id']}"
    assert (await other_tenant.client.get(f"{path}/availability")).status_code == 404
    put = await other_tenant.client.put(f"{path}/availability", json={"weekly": []})
    assert put.status_code == 404
    slots = await other_tenant.client.get(
        f"{path}/slots",
        params={"start": "2027-01-11T00:00:00Z", "end": "2027-01-12T00:00:00Z", "duration": 15},
    )
    assert slots.status_code == 404
    assert (
        await tenant.client.get("/v1/mentors/mte_01JD0000000000000000000000/slots")
    ).status_code == 422


async def test_windows_touching_at_midnight_join(tenant: Tenant) -> None:
    base = await bookable(
        tenant.client,
        weekly=[
            {"day": "mon", "start": "23:00", "end": "24:00"},
            {"day": "tue", "start": "00:00", "end": "00:30"},
        ],
    )
    slots = await _slots(
        tenant, base["mentor_id"], start="2027-01-11T00:00:00Z", end="2027-01-13T00:00:00Z",
        duration=30,
    )  # fmt: skip
    assert [s["local_start"][11:16] for s in slots] == ["23:00", "23:15", "23:30", "23:45", "00:00"]
    across = await tenant.client.post(
        "/v1/sessions",
        json={**base, "starts_at": "2027-01-11T22:45:00Z"},  # 23:45-00:15 Berlin
    )
    assert across.status_code == 201, across.text


async def test_unanswered_past_requests_free_the_capacity(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from mentorapi.availability import service as availability_service

    base = await bookable(tenant.client, weekly_capacity=1, auto_accept=False)
    await book_session(tenant.client, base, "2027-01-11T08:00:00Z")
    tuesday = {"start": "2027-01-12T00:00:00Z", "end": "2027-01-13T00:00:00Z", "duration": 30}
    assert await _slots(tenant, base["mentor_id"], **tuesday) == []
    later = datetime(2027, 1, 11, 9, tzinfo=UTC)
    monkeypatch.setattr(availability_service, "utcnow", lambda: later)
    assert len(await _slots(tenant, base["mentor_id"], **tuesday)) > 0


async def test_slots_body_is_the_old_engines_byte_for_byte(tenant: Tenant) -> None:
    """Through the database (held times decoded from PostgreSQL's arrays or SQLite's JSON): the
    REST body is exactly what the old engine and pydantic's Page[Slot] wrote, for a week with a
    DST switch, sessions held and cancelled, buffers before and after, capacity, daily limits
    and another display zone; and GraphQL's slots are the same."""
    from datetime import UTC, datetime, timedelta

    from mentorapi.availability.models import Availability
    from mentorapi.kit.timezones import zone
    from tests import slot_reference as ref

    mornings = [{"day": d, "start": "08:00", "end": "12:00"} for d in ("mon", "fri", "sat", "sun")]
    midnight = [{"day": "tue", "start": "22:00", "end": "24:00"},
                {"day": "wed", "start": "00:00", "end": "01:30"}]  # fmt: skip
    availability = {
        "weekly": [*mornings, *midnight],
        "overrides": [{"date": "2027-03-29", "windows": [{"start": "13:00", "end": "15:00"}]}],
        "buffer_before_minutes": 10,
        "buffer_after_minutes": 5,
        "min_notice_minutes": 60,
        "weekly_capacity": 9,
        "daily_limit_sessions": 2,
        "daily_limit_minutes": 50,
    }  # fmt: skip
    base = await bookable(tenant.client, **availability, auto_accept=False)
    held = [
        await book_session(tenant.client, base, at)
        for at in ("2027-03-26T07:30:00Z", "2027-03-28T07:00:00Z", "2027-03-30T21:30:00Z",
                   "2027-03-29T11:15:00Z", "2027-04-02T08:45:00Z")
    ]  # fmt: skip
    cancel = await tenant.client.post(
        f"/v1/sessions/{held[1]['id']}/cancel", json={"by": "mentee", "reason": "cannot make it"}
    )
    assert cancel.status_code == 200, cancel.text
    params = {"start": "2027-03-25T00:00:00Z", "end": "2027-04-05T00:00:00Z", "duration": 30}
    response = await tenant.client.get(
        f"/v1/mentors/{base['mentor_id']}/slots", params={**params, "timezone": "America/New_York"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"

    rules = ref.rules_of(
        Availability(app_id="app_x", mentor_id=base["mentor_id"], **availability), "Europe/Berlin"
    )
    times = [
        (datetime.fromisoformat(s["starts_at"]), datetime.fromisoformat(s["ends_at"]))
        for i, s in enumerate(held)
        if i != 1
    ]
    spans = ref.free_slots(
        rules,
        ref.calendar_of(rules, times, times),
        range_start=datetime(2027, 3, 25, tzinfo=UTC),
        range_end=datetime(2027, 4, 5, tzinfo=UTC),
        duration=timedelta(minutes=30),
        now=datetime.now(UTC),
    )
    assert len(spans) > 40
    assert response.content == ref.page_json(spans, zone("America/New_York"))

    query = """query($m: ID!, $start: DateTime!, $end: DateTime!, $d: Int!, $tz: String) {
      mentorSlots(mentorId: $m, start: $start, end: $end, duration: $d, timezone: $tz) {
        startsAt endsAt localStart } }"""
    variables = {"m": base["mentor_id"], "start": params["start"], "end": params["end"], "d": 30}
    graphql = await tenant.client.post(
        "/graphql", json={"query": query, "variables": {**variables, "tz": "America/New_York"}}
    )
    found = graphql.json()["data"]["mentorSlots"]
    assert [
        (
            datetime.fromisoformat(s["startsAt"]),
            datetime.fromisoformat(s["endsAt"]),
            s["localStart"],
        )
        for s in found
    ] == [(a, b, a.astimezone(zone("America/New_York")).isoformat()) for a, b in spans]


async def test_slots_run_one_statement_after_authentication(tenant: Tenant) -> None:
    from tests.conftest import count_statements

    base = await bookable(tenant.client, weekly_capacity=5)
    await book_session(tenant.client, base, "2027-01-11T08:00:00Z")
    await book_session(tenant.client, base, "2027-01-12T09:00:00Z")
    params = {"start": "2027-01-11T00:00:00Z", "end": "2027-02-10T00:00:00Z", "duration": 30}
    with count_statements() as statements:
        response = await tenant.client.get(f"/v1/mentors/{base['mentor_id']}/slots", params=params)
    assert response.status_code == 200
    assert len(response.json()["data"]) > 100
    assert len(statements) <= 2, statements  # the API key, then mentor + availability + sessions


async def test_an_unknown_mentor_is_404_before_the_range_is_checked(tenant: Tenant) -> None:
    response = await tenant.client.get(
        "/v1/mentors/mtr_01JD0000000000000000000000/slots",
        params={"start": "2027-01-12T00:00:00Z", "end": "2027-01-11T00:00:00Z", "duration": 45},
    )
    assert response.status_code == 404, response.text


async def test_held_times_come_back_exact_to_the_microsecond(tenant: Tenant, db: Database) -> None:
    """The engine reads held times as integers (PostgreSQL: its binary timestamptz form;
    SQLite: the stored text): odd microseconds, the far end of the allowed years, a session
    with no end, and the statuses that hold time or only count for capacity."""
    from sqlalchemy import update

    from mentorapi.availability.slots import to_us
    from mentorapi.sessions import repository
    from mentorapi.sessions.models import Session

    base = await bookable(tenant.client)
    ids = [
        (await book_session(tenant.client, base, f"2027-01-1{day}T08:00:00Z"))["id"]
        for day in (1, 2, 3)
    ]
    times = [
        (datetime(2027, 1, 11, 8, 0, 0, 999_999, tzinfo=UTC), None, "no_show"),
        (
            datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
            datetime(1970, 1, 1, 0, 30, tzinfo=UTC),
            "completed",
        ),
        (
            datetime(2999, 12, 31, 23, 0, 0, 123_456, tzinfo=UTC),
            datetime(2999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
            "requested",
        ),
    ]
    async with db.sessionmaker() as s, s.begin():
        for session_id, (starts, ends, status) in zip(ids, times, strict=True):
            await s.exec(
                update(Session)
                .where(Session.app_id == tenant.id, Session.id == session_id)  # type: ignore[arg-type]
                .values(starts_at=starts, ends_at=ends, status=status, expires_at=None)
            )
    async with db.read_sessionmaker() as s:
        held = await repository.counted_between(
            s,
            tenant.id,
            base["mentor_id"],
            datetime(1970, 1, 1, tzinfo=UTC),
            datetime(3000, 1, 1, tzinfo=UTC),
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    assert sorted((bool(a), b, c) for a, b, c in held) == sorted(
        (status == "requested", to_us(starts), None if ends is None else to_us(ends))
        for starts, ends, status in times
    )
