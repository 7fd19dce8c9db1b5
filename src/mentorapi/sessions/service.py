"""Sessions: booking against free slots, the lifecycle, expiry, weekly series, notes.

Every change of one mentor's calendar first locks the mentor row (`FOR UPDATE` on PostgreSQL;
SQLite serializes writers anyway), so the free-slot and capacity checks and the insert that
follows cannot interleave with another booking. PostgreSQL's exclusion constraint backs this up:
if anything ever slips through, the insert fails and the caller gets a 409, never a 500.
Locks are always taken mentor first, then session (or group session), then mentee, so two
transitions cannot deadlock. The mentee's lock makes "never a mentee in two places at once"
hold against their seats in group sessions (group_sessions/places.py), which no constraint
spans.

Who may do what (`actor`, see `apps/caller.py`): the API key everything of its app; a member
their own side of their own sessions. The mentee books (only for themself), reschedules and
cancels as mentee, and alone reads and writes the session's private notes and writes its action
items; the mentor accepts, declines, completes, marks a no-show and cancels as mentor, and may
read the action items. Someone outside a session gets 404 for it, the other side 403.
Permission checks come before any lock, expiry or change, so a refusal changes nothing.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import (
    Caller,
    Role,
    acts_as_mentee,
    own_profiles,
    require_mentee,
    require_participant,
    require_party,
)
from mentorapi.availability import service as availability_service
from mentorapi.availability.service import BookingFacts
from mentorapi.availability.slots import Rules, why_not
from mentorapi.db.built import built
from mentorapi.db.integrity import flush_or_conflict, or_conflict
from mentorapi.db.uow import writable
from mentorapi.group_sessions import places
from mentorapi.kit import timezones
from mentorapi.kit.errors import Conflict, InvalidInput, NotFound
from mentorapi.kit.pagination import PageRequest
from mentorapi.kit.versioning import check_version
from mentorapi.mentees import service as mentees_service
from mentorapi.mentors.models import Format, Mentor
from mentorapi.mentors.schemas import SessionLength
from mentorapi.reminders import service as reminders
from mentorapi.sessions import repository
from mentorapi.sessions.models import (
    ActionItem,
    Series,
    SeriesStatus,
    Session,
    SessionNote,
    SessionStatus,
)
from mentorapi.sessions.repository import LockedMentor
from mentorapi.sessions.schemas import (
    ActionItemCreate,
    ActionItemUpdate,
    Cancel,
    Complete,
    Decline,
    NotesPut,
    SeriesCreate,
    SessionCreate,
    session_json,
)
from mentorapi.webhooks import outbox
from mentorapi.webhooks.models import EventType
from mentorapi.webhooks.outbox import NewEvent

ASYNC_ANSWER_WITHIN = timedelta(days=7)
MAX_ACTION_ITEMS = 50
SLOT_TAKEN = (
    "the slot is not free: another session of the mentor was just booked there "
    "(or the mentor or mentee was just deleted)"
)


def now() -> datetime:
    """The clock of this module (tests move it to see sessions start)."""
    return timezones.utcnow()


# Bookkeeping fields that change with everything; `previous` names the fields that mean something.
_NOT_PREVIOUS = {"version", "updated_at", "history"}


def change_event(
    type: EventType, data: dict[str, Any], before: dict[str, Any] | None, *, object_id: str
) -> NewEvent:
    """The event for a change of an object: `data`, the object as JSON, plus `previous` with the
    fields that changed (their old values) when `before` (the object as JSON before the change)
    is given; without it, the object was created (its first event)."""
    if before is not None:
        data["previous"] = {
            k: v for k, v in before.items() if k not in _NOT_PREVIOUS and data.get(k) != v
        }
    return NewEvent(type, data, object_id=object_id, created=before is None)


def _event(session: Session, type: EventType, before: dict[str, Any] | None = None) -> NewEvent:
    return change_event(type, session_json(session), before, object_id=session.id)


async def _record(
    db_session: AsyncSession,
    session: Session,
    type: EventType,
    before: dict[str, Any] | None = None,
    *,
    endpoints: list[outbox.Subscriber] | None = None,
) -> None:
    await outbox.record_many(
        db_session,
        app_id=session.app_id,
        events=[_event(session, type, before)],
        endpoints=endpoints,
    )


class Versioned(Protocol):
    version: int
    updated_at: datetime


def touch(row: Versioned) -> None:
    """A change of a versioned row (a session, a group session, a seat): a new version."""
    row.version += 1
    row.updated_at = timezones.utcnow()


# --- reading -----------------------------------------------------------------------------------


def _party(actor: Caller, side: Role, session: Session | Series, action: str) -> None:
    what = "session" if isinstance(session, Session) else "series"
    require_party(
        actor,
        side,
        mentor_id=session.mentor_id,
        mentee_id=session.mentee_id,
        not_found=f"no {what} {session.id}",
        action=action,
    )


async def get(*, db_session: AsyncSession, app_id: str, actor: Caller, session_id: str) -> Session:
    """A session its caller takes part in (anyone else: 404, as for an unknown id)."""
    await expire_due(db_session=db_session, app_id=app_id, only_if_any=True)
    session = await repository.get(db_session, app_id, session_id)
    if session is None:
        raise NotFound(f"no session {session_id}")
    require_participant(
        actor,
        mentor_id=session.mentor_id,
        mentee_id=session.mentee_id,
        not_found=f"no session {session_id}",
    )
    return session


async def list_sessions(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    page: PageRequest,
    mentor_id: str | None = None,
    mentee_id: str | None = None,
    statuses: list[SessionStatus] | None = None,
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
) -> tuple[list[Session], str | None]:
    """A member sees only the sessions they take part in; their filters narrow that further."""
    await expire_due(db_session=db_session, app_id=app_id, only_if_any=True)
    own = own_profiles(actor)
    return await repository.list_page(
        db_session,
        app_id,
        page,
        participant=None if own is None else (own.mentor_id, own.mentee_id),
        mentor_id=mentor_id,
        mentee_id=mentee_id,
        statuses=[s.value for s in statuses or []],
        starts_from=starts_from,
        starts_before=starts_before,
    )


# --- booking -----------------------------------------------------------------------------------


def check_terms(
    mentor: Mentor | LockedMentor, *, format: Format, duration_minutes: SessionLength
) -> None:
    """The format and the length the mentor offers (a 422 at the body's field)."""
    if format.value not in mentor.formats:
        raise InvalidInput(
            f"the mentor offers the formats {mentor.formats}", loc=["body", "format"]
        )
    if duration_minutes not in mentor.session_lengths:
        raise InvalidInput(
            f"the mentor offers sessions of {mentor.session_lengths} minutes",
            loc=["body", "duration_minutes"],
        )


def _skill_not_offered() -> InvalidInput:
    return InvalidInput("the mentor does not offer this skill", loc=["body", "skill_id"])


async def check_offer(
    db_session: AsyncSession,
    mentor: Mentor,
    *,
    format: Format,
    duration_minutes: SessionLength,
    skill_id: str,
) -> None:
    """What the mentor offers: the format, the length, the skill (a 422 at the body's field)."""
    check_terms(mentor, format=format, duration_minutes=duration_minutes)
    if not await repository.offers_skill(db_session, mentor.app_id, mentor.id, skill_id):
        raise _skill_not_offered()


async def _unguarded(
    db_session: AsyncSession, app_id: str, mentor_id: str
) -> tuple[list[outbox.Subscriber], reminders.Policy]:
    """What a new booking writes with but the mentor's lock does not guard (the app's webhook
    endpoints, the reminder policy), read before the lock: every round trip made while the
    mentor is locked is one that all other bookings of the mentor wait for."""
    endpoints = await outbox.subscribers(db_session, app_id)
    return endpoints, await reminders.policy_for(db_session, app_id, {mentor_id})


async def _lock(db_session: AsyncSession, app_id: str, mentor_id: str) -> Mentor:
    mentor = await repository.lock_mentor(db_session, app_id, mentor_id)
    if mentor is None:
        raise NotFound(f"no mentor {mentor_id}")
    return mentor


async def _lock_both(
    db_session: AsyncSession, app_id: str, mentor_id: str, mentee_id: str
) -> LockedMentor:
    """The mentor and the mentee of a booking locked in one statement (mentor first, as
    always); 404 for whichever of them does not exist, the mentor first."""
    mentor = await repository.lock_mentor_and_mentee(db_session, app_id, mentor_id, mentee_id)
    if mentor is None:
        await _lock(db_session, app_id, mentor_id)  # no mentor: its 404
        raise mentees_service.not_found(mentee_id)
    return mentor


async def lock_mentee(db_session: AsyncSession, app_id: str, mentee_id: str) -> None:
    """The mentee row locked (after the mentor and the session: the order every change keeps),
    so their places in time cannot change until commit; 404 if there is no such mentee."""
    if not await repository.lock_mentee(db_session, app_id, mentee_id):
        raise NotFound(f"no mentee {mentee_id}")


async def _check_ask(
    db_session: AsyncSession,
    mentor: LockedMentor,
    data: SessionCreate,
    span: tuple[datetime, datetime] | None,
) -> BookingFacts:
    """Everything about a booking of the locked mentor and mentee (`_lock_both`) except the
    time, and what the time is checked against (over `span`, from the first start to the last
    end asked for; None for an async session): the mentor's calendar and the mentee's places,
    read in one statement: every round trip made while the mentor is locked is one that all
    other bookings of the mentor wait for."""
    facts = await availability_service.booking_facts(
        db_session, mentor, mentee_id=data.mentee_id, skill_id=data.skill_id, span=span
    )
    check_terms(mentor, format=data.format, duration_minutes=data.duration_minutes)
    if not facts.offers_skill:
        raise _skill_not_offered()
    if data.format is Format.async_:
        if data.starts_at is not None:
            raise InvalidInput("an async session has no start time", loc=["body", "starts_at"])
    else:
        if data.starts_at is None:
            raise InvalidInput(
                "starts_at is required (only async sessions have none)", loc=["body", "starts_at"]
            )
        whole_minute(data.starts_at, ["body", "starts_at"])
    return facts


def whole_minute(value: datetime, loc: list[str | int]) -> None:
    if value.second or value.microsecond:
        raise InvalidInput("start times are whole minutes", loc=loc)


def _new_session(
    app_id: str, data: SessionCreate, auto_accept: bool, starts_at: datetime | None
) -> Session:
    status = SessionStatus.booked if auto_accept else SessionStatus.requested
    ends_at = starts_at + timedelta(minutes=data.duration_minutes) if starts_at else None
    expires_at = None
    if status is SessionStatus.requested:
        expires_at = starts_at or timezones.utcnow() + ASYNC_ANSWER_WITHIN
    # Written as a row (repository.insert_new), never flushed: `built`, not `Session(...)`.
    return built(
        Session,
        {
            "app_id": app_id,
            "mentor_id": data.mentor_id,
            "mentee_id": data.mentee_id,
            "status": status.value,
            "topic": data.topic,
            "questions": data.questions,
            "skill_id": data.skill_id,
            "format": data.format.value,
            "duration_minutes": data.duration_minutes,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "expires_at": expires_at,
        },
    )


def _created_event(session: Session) -> EventType:
    if session.status == SessionStatus.booked:
        return EventType.session_booked
    return EventType.session_requested


def slot_conflict(
    reason: str, starts_at: datetime, detail: str | None = None, **extra: Any
) -> Conflict:
    """A time that is not free: the start asked for and why (`reason`), as a 409."""
    return Conflict(
        detail or f"the slot is not free: {reason}",
        extra={"starts_at": _z(starts_at), "reason": reason, **extra},
    )


async def check_slot(
    db_session: AsyncSession,
    mentor: Mentor,
    rules: Rules,
    start: datetime,
    end: datetime,
    *,
    current: datetime,
    exclude_id: str | None = None,
) -> None:
    """The mentor's time (one-to-one and group sessions, buffers, limits, notice) is free for
    [start, end), the mentor row locked; else a 409 saying why. `exclude_id`: a session or group
    session being moved, whose own time does not count."""
    calendar = await availability_service.calendar_for(
        db_session, mentor, start, end, rules=rules, exclude_id=exclude_id
    )
    reason = why_not(rules, calendar, start, end, current)
    if reason is not None:
        raise slot_conflict(reason, start)


async def check_mentee_free(
    db_session: AsyncSession,
    app_id: str,
    mentee_id: str,
    start: datetime,
    end: datetime,
    *,
    current: datetime,
    exclude_session_id: str | None = None,
) -> None:
    """A one-to-one session's mentee holds no seat and no other session at that time (the
    mentee row locked, so none can slip in before the commit)."""
    found = await places.of_mentees(
        db_session,
        app_id,
        [mentee_id],
        start,
        end,
        now=current,
        with_sessions=True,
        exclude_session_id=exclude_session_id,
    )
    if places.clashing(found, start, end):
        raise slot_conflict(places.ELSEWHERE, start)


async def book(
    *, db_session: AsyncSession, app_id: str, actor: Caller, data: SessionCreate
) -> Session:
    booked = await book_as_json(db_session=db_session, app_id=app_id, actor=actor, data=data)
    return booked.session


@dataclass(frozen=True, slots=True)
class Booked:
    """A new session, and the session as JSON data (`session_json`, what `SessionRead` writes),
    as its created event carries it: a response can be written from it without building the
    `SessionRead` again."""

    session: Session
    data: dict[str, Any]


async def book_as_json(
    *, db_session: AsyncSession, app_id: str, actor: Caller, data: SessionCreate
) -> Booked:
    """`book`, with the session as JSON data too."""
    # A member books only for themself; any other mentee does not exist for them.
    require_mentee(actor, data.mentee_id)
    endpoints, policy = await _unguarded(db_session, app_id, data.mentor_id)
    mentor = await _lock_both(db_session, app_id, data.mentor_id, data.mentee_id)
    starts_at = data.starts_at.astimezone(UTC) if data.starts_at else None
    span = None
    if starts_at is not None:
        span = (starts_at, starts_at + timedelta(minutes=data.duration_minutes))
    facts = await _check_ask(db_session, mentor, data, span)
    current = now()
    if span is not None:
        reason = why_not(facts.rules, facts.calendar, *span, current)
        if reason is None and places.clashing(facts.places, *span):
            reason = places.ELSEWHERE
        if reason is not None:
            raise slot_conflict(reason, span[0])
    session = _new_session(app_id, data, facts.auto_accept, starts_at)
    async with or_conflict(SLOT_TAKEN):
        await repository.insert_new(db_session, [session])
    created = _event(session, _created_event(session))
    await outbox.record_many(db_session, app_id=app_id, events=[created], endpoints=endpoints)
    await reminders.plan_sessions(db_session, [session], now=current, new=True, policy=policy)
    return Booked(session, created.data)


def occurrences(first: datetime, tz_name: str, count: int, interval_weeks: int) -> list[datetime]:
    """The same wall-clock time in the mentor's zone every `interval_weeks`, across DST."""
    tz = timezones.zone(tz_name)
    wall = first.astimezone(tz).replace(tzinfo=None)
    return [
        (wall + timedelta(weeks=interval_weeks * i)).replace(tzinfo=tz).astimezone(UTC)
        for i in range(count)
    ]


async def create_series(
    *, db_session: AsyncSession, app_id: str, actor: Caller, data: SeriesCreate
) -> tuple[Series, list[Session]]:
    require_mentee(actor, data.mentee_id)
    if data.format is Format.async_:
        raise InvalidInput(
            "a series needs start times; async sessions cannot repeat", loc=["body", "format"]
        )
    endpoints, policy = await _unguarded(db_session, app_id, data.mentor_id)
    mentor = await _lock_both(db_session, app_id, data.mentor_id, data.mentee_id)
    duration = timedelta(minutes=data.duration_minutes)
    starts = []
    if data.starts_at is not None:  # else _check_ask refuses it
        starts = occurrences(data.starts_at, mentor.timezone, data.count, data.interval_weeks)
    facts = await _check_ask(
        db_session, mentor, data, (starts[0], starts[-1] + duration) if starts else None
    )
    rules, calendar = facts.rules, facts.calendar
    conflicts = []
    current = now()
    for index, start in enumerate(starts):
        reason = why_not(rules, calendar, start, start + duration, current)
        if reason is None and places.clashing(facts.places, start, start + duration):
            reason = places.ELSEWHERE
        if reason is not None:
            conflicts.append(
                {
                    "index": index,
                    "starts_at": start.isoformat().replace("+00:00", "Z"),
                    "reason": reason,
                }
            )
        calendar.hold(start, start + duration, rules.zone)
    if conflicts:
        raise Conflict(
            f"{len(conflicts)} of {data.count} occurrences are not free; nothing was booked",
            extra={"conflicts": conflicts},
        )
    series = Series(
        app_id=app_id,
        mentor_id=mentor.id,
        mentee_id=data.mentee_id,
        count=data.count,
        interval_weeks=data.interval_weeks,
    )
    db_session.add(series)
    await db_session.flush()
    sessions = []
    for start in starts:
        session = _new_session(app_id, data, facts.auto_accept, start)
        session.series_id = series.id
        sessions.append(session)
    async with or_conflict(SLOT_TAKEN):
        await repository.insert_new(db_session, sessions)
    created = [_event(session, _created_event(session)) for session in sessions]
    await outbox.record_many(db_session, app_id=app_id, events=created, endpoints=endpoints)
    await reminders.plan_sessions(db_session, sessions, now=current, new=True, policy=policy)
    return series, sessions


async def get_series(
    *, db_session: AsyncSession, app_id: str, actor: Caller, series_id: str
) -> tuple[Series, list[Session]]:
    await expire_due(db_session=db_session, app_id=app_id, only_if_any=True)
    series = await repository.get_series(db_session, app_id, series_id)
    if series is None:
        raise NotFound(f"no series {series_id}")
    require_participant(
        actor,
        mentor_id=series.mentor_id,
        mentee_id=series.mentee_id,
        not_found=f"no series {series_id}",
    )
    return series, await repository.series_sessions(db_session, app_id, series_id)


async def cancel_series(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    series_id: str,
    data: Cancel,
    expected_version: int | None = None,
) -> tuple[Series, list[Session]]:
    """Cancel every occurrence still to come; past and finished ones stay as they are."""
    series = await repository.get_series(db_session, app_id, series_id)
    if series is None:
        raise NotFound(f"no series {series_id}")
    _party(actor, Role(data.by.value), series, f"cancelling as {data.by.value}")
    await repository.lock_mentor(db_session, app_id, series.mentor_id)
    series = await repository.get_series(db_session, app_id, series_id, for_update=True)
    assert series is not None
    check_version(series.version, expected_version, "the series")
    if series.status == SeriesStatus.cancelled:
        raise Conflict("the series is already cancelled")
    sessions = await repository.series_sessions(db_session, app_id, series_id, for_update=True)
    current = now()
    cancelled: list[Session] = []
    events = []
    for session in sessions:
        upcoming = session.starts_at is not None and session.starts_at > current
        if session.status in (SessionStatus.requested, SessionStatus.booked) and upcoming:
            before = session_json(session)
            _cancel(session, data)
            events.append(_event(session, EventType.session_cancelled, before))
            cancelled.append(session)
    await outbox.record_many(db_session, app_id=app_id, events=events)
    series.status = SeriesStatus.cancelled.value
    series.version += 1
    series.updated_at = timezones.utcnow()
    await repository.save(db_session, series, *sessions)
    await reminders.plan_sessions(db_session, cancelled, now=current)
    return series, sessions


# --- the lifecycle -----------------------------------------------------------------------------

MOVES: dict[str, tuple[SessionStatus, ...]] = {
    "accept": (SessionStatus.requested,),
    "decline": (SessionStatus.requested,),
    "reschedule": (SessionStatus.requested, SessionStatus.booked),
    "cancel": (SessionStatus.requested, SessionStatus.booked),
    "complete": (SessionStatus.booked,),
    "no-show": (SessionStatus.booked,),
}


async def _load_for_change(
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    session_id: str,
    move: str,
    expected_version: int | None,
    side: Role,
) -> Session:
    """The session locked for a change (mentor row first), after the caller's right to make
    it as `side`, then expiry, version and legality."""
    session = await repository.get(db_session, app_id, session_id)
    if session is None:
        raise NotFound(f"no session {session_id}")
    action = f"cancelling as {side.value}" if move == "cancel" else _DOING[move]
    _party(actor, side, session, action)
    await repository.lock_mentor(db_session, app_id, session.mentor_id)
    session = await repository.get(db_session, app_id, session_id, for_update=True)
    assert session is not None
    check_version(session.version, expected_version, "the session")
    current = now()
    if _is_due(session, current):
        # The request lapsed before anyone answered; it is expired whatever is asked now.
        # The caller's 409 rolls this back; the next read or the worker expires it for good.
        await _expire(db_session, session)
    require_move(move, session.status, tuple(s.value for s in MOVES[move]))
    return session


_DOING = {
    "accept": "accepting",
    "decline": "declining",
    "reschedule": "rescheduling",
    "complete": "completing",
    "no-show": "marking a no-show",
}


def _is_due(session: Session, current: datetime) -> bool:
    return (
        session.status == SessionStatus.requested
        and session.expires_at is not None
        and session.expires_at <= current
    )


async def accept(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    session_id: str,
    expected_version: int | None = None,
) -> Session:
    session = await _load_for_change(
        db_session, app_id, actor, session_id, "accept", expected_version, Role.mentor
    )
    before = session_json(session)
    session.status = SessionStatus.booked.value
    session.expires_at = None
    touch(session)
    await repository.save(db_session, session)
    await _record(db_session, session, EventType.session_booked, before)
    await reminders.plan_sessions(db_session, [session], now=now())
    return session


async def decline(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    session_id: str,
    data: Decline,
    expected_version: int | None = None,
) -> Session:
    session = await _load_for_change(
        db_session, app_id, actor, session_id, "decline", expected_version, Role.mentor
    )
    before = session_json(session)
    session.status = SessionStatus.declined.value
    session.decline_reason = data.reason or None
    touch(session)
    await repository.save(db_session, session)
    await _record(db_session, session, EventType.session_declined, before)
    await reminders.plan_sessions(db_session, [session], now=now())
    return session


def _cancel(session: Session, data: Cancel) -> None:
    session.status = SessionStatus.cancelled.value
    session.cancelled_by = data.by.value
    session.cancel_reason = data.reason or None
    touch(session)


async def cancel(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    session_id: str,
    data: Cancel,
    expected_version: int | None = None,
) -> Session:
    session = await _load_for_change(
        db_session, app_id, actor, session_id, "cancel", expected_version, Role(data.by.value)
    )
    before = session_json(session)
    _cancel(session, data)
    await repository.save(db_session, session)
    await _record(db_session, session, EventType.session_cancelled, before)
    await reminders.plan_sessions(db_session, [session], now=now())
    return session


async def reschedule(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    session_id: str,
    starts_at: datetime,
    expected_version: int | None = None,
) -> Session:
    session = await _load_for_change(
        db_session, app_id, actor, session_id, "reschedule", expected_version, Role.mentee
    )
    if session.starts_at is None or session.ends_at is None:
        raise InvalidInput("an async session has no time to move", loc=["body", "starts_at"])
    whole_minute(starts_at, ["body", "starts_at"])
    mentor = await repository.lock_mentor(db_session, app_id, session.mentor_id)
    assert mentor is not None
    new_start = starts_at.astimezone(UTC)
    new_end = new_start + timedelta(minutes=session.duration_minutes)
    rules, _ = await availability_service.rules_for(db_session, mentor)
    current = now()
    await check_slot(
        db_session, mentor, rules, new_start, new_end, current=current, exclude_id=session.id
    )
    await lock_mentee(db_session, app_id, session.mentee_id)
    await check_mentee_free(
        db_session,
        app_id,
        session.mentee_id,
        new_start,
        new_end,
        current=current,
        exclude_session_id=session.id,
    )
    before = session_json(session)
    session.history = moved_history(session.history, session.starts_at, session.ends_at)
    session.rescheduled_from = session.starts_at
    session.starts_at, session.ends_at = new_start, new_end
    if session.status == SessionStatus.requested:
        session.expires_at = new_start
    touch(session)
    db_session.add(session)
    await flush_or_conflict(db_session, SLOT_TAKEN)
    await _record(db_session, session, EventType.session_rescheduled, before)
    await reminders.plan_sessions(db_session, [session], now=now())
    return session


def _z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def moved_history(
    history: list[dict[str, Any]], starts_at: datetime, ends_at: datetime
) -> list[dict[str, Any]]:
    """`history` with the time being left behind now added (`PastTime`)."""
    return [
        *history,
        {"starts_at": _z(starts_at), "ends_at": _z(ends_at), "at": _z(timezones.utcnow())},
    ]


def require_started(starts_at: datetime | None, move: str, what: str = "session") -> None:
    if starts_at is not None and starts_at > now():
        raise Conflict(f"cannot {move} a {what} that has not started yet")


def require_move(
    move: str,
    status: str,
    allowed: tuple[str, ...],
    *,
    what: str = "session",
    status_key: str = "session_status",
) -> None:
    """An illegal move is a 409 that says where the thing is (`status_key`)."""
    if status not in allowed:
        raise Conflict(
            f"cannot {move} a {what} that is {status} (only when {', '.join(allowed)})",
            extra={status_key: status},
        )


async def complete(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    session_id: str,
    data: Complete,
    expected_version: int | None = None,
) -> Session:
    session = await _load_for_change(
        db_session, app_id, actor, session_id, "complete", expected_version, Role.mentor
    )
    before = session_json(session)
    require_started(session.starts_at, "complete")
    session.status = SessionStatus.completed.value
    session.completion_note = data.note or None
    touch(session)
    await repository.save(db_session, session)
    await repository.add_completed(
        db_session, app_id, session.mentor_id, session.duration_minutes, [session.mentee_id]
    )
    await _record(db_session, session, EventType.session_completed, before)
    await reminders.plan_sessions(db_session, [session], now=now(), completing=True)
    return session


async def no_show(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    session_id: str,
    expected_version: int | None = None,
) -> Session:
    session = await _load_for_change(
        db_session, app_id, actor, session_id, "no-show", expected_version, Role.mentor
    )
    before = session_json(session)
    require_started(session.starts_at, "mark as no-show")
    session.status = SessionStatus.no_show.value
    touch(session)
    await repository.save(db_session, session)
    await _record(db_session, session, EventType.session_no_show, before)
    await reminders.plan_sessions(db_session, [session], now=now())
    return session


# --- expiry ------------------------------------------------------------------------------------


async def _expire(db_session: AsyncSession, session: Session) -> None:
    before = session_json(session)
    session.status = SessionStatus.expired.value
    touch(session)
    await repository.save(db_session, session)
    await _record(db_session, session, EventType.session_expired, before)


async def expire_due(
    *,
    db_session: AsyncSession,
    app_id: str | None = None,
    at: datetime | None = None,
    only_if_any: bool = False,
) -> int:
    """Expire requests nobody answered before they started; returns how many.

    The worker calls it for every app; reads call it lazily for their app (`only_if_any`: one
    cheap query when nothing is due, which is almost always).
    """
    current = at or now()
    if (
        only_if_any
        and app_id is not None
        and not await repository.has_due_requests(db_session, app_id, current)
    ):
        return 0
    async with writable(db_session) as writer:
        due = await repository.due_requests(writer, current, app_id)
        for session in due:
            await _expire(writer, session)
    return len(due)


# --- notes and action items --------------------------------------------------------------------
# Notes are the mentee's private notebook: to a mentor member they do not exist (404), as with
# any private thing of a mentee. Action items are the mentee's follow-ups: the mentee writes
# them, the mentor may read them (to follow up in the next session).


async def _mentee_notes_session(
    db_session: AsyncSession, app_id: str, actor: Caller, session_id: str
) -> Session:
    session = await get(db_session=db_session, app_id=app_id, actor=actor, session_id=session_id)
    if not acts_as_mentee(actor, session.mentee_id):
        raise NotFound(
            f"no notes on session {session_id} for {actor.describe()}: "
            "a session's notes are private to its mentee"
        )
    return session


async def get_notes(
    *, db_session: AsyncSession, app_id: str, actor: Caller, session_id: str
) -> SessionNote:
    session = await _mentee_notes_session(db_session, app_id, actor, session_id)
    note = await repository.get_notes(db_session, app_id, session.id)
    return note or SessionNote(app_id=app_id, session_id=session.id, version=0)


async def put_notes(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    session_id: str,
    data: NotesPut,
    expected_version: int | None = None,
) -> SessionNote:
    session = await _mentee_notes_session(db_session, app_id, actor, session_id)
    note = await repository.get_notes(db_session, app_id, session.id)
    if note is None:
        check_version(0, expected_version, "the notes")
        note = SessionNote(app_id=app_id, session_id=session.id)
    else:
        check_version(note.version, expected_version, "the notes")
        note.version += 1
        note.updated_at = timezones.utcnow()
    note.notes = data.notes
    note.takeaways = data.takeaways
    await repository.save(db_session, note)
    return note


async def list_action_items(
    *, db_session: AsyncSession, app_id: str, actor: Caller, session_id: str
) -> list[ActionItem]:
    session = await get(db_session=db_session, app_id=app_id, actor=actor, session_id=session_id)
    return await repository.action_items(db_session, app_id, session.id)


async def _action_items_session(
    db_session: AsyncSession, app_id: str, actor: Caller, session_id: str, action: str
) -> Session:
    session = await get(db_session=db_session, app_id=app_id, actor=actor, session_id=session_id)
    _party(actor, Role.mentee, session, action)
    return session


async def add_action_item(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    session_id: str,
    data: ActionItemCreate,
) -> ActionItem:
    session = await _action_items_session(
        db_session, app_id, actor, session_id, "adding action items"
    )
    if len(await repository.action_items(db_session, app_id, session.id)) >= MAX_ACTION_ITEMS:
        raise Conflict(f"a session has at most {MAX_ACTION_ITEMS} action items")
    item = ActionItem(
        app_id=app_id,
        session_id=session.id,
        text=data.text,
        due_on=data.due_on.isoformat() if data.due_on else None,
    )
    await repository.save(db_session, item)
    if item.due_on:
        await _plan_item(db_session, session, item)
    return item


async def _plan_item(db_session: AsyncSession, session: Session, item: ActionItem) -> None:
    zone = await reminders.mentee_timezone(db_session, session.app_id, session.mentee_id)
    await reminders.plan_action_items(db_session, session.app_id, [item], zone, now=now())


async def update_action_item(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    session_id: str,
    item_id: str,
    data: ActionItemUpdate,
    expected_version: int | None = None,
) -> ActionItem:
    session = await _action_items_session(
        db_session, app_id, actor, session_id, "changing action items"
    )
    item = await repository.get_action_item(db_session, app_id, session_id, item_id)
    if item is None:
        raise NotFound(f"no action item {item_id} on session {session_id}")
    check_version(item.version, expected_version, "the action item")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("text") is not None:
        item.text = changes["text"]
    if "due_on" in changes:
        item.due_on = changes["due_on"].isoformat() if changes["due_on"] else None
    if changes.get("done") is not None and changes["done"] != item.done:
        item.done = changes["done"]
        item.done_at = timezones.utcnow() if item.done else None
    item.version += 1
    item.updated_at = timezones.utcnow()
    await repository.save(db_session, item)
    if "due_on" in changes or "done" in changes:
        await _plan_item(db_session, session, item)
    return item


async def calendar_parts(
    *, db_session: AsyncSession, app_id: str, actor: Caller, session_id: str
) -> tuple[Session, str, str]:
    """The session with its mentor's and mentee's names, for a calendar file."""
    from mentorapi.mentors import service as mentors_service

    session = await get(db_session=db_session, app_id=app_id, actor=actor, session_id=session_id)
    if session.starts_at is None:
        raise Conflict("an async session has no time, so no calendar event")
    mentor = await mentors_service.get(
        db_session=db_session, app_id=app_id, mentor_id=session.mentor_id
    )
    mentee = await mentees_service.get(
        db_session=db_session, app_id=app_id, mentee_id=session.mentee_id
    )
    return session, mentor.name, mentee.name
