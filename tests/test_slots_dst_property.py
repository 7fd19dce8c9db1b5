"""Slots across daylight-saving switches, checked against an oracle written from zoneinfo alone.

tests/test_slot_equivalence.py holds the engine to the reference engine (tests/slot_reference.py)
on seeded random cases; here Hypothesis picks zones that switch (including America/Santiago,
which switches at midnight, Australia/Lord_Howe, which moves by 30 minutes, and Asia/Tehran
before 2023), weekly windows, held times and a range around a switch, and every slot must be:
inside a window of the mentor's local days (as datetime resolves a wall time: fold=0, so a time
in a spring-forward gap lands after it), on the 15-minute (or session-length) grid from the
window's start, clear of held times and the buffers before and after each session (a new one's
and the held ones'), within the daily limits of sessions and minutes of its local date (23 or
25 hours long on a switch day), not after the booking horizon, and shown with the right local
time. Without notice or capacity the oracle finds every candidate too, so the sets must be
equal. Through the API as well (both databases), with sessions booked into the slots it offered.
"""

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentorapi.availability import service, slots
from tests.conftest import Tenant
from tests.factories import create_mentee, create_mentor, create_skill

ZONES = {
    "Europe/Berlin": (2031, 2032),
    "America/New_York": (2031, 2032),
    "Australia/Sydney": (2031, 2032),
    "America/Santiago": (2031, 2032),
    "Australia/Lord_Howe": (2031, 2032),
    "Asia/Tehran": (2019, 2021),  # no switches since 2023
}
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
PROPERTY = settings(max_examples=40, deadline=None)


def switches(zone: str, year: int) -> list[datetime]:
    """The UTC instants (to the hour) at which the zone's offset changes in that year."""
    tz = ZoneInfo(zone)
    found = []
    at = datetime(year, 1, 1, tzinfo=UTC)
    previous = at.astimezone(tz).utcoffset()
    while at.year == year:
        at += timedelta(hours=1)
        offset = at.astimezone(tz).utcoffset()
        if offset != previous:
            found.append(at)
            previous = offset
    return found


_SWITCHES = {(z, y): switches(z, y) for z, years in ZONES.items() for y in years}


def _clock(minutes: int) -> str:
    return "24:00" if minutes == 1440 else f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def weekly_windows(draw: st.DrawFn) -> list[dict[str, str]]:
    """Windows a day apart by at least two hours (no switch can make two of them overlap), some
    running to 24:00 or from 00:00 (touching across midnight), some around 02:00-03:00."""
    windows = []
    for day in DAYS:
        at = draw(st.sampled_from([0, 0, 60, 90, 120, 150, 480]))
        for _ in range(draw(st.integers(0, 3))):
            length = draw(st.sampled_from([30, 45, 60, 90, 120, 240, 600]))
            end = min(at + length, 1440)
            if end - at >= 15:
                windows.append({"day": day, "start": _clock(at), "end": _clock(end)})
            at = end + draw(st.sampled_from([120, 180, 300]))
            if at >= 1440:
                break
        if draw(st.booleans()) and (not windows or windows[-1]["day"] != day or at < 1320):
            windows.append({"day": day, "start": "22:00", "end": "24:00"})
    return _non_overlapping(windows)


def _non_overlapping(windows: list[dict[str, str]]) -> list[dict[str, str]]:
    kept: list[dict[str, str]] = []
    for w in sorted(windows, key=lambda w: (DAYS.index(w["day"]), w["start"])):
        if kept and kept[-1]["day"] == w["day"] and _gap(kept[-1]["end"], w["start"]) < 120:
            continue
        kept.append(w)
    return kept


def _gap(end: str, start: str) -> int:
    def minutes(text: str) -> int:
        return int(text[:2]) * 60 + int(text[3:])

    return minutes(start) - minutes(end)


def _instant(day: date, wall: str, tz: ZoneInfo) -> datetime:
    if wall == "24:00":
        day, wall = day + timedelta(days=1), "00:00"
    local = datetime.combine(day, time(int(wall[:2]), int(wall[3:])), tzinfo=tz)  # fold=0
    return local.astimezone(UTC)


def window_spans(
    weekly: list[dict[str, str]], tz: ZoneInfo, first: date, last: date
) -> list[tuple[datetime, datetime]]:
    """The windows of the local days first..last as UTC spans, touching ones merged."""
    spans = []
    day = first
    while day <= last:
        for w in weekly:
            if w["day"] == DAYS[day.weekday()]:
                spans.append((_instant(day, w["start"], tz), _instant(day, w["end"], tz)))
        day += timedelta(days=1)
    merged: list[tuple[datetime, datetime]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        elif b > a:
            merged.append((a, b))
    return merged


Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Limits:
    """The booking limits a case sets (minutes; None: no limit)."""

    before: int = 0
    after: int = 0
    daily_sessions: int | None = None
    daily_minutes: int | None = None
    latest: datetime | None = None  # the moment of asking plus the horizon


def _meet(p: Span, q: Span) -> bool:
    return p[0] < p[1] and q[0] < q[1] and p[0] < q[1] and q[0] < p[1]


def clear_of(new: Span, held: Span, limits: Limits) -> bool:
    """Neither session meets the other or the other's buffers [start - before, start) and
    [end, end + after)."""
    before, after = timedelta(minutes=limits.before), timedelta(minutes=limits.after)
    if _meet(new, held):
        return False
    return not any(
        _meet(zone, other)
        for one, other in ((new, held), (held, new))
        for zone in ((one[0] - before, one[0]), (one[1], one[1] + after))
    )


def room_on_its_day(new: Span, held: list[Span], tz: ZoneInfo, limits: Limits) -> bool:
    """The daily limits of the local date `new` starts on, counting the held sessions that
    start on that date."""
    day = new[0].astimezone(tz).date()
    same_day = [(a, b) for a, b in held if a.astimezone(tz).date() == day]
    if limits.daily_sessions is not None and len(same_day) >= limits.daily_sessions:
        return False
    minutes = sum(((b - a) for a, b in [*same_day, new]), timedelta(0))
    return limits.daily_minutes is None or minutes <= timedelta(minutes=limits.daily_minutes)


def oracle(
    weekly: list[dict[str, str]],
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    duration: timedelta,
    held: list[Span],
    limits: Limits,
) -> list[datetime]:
    """Every free start, from the windows and the grid alone (no notice, no capacity)."""
    step = min(duration, timedelta(minutes=15))
    first = start.astimezone(tz).date() - timedelta(days=2)
    last = end.astimezone(tz).date() + timedelta(days=2)
    found = []
    for a, b in window_spans(weekly, tz, first, last):
        t = a
        while t + duration <= b:
            new = (t, t + duration)
            clear = all(clear_of(new, h, limits) for h in held)
            in_range = start <= t < end and (limits.latest is None or t <= limits.latest)
            if in_range and clear and room_on_its_day(new, held, tz, limits):
                found.append(t)
            t += step
    return sorted(found)


def check_slot(
    row: dict[str, str], spans: list[tuple[datetime, datetime]], display: ZoneInfo, step: timedelta
) -> None:
    """One slot as the API shows it: in a window, on its grid, rendered in the display zone."""
    starts_at = datetime.fromisoformat(row["starts_at"])
    ends_at = datetime.fromisoformat(row["ends_at"])
    assert row["starts_at"].endswith("Z")
    assert row["ends_at"].endswith("Z")
    inside = [a for a, b in spans if a <= starts_at and ends_at <= b]
    assert inside, f"{row} is in no window"
    assert (starts_at - inside[0]) % step == timedelta(0), f"{row} is off the grid"
    assert row["local_start"] == starts_at.astimezone(display).isoformat()


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    zone = draw(st.sampled_from(sorted(ZONES)))
    year = draw(st.sampled_from(ZONES[zone]))
    switch = draw(st.sampled_from(_SWITCHES[(zone, year)]))
    start = switch - timedelta(minutes=draw(st.integers(0, 5 * 1440)))
    start = start.replace(minute=start.minute - start.minute % 5)
    end = start + timedelta(minutes=draw(st.integers(60, 10 * 1440)))
    return {
        "zone": zone,
        "weekly": draw(weekly_windows()),
        "start": start,
        "end": max(end, switch + timedelta(hours=1)),
        "duration": draw(st.sampled_from([10, 15, 30, 45, 60])),
        "before": draw(st.sampled_from([0, 0, 5, 15, 40])),
        "after": draw(st.sampled_from([0, 0, 5, 10, 30])),
        "daily_sessions": draw(st.sampled_from([None, None, 1, 2, 4])),
        "daily_minutes": draw(st.sampled_from([None, None, 5, 45, 100])),
        # Asked 30 days before the range: a horizon of 31-40 days cuts it.
        "horizon": draw(st.sampled_from([None, None, 31, 33, 35, 40])),
        "display": draw(st.sampled_from([zone, zone, "UTC", "Asia/Kolkata", "America/New_York"])),
        "seed": draw(st.integers(0, 2**32)),
    }


@PROPERTY
@given(case=cases())
def test_the_engine_finds_exactly_the_free_grid_starts_in_local_windows(
    case: dict[str, Any],
) -> None:
    tz = ZoneInfo(case["zone"])
    duration = timedelta(minutes=case["duration"])
    now = case["start"] - timedelta(days=30)
    horizon = case["horizon"]
    limits = _limits(case, None if horizon is None else now + timedelta(days=horizon))
    rng = random.Random(case["seed"])
    held = []
    for _ in range(rng.randint(0, 6)):
        at = case["start"] + timedelta(
            minutes=rng.randrange(-1440, int((case["end"] - case["start"]).total_seconds() // 60))
        )
        held.append((at, at + timedelta(minutes=rng.choice([15, 30, 60, 90]))))
    rules = slots.rules_from(
        case["zone"],
        case["weekly"],
        [],
        buffer_before_minutes=case["before"],
        buffer_after_minutes=case["after"],
        min_notice_minutes=0,
        daily_limit_sessions=case["daily_sessions"],
        daily_limit_minutes=case["daily_minutes"],
        booking_horizon_days=horizon,
    )
    found = service.find_slots(
        rules,
        [(True, slots.to_us(a), slots.to_us(b)) for a, b in held],
        start=case["start"],
        end=case["end"],
        duration_minutes=case["duration"],
        display_timezone=case["display"],
        now=now,
    )
    expected = oracle(case["weekly"], tz, case["start"], case["end"], duration, held, limits)
    assert [slots.from_us(s) for s in found.starts] == expected
    first = case["start"].astimezone(tz).date() - timedelta(days=2)
    spans = window_spans(case["weekly"], tz, first, case["end"].astimezone(tz).date())
    display = ZoneInfo(case["display"])
    for starts_at, ends_at, local_start in found.rows():
        row = {
            "starts_at": starts_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ends_at": ends_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "local_start": local_start,
        }
        check_slot(row, spans, display, min(duration, timedelta(minutes=15)))


def _limits(case: dict[str, Any], latest: datetime | None) -> Limits:
    return Limits(
        before=case["before"],
        after=case["after"],
        daily_sessions=case["daily_sessions"],
        daily_minutes=case["daily_minutes"],
        latest=latest,
    )


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases().filter(lambda case: ZONES[case["zone"]][0] > 2030), data=st.data())
async def test_slots_through_the_api_across_a_switch(
    tenant: Tenant, case: dict[str, Any], data: st.DataObject
) -> None:
    """The same, as a client sees it: availability put, sessions booked into offered slots,
    slots asked again; every slot inside a local window, on the grid, clear of the sessions
    and their buffer, with the right local time."""
    client = tenant.client
    tz = ZoneInfo(case["zone"])
    skill = await create_skill(client)
    mentor = await create_mentor(
        client,
        timezone=case["zone"],
        session_lengths=[10, 15, 30, 45, 60],
        skills=[{"skill_id": skill["id"], "level": 3}],
    )
    mentee = await create_mentee(client)
    # No horizon here: the ranges lie years after the real moment of asking.
    body = {
        "weekly": case["weekly"],
        "buffer_before_minutes": case["before"],
        "buffer_after_minutes": case["after"],
        "daily_limit_sessions": case["daily_sessions"],
        "daily_limit_minutes": case["daily_minutes"],
        "auto_accept": True,
    }
    response = await client.put(f"/v1/mentors/{mentor['id']}/availability", json=body)
    assert response.status_code == 200, response.text
    url = f"/v1/mentors/{mentor['id']}/slots"
    params = {
        "start": case["start"].isoformat(),
        "end": case["end"].isoformat(),
        "duration": case["duration"],
        "timezone": case["display"],
    }
    offered = (await client.get(url, params=params)).json()["data"]
    booked: list[tuple[datetime, datetime]] = []
    for _ in range(data.draw(st.integers(0, 2), label="bookings")):
        if not offered:
            break
        slot = data.draw(st.sampled_from(offered), label="booked slot")
        response = await client.post(
            "/v1/sessions",
            json={
                "mentor_id": mentor["id"],
                "mentee_id": mentee["id"],
                "skill_id": skill["id"],
                "topic": "Walk me through the quarterly plan",
                "format": "video",
                "duration_minutes": case["duration"],
                "starts_at": slot["starts_at"],
            },
        )
        assert response.status_code == 201, response.text
        booked.append(
            (datetime.fromisoformat(slot["starts_at"]), datetime.fromisoformat(slot["ends_at"]))
        )
        offered = (await client.get(url, params=params)).json()["data"]
    duration = timedelta(minutes=case["duration"])
    limits = _limits(case, None)
    first = case["start"].astimezone(tz).date() - timedelta(days=2)
    spans = window_spans(case["weekly"], tz, first, case["end"].astimezone(tz).date())
    display = ZoneInfo(case["display"])
    for row in offered:
        check_slot(row, spans, display, min(duration, timedelta(minutes=15)))
        starts_at = datetime.fromisoformat(row["starts_at"])
        new = (starts_at, starts_at + duration)
        assert all(clear_of(new, h, limits) for h in booked), row
        assert room_on_its_day(new, booked, tz, limits), row
    expected = oracle(case["weekly"], tz, case["start"], case["end"], duration, booked, limits)
    assert [datetime.fromisoformat(r["starts_at"]) for r in offered] == expected
