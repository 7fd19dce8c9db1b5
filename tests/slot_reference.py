"""The slot engine as it was before the integer rewrite (commit f14340e), kept as the oracle the
fast engine (mentorapi.availability.slots) is checked against, plus the service's old rendering
of a slots response (pydantic's Page[Slot], as FastAPI serialized it).

Since then it has learnt the booking limits, written the plain way, from their definitions
(not from the fast engine's shortcuts): a buffer before and one after each session, checked
between every pair of sessions both ways (`apart`); limits per local day (a `date` in the
mentor's zone, whatever its length); a horizon after the moment of asking.

Windows are wall-clock times in the mentor's zone, turned into UTC instants day by day with the
zone's rules of that day, so a 09:00 window stays at 09:00 local on both sides of a DST switch.
Candidates then step in absolute time, so a session is always its real length.
"""

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mentorapi.availability.models import Availability
from mentorapi.availability.schemas import DAYS, minutes_of
from mentorapi.kit.timezones import zone

Span = tuple[datetime, datetime]

OUTSIDE = "outside the mentor's availability"
NOTICE = "inside the mentor's minimum notice"
OVERLAP = "overlaps another session of the mentor (buffer included)"
CAPACITY = "the mentor's weekly capacity is reached for that week"
HORIZON = "beyond the mentor's booking horizon"
DAILY_SESSIONS = "the mentor's daily limit of sessions is reached for that day"
DAILY_MINUTES = "the mentor's daily limit of minutes would be exceeded that day"


@dataclass(frozen=True)
class Rules:
    zone: ZoneInfo
    weekly: Mapping[int, Sequence[tuple[int, int]]]  # weekday (0 = Monday) -> minute spans
    overrides: Mapping[date, Sequence[tuple[int, int]]]
    before: timedelta = timedelta(0)
    after: timedelta = timedelta(0)
    notice: timedelta = timedelta(0)
    capacity: int | None = None
    daily_sessions: int | None = None
    daily_minutes: int | None = None
    horizon: timedelta | None = None


def _meet(p: Span, q: Span) -> bool:
    """Two half-open spans share an instant (an empty span meets nothing)."""
    return p[0] < p[1] and q[0] < q[1] and p[0] < q[1] and q[0] < p[1]


def apart(x: Span, y: Span, before: timedelta, after: timedelta) -> bool:
    """Two sessions keep clear of each other and of each other's buffers: neither meets the
    other, nor the other's before-buffer [start - before, start), nor its after-buffer
    [end, end + after). (Buffers may meet each other.)"""
    if _meet(x, y):
        return False
    for one, other in ((x, y), (y, x)):
        zones = [(one[0] - before, one[0]), (one[1], one[1] + after)]
        if any(_meet(zone, other) for zone in zones):
            return False
    return True


@dataclass
class Calendar:
    """What is already taken: active sessions (busy, sorted by start), and sessions counted per
    local week (Monday in the mentor's zone) and per local date, with their minutes."""

    busy: list[Span] = field(default_factory=list)
    week_counts: dict[date, int] = field(default_factory=dict)
    longest: timedelta = timedelta(0)
    day_counts: dict[date, int] = field(default_factory=dict)
    day_minutes: dict[date, timedelta] = field(default_factory=dict)

    def crowds(self, start: datetime, end: datetime, before: timedelta, after: timedelta) -> bool:
        """Whether [start, end) and some busy span are not `apart`."""
        # Spans starting at end + before + after or later are apart; walk back from there until
        # spans start too early to come that near `start` even if they were the longest one.
        reach = before + after
        i = bisect.bisect_left(self.busy, (end + reach,))
        while i > 0:
            i -= 1
            a, b = self.busy[i]
            if not apart((a, b), (start, end), before, after):
                return True
            if a + self.longest + reach <= start:
                break
        return False

    def count(self, start: datetime, end: datetime, tz: ZoneInfo) -> None:
        """Count a session for its week and its local date."""
        week = week_of(start, tz)
        self.week_counts[week] = self.week_counts.get(week, 0) + 1
        day = start.astimezone(tz).date()
        self.day_counts[day] = self.day_counts.get(day, 0) + 1
        self.day_minutes[day] = self.day_minutes.get(day, timedelta(0)) + (end - start)

    def hold(self, start: datetime, end: datetime, tz: ZoneInfo) -> None:
        """Count a span as taken (a series checks its own occurrences one after another)."""
        bisect.insort(self.busy, (start, end))
        self.longest = max(self.longest, end - start)
        self.count(start, end, tz)


def rules_of(availability: Availability | None, timezone: str) -> Rules:
    tz = zone(timezone)
    if availability is None:
        return Rules(zone=tz, weekly={}, overrides={})
    weekly: dict[int, list[tuple[int, int]]] = {}
    for w in availability.weekly:
        weekly.setdefault(DAYS.index(w["day"]), []).append(
            (minutes_of(w["start"]), minutes_of(w["end"]))
        )
    overrides = {
        date.fromisoformat(o["date"]): [
            (minutes_of(w["start"]), minutes_of(w["end"])) for w in o["windows"]
        ]
        for o in availability.overrides
    }
    horizon = availability.booking_horizon_days
    return Rules(
        zone=tz,
        weekly=weekly,
        overrides=overrides,
        before=timedelta(minutes=availability.buffer_before_minutes),
        after=timedelta(minutes=availability.buffer_after_minutes),
        notice=timedelta(minutes=availability.min_notice_minutes),
        capacity=availability.weekly_capacity,
        daily_sessions=availability.daily_limit_sessions,
        daily_minutes=availability.daily_limit_minutes,
        horizon=None if horizon is None else timedelta(days=horizon),
    )


def _instant(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    # 24:00 is the next midnight. A wall time inside a spring-forward gap resolves with the
    # offset before the switch (PEP 495 fold=0), i.e. it lands just after the gap.
    day += timedelta(days=minutes // 1440)
    minutes %= 1440
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=tz)
    return local.astimezone(UTC)


def windows_on(rules: Rules, day: date) -> list[Span]:
    spans = rules.overrides.get(day)
    if spans is None:
        spans = rules.weekly.get(day.weekday(), ())
    result = []
    for start, end in spans:
        a, b = _instant(day, start, rules.zone), _instant(day, end, rules.zone)
        if b > a:
            result.append((a, b))
    return result


def open_spans(rules: Rules, days: Iterable[date]) -> list[Span]:
    """The windows of these days as UTC spans, touching ones merged: 22:00-24:00 on Monday and
    00:00-02:00 on Tuesday are one span, so a session may run across midnight."""
    merged: list[Span] = []
    for a, b in sorted(span for day in days for span in windows_on(rules, day)):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def local_days(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def week_of(instant: datetime, tz: ZoneInfo) -> date:
    """The Monday (in the mentor's zone) of the week an instant falls in."""
    local = instant.astimezone(tz).date()
    return local - timedelta(days=local.weekday())


def calendar_of(rules: Rules, active: Iterable[Span], counted: Iterable[Span]) -> Calendar:
    busy = sorted(active)
    longest = max((b - a for a, b in busy), default=timedelta(0))
    calendar = Calendar(busy=busy, longest=longest)
    for start, end in counted:
        calendar.count(start, end, rules.zone)
    return calendar


def why_not(
    rules: Rules, calendar: Calendar, start: datetime, end: datetime, now: datetime
) -> str | None:
    """None when [start, end) can be booked, else the reason it cannot."""
    if start < now + rules.notice:
        return NOTICE
    if rules.horizon is not None and start > now + rules.horizon:
        return HORIZON
    spans = open_spans(rules, local_days(start, end, rules.zone))
    if not any(a <= start and end <= b for a, b in spans):
        return OUTSIDE
    return _taken(rules, calendar, start, end)


def _taken(rules: Rules, calendar: Calendar, start: datetime, end: datetime) -> str | None:
    if calendar.crowds(start, end, rules.before, rules.after):
        return OVERLAP
    week = week_of(start, rules.zone)
    if rules.capacity is not None and calendar.week_counts.get(week, 0) >= rules.capacity:
        return CAPACITY
    day = start.astimezone(rules.zone).date()
    if rules.daily_sessions is not None and calendar.day_counts.get(day, 0) >= rules.daily_sessions:
        return DAILY_SESSIONS
    if rules.daily_minutes is not None and calendar.day_minutes.get(day, timedelta(0)) + (
        end - start
    ) > timedelta(minutes=rules.daily_minutes):
        return DAILY_MINUTES
    return None


def step_for(duration: timedelta) -> timedelta:
    """Candidates every 15 minutes (or every session length, for shorter sessions)."""
    return min(duration, timedelta(minutes=15))


def free_slots(
    rules: Rules,
    calendar: Calendar,
    *,
    range_start: datetime,
    range_end: datetime,
    duration: timedelta,
    now: datetime,
) -> list[Span]:
    """Free [start, end) spans whose start lies in [range_start, range_end), in time order."""
    step = step_for(duration)
    earliest = max(range_start, now + rules.notice)
    latest = None if rules.horizon is None else now + rules.horizon
    found: list[Span] = []
    for a, b in open_spans(rules, local_days(range_start, range_end, rules.zone)):
        # Candidates come from inside a window, so only notice, horizon, overlap, capacity and
        # the daily limits remain to check (why_not's window test would repeat what is known).
        start = a
        while start + duration <= b:
            end = start + duration
            inside = earliest <= start < range_end and (latest is None or start <= latest)
            if inside and _taken(rules, calendar, start, end) is None:
                found.append((start, end))
            start += step
    return found


def page_json(spans: Sequence[Span], display: ZoneInfo) -> bytes:
    """The body GET /v1/mentors/{id}/slots answered before the rewrite."""
    from pydantic import TypeAdapter

    from mentorapi.availability.schemas import Slot
    from mentorapi.kit.pagination import Page

    slots = [
        Slot(starts_at=a, ends_at=b, local_start=a.astimezone(display).isoformat())
        for a, b in spans
    ]
    return TypeAdapter(Page[Slot]).dump_json(Page(data=slots, next_cursor=None))
