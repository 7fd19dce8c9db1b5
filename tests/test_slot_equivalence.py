"""The integer slot engine against the engine it replaced (tests/slot_reference.py), on seeded
random cases: zones with DST (Europe/Berlin, America/New_York), half-hour DST
(Australia/Lord_Howe), negative DST (Europe/Dublin), odd offsets, ranges around their switches,
windows touching at midnight, overrides, buffers before and after (equal or not), notice,
horizon, weekly capacity, daily limits of sessions and minutes (local days of 23 to 25 hours),
held times, a display zone other than the mentor's. The REST body must be byte for byte what
pydantic wrote before."""

import itertools
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest

from mentorapi.availability import service, slots
from mentorapi.availability.models import Availability
from mentorapi.availability.render import FreeSlots, offset_text
from mentorapi.kit.timezones import zone
from tests import slot_reference as ref

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # DST of 30 minutes
    "Europe/Dublin",  # "negative DST": winter is the daylight-saving side
    "America/St_Johns",  # -03:30 / -02:30
    "Pacific/Chatham",  # +12:45 / +13:45
    "Asia/Kolkata",
    "America/Santiago",  # switches at midnight
    "Africa/Casablanca",  # a month off DST around Ramadan
    "Antarctica/Troll",  # DST of two hours
    "Pacific/Apia",  # skipped 2011-12-30 entirely
    "Africa/Monrovia",  # -00:44:30 until 1972
    "UTC",
]
# Starts of ranges: near DST switches of those zones, a skipped day, a year Monrovia had LMT.
AROUND = [
    datetime(2027, 3, 26, tzinfo=UTC),
    datetime(2027, 3, 12, tzinfo=UTC),
    datetime(2027, 10, 29, tzinfo=UTC),
    datetime(2027, 10, 2, tzinfo=UTC),
    datetime(2027, 4, 1, tzinfo=UTC),
    datetime(2027, 9, 3, tzinfo=UTC),
    datetime(2026, 2, 10, tzinfo=UTC),
    datetime(2011, 12, 27, tzinfo=UTC),
    datetime(1971, 12, 20, tzinfo=UTC),
    datetime(2031, 6, 1, tzinfo=UTC),
]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
EIGHT_DAYS = timedelta(days=8)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _windows(rng: random.Random) -> list[dict[str, str]]:
    """Non-overlapping windows of one day, sometimes 00:00-24:00 or ending at 24:00."""
    choice = rng.random()
    if choice < 0.1:
        return [{"start": "00:00", "end": "24:00"}]
    if choice < 0.2:
        return []
    edges = sorted(rng.sample(range(0, 1441, 15), 2 * rng.randint(1, 3)))
    if rng.random() < 0.3:
        edges[-1] = 1440
    if rng.random() < 0.3:
        edges[0] = 0
    pairs = [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]
    return [{"start": _hhmm(a), "end": _hhmm(b)} for a, b in pairs if b > a and a < 1440]


def _buffers(rng: random.Random) -> dict[str, int]:
    """Equal (as the single buffer was), one-sided, or different."""
    choice = rng.random()
    if choice < 0.4:
        same = rng.choice([0, 0, 5, 15, 240])
        return {"before": same, "after": same}
    return {"before": rng.choice([0, 5, 10, 30, 240]), "after": rng.choice([0, 5, 15, 60])}


def _case(rng: random.Random) -> dict[str, Any]:
    tz = rng.choice(ZONES)
    start = rng.choice(AROUND) + timedelta(minutes=rng.randint(-3 * 1440, 3 * 1440))
    if rng.random() < 0.3:
        start += timedelta(seconds=rng.randint(0, 59), microseconds=rng.randint(0, 999_999))
    end = start + timedelta(minutes=rng.randint(1, 31 * 1440))
    weekly = [{"day": d, **w} for d in DAYS for w in _windows(rng)]
    first = start.date() - timedelta(days=2)
    overrides = [
        {"date": (first + timedelta(days=n)).isoformat(), "windows": _windows(rng)}
        for n in sorted(rng.sample(range(35), rng.randint(0, 6)))
    ]
    duration = rng.choice([5, 10, 15, 30, 45, 60])
    held = []
    for _ in range(rng.randint(0, 80)):
        at = (
            start
            - EIGHT_DAYS
            + timedelta(
                minutes=rng.randrange(0, int((end - start).total_seconds() // 60) + 16 * 1440)
            )
        )
        if rng.random() < 0.1:
            at += timedelta(seconds=rng.randint(1, 59), microseconds=rng.randint(0, 999_999))
        length = timedelta(minutes=rng.choice([5, 10, 15, 30, 60]))
        held.append((rng.random() < 0.8, at, at + length))
    return {
        "tz": tz,
        "display": rng.choice(
            [tz, tz, "America/New_York", "Asia/Kolkata", "UTC", rng.choice(ZONES)]
        ),
        "weekly": weekly,
        "overrides": overrides,
        **_buffers(rng),
        "notice": rng.choice([0, 0, 60, 60 * 24 * 3]),
        "capacity": rng.choice([None, None, 1, 3, 10]),
        "daily_sessions": rng.choice([None, None, 1, 2, 5]),
        "daily_minutes": rng.choice([None, None, 5, 30, 45, 90, 600]),
        "horizon": rng.choice([None, None, 1, 4, 9, 30]),
        "start": start,
        "end": end,
        "duration": duration,
        "now": start
        + timedelta(minutes=rng.randint(-2 * 1440, 5 * 1440), microseconds=rng.randint(0, 999_999)),
        "held": held,
    }


def _reference(case: dict[str, Any]) -> tuple[ref.Rules, ref.Calendar]:
    availability = Availability(
        app_id="app_x",
        mentor_id="mtr_x",
        weekly=case["weekly"],
        overrides=case["overrides"],
        buffer_before_minutes=case["before"],
        buffer_after_minutes=case["after"],
        min_notice_minutes=case["notice"],
        booking_horizon_days=case["horizon"],
        weekly_capacity=case["capacity"],
        daily_limit_sessions=case["daily_sessions"],
        daily_limit_minutes=case["daily_minutes"],
    )
    rules = ref.rules_of(availability, case["tz"])
    calendar = ref.calendar_of(
        rules,
        [(a, b) for active, a, b in case["held"] if active],
        [(a, b) for _, a, b in case["held"]],
    )
    return rules, calendar


def _rules(case: dict[str, Any]) -> slots.Rules:
    return slots.rules_from(
        case["tz"],
        case["weekly"],
        case["overrides"],
        buffer_before_minutes=case["before"],
        buffer_after_minutes=case["after"],
        min_notice_minutes=case["notice"],
        booking_horizon_days=case["horizon"],
        weekly_capacity=case["capacity"],
        daily_limit_sessions=case["daily_sessions"],
        daily_limit_minutes=case["daily_minutes"],
    )


def _held(case: dict[str, Any]) -> list[tuple[bool, int, int | None]]:
    return [(active, slots.to_us(a), slots.to_us(b)) for active, a, b in case["held"]]


def find(case: dict[str, Any], now: datetime) -> FreeSlots:
    """The new engine's slots for a case, asked at `now`."""
    return service.find_slots(
        _rules(case),
        _held(case),
        start=case["start"],
        end=case["end"],
        duration_minutes=case["duration"],
        display_timezone=case["display"],
        now=now,
    )


@pytest.mark.parametrize("seed", range(8))
def test_free_slots_and_the_rest_body_match_the_old_engine(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        case = _case(rng)
        rules, calendar = _reference(case)
        spans = ref.free_slots(
            rules,
            calendar,
            range_start=case["start"],
            range_end=case["end"],
            duration=timedelta(minutes=case["duration"]),
            now=case["now"],
        )
        found = find(case, case["now"])
        display = zone(case["display"])
        assert found.page_json() == ref.page_json(spans, display), case
        assert found.rows() == [(a, b, a.astimezone(display).isoformat()) for a, b in spans], case
        if spans:
            i = rng.randrange(len(spans))
            assert found[i].local_start == spans[i][0].astimezone(display).isoformat()


@pytest.mark.parametrize("seed", range(4))
def test_why_not_matches_the_old_engine(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(100):
        case = _case(rng)
        rules, calendar = _reference(case)
        new_rules = _rules(case)
        a, b = slots.to_us(case["start"]), slots.to_us(case["end"])
        clock = slots.clock_around(new_rules.zone, a, b, 9 * slots.DAY)
        new_calendar = slots.calendar_from(clock, _held(case), days=True)
        for _ in range(20):
            start = case["start"] + timedelta(minutes=rng.randrange(0, 31 * 1440, 5))
            if rng.random() < 0.1:
                start += timedelta(seconds=rng.randint(1, 59))
            end = start + timedelta(minutes=rng.choice([5, 15, 30, 60]))
            if end > case["end"] + EIGHT_DAYS:
                continue
            expected = ref.why_not(rules, calendar, start, end, case["now"])
            assert slots.why_not(new_rules, new_calendar, start, end, case["now"]) == expected


def test_holding_a_series_matches_the_old_engine() -> None:
    rng = random.Random(5)
    for _ in range(100):
        case = _case(rng)
        rules, calendar = _reference(case)
        new_rules = _rules(case)
        a, b = slots.to_us(case["start"]), slots.to_us(case["end"])
        new_calendar = slots.calendar_from(
            slots.clock_around(new_rules.zone, a, b, 9 * slots.DAY), _held(case), days=True
        )
        start = case["start"].replace(second=0, microsecond=0)
        for week in range(4):
            at = start + timedelta(weeks=week)
            end = at + timedelta(minutes=case["duration"])
            assert slots.why_not(new_rules, new_calendar, at, end, case["now"]) == ref.why_not(
                rules, calendar, at, end, case["now"]
            )
            calendar.hold(at, end, rules.zone)
            new_calendar.hold(at, end, new_rules.zone)
        assert new_calendar.busy == calendar.busy
        assert new_calendar.week_counts == calendar.week_counts
        assert {slots.date_of(d): n for d, n in new_calendar.days.items()} == calendar.day_counts
        assert {
            slots.date_of(d): timedelta(microseconds=n) for d, n in new_calendar.day_lengths.items()
        } == calendar.day_minutes


def _sample_zones() -> list[str]:
    names = sorted(available_timezones())
    return names[:: max(1, len(names) // 150)] + ZONES


@pytest.mark.parametrize("name", _sample_zones())
def test_clock_agrees_with_zoneinfo(name: str) -> None:
    """Offsets and wall-time conversion (fold=0 in gaps and repeated hours) as datetime has
    them, over random months from 1970 to 2999 and right around each change found."""
    tz = ZoneInfo(name)
    rng = random.Random(name)
    for _ in range(6):
        start = datetime(rng.randint(1970, 2999), rng.randint(1, 12), 1, tzinfo=UTC)
        if rng.random() < 0.5:
            start = datetime(rng.randint(1970, 2040), rng.randint(1, 12), 1, tzinfo=UTC)
        a = slots.to_us(start)
        b = a + 50 * slots.DAY
        clock = slots.Clock(tz, a, b)
        probes = [rng.randint(a, b) // slots.US * slots.US for _ in range(20)]
        for change in clock.changes[1:]:
            probes += [change - slots.US, change, change + slots.US]
        for t in probes:
            moment = slots.from_us(t)
            offset = moment.astimezone(tz).utcoffset()
            assert offset is not None
            assert clock.offset(t) == offset // timedelta(microseconds=1), (name, moment)
            local = moment.astimezone(tz)
            assert clock.local_day(t) == slots.day_number(local.date())
            expected_week = slots.week_number(slots.day_number(slots.week_of(moment, tz)))
            assert clock.week(t) == expected_week
            # A wall time near this instant (inside a gap or a repeated hour near a change).
            wall = local.replace(tzinfo=None) + timedelta(minutes=rng.choice([-90, -30, 0, 30, 90]))
            wall_us = (wall - datetime(1970, 1, 1)) // timedelta(microseconds=1)
            assert clock.utc(wall_us) == slots.to_us(wall.replace(tzinfo=tz).astimezone(UTC))


def test_offsets_are_written_as_isoformat_does() -> None:
    for minutes in (0, 60, -240, 330, 765, -210, 30):
        offset = timedelta(minutes=minutes)
        moment = datetime(2027, 1, 1, tzinfo=UTC).astimezone(
            __import__("datetime").timezone(offset)
        )
        assert offset_text(offset // timedelta(microseconds=1)) == moment.isoformat()[19:]
    assert offset_text(-(44 * 60 + 30) * slots.US) == "-00:44:30"


def test_zone_offsets_change_at_most_once_per_sample() -> None:
    """The Clock samples a zone every two days and bisects where samples differ, which finds
    every change only if no zone changes twice within a sample: check that for every zone of
    the installed tzdata, 1970 to 3000 (through the pure-Python zoneinfo's transition list and
    its rule for the years after it)."""
    pure = pytest.importorskip("zoneinfo._zoneinfo")
    low = datetime(1969, 12, 1, tzinfo=UTC).timestamp()
    high = datetime(3001, 1, 1, tzinfo=UTC).timestamp()
    step = slots._SAMPLE_SECONDS
    for name in available_timezones():
        info = pure.ZoneInfo.no_cache(name)
        changes = [t for t in info._trans_utc if low <= t <= high]
        tail = info._tz_after
        if hasattr(tail, "transitions"):
            last = datetime.fromtimestamp(changes[-1] if changes else low, UTC).year
            for year in range(max(1970, last), 3001, 7):
                changes += sorted([*tail.transitions(year), *tail.transitions(year + 1)])
        gaps = [b - a for a, b in itertools.pairwise(changes) if b > a]
        assert all(gap > step for gap in gaps), (name, min(gaps) / 3600)


def test_a_skipped_day_has_no_slots() -> None:
    """Pacific/Apia skipped 2011-12-30: its windows exist on no instant."""
    rules = slots.rules_from(
        "Pacific/Apia", [{"day": d, "start": "09:00", "end": "10:00"} for d in DAYS]
    )
    found = service.find_slots(
        rules,
        [],
        start=datetime(2011, 12, 28, tzinfo=UTC),
        end=datetime(2012, 1, 2, tzinfo=UTC),
        duration_minutes=60,
        display_timezone="Pacific/Apia",
        now=datetime(2011, 1, 1, tzinfo=UTC),
    )
    days = [row[2][:10] for row in found.rows()]
    assert "2011-12-30" not in days
    assert date(2011, 12, 31).isoformat() in days
