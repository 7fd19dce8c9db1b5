"""Availability rules of a mentor and the free slots they leave.

Anyone in the app (API key or member) may read a mentor's availability and slots, since
mentors are public; only the mentor themself or the API key may change it (403 otherwise).
"""

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import Caller, require_mentor
from mentorapi.availability import repository
from mentorapi.availability.models import Availability
from mentorapi.availability.schemas import AvailabilityPut, Slot, dump_weekly
from mentorapi.availability.slots import Calendar, Rules, free_slots, rules_of
from mentorapi.kit.errors import InvalidInput
from mentorapi.kit.timezones import utcnow, zone
from mentorapi.kit.versioning import check_version
from mentorapi.mentors import service as mentors_service
from mentorapi.mentors.models import Mentor
from mentorapi.sessions import repository as sessions_repository
from mentorapi.sessions.models import ACTIVE, SessionStatus

MAX_RANGE = timedelta(days=31)
# Sessions starting this far around a range can still touch it: a day covers any session plus
# buffer; a week covers the capacity count of the range's first week.
_AROUND = timedelta(days=8)


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
    mentor = await mentors_service.get(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
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
    availability.buffer_minutes = data.buffer_minutes
    availability.min_notice_minutes = data.min_notice_minutes
    availability.weekly_capacity = data.weekly_capacity
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
    from mentorapi.availability.slots import calendar_of

    rows = await sessions_repository.counted_between(
        db_session, mentor.app_id, mentor.id, start - _AROUND, end + _AROUND, exclude_id
    )
    # A request nobody answered in time is expired, whether or not a worker has said so yet.
    current = utcnow()
    rows = [
        s
        for s in rows
        if not (
            s.status == SessionStatus.requested
            and s.expires_at is not None
            and s.expires_at <= current
        )
    ]
    active = [
        (s.starts_at, s.ends_at)
        for s in rows
        if s.status in ACTIVE and s.starts_at is not None and s.ends_at is not None
    ]
    return calendar_of(rules, active, [s.starts_at for s in rows if s.starts_at is not None])


async def slots(
    *,
    db_session: AsyncSession,
    app_id: str,
    mentor_id: str,
    start: datetime,
    end: datetime,
    duration_minutes: int,
    display_timezone: str | None = None,
) -> list[Slot]:
    mentor = await mentors_service.get(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
    if end <= start:
        raise InvalidInput("end must be after start", loc=["query", "end"])
    if end - start > MAX_RANGE:
        raise InvalidInput("a slot range is at most 31 days", loc=["query", "end"])
    if duration_minutes not in mentor.session_lengths:
        raise InvalidInput(
            f"the mentor offers sessions of {mentor.session_lengths} minutes",
            loc=["query", "duration"],
        )
    rules, _ = await rules_for(db_session, mentor)
    calendar = await calendar_for(db_session, mentor, start, end, rules=rules)
    shown = zone(display_timezone or mentor.timezone)
    spans = free_slots(
        rules,
        calendar,
        range_start=start,
        range_end=end,
        duration=timedelta(minutes=duration_minutes),
        now=utcnow(),
    )
    return [
        Slot(starts_at=a, ends_at=b, local_start=a.astimezone(shown).isoformat()) for a, b in spans
    ]
