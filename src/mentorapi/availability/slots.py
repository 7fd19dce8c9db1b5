"""The slot engine: pure functions from availability rules and busy times to free start times.

Windows are wall-clock times in the mentor's zone, turned into UTC instants day by day with the
zone's rules of that day, so a 09:00 window stays at 09:00 local on both sides of a DST switch.
Candidates then step in absolute time, so a session is always its real length.

It runs on integers: an instant is microseconds since 1970-01-01 UTC (exact for any datetime,
so no comparison rounds), and a zone is a `Clock`, its offsets over the stretch of time one
request looks at, read from the zone once per request. Candidates are never datetimes: a
window's free starts come out of `range()` between the busy spans, and only the slots returned
are ever formatted (`FreeSlots`).
"""

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from mentorapi.availability.schemas import DAY_NUMBERS, minutes_of
from mentorapi.kit.bounded import MIN_WEIGHT, BoundedLRU
from mentorapi.kit.timezones import zone

Span = tuple[datetime, datetime]
USpan = tuple[int, int]  # [start, end) in microseconds since 1970-01-01 UTC

OUTSIDE = "outside the mentor's availability"
NOTICE = "inside the mentor's minimum notice"
OVERLAP = "overlaps another session of the mentor (buffer included)"
CAPACITY = "the mentor's weekly capacity is reached for that week"
HORIZON = "beyond the mentor's booking horizon"
DAILY_SESSIONS = "the mentor's daily limit of sessions is reached for that day"
DAILY_MINUTES = "the mentor's daily limit of minutes would be exceeded that day"

US = 1_000_000  # microseconds in a second
MINUTE = 60 * US
DAY = 86_400 * US
WEEK = 7 * DAY
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_ONE_US = timedelta(microseconds=1)
_ONE_SECOND = timedelta(seconds=1)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# A zone's offset changes at most once between two samples this far apart: in tzdata the
# closest two changes of any zone since 1970 are 166 hours apart (test_slot_engine checks it
# for every zone). Sampling at this step and bisecting where two samples differ finds every
# change to the second.
_SAMPLE_SECONDS = 2 * 86_400
_LONGEST_STEP = timedelta(minutes=15)


def to_us(instant: datetime) -> int:
    """Microseconds since 1970-01-01 UTC (naive values are UTC, as SQLite stores them)."""
    return (instant - (EPOCH if instant.tzinfo is not None else _NAIVE_EPOCH)) // _ONE_US


def from_us(instant: int) -> datetime:
    return EPOCH + timedelta(microseconds=instant)


def day_number(day: date) -> int:
    return day.toordinal() - _EPOCH_ORDINAL


def date_of(day: int) -> date:
    return date.fromordinal(day + _EPOCH_ORDINAL)


def week_number(day: int) -> int:
    """The week (Monday to Sunday) of a day since 1970-01-01 (a Thursday): 0 is the week of
    Monday 1969-12-29, whose Monday is day 7 * week - 3."""
    return (day + 3) // 7


def _offset_seconds(tz: ZoneInfo, second: int) -> int:
    offset = datetime.fromtimestamp(second, tz).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset // _ONE_SECOND


class Clock:
    """A zone's UTC offsets over [start, end]: `offsets[i]` holds from `changes[i]` on (the first
    one also before), in microseconds. Outside [start, end] the edge offsets are assumed."""

    __slots__ = ("_walls", "changes", "offsets")

    def __init__(self, tz: ZoneInfo, start: int, end: int) -> None:
        second, last = start // US, -(-end // US)
        offset = _offset_seconds(tz, second)
        changes, offsets = [second * US], [offset * US]
        while second < last:
            following = min(second + _SAMPLE_SECONDS, last)
            after = _offset_seconds(tz, following)
            if after != offset:
                # One change in (second, following]: bisect to its first second.
                low, high = second, following
                while high - low > 1:
                    middle = (low + high) // 2
                    if _offset_seconds(tz, middle) == offset:
                        low = middle
                    else:
                        high = middle
                changes.append(high * US)
                offsets.append(after * US)
                offset = after
            second = following
        self.changes = changes
        self.offsets = offsets
        # A wall time belongs after change i once it is past the change on both sides' clocks
        # (so a time in a spring-forward gap, or in the repeated hour of autumn, keeps the
        # offset before the change: PEP 495's fold=0, which is what datetime does).
        self._walls = [changes[i] + max(offsets[i - 1], offsets[i]) for i in range(1, len(changes))]

    def offset(self, instant: int) -> int:
        offsets = self.offsets
        if len(offsets) == 1:
            return offsets[0]
        return offsets[bisect.bisect_right(self.changes, instant, 1) - 1]

    def utc(self, wall: int) -> int:
        """The instant of a wall-clock time (microseconds since 1970-01-01 00:00 local)."""
        offsets = self.offsets
        if len(offsets) == 1:
            return wall - offsets[0]
        return wall - offsets[bisect.bisect_right(self._walls, wall)]

    def local_day(self, instant: int) -> int:
        """The local date of an instant, as days since 1970-01-01."""
        return (instant + self.offset(instant)) // DAY

    def week(self, instant: int) -> int:
        """The local week an instant is in (`week_number`)."""
        return (instant + self.offset(instant) + 3 * DAY) // WEEK


@dataclass(frozen=True)
class Rules:
    zone: ZoneInfo
    weekly: Mapping[int, Sequence[tuple[int, int]]]  # weekday (0 = Monday) -> minute spans
    overrides: Mapping[date, Sequence[tuple[int, int]]]
    # Time before (after) each session in which no other session may be.
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    notice: timedelta = timedelta(0)
    capacity: int | None = None
    daily_sessions: int | None = None  # per local day of the mentor (23 to 25 hours)
    daily_minutes: int | None = None
    horizon: timedelta | None = None  # a start at most this long after the moment of booking

    @property
    def buffer(self) -> timedelta:
        """The least time between two sessions. Of two sessions one after the other, the
        earlier one's after-buffer and the later one's before-buffer must both hold no session;
        buffers may share minutes (they keep sessions apart, not each other), so the gap is the
        larger of the two, whichever session was booked first."""
        return max(self.buffer_before, self.buffer_after)

    @property
    def daily(self) -> bool:
        """Whether a day's sessions are counted (a daily limit is set)."""
        return self.daily_sessions is not None or self.daily_minutes is not None


@dataclass
class Calendar:
    """What is already taken: active sessions (spans, sorted by start), sessions counted per
    local week (`weeks`, by `week_number` in the mentor's zone), and per local day (`days`, by
    day since 1970-01-01 in the mentor's zone) with their length (`day_lengths`, microseconds):
    the same sessions, those that count for capacity."""

    spans: list[USpan] = field(default_factory=list)
    weeks: dict[int, int] = field(default_factory=dict)
    days: dict[int, int] = field(default_factory=dict)
    day_lengths: dict[int, int] = field(default_factory=dict)
    _longest: int | None = None

    @property
    def longest(self) -> int:
        if self._longest is None:
            self._longest = max((b - a for a, b in self.spans), default=0)
        return self._longest

    @property
    def busy(self) -> list[Span]:
        return [(from_us(a), from_us(b)) for a, b in self.spans]

    @property
    def week_counts(self) -> dict[date, int]:
        return {date_of(7 * week - 3): n for week, n in self.weeks.items()}

    def overlaps_us(self, start: int, end: int, buffer: int) -> bool:
        # Only spans starting before end + buffer can touch; walk back from there until spans
        # start too early to reach `start` even if they were the longest one.
        spans, longest = self.spans, self.longest
        i = bisect.bisect_left(spans, end + buffer, key=itemgetter(0))
        while i > 0:
            i -= 1
            a, b = spans[i]
            if b + buffer > start:
                return True
            if a + longest + buffer <= start:
                break
        return False

    def overlaps(self, start: datetime, end: datetime, buffer: timedelta) -> bool:
        return self.overlaps_us(to_us(start), to_us(end), buffer // _ONE_US)

    def hold(self, start: datetime, end: datetime, tz: ZoneInfo) -> None:
        """Count a span as taken (a series checks its own occurrences one after another)."""
        a, b = to_us(start), to_us(end)
        bisect.insort(self.spans, (a, b))
        self._longest = max(self.longest, b - a)
        week = week_number(day_number(week_of(start, tz)))
        self.weeks[week] = self.weeks.get(week, 0) + 1
        day = day_number(start.astimezone(tz).date())
        self.days[day] = self.days.get(day, 0) + 1
        self.day_lengths[day] = self.day_lengths.get(day, 0) + (b - a)

    def day_full(self, rules: Rules, day: int, length: int) -> str | None:
        """Why a session of `length` microseconds cannot be added on a local day (a daily
        limit), or None."""
        if rules.daily_sessions is not None and self.days.get(day, 0) >= rules.daily_sessions:
            return DAILY_SESSIONS
        if (
            rules.daily_minutes is not None
            and self.day_lengths.get(day, 0) + length > rules.daily_minutes * MINUTE
        ):
            return DAILY_MINUTES
        return None


def rules_from(
    timezone: str,
    weekly: Iterable[Mapping[str, Any]] = (),
    overrides: Iterable[Mapping[str, Any]] = (),
    *,
    buffer_before_minutes: int = 0,
    buffer_after_minutes: int = 0,
    min_notice_minutes: int = 0,
    weekly_capacity: int | None = None,
    daily_limit_sessions: int | None = None,
    daily_limit_minutes: int | None = None,
    booking_horizon_days: int | None = None,
) -> Rules:
    """Rules from an availability's stored values (JSON windows as saved by the service)."""
    by_day: dict[int, list[tuple[int, int]]] = {}
    for w in weekly:
        by_day.setdefault(DAY_NUMBERS[w["day"]], []).append(
            (minutes_of(w["start"]), minutes_of(w["end"]))
        )
    return Rules(
        zone=zone(timezone),
        weekly=by_day,
        overrides={
            date.fromisoformat(o["date"]): [
                (minutes_of(w["start"]), minutes_of(w["end"])) for w in o["windows"]
            ]
            for o in overrides
        },
        buffer_before=timedelta(minutes=buffer_before_minutes),
        buffer_after=timedelta(minutes=buffer_after_minutes),
        notice=timedelta(minutes=min_notice_minutes),
        capacity=weekly_capacity,
        daily_sessions=daily_limit_sessions,
        daily_minutes=daily_limit_minutes,
        horizon=None if booking_horizon_days is None else timedelta(days=booking_horizon_days),
    )


class AvailabilityValues(Protocol):
    """An availability's stored values: the model, or the same columns read with others
    (`repository.SlotSource`, where `weekly` is None for a mentor who never set one)."""

    @property
    def weekly(self) -> Iterable[Mapping[str, Any]] | None: ...
    @property
    def overrides(self) -> Iterable[Mapping[str, Any]]: ...
    @property
    def buffer_before_minutes(self) -> int: ...
    @property
    def buffer_after_minutes(self) -> int: ...
    @property
    def min_notice_minutes(self) -> int: ...
    @property
    def weekly_capacity(self) -> int | None: ...
    @property
    def daily_limit_sessions(self) -> int | None: ...
    @property
    def daily_limit_minutes(self) -> int | None: ...
    @property
    def booking_horizon_days(self) -> int | None: ...


def rules_of(availability: AvailabilityValues | None, timezone: str) -> Rules:
    if availability is None or availability.weekly is None:
        return rules_from(timezone)
    return rules_from(
        timezone,
        availability.weekly,
        availability.overrides,
        buffer_before_minutes=availability.buffer_before_minutes,
        buffer_after_minutes=availability.buffer_after_minutes,
        min_notice_minutes=availability.min_notice_minutes,
        weekly_capacity=availability.weekly_capacity,
        daily_limit_sessions=availability.daily_limit_sessions,
        daily_limit_minutes=availability.daily_limit_minutes,
        booking_horizon_days=availability.booking_horizon_days,
    )


def open_spans(rules: Rules, clock: Clock, first_day: int, last_day: int) -> list[USpan]:
    """The windows of these local days (days since 1970-01-01) as UTC spans, touching ones
    merged: 22:00-24:00 on Monday and 00:00-02:00 on Tuesday are one span, so a session may run
    across midnight. 24:00 is the next midnight; a wall time inside a spring-forward gap
    resolves with the offset before the switch, i.e. it lands just after the gap."""
    found: list[USpan] = []
    weekly, overrides = rules.weekly, rules.overrides
    # One offset over the whole clock (most zones, most weeks): `clock.utc` is a subtraction.
    fixed = clock.offsets[0] if len(clock.offsets) == 1 else None
    for day in range(first_day, last_day + 1):
        windows = overrides.get(date_of(day)) if overrides else None
        if windows is None:
            windows = weekly.get((day + 3) % 7, ())
        midnight = day * DAY
        for start, end in windows:
            if fixed is not None:
                a, b = midnight + start * MINUTE - fixed, midnight + end * MINUTE - fixed
            else:
                a, b = clock.utc(midnight + start * MINUTE), clock.utc(midnight + end * MINUTE)
            if b > a:
                found.append((a, b))
    found.sort()
    merged: list[USpan] = []
    for a, b in found:
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def week_of(instant: datetime, tz: ZoneInfo) -> date:
    """The Monday (in the mentor's zone) of the week an instant falls in."""
    local = instant.astimezone(tz).date()
    return local - timedelta(days=local.weekday())


def clock_around(tz: ZoneInfo, start: int, end: int, margin: int) -> Clock:
    return Clock(tz, start - margin, end + margin)


# Clocks over whole UTC days, shared by every caller in the process (a Clock is never changed
# once made): scoring 20 mentors builds a clock for each, over the same few days in a dozen
# zones, and most of that work is the zone's offsets sampled every two days. A zone a day is a
# few hundred bytes.
_clocks: BoundedLRU[tuple[ZoneInfo, int, int], Clock] = BoundedLRU(
    max_entries=2_048, max_weight=2_048 * MIN_WEIGHT, weigh=lambda _key, _clock: MIN_WEIGHT
)


def shared_clock(tz: ZoneInfo, start: int, end: int) -> Clock:
    """A clock of `tz` covering at least [start, end]: the whole UTC days around them, shared.
    Its offsets are the zone's over all of those days, so within [start, end] it answers as
    `Clock(tz, start, end)` does."""
    first, last = start // DAY * DAY, -(-end // DAY) * DAY
    key = (tz, first, last)
    found = _clocks.get(key)
    if found is None:
        found = Clock(tz, first, last)
        _clocks.put(key, found)
    return found


def calendar_from(
    clock: Clock,
    held: Iterable[tuple[bool, int, int | None]],
    *,
    weeks: bool = True,
    days: bool = False,
) -> Calendar:
    """A calendar from held times: (holds the mentor's time, start, end or None), in any order.
    Every one counts for its week (unless `weeks` is False: no capacity to check) and, if
    `days` (a daily limit to check), for its local day with its length; the ones that hold
    time and have an end are busy. `clock` (the mentor's zone) must cover every start."""
    held = held if isinstance(held, list) else list(held)
    spans = sorted([(start, end) for active, start, end in held if active and end is not None])
    counts: dict[int, int] = {}
    if weeks:
        if len(clock.offsets) == 1:
            shift = clock.offsets[0] + 3 * DAY
            numbers = [(start + shift) // WEEK for _, start, _ in held]
        else:
            numbers = [clock.week(start) for _, start, _ in held]
        for week in numbers:
            counts[week] = counts.get(week, 0) + 1
    day_counts: dict[int, int] = {}
    lengths: dict[int, int] = {}
    if days:
        for _, start, end in held:
            day = clock.local_day(start)
            day_counts[day] = day_counts.get(day, 0) + 1
            lengths[day] = lengths.get(day, 0) + (0 if end is None else end - start)
    return Calendar(spans=spans, weeks=counts, days=day_counts, day_lengths=lengths)


def calendar_of(rules: Rules, active: Iterable[Span], counted: Iterable[datetime]) -> Calendar:
    spans = sorted((to_us(a), to_us(b)) for a, b in active)
    weeks: dict[int, int] = {}
    for starts_at in counted:
        week = week_number(day_number(week_of(starts_at, rules.zone)))
        weeks[week] = weeks.get(week, 0) + 1
    return Calendar(spans=spans, weeks=weeks)


def why_not(
    rules: Rules, calendar: Calendar, start: datetime, end: datetime, now: datetime
) -> str | None:
    """None when [start, end) can be booked, else the reason it cannot."""
    if start < now + rules.notice:
        return NOTICE
    if rules.horizon is not None and start > now + rules.horizon:
        return HORIZON
    a, b = to_us(start), to_us(end)
    clock = clock_around(rules.zone, a, b, 3 * DAY)
    spans = open_spans(rules, clock, clock.local_day(a) - 1, clock.local_day(b) + 1)
    if not any(x <= a and b <= y for x, y in spans):
        return OUTSIDE
    if calendar.overlaps_us(a, b, rules.buffer // _ONE_US):
        return OVERLAP
    if rules.capacity is not None and calendar.weeks.get(clock.week(a), 0) >= rules.capacity:
        return CAPACITY
    if rules.daily:
        return calendar.day_full(rules, clock.local_day(a), b - a)
    return None


def step_for(duration: timedelta) -> timedelta:
    """Candidates every 15 minutes (or every session length, for shorter sessions)."""
    return min(duration, _LONGEST_STEP)


def _blocked(spans: Sequence[USpan], buffer: int, duration: int) -> tuple[list[int], list[int]]:
    """Where no session of `duration` may start: the open intervals (lows[i], highs[i]) around
    the busy spans (buffer included), merged, in order."""
    lows: list[int] = []
    highs: list[int] = []
    for a, b in spans:  # sorted by start, so the lows come sorted too
        low, high = a - buffer - duration, b + buffer
        if highs and low < highs[-1]:
            if high > highs[-1]:
                highs[-1] = high
        else:
            lows.append(low)
            highs.append(high)
    return lows, highs


def free_starts(
    rules: Rules,
    calendar: Calendar,
    clock: Clock,
    *,
    range_start: int,
    range_end: int,
    duration: int,
    now: int,
) -> list[int]:
    """Free start times (microseconds) in [range_start, range_end) for sessions of `duration`,
    in time order. `clock` (the mentor's zone) must cover the range and three days around it."""
    step = step_for(timedelta(microseconds=duration)) // _ONE_US
    earliest = max(range_start, now + rules.notice // _ONE_US)
    if rules.horizon is not None:  # a start at the horizon itself may still be booked
        range_end = min(range_end, now + rules.horizon // _ONE_US + 1)
    lows, highs = _blocked(calendar.spans, rules.buffer // _ONE_US, duration)
    blocked = len(lows)
    found: list[int] = []
    append, extend = found.append, found.extend  # runs are often one start long
    j = 0
    first_day = clock.local_day(range_start) - 1
    last_day = clock.local_day(range_end) + 1
    for a, b in open_spans(rules, clock, first_day, last_day):
        # The candidates a + k * step from this k to `last` end by b and start in
        # [earliest, range_end); busy intervals cut them into runs, each a range() of starts.
        k = -((a - earliest) // step)
        if k < 0:
            k = 0
        last = (min(b - duration, range_end - 1) - a) // step
        if k > last:
            continue
        final = a + last * step
        first = a + k * step
        while j < blocked and highs[j] <= first:
            j += 1
        i = j  # the next window may still need intervals this one looks at
        while i < blocked:
            low = lows[i]
            if low >= final:
                break
            stop = (low - a) // step  # starts up to the interval's low end are free
            if stop > k:
                extend(range(a + k * step, a + stop * step + 1, step))
            elif stop == k:
                append(a + k * step)
            resume = -((a - highs[i]) // step)  # the first start at or after its high end
            if resume > k:
                k = resume
                if k > last:
                    break
            i += 1
        if k < last:
            extend(range(a + k * step, final + 1, step))
        elif k == last:
            append(final)
    if rules.capacity is not None:
        full = {week for week, n in calendar.weeks.items() if n >= rules.capacity}
        if full:
            found = [start for start in found if clock.week(start) not in full]
    if rules.daily and found:
        if rules.daily_minutes is not None and duration > rules.daily_minutes * MINUTE:
            return []  # longer than a whole day allows
        # Otherwise a day with no session has room (a limit of sessions is at least 1).
        full_days = {d for d in calendar.days if calendar.day_full(rules, d, duration) is not None}
        if full_days:
            found = [start for start in found if clock.local_day(start) not in full_days]
    return found


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
    a, b, length = to_us(range_start), to_us(range_end), duration // _ONE_US
    clock = clock_around(rules.zone, a, b, 3 * DAY)
    starts = free_starts(
        rules, calendar, clock, range_start=a, range_end=b, duration=length, now=to_us(now)
    )
    return [(from_us(s), from_us(s + length)) for s in starts]
