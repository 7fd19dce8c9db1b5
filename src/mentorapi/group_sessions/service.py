"""Group sessions: a mentor's session with 2-12 seats, each seat a mentee with their own ask.

A group session takes the mentor's time as a one-to-one session does: it must fit the mentor's
availability, notice, horizon and buffers, counts as one session (whatever its seats) for the
weekly capacity and the daily limits, and one-to-one bookings cannot overlap it, nor it them.
The rules are the sessions' own (sessions/service.py: `check_offer`, `check_slot`,
`require_move`, `require_started`, `moved_history`, `change_event`, and its clock `now`;
sessions/repository.py: `add_completed`, the mentor's stats), not copies. Every change plans
the group session's reminders, start and end again, in its transaction (group_sessions/timed.py).

Locks, in the order every change takes them (so no two changes deadlock): the mentor row (when
the mentor's time changes: create, reschedule, cancel, complete), then the group session row
(every change of it or of its seats), then the mentees' rows (taking a seat; a reschedule, all
of its attendees' at once, in id order). A one-to-one booking takes the mentor's and then the
mentee's, so it cannot interleave with a group session of the same mentor, nor with a seat of
the same mentee. `seats_taken` changes only under the group session's lock, and PostgreSQL's
CHECK refuses more seats taken than offered whatever happens.

Who may do what (`actor`, see apps/caller.py):
- group sessions are offers, like the mentors who give them: every caller of the app reads them
  (a member too), and the list;
- only the API key or the mentor themself creates, reschedules, cancels and completes a group
  session (another member: 403);
- seats are private: the API key and the group session's mentor see every seat; a mentee sees
  their own only (anyone else's is a 404, as for an unknown id);
- a mentee takes a seat for themself only (another `mentee_id` is a 404) and cancels their own
  (`by: "mentee"`); the mentor may give back any seat of their group session (`by: "mentor"`),
  the other side of a seat being a 403.
Permission checks come before any lock or change, so a refusal changes nothing.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import (
    Caller,
    Role,
    own_profiles,
    require_mentee,
    require_mentor,
    require_participant,
    require_party,
)
from mentorapi.availability import service as availability_service
from mentorapi.db.integrity import flush_or_conflict
from mentorapi.group_sessions import places, repository, timed
from mentorapi.group_sessions.models import GroupSession, GroupSessionStatus, Seat, SeatStatus
from mentorapi.group_sessions.repository import Visible
from mentorapi.group_sessions.schemas import (
    GroupSessionCancel,
    GroupSessionCreate,
    SeatCreate,
    group_session_json,
    seat_json,
)
from mentorapi.kit.errors import Conflict, InvalidInput, NotFound
from mentorapi.kit.pagination import PageRequest
from mentorapi.kit.versioning import check_version
from mentorapi.mentees import repository as mentees_repository
from mentorapi.mentees.models import Mentee
from mentorapi.mentors import service as mentors_service
from mentorapi.mentors.models import Format, Mentor
from mentorapi.reminders import service as reminders
from mentorapi.sessions import repository as sessions_repository
from mentorapi.sessions import service as sessions
from mentorapi.sessions.schemas import Cancel, Complete
from mentorapi.webhooks import outbox
from mentorapi.webhooks.models import EventType
from mentorapi.webhooks.outbox import NewEvent

TIME_TAKEN = (
    "the slot is not free: another session of the mentor was just booked there "
    "(or the mentor was just deleted)"
)
SEAT_GONE = (
    "the seat could not be taken: the mentee was just seated elsewhere at that time, "
    "or the group session filled up (or the mentee was just deleted)"
)
ATTENDEE_TAKEN = "an attendee was just seated elsewhere at the new time"

_WHAT = "group session"
_STATUS_KEY = "group_session_status"
_SCHEDULED = (GroupSessionStatus.scheduled.value,)
_DOING = {
    "reschedule": "rescheduling a group session",
    "cancel": "cancelling a group session",
    "complete": "completing a group session",
}


def _group_event(
    group: GroupSession, type: EventType, before: dict[str, Any] | None = None
) -> NewEvent:
    return sessions.change_event(type, group_session_json(group), before, object_id=group.id)


def _seat_event(seat: Seat, type: EventType, before: dict[str, Any] | None = None) -> NewEvent:
    return sessions.change_event(type, seat_json(seat), before, object_id=seat.id)


def _visible(actor: Caller) -> Visible:
    """Whose seats the caller sees: None, every seat (the API key); else the seats of the
    member's own group sessions and the member's own seats."""
    own = own_profiles(actor)
    return None if own is None else (own.mentor_id, own.mentee_id)


async def _plan_times(
    db_session: AsyncSession, group: GroupSession, *, new: bool = False, completing: bool = False
) -> None:
    """The group session's reminders, start, end and feedback requests, in line with it and
    its seats now (the group session locked by the caller, or `new`)."""
    policy = await reminders.policy_for(db_session, group.app_id, {group.mentor_id})
    await timed.plan(
        db_session,
        group,
        offsets=policy.offsets_for(group.mentor_id),
        feedback_delay=policy.feedback_delay,
        now=sessions.now(),
        new=new,
        completing=completing,
    )


# --- reading -------------------------------------------------------------------------------------


async def get(*, db_session: AsyncSession, app_id: str, group_id: str) -> GroupSession:
    """Any caller of the app may read a group session (it is an offer, as its mentor is)."""
    group = await repository.get(db_session, app_id, group_id)
    if group is None:
        raise NotFound(f"no group session {group_id}")
    return group


async def list_group_sessions(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    page: PageRequest,
    mentor_id: str | None = None,
    mentee_id: str | None = None,
    skill_id: str | None = None,
    statuses: list[GroupSessionStatus] | None = None,
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
) -> tuple[list[GroupSession], str | None]:
    """Every group session of the app, filtered. `mentee_id` (the group sessions where that
    mentee holds a seat) tells who sits where, so a member may give only their own."""
    if mentee_id is not None:
        require_mentee(actor, mentee_id)
    return await repository.list_page(
        db_session,
        app_id,
        page,
        mentor_id=mentor_id,
        mentee_id=mentee_id,
        skill_id=skill_id,
        statuses=[s.value for s in statuses or []],
        starts_from=starts_from,
        starts_before=starts_before,
    )


async def get_seat(
    *, db_session: AsyncSession, app_id: str, actor: Caller, group_id: str, seat_id: str
) -> tuple[GroupSession, Seat]:
    group = await get(db_session=db_session, app_id=app_id, group_id=group_id)
    seat = await repository.get_seat(db_session, app_id, group.id, seat_id)
    not_found = f"no seat {seat_id} in group session {group_id}"
    if seat is None:
        raise NotFound(not_found)
    require_participant(
        actor, mentor_id=group.mentor_id, mentee_id=seat.mentee_id, not_found=not_found
    )
    return group, seat


async def list_seats(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    group_id: str,
    page: PageRequest,
    statuses: list[SeatStatus] | None = None,
) -> tuple[list[Seat], str | None]:
    """The seats the caller may see: all of them for the API key and the group session's
    mentor, a mentee's own for a mentee, none for anyone else."""
    group = await get(db_session=db_session, app_id=app_id, group_id=group_id)
    return await repository.seats_page(
        db_session,
        app_id,
        group.id,
        page,
        visible=_visible(actor),
        statuses=[s.value for s in statuses or []],
    )


async def attendees(
    db_session: AsyncSession, app_id: str, actor: Caller, group_ids: list[str]
) -> dict[str, list[Seat]]:
    """The taken seats of several group sessions that the caller may see (GraphQL's loader)."""
    return await repository.taken_seats_of(db_session, app_id, group_ids, visible=_visible(actor))


# --- the group session ---------------------------------------------------------------------------


async def create(
    *, db_session: AsyncSession, app_id: str, actor: Caller, data: GroupSessionCreate
) -> GroupSession:
    require_mentor(actor, data.mentor_id, "creating a group session")
    if data.format is Format.async_:
        raise InvalidInput("a group session meets at a time: not async", loc=["body", "format"])
    mentor = await sessions_repository.lock_mentor(db_session, app_id, data.mentor_id)
    if mentor is None:
        raise NotFound(f"no mentor {data.mentor_id}")
    await sessions.check_offer(
        db_session,
        mentor,
        format=data.format,
        duration_minutes=data.duration_minutes,
        skill_id=data.skill_id,
    )
    sessions.whole_minute(data.starts_at, ["body", "starts_at"])
    starts_at = data.starts_at.astimezone(UTC)
    ends_at = starts_at + timedelta(minutes=data.duration_minutes)
    rules, _ = await availability_service.rules_for(db_session, mentor)
    await sessions.check_slot(db_session, mentor, rules, starts_at, ends_at, current=sessions.now())
    group = GroupSession(
        app_id=app_id,
        mentor_id=mentor.id,
        topic=data.topic,
        skill_id=data.skill_id,
        format=data.format.value,
        duration_minutes=data.duration_minutes,
        seats=data.seats,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    db_session.add(group)
    await flush_or_conflict(db_session, TIME_TAKEN)
    await outbox.record_many(
        db_session,
        app_id=app_id,
        events=[_group_event(group, EventType.group_session_created)],
    )
    await _plan_times(db_session, group, new=True)
    return group


async def _load_for_change(
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    group_id: str,
    move: str,
    expected_version: int | None,
) -> tuple[Mentor, GroupSession]:
    """The mentor and the group session, locked in that order, after the caller's right to
    change it, then its version and the move's legality."""
    group = await get(db_session=db_session, app_id=app_id, group_id=group_id)
    require_mentor(actor, group.mentor_id, _DOING[move])
    mentor = await sessions_repository.lock_mentor(db_session, app_id, group.mentor_id)
    locked = await repository.get(db_session, app_id, group_id, for_update=True)
    if mentor is None or locked is None:  # deleted since the first read (a cascade)
        raise NotFound(f"no group session {group_id}")
    check_version(locked.version, expected_version, "the group session")
    sessions.require_move(move, locked.status, _SCHEDULED, what=_WHAT, status_key=_STATUS_KEY)
    return mentor, locked


async def reschedule(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    group_id: str,
    starts_at: datetime,
    expected_version: int | None = None,
) -> GroupSession:
    """Move the group session and its seats, if the new time fits the mentor (as a booking
    would) and every attendee (no attendee elsewhere then)."""
    mentor, group = await _load_for_change(
        db_session, app_id, actor, group_id, "reschedule", expected_version
    )
    sessions.whole_minute(starts_at, ["body", "starts_at"])
    new_start = starts_at.astimezone(UTC)
    new_end = new_start + timedelta(minutes=group.duration_minutes)
    rules, _ = await availability_service.rules_for(db_session, mentor)
    current = sessions.now()
    await sessions.check_slot(
        db_session, mentor, rules, new_start, new_end, current=current, exclude_id=group.id
    )
    seated = await repository.taken_seats(db_session, app_id, group.id)
    mentee_ids = sorted({seat.mentee_id for seat in seated})
    await repository.lock_mentees(db_session, app_id, mentee_ids)
    found = await places.of_mentees(
        db_session,
        app_id,
        mentee_ids,
        new_start,
        new_end,
        now=current,
        with_sessions=True,
        exclude_group_id=group.id,
    )
    elsewhere = {p.mentee_id for p in places.clashing(found, new_start, new_end)}
    if elsewhere:
        raise sessions.slot_conflict(
            places.ELSEWHERE,
            new_start,
            f"{len(elsewhere)} of the {len(mentee_ids)} attendees are in another session at "
            "that time",
            attendees_elsewhere=len(elsewhere),
        )
    before = group_session_json(group)
    group.history = sessions.moved_history(group.history, group.starts_at, group.ends_at)
    group.rescheduled_from = group.starts_at
    group.starts_at, group.ends_at = new_start, new_end
    sessions.touch(group)
    db_session.add(group)
    await flush_or_conflict(db_session, TIME_TAKEN)
    try:
        await repository.move_seats(db_session, app_id, group.id, new_start, new_end)
    except IntegrityError as exc:  # PostgreSQL's exclusion constraint on seats
        raise Conflict(ATTENDEE_TAKEN) from exc
    await outbox.record_many(
        db_session,
        app_id=app_id,
        events=[_group_event(group, EventType.group_session_rescheduled, before)],
    )
    await _plan_times(db_session, group)
    return group


async def cancel(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    group_id: str,
    data: GroupSessionCancel,
    expected_version: int | None = None,
) -> GroupSession:
    """Cancel the group session and every seat taken in it (`cancelled_by: "mentor"`)."""
    _, group = await _load_for_change(
        db_session, app_id, actor, group_id, "cancel", expected_version
    )
    seated = await repository.taken_seats(db_session, app_id, group.id, for_update=True)
    before = group_session_json(group)
    group.status = GroupSessionStatus.cancelled.value
    group.cancel_reason = data.reason or None
    group.seats_taken = 0
    sessions.touch(group)
    events = [_group_event(group, EventType.group_session_cancelled, before)]
    for seat in seated:
        seat_before = seat_json(seat)
        _give_back(seat, Role.mentor, data.reason)
        events.append(_seat_event(seat, EventType.seat_cancelled, seat_before))
    await repository.save(db_session, group, *seated)
    await outbox.record_many(db_session, app_id=app_id, events=events)
    await _plan_times(db_session, group)
    return group


async def complete(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    group_id: str,
    data: Complete,
    expected_version: int | None = None,
) -> GroupSession:
    _, group = await _load_for_change(
        db_session, app_id, actor, group_id, "complete", expected_version
    )
    sessions.require_started(group.starts_at, "complete", _WHAT)
    before = group_session_json(group)
    group.status = GroupSessionStatus.completed.value
    group.completion_note = data.note or None
    sessions.touch(group)
    await repository.save(db_session, group)
    seated = await repository.taken_seats(db_session, app_id, group.id)
    if seated:  # a group session nobody sat in mentored no one: the stats leave it out
        await sessions_repository.add_completed(
            db_session,
            app_id,
            group.mentor_id,
            group.duration_minutes,
            [seat.mentee_id for seat in seated],
        )
    await outbox.record_many(
        db_session,
        app_id=app_id,
        events=[_group_event(group, EventType.group_session_completed, before)],
    )
    await _plan_times(db_session, group, completing=True)
    return group


# --- seats ---------------------------------------------------------------------------------------


async def take_seat(
    *, db_session: AsyncSession, app_id: str, actor: Caller, group_id: str, data: SeatCreate
) -> tuple[GroupSession, Seat]:
    # A member takes a seat for themself only; any other mentee does not exist for them.
    require_mentee(actor, data.mentee_id)
    group = await repository.get(db_session, app_id, group_id, for_update=True)
    if group is None:
        raise NotFound(f"no group session {group_id}")
    sessions.require_move(
        "take a seat in", group.status, _SCHEDULED, what=_WHAT, status_key=_STATUS_KEY
    )
    current = sessions.now()
    if group.starts_at <= current:
        raise Conflict(
            "the group session has started: seats are taken before it starts",
            extra={_STATUS_KEY: group.status},
        )
    if group.seats_taken >= group.seats:
        raise Conflict(
            f"the group session is full: {group.seats_taken} of {group.seats} seats are taken",
            extra={"seats": group.seats, "seats_taken": group.seats_taken},
        )
    await sessions.lock_mentee(db_session, app_id, data.mentee_id)
    found = await places.of_mentees(
        db_session,
        app_id,
        [data.mentee_id],
        group.starts_at,
        group.ends_at,
        now=current,
        with_sessions=True,
    )
    if any(p.group_session_id == group.id for p in found):
        raise Conflict("the mentee already has a seat in this group session")
    if places.clashing(found, group.starts_at, group.ends_at):
        raise sessions.slot_conflict(places.ELSEWHERE, group.starts_at)
    seat = Seat(
        app_id=app_id,
        group_session_id=group.id,
        mentee_id=data.mentee_id,
        ask=data.ask,
        starts_at=group.starts_at,
        ends_at=group.ends_at,
    )
    db_session.add(seat)
    await flush_or_conflict(db_session, SEAT_GONE)
    try:
        await repository.count_seat(db_session, group, +1)
    except IntegrityError as exc:  # the CHECK: never more seats taken than offered
        raise Conflict(SEAT_GONE) from exc
    await outbox.record_many(
        db_session, app_id=app_id, events=[_seat_event(seat, EventType.seat_taken)]
    )
    await _plan_times(db_session, group)
    return group, seat


def _give_back(seat: Seat, side: Role, reason: str) -> None:
    seat.status = SeatStatus.cancelled.value
    seat.cancelled_by = side.value
    seat.cancel_reason = reason or None
    sessions.touch(seat)


async def cancel_seat(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    group_id: str,
    seat_id: str,
    data: Cancel,
    expected_version: int | None = None,
) -> tuple[GroupSession, Seat]:
    """The mentee gives their seat back (`by: "mentee"`), or the mentor takes it back
    (`by: "mentor"`); the seat is free for someone else."""
    group = await get(db_session=db_session, app_id=app_id, group_id=group_id)
    seat = await repository.get_seat(db_session, app_id, group.id, seat_id)
    not_found = f"no seat {seat_id} in group session {group_id}"
    if seat is None:
        raise NotFound(not_found)
    side = Role(data.by.value)
    require_party(
        actor,
        side,
        mentor_id=group.mentor_id,
        mentee_id=seat.mentee_id,
        not_found=not_found,
        action=f"cancelling a seat as {side.value}",
    )
    locked = await repository.get(db_session, app_id, group.id, for_update=True)
    seat = await repository.get_seat(db_session, app_id, group.id, seat_id, for_update=True)
    if locked is None or seat is None:  # deleted since the first read (a cascade)
        raise NotFound(not_found)
    check_version(seat.version, expected_version, "the seat")
    sessions.require_move(
        "cancel", seat.status, (SeatStatus.taken.value,), what="seat", status_key="seat_status"
    )
    sessions.require_move(
        "cancel a seat of", locked.status, _SCHEDULED, what=_WHAT, status_key=_STATUS_KEY
    )
    before = seat_json(seat)
    _give_back(seat, side, data.reason)
    await repository.save(db_session, seat)
    await repository.count_seat(db_session, locked, -1)
    await outbox.record_many(
        db_session, app_id=app_id, events=[_seat_event(seat, EventType.seat_cancelled, before)]
    )
    await _plan_times(db_session, locked)
    return locked, seat


# --- calendar files ------------------------------------------------------------------------------


async def seat_calendar_parts(
    *, db_session: AsyncSession, app_id: str, actor: Caller, group_id: str, seat_id: str
) -> tuple[GroupSession, Seat, Mentor, Mentee]:
    """An attendee's calendar file: the group session, their seat, the mentor and the mentee
    (whose zone the times are shown in)."""
    group, seat = await get_seat(
        db_session=db_session, app_id=app_id, actor=actor, group_id=group_id, seat_id=seat_id
    )
    mentor = await mentors_service.get(
        db_session=db_session, app_id=app_id, mentor_id=group.mentor_id
    )
    (mentee,) = await mentees_repository.get_many(db_session, app_id, [seat.mentee_id])
    return group, seat, mentor, mentee


async def organizer_calendar_parts(
    *, db_session: AsyncSession, app_id: str, actor: Caller, group_id: str
) -> tuple[GroupSession, Mentor, list[tuple[Seat, Mentee]]]:
    """The mentor's calendar file: the group session, the mentor and every attendee (the API
    key and the mentor only: it names the attendees)."""
    group = await get(db_session=db_session, app_id=app_id, group_id=group_id)
    require_mentor(actor, group.mentor_id, "reading the organizer's calendar file")
    mentor = await mentors_service.get(
        db_session=db_session, app_id=app_id, mentor_id=group.mentor_id
    )
    seated = await repository.taken_seats(db_session, app_id, group.id)
    mentees = {
        m.id: m
        for m in await mentees_repository.get_many(
            db_session, app_id, [s.mentee_id for s in seated]
        )
    }
    return group, mentor, [(s, mentees[s.mentee_id]) for s in seated]
