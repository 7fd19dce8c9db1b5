"""Availability rules of a mentor and the free slots they leave.

Anyone in the app (API key or member) may read a mentor's availability and slots, since
mentors are public; only the mentor themself or the API key may change it (403 otherwise).
"""

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import Caller, acts_as_mentor, require_mentor
from mentorapi.availability import memo, repository
from mentorapi.availability.models import Availability
from mentorapi.availability.render import FreeSlots
from mentorapi.availability.schemas import AvailabilityPut, dump_weekly
from mentorapi.availability.slots import (
    DAY,
    MINUTE,
    Calendar,
    Clock,
    Rules,
    calendar_from,
    clock_around,
    free_starts,
    rules_from,
    rules_of,
    to_us,
)
from mentorapi.group_sessions.repository import Place
from mentorapi.kit.errors import InvalidInput, NotFound
from mentorapi.kit.timezones import utcnow, zone
from mentorapi.kit.versioning import check_version
from mentorapi.mentors import service as mentors_service
from mentorapi.mentors.models import Mentor
from mentorapi.sessions import repository as sessions_repository
from mentorapi.sessions.repository import Held, LockedMentor

MAX_RANGE = timedelta(days=31)
# Sessions starting this far around a range can still touch it: a day covers any session plus
# buffer, and the local days at its edges; a week covers the capacity count of the range's
# first week.
_AROUND = timedelta(days=8)
_AROUND_US = _AROUND // timedelta(microseconds=1)


async def get(
    *, db_session: AsyncSession, app_id: str, mentor_id: str
) -> tuple[Mentor, Availability]:
    """The mentor and their availability (an empty one, never saved, if none was set)."""
    mentor = await mentors_service.get(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
    availability = await repository.get(db_session, app_id, mentor_id)
    if availability is None:
        availability = Availability(app_id=app_id, mentor_id=mentor_id, version=0)
    return mentor, availability


async def put(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    mentor_id: str,
    data: AvailabilityPut,
    expected_version: int | None = None,
) -> tuple[Mentor, Availability]:
    # The booking lock on the mentor row (sessions/service.py), in the same statement that
    # reads the mentor, and only for a caller who may make the change (a refusal holds
    # nothing): a booking checks the availability under it, so one in flight commits before
    # this PUT answers, and one that comes later reads what this PUT writes. It also orders
    # two PUTs: the second reads the first's version (If-Match, the version count). The
    # availability row is written after it, as by every change of the mentor (no deadlock).
    mentor = await mentors_service.get(
        db_session=db_session,
        app_id=app_id,
        mentor_id=mentor_id,
        for_update=acts_as_mentor(actor, mentor_id),
    )
    require_mentor(actor, mentor.id, "changing the availability")
    availability = await repository.get(db_session, app_id, mentor_id)
    if availability is None:
        check_version(0, expected_version, "the availability")
        availability = Availability(app_id=app_id, mentor_id=mentor_id)
    else:
        check_version(availability.version, expected_version, "the availability")
        availability.version += 1
        availability.updated_at = utcnow()
    availability.weekly = dump_weekly(data.weekly)
    availability.overrides = [
        o.model_dump(mode="json") for o in sorted(data.overrides, key=lambda o: o.date)
    ]
    availability.buffer_before_minutes = data.buffer_before_minutes
    availability.buffer_after_minutes = data.buffer_after_minutes
    availability.min_notice_minutes = data.min_notice_minutes
    availability.booking_horizon_days = data.booking_horizon_days
    availability.weekly_capacity = data.weekly_capacity
    availability.daily_limit_sessions = data.daily_limit_sessions
    availability.daily_limit_minutes = data.daily_limit_minutes
    availability.auto_accept = data.auto_accept
    await repository.save(db_session, availability)
    return mentor, availability


async def rules_for(db_session: AsyncSession, mentor: Mentor) -> tuple[Rules, bool]:
    """The mentor's slot rules and whether they auto-accept."""
    availability = await repository.get(db_session, mentor.app_id, mentor.id)
    rules = rules_of(availability, mentor.timezone)
    return rules, bool(availability and availability.auto_accept)


async def calendar_for(
    db_session: AsyncSession,
    mentor: Mentor,
    start: datetime,
    end: datetime,
    *,
    rules: Rules,
    exclude_id: str | None = None,
) -> Calendar:
    # A request nobody answered in time is expired, whether or not a worker has said so yet.
    held = await sessions_repository.counted_between(
        db_session,
        mentor.app_id,
        mentor.id,
        start - _AROUND,
        end + _AROUND,
        now=utcnow(),
        exclude_id=exclude_id,
    )
    return _calendar(rules, held, start, end)


def _calendar(rules: Rules, held: list[Held], start: datetime, end: datetime) -> Calendar:
    return calendar_from(
        _mentor_clock(rules, start, end),
        held,
        weeks=rules.capacity is not None,
        days=rules.daily,
    )


@dataclass(frozen=True, slots=True)
class BookingFacts:
    """What a booking of a locked mentor and mentee is checked against: the mentor's rules,
    whether they auto-accept, the calendar of [start, end) (empty for a booking without a
    time), whether the mentor offers the skill, and the mentee's places in time over
    [start, end) (none for a booking without a time)."""

    rules: Rules
    auto_accept: bool
    calendar: Calendar
    offers_skill: bool
    places: list[Place]


async def booking_facts(
    db_session: AsyncSession,
    mentor: LockedMentor,
    *,
    mentee_id: str,
    skill_id: str,
    span: tuple[datetime, datetime] | None,
) -> BookingFacts:
    """`rules_for` and `calendar_for` over `span` (None: no time, no calendar to read), with the
    skill and the mentee's places, in one statement. Call it with the mentor and the mentee
    locked (after the locks: a statement that waited for one would see the held times and the
    places as they were before the wait)."""
    # A request nobody answered in time is expired, whether or not a worker has said so yet.
    current = utcnow()
    held_from, held_to = (span[0] - _AROUND, span[1] + _AROUND) if span else (current, current)
    found = await repository.booking_source(
        db_session,
        mentor.app_id,
        mentor.id,
        mentee_id=mentee_id,
        skill_id=skill_id,
        held_from=held_from,
        held_to=held_to,
        # A booking without a time has no places to check (dropped below).
        places_from=span[0] if span else current,
        places_to=span[1] if span else current,
        now=current,
    )
    if found is None:  # the caller holds the mentor's row: it cannot be gone
        raise NotFound(f"no mentor {mentor.id}")
    rules = rules_of(found.slots, mentor.timezone)
    return BookingFacts(
        rules=rules,
        auto_accept=found.slots.auto_accept,
        calendar=_calendar(rules, found.slots.held(), *span) if span else Calendar(),
        offers_skill=found.offers_skill,
        places=found.places if span else [],
    )


def _mentor_clock(rules: Rules, start: datetime, end: datetime) -> Clock:
    """The mentor's zone over everything a range looks at: the sessions around it (for their
    weeks) and the windows of the days next to it."""
    return clock_around(rules.zone, to_us(start), to_us(end), _AROUND_US + DAY)


async def slots(
    *,
    db_session: AsyncSession,
    app_id: str,
    mentor_id: str,
    start: datetime,
    end: datetime,
    duration_minutes: int,
    display_timezone: str | None = None,
) -> FreeSlots:
    current = utcnow()
    # One statement reads the mentor, the availability and the held times, before the checks
    # below (which need the mentor); a range they refuse reads at most 31 days of sessions.
    source = await repository.slot_source(
        db_session,
        app_id,
        mentor_id,
        start - _AROUND,
        min(end, start + MAX_RANGE) + _AROUND,
        current,
    )
    if source is None:
        raise NotFound(f"no mentor {mentor_id}")
    if end <= start:
        raise InvalidInput("end must be after start", loc=["query", "end"])
    if end - start > MAX_RANGE:
        raise InvalidInput("a slot range is at most 31 days", loc=["query", "end"])
    if duration_minutes not in source.session_lengths:
        raise InvalidInput(
            f"the mentor offers sessions of {source.session_lengths} minutes",
            loc=["query", "duration"],
        )
    # Every candidate start is a whole second (availability/render.py): the microseconds of
    # the range change which slots are found only through this, so a page is found, and kept
    # (availability/memo.py), for whole seconds, not once per microsecond a caller tries.
    start, end = _whole_second(start), _whole_second(end)
    display = display_timezone or source.timezone
    key = _page_key(app_id, mentor_id, source, start, end, duration_minutes, display)
    page = memo.pages.get(key)
    notice = timedelta(minutes=source.min_notice_minutes)
    if page is None:
        rules = rules_from(
            source.timezone,
            source.weekly or (),
            source.overrides,
            buffer_before_minutes=source.buffer_before_minutes,
            buffer_after_minutes=source.buffer_after_minutes,
            min_notice_minutes=source.min_notice_minutes,
            weekly_capacity=source.weekly_capacity,
            daily_limit_sessions=source.daily_limit_sessions,
            daily_limit_minutes=source.daily_limit_minutes,
        )
        # Without the notice (as if asked that long before `start`) and without the horizon:
        # both move with the time of asking, so they cut at use.
        page = find_slots(
            rules,
            source.held(),
            start=start,
            end=end,
            duration_minutes=duration_minutes,
            display_timezone=display,
            now=start - notice,
        ).rendered()
        memo.pages.put(key, page)
    page = page.starting_from(to_us(current + notice))
    if source.booking_horizon_days is not None:
        page = page.up_to(to_us(current + timedelta(days=source.booking_horizon_days)))
    return page


def _whole_second(instant: datetime) -> datetime:
    """The first whole second at or after `instant`."""
    if not instant.microsecond:
        return instant
    return instant.replace(microsecond=0) + timedelta(seconds=1)


def _page_key(
    app_id: str,
    mentor_id: str,
    source: repository.SlotSource,
    start: datetime,
    end: datetime,
    duration_minutes: int,
    display_timezone: str,
) -> Hashable:
    """Everything a slots page is computed from but the time of asking (availability/memo.py)."""
    return (
        app_id,
        mentor_id,
        source.timezone,
        tuple(source.session_lengths),
        orjson.dumps(source.weekly),
        orjson.dumps(source.overrides),
        source.buffer_before_minutes,
        source.buffer_after_minutes,
        source.min_notice_minutes,
        source.booking_horizon_days,
        source.weekly_capacity,
        source.daily_limit_sessions,
        source.daily_limit_minutes,
        source.dialect,
        source.held_raw,
        to_us(start),
        to_us(end),
        duration_minutes,
        display_timezone,
    )


def find_slots(
    rules: Rules,
    held: Iterable[Held],
    *,
    start: datetime,
    end: datetime,
    duration_minutes: int,
    display_timezone: str,
    now: datetime,
) -> FreeSlots:
    """The free slots in [start, end) given the sessions held from 8 days before to 8 days
    after it (what `slots` reads), shown in `display_timezone`."""
    clock = _mentor_clock(rules, start, end)
    calendar = calendar_from(clock, held, weeks=rules.capacity is not None, days=rules.daily)
    a, b = to_us(start), to_us(end)
    tz = zone(display_timezone)
    display = clock if tz is rules.zone else clock_around(tz, a, b, DAY)
    duration = duration_minutes * MINUTE
    starts = free_starts(
        rules, calendar, clock, range_start=a, range_end=b, duration=duration, now=to_us(now)
    )
    return FreeSlots(starts=starts, duration=duration, display=display)
