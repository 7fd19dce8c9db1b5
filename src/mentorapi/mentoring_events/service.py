"""Speed-mentoring events: registration, the schedule, late changes, live rounds, follow-ups.

The rules (README "Speed-mentoring events"):
- The app's API key runs an event: creates it (`draft`), opens registration (`open`), builds a
  provisional schedule, publishes it (`scheduled`), checks people in and marks no-shows. A
  member sees events once they are open; a mentee registers herself only, a mentor himself.
- Registration is taken while the event is open, before `registration_closes_at` and before
  publishing. `must_meet` and `no_thanks` name registered people of the other side.
- A schedule is built from the registrations not marked absent; one of up to
  `SYNC_BUILD_LIMIT` people is built in the request, a larger one by a job in the worker. A
  provisional schedule is published only if no one registered, withdrew or was marked absent
  since it was built (else it is stale: build again).
- After publishing, a no-show or a late arrival solves again only the rounds not yet started
  (`reschedule`), keeping the rounds that have started and as much of the rest as it can.
- A mentee follows up only with a mentor she met in a round that has ended.
Every change of an event, its registrations or its schedule locks the event row first, so
they run one at a time per event; permission checks come before any lock.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import (
    Caller,
    own_profiles,
    require_api_key,
    require_mentee,
    require_mentor,
)
from mentorapi.availability import service as availability_service
from mentorapi.db.integrity import flush_or_conflict
from mentorapi.jobs import service as jobs_service
from mentorapi.jobs.models import JobStatus
from mentorapi.kit.errors import Conflict, InvalidInput, NotFound
from mentorapi.kit.ids import id_kind
from mentorapi.kit.pagination import PageRequest
from mentorapi.kit.versioning import check_version
from mentorapi.mentoring_events import clock, planner, repository, timed
from mentorapi.mentoring_events.models import (
    Assignment,
    Attendance,
    Counts,
    EventRole,
    EventStatus,
    FollowUp,
    FollowUpOutcome,
    MentoringEvent,
    Registration,
    ScheduleStatus,
    Stage,
)
from mentorapi.mentoring_events.schemas import (
    FollowUpCreate,
    MentoringEventCreate,
    RegistrationCreate,
    ScheduleChange,
    event_json,
)
from mentorapi.mentors import service as mentors_service
from mentorapi.mentors.models import Format, Mentor
from mentorapi.sessions import service as sessions_service
from mentorapi.sessions.models import Session
from mentorapi.sessions.schemas import SessionCreate
from mentorapi.skills import repository as skills_repository
from mentorapi.webhooks import outbox
from mentorapi.webhooks.models import EventType

# Built in the request up to this many registered people (a 6 x 12 event takes milliseconds);
# larger events by a job in the worker (the 50 x 300 of the bench: a fraction of a second of
# CPU, which a request should not hold).
SYNC_BUILD_LIMIT = 120
MAX_MENTORS = 200
MAX_MENTEES = 600
FOLLOW_UP_HORIZON = timedelta(days=14)
JOB_KIND = "mentoring_event.schedule"


def now() -> datetime:
    return clock.now()


# --- views --------------------------------------------------------------------------------------


@dataclass
class EventView:
    event: MentoringEvent
    counts: Counts


@dataclass
class ScheduleView:
    event: MentoringEvent
    status: ScheduleStatus
    error: str | None
    assignments: list[Assignment]
    stats: dict[str, Any] | None  # None: not for this caller


@dataclass
class FollowUpView:
    follow_up: FollowUp
    session: Session | None


# --- events -------------------------------------------------------------------------------------


async def _visible(
    db_session: AsyncSession, app_id: str, actor: Caller, event_id: str, *, lock: bool = False
) -> MentoringEvent:
    """The event; members do not see drafts (404, as for an unknown id)."""
    event = await repository.get(db_session, app_id, event_id, lock=lock)
    if event is None or (actor.member is not None and event.status == EventStatus.draft):
        raise NotFound(f"no mentoring event {event_id}")
    return event


async def _view(db_session: AsyncSession, event: MentoringEvent) -> EventView:
    found = await repository.counts(db_session, event.app_id, [event.id])
    return EventView(event, found.get(event.id, Counts()))


async def get(*, db_session: AsyncSession, app_id: str, actor: Caller, event_id: str) -> EventView:
    event = await _visible(db_session, app_id, actor, event_id)
    return await _view(db_session, event)


async def list_events(
    *, db_session: AsyncSession, app_id: str, actor: Caller, page: PageRequest
) -> tuple[list[EventView], str | None]:
    events, cursor = await repository.list_page(
        db_session, app_id, page, visible_only=actor.member is not None
    )
    found = await repository.counts(db_session, app_id, [e.id for e in events])
    return [EventView(e, found.get(e.id, Counts())) for e in events], cursor


async def create(
    *, db_session: AsyncSession, app_id: str, actor: Caller, data: MentoringEventCreate
) -> EventView:
    require_api_key(actor, "creating a mentoring event")
    if data.starts_at <= now():
        raise InvalidInput("the event starts in the past", loc=["body", "starts_at"])
    event = MentoringEvent(
        app_id=app_id,
        title=data.title,
        starts_at=data.starts_at,
        timezone=data.timezone,
        rounds=data.rounds,
        round_minutes=data.round_minutes,
        transition_minutes=data.transition_minutes,
        table_capacity=data.table_capacity,
        meetings_per_mentee=data.meetings_per_mentee or data.rounds,
        mode=data.mode.value,
        registration_closes_at=data.registration_closes_at or data.starts_at,
    )
    await repository.save(db_session, event)
    await timed.plan(db_session, event, now=now())  # its expiry, unless published by then
    return EventView(event, Counts())


def _not_expired(event: MentoringEvent, current: datetime) -> None:
    """An expired event (never published, its start passed) is final: a 409 for any change."""
    why = event.expired_refusal(current)
    if why is not None:
        raise Conflict(why, extra={"event_status": EventStatus.expired.value})


def _touch(event: MentoringEvent) -> None:
    event.version += 1
    event.updated_at = clock.now()


async def open_registration(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    event_id: str,
    expected_version: int | None = None,
) -> EventView:
    require_api_key(actor, "opening registration")
    event = await _visible(db_session, app_id, actor, event_id, lock=True)
    check_version(event.version, expected_version, "the event")
    _not_expired(event, now())
    if event.status != EventStatus.draft:
        raise Conflict(f"registration opens once, from draft; the event is {event.status}")
    if now() >= event.registration_closes_at:
        raise Conflict("registration would close before it opens: registration_closes_at passed")
    event.status = EventStatus.open.value
    _touch(event)
    await repository.save(db_session, event)
    return await _view(db_session, event)


# --- registrations ------------------------------------------------------------------------------


def _member_of(data: RegistrationCreate) -> tuple[EventRole, str]:
    if data.mentor_id is not None:
        return EventRole.mentor, data.mentor_id
    assert data.mentee_id is not None  # the schema requires one of the two
    return EventRole.mentee, data.mentee_id


def _may_act_for(actor: Caller, role: EventRole, member_id: str, action: str) -> None:
    """A member acts for themself only: another mentee is not found (404), another mentor is
    public but not theirs (403)."""
    if role is EventRole.mentee:
        require_mentee(actor, member_id)
    else:
        require_mentor(actor, member_id, action)


async def _check_wishes(
    db_session: AsyncSession,
    event: MentoringEvent,
    role: EventRole,
    data: RegistrationCreate,
) -> None:
    other = "mtr" if role is EventRole.mentee else "mte"
    wanted = EventRole.mentor if role is EventRole.mentee else EventRole.mentee
    for field in ("must_meet", "no_thanks"):
        ids: list[str] = getattr(data, field)
        for i, member_id in enumerate(ids):
            if id_kind(member_id) != other:
                raise InvalidInput(
                    f"a {role.value}'s {field} names {wanted.value}s ({other}_…), not {member_id}",
                    loc=["body", field, i],
                )
        registered = await repository.registered_ids(db_session, event.app_id, event.id, ids)
        for i, member_id in enumerate(ids):
            if member_id not in registered:
                raise InvalidInput(
                    f"{member_id} is not registered for this event (or does not exist)",
                    loc=["body", field, i],
                )


async def register(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    event_id: str,
    data: RegistrationCreate,
) -> Registration:
    role, member_id = _member_of(data)
    _may_act_for(actor, role, member_id, "registering a mentor")
    event = await _visible(db_session, app_id, actor, event_id, lock=True)
    _not_expired(event, now())
    why = event.registration_refusal(now())
    if why is not None:
        raise Conflict(why)
    exists = repository.mentor_exists if role is EventRole.mentor else repository.mentee_exists
    if not await exists(db_session, app_id, member_id):
        raise NotFound(f"no {role.value} {member_id}")
    if await repository.get_registration(db_session, app_id, event_id, member_id) is not None:
        raise Conflict(f"{member_id} is already registered for this event")
    counts = (await repository.counts(db_session, app_id, [event_id])).get(event_id, Counts())
    full = (
        counts.mentors >= MAX_MENTORS if role is EventRole.mentor else counts.mentees >= MAX_MENTEES
    )
    if full:
        limit = MAX_MENTORS if role is EventRole.mentor else MAX_MENTEES
        raise Conflict(f"the event has its {limit} {role.value}s: no more can register")
    skills = list(dict.fromkeys(data.skills))
    if len(skills) != len(data.skills):
        raise InvalidInput("each skill at most once", loc=["body", "skills"])
    known = {s.id for s in await skills_repository.find(db_session, app_id, ids=skills)}
    for i, skill_id in enumerate(skills):
        if skill_id not in known:
            raise InvalidInput(f"no skill {skill_id!r} in this app", loc=["body", "skills", i])
    await _check_wishes(db_session, event, role, data)
    registration = Registration(
        app_id=app_id,
        event_id=event_id,
        member_id=member_id,
        role=role.value,
        mentor_id=member_id if role is EventRole.mentor else None,
        mentee_id=member_id if role is EventRole.mentee else None,
        ask=data.ask,
        skill_ids=skills,
        must_meet=list(data.must_meet),
        no_thanks=list(data.no_thanks),
    )
    db_session.add(registration)
    event.registrations_version += 1
    db_session.add(event)
    await flush_or_conflict(db_session, f"{member_id} was just registered (or deleted)")
    return registration


async def _registration(
    db_session: AsyncSession, event: MentoringEvent, member_id: str
) -> Registration:
    found = await repository.get_registration(db_session, event.app_id, event.id, member_id)
    if found is None:
        raise NotFound(f"{member_id} is not registered for mentoring event {event.id}")
    return found


def _role_of(member_id: str) -> EventRole:
    return EventRole.mentor if id_kind(member_id) == "mtr" else EventRole.mentee


async def withdraw(
    *, db_session: AsyncSession, app_id: str, actor: Caller, event_id: str, member_id: str
) -> None:
    """Before publishing only; whoever named them in must_meet or no_thanks simply has one
    wish fewer (builds read only the registered)."""
    _may_act_for(actor, _role_of(member_id), member_id, "withdrawing a mentor")
    event = await _visible(db_session, app_id, actor, event_id, lock=True)
    registration = await _registration(db_session, event, member_id)
    _not_expired(event, now())
    if event.status == EventStatus.scheduled:
        raise Conflict("the schedule is published: mark a no-show instead")
    await repository.delete_registration(db_session, registration)
    event.registrations_version += 1
    await repository.save(db_session, event)


async def list_registrations(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    event_id: str,
    page: PageRequest,
    role: EventRole | None = None,
) -> tuple[list[Registration], str | None]:
    """The API key sees everyone; a member their own registrations only."""
    await _visible(db_session, app_id, actor, event_id)
    own = own_profiles(actor)
    members = None
    if own is not None:
        members = [m for m in (own.mentor_id, own.mentee_id) if m is not None]
    return await repository.registrations_page(
        db_session, app_id, event_id, page, role=role, members=members
    )


async def get_registration(
    *, db_session: AsyncSession, app_id: str, actor: Caller, event_id: str, member_id: str
) -> Registration:
    _may_act_for(actor, _role_of(member_id), member_id, "reading a mentor's registration")
    event = await _visible(db_session, app_id, actor, event_id)
    return await _registration(db_session, event, member_id)


# --- attendance and late changes ----------------------------------------------------------------


async def check_in(
    *, db_session: AsyncSession, app_id: str, actor: Caller, event_id: str, member_id: str
) -> tuple[Registration, ScheduleChange | None]:
    """Present. Someone marked absent who turns up after publishing is a late arrival: the
    rounds not yet started are solved again with them."""
    return await _attendance(db_session, app_id, actor, event_id, member_id, Attendance.checked_in)


async def mark_no_show(
    *, db_session: AsyncSession, app_id: str, actor: Caller, event_id: str, member_id: str
) -> tuple[Registration, ScheduleChange | None]:
    """Absent. After publishing, the rounds not yet started are solved again without them."""
    return await _attendance(db_session, app_id, actor, event_id, member_id, Attendance.no_show)


async def _attendance(
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    event_id: str,
    member_id: str,
    attendance: Attendance,
) -> tuple[Registration, ScheduleChange | None]:
    require_api_key(actor, "checking people in")
    event = await _visible(db_session, app_id, actor, event_id, lock=True)
    registration = await _registration(db_session, event, member_id)
    current = now()
    _not_expired(event, current)
    if current >= event.ends_at:
        raise Conflict("the event has ended")
    before = Attendance(registration.attendance)
    if before is attendance:
        return registration, None
    registration.attendance = attendance.value
    if attendance is Attendance.checked_in:
        registration.checked_in_at = current
    else:
        registration.checked_in_at = None
    registration.updated_at = current
    db_session.add(registration)
    await db_session.flush()
    if event.schedule_status != ScheduleStatus.published:
        if Attendance.no_show in (before, attendance):
            event.registrations_version += 1  # builds leave the absent out: a build is stale
            await repository.save(db_session, event)
        return registration, None
    if attendance is Attendance.no_show:
        change = await _solve_again(db_session, event, current, arrived=frozenset())
    elif before is Attendance.no_show:
        change = await _solve_again(db_session, event, current, arrived=frozenset({member_id}))
    else:
        change = None
    return registration, change


async def _solve_again(
    db_session: AsyncSession, event: MentoringEvent, current: datetime, *, arrived: frozenset[str]
) -> ScheduleChange | None:
    """Solve the rounds not yet started again (None when every round has started)."""
    from_round = event.timeline.first_round_after(current)
    if from_round is None:
        return None
    registrations = await repository.registrations(db_session, event.app_id, event.id)
    published = await repository.assignments(
        db_session, event.app_id, event.id, Stage.published.value
    )
    kept = await repository.get_scores(db_session, event.app_id, event.id)
    problem = planner.problem_of(
        event, registrations, planner.Scores.from_kept(kept), with_absent=True
    )
    absent = frozenset(
        r.member_id for r in registrations if r.attendance == Attendance.no_show.value
    )
    solved, changed = planner.solve_again(
        problem, published, from_round=from_round, absent=absent, arrived=arrived
    )
    # Why each pair meets: as published for the pairs kept; asked of the matching for the
    # pairs new to the schedule (a few: not every pair again).
    problem.reasons.update({(a.mentee_id, a.mentor_id): a.reasons for a in published})
    new = [
        (m.mentee, m.mentor)
        for m in solved.meetings
        if m.round >= from_round and (m.mentee, m.mentor) not in problem.reasons
    ]
    if new:
        found = await planner.score(db_session, event, registrations, pairs=new)
        problem.reasons.update(found.reasons)
    # Written as a difference: a late change moves a few meetings of hundreds.
    before = {
        (a.mentee_id, a.mentor_id): (a.round, a.table_no)
        for a in published
        if a.round >= from_round
    }
    rows = planner.rows(event, Stage.published, solved, problem, from_round=from_round)
    after = {(r["mentee_id"], r["mentor_id"]): (r["round"], r["table_no"]) for r in rows}
    await repository.delete_pairs(
        db_session,
        event.app_id,
        event.id,
        Stage.published.value,
        [pair for pair, place in before.items() if after.get(pair) != place],
    )
    await repository.insert_assignments(
        db_session,
        [
            r
            for r in rows
            if before.get((r["mentee_id"], r["mentor_id"])) != (r["round"], r["table_no"])
        ],
    )
    event.schedule_version += 1
    _touch(event)
    await repository.save(db_session, event)
    total = await repository.count_assignments(
        db_session, event.app_id, event.id, Stage.published.value
    )
    await _record_schedule(
        db_session,
        event,
        EventType.mentoring_event_schedule_changed,
        assignments=total,
        from_round=from_round,
        changed=changed,
    )
    return ScheduleChange(
        from_round=from_round, changed_assignments=changed, schedule_version=event.schedule_version
    )


async def _record_schedule(
    db_session: AsyncSession,
    event: MentoringEvent,
    type: EventType,
    *,
    assignments: int,
    from_round: int,
    changed: int,
) -> None:
    view = await _view(db_session, event)
    data = {
        **event_json(view.event, view.counts, now()),
        "assignments": assignments,
        "from_round": from_round,
        "changed_assignments": changed,
    }
    await outbox.record(db_session, app_id=event.app_id, type=type, data=data, object_id=event.id)


# --- the schedule -------------------------------------------------------------------------------


def _buildable(event: MentoringEvent, current: datetime) -> None:
    _not_expired(event, current)
    if event.status == EventStatus.draft:
        raise Conflict("open registration before building a schedule")
    if event.status == EventStatus.scheduled:
        raise Conflict("the schedule is published: no-shows and late arrivals change it now")
    if current >= event.starts_at:
        raise Conflict("the event has started")


async def build(
    *, db_session: AsyncSession, app_id: str, actor: Caller, event_id: str
) -> ScheduleView:
    """A provisional schedule: built now for a small event, by a job for a large one."""
    require_api_key(actor, "building a schedule")
    event = await _visible(db_session, app_id, actor, event_id, lock=True)
    current = now()
    _buildable(event, current)
    if (await _schedule_status(db_session, event))[0] is ScheduleStatus.building:
        raise Conflict("a build is in progress: wait for it (GET .../schedule)")
    registrations = await repository.registrations(db_session, app_id, event_id)
    present = [r for r in registrations if r.attendance != Attendance.no_show.value]
    if not any(r.role == EventRole.mentor for r in present) or not any(
        r.role == EventRole.mentee for r in present
    ):
        raise Conflict("a schedule needs at least one mentor and one mentee registered")
    if len(present) > SYNC_BUILD_LIMIT:
        job = await jobs_service.enqueue(
            db_session, app_id=app_id, kind=JOB_KIND, payload={"event_id": event_id}
        )
        event.schedule_status = ScheduleStatus.building.value
        event.schedule_job_id = job.id
        event.schedule_error = None
        _touch(event)
        await repository.save(db_session, event)
        return ScheduleView(event, ScheduleStatus.building, None, [], None)
    scores = await planner.score(db_session, event, registrations)
    problem = planner.problem_of(event, registrations, scores, with_absent=False)
    started = time.perf_counter()
    solved = planner.solve(problem)
    await store_provisional(
        db_session,
        event,
        problem,
        solved,
        built_from=event.registrations_version,
        seconds=time.perf_counter() - started,
    )
    rows = await repository.assignments(db_session, app_id, event_id, Stage.provisional.value)
    return ScheduleView(event, ScheduleStatus.provisional, None, rows, event.schedule_stats)


async def store_provisional(
    db_session: AsyncSession,
    event: MentoringEvent,
    problem: "planner.Problem",
    solved: "planner.Solved",
    *,
    built_from: int,
    seconds: float,
) -> None:
    """Replace the provisional schedule (the event locked by the caller)."""
    await repository.delete_assignments(db_session, event.app_id, event.id, Stage.provisional.value)
    await repository.insert_assignments(
        db_session, planner.rows(event, Stage.provisional, solved, problem)
    )
    await repository.keep_scores(db_session, event.app_id, event.id, problem.scores.kept())
    event.schedule_status = ScheduleStatus.provisional.value
    event.schedule_built_from = built_from
    event.schedule_job_id = None
    event.schedule_error = None
    event.schedule_stats = planner.stats(problem, solved, built_at=now(), seconds=seconds)
    _touch(event)
    await repository.save(db_session, event)


async def read_build(
    db_session: AsyncSession, app_id: str, event_id: str, job_id: str
) -> tuple["planner.Problem", int] | None:
    """What a build job solves (read without a lock: the solve takes a while), and the
    registrations' version it is of; None when the event no longer waits for this job."""
    event = await repository.get(db_session, app_id, event_id)
    if (
        event is None
        or event.schedule_status != ScheduleStatus.building
        or event.schedule_job_id != job_id
    ):
        return None
    registrations = await repository.registrations(db_session, app_id, event_id)
    scores = await planner.score(db_session, event, registrations)
    problem = planner.problem_of(event, registrations, scores, with_absent=False)
    return problem, event.registrations_version


async def finish_build(
    db_session: AsyncSession,
    app_id: str,
    event_id: str,
    job_id: str,
    problem: "planner.Problem",
    solved: "planner.Solved",
    *,
    built_from: int,
    seconds: float,
) -> bool:
    """Store a job's schedule, if the event still waits for this job (False otherwise)."""
    event = await repository.get(db_session, app_id, event_id, lock=True)
    if (
        event is None
        or event.schedule_status != ScheduleStatus.building
        or event.schedule_job_id != job_id
    ):
        return False
    await store_provisional(
        db_session, event, problem, solved, built_from=built_from, seconds=seconds
    )
    return True


async def _schedule_status(
    db_session: AsyncSession, event: MentoringEvent
) -> tuple[ScheduleStatus, str | None]:
    """The schedule's status, with a build job that failed shown as `failed`."""
    status = ScheduleStatus(event.schedule_status)
    if status is ScheduleStatus.building and event.schedule_job_id is not None:
        job = await jobs_service.get(db_session, app_id=event.app_id, job_id=event.schedule_job_id)
        if job is None or job.status == JobStatus.failed:
            detail = (job.error or {}).get("detail") if job is not None else None
            return ScheduleStatus.failed, str(detail or "the build failed: build again")
    return status, event.schedule_error


async def publish(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    event_id: str,
    expected_version: int | None = None,
) -> ScheduleView:
    require_api_key(actor, "publishing a schedule")
    event = await _visible(db_session, app_id, actor, event_id, lock=True)
    check_version(event.version, expected_version, "the event")
    current = now()
    _buildable(event, current)
    if event.schedule_status != ScheduleStatus.provisional:
        raise Conflict(
            f"no provisional schedule to publish (the schedule is {event.schedule_status})"
        )
    if event.schedule_built_from != event.registrations_version:
        raise Conflict(
            "registrations changed since the schedule was built: build it again, then publish"
        )
    await repository.delete_assignments(db_session, app_id, event_id, Stage.published.value)
    await repository.copy_assignments(
        db_session, app_id, event_id, Stage.provisional.value, Stage.published.value
    )
    event.status = EventStatus.scheduled.value
    event.schedule_status = ScheduleStatus.published.value
    event.schedule_version += 1
    event.published_at = current
    _touch(event)
    await repository.save(db_session, event)
    rows = await repository.assignments(db_session, app_id, event_id, Stage.published.value)
    await _record_schedule(
        db_session,
        event,
        EventType.mentoring_event_schedule_published,
        assignments=len(rows),
        from_round=1,
        changed=len(rows),
    )
    await timed.plan(db_session, event, now=current)
    return ScheduleView(event, ScheduleStatus.published, None, rows, event.schedule_stats)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Whose assignments a caller sees: None on both sides is everyone's."""

    mentor_id: str | None
    mentee_id: str | None
    everyone: bool


async def _viewer(
    db_session: AsyncSession, event: MentoringEvent, actor: Caller, member_id: str | None
) -> Viewer:
    if member_id is None:
        if actor.member is None:
            return Viewer(None, None, everyone=True)
        return Viewer(actor.mentor_id, actor.mentee_id, everyone=False)
    role = _role_of(member_id)
    _may_act_for(actor, role, member_id, "reading a mentor's event schedule")
    await _registration(db_session, event, member_id)
    if role is EventRole.mentor:
        return Viewer(member_id, None, everyone=False)
    return Viewer(None, member_id, everyone=False)


async def _assignments_of(
    db_session: AsyncSession, event: MentoringEvent, stage: Stage, viewer: Viewer
) -> list[Assignment]:
    if not viewer.everyone and viewer.mentor_id is None and viewer.mentee_id is None:
        return []
    return await repository.assignments(
        db_session,
        event.app_id,
        event.id,
        stage.value,
        mentor_id=viewer.mentor_id,
        mentee_id=viewer.mentee_id,
    )


async def get_schedule(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    event_id: str,
    member_id: str | None = None,
) -> ScheduleView:
    """The API key sees the provisional schedule before publishing and the published one
    after, everyone's or one member's; a member sees their own, once published."""
    event = await _visible(db_session, app_id, actor, event_id)
    viewer = await _viewer(db_session, event, actor, member_id)
    status, error = await _schedule_status(db_session, event)
    stats = event.schedule_stats or None if actor.is_api_key else None
    if status is ScheduleStatus.published:
        rows = await _assignments_of(db_session, event, Stage.published, viewer)
    elif status is ScheduleStatus.provisional and actor.is_api_key:
        rows = await _assignments_of(db_session, event, Stage.provisional, viewer)
    else:
        rows = []
    return ScheduleView(event, status, error, rows, stats)


# --- live -------------------------------------------------------------------------------------


async def authorize_live(
    *, db_session: AsyncSession, app_id: str, actor: Caller, event_id: str, member_id: str | None
) -> Viewer:
    """Following an event live: whoever may read its schedule, as that viewer."""
    event = await _visible(db_session, app_id, actor, event_id)
    return await _viewer(db_session, event, actor, member_id)


@dataclass
class LiveState:
    """What the live feed shows, read at one moment (plain values: it outlives its session)."""

    event: MentoringEvent
    published: bool
    assignments: list[Assignment]


async def live_state_of_everyone(
    db_session: AsyncSession, app_id: str, event_id: str
) -> LiveState | None:
    """The event with every published assignment: one read that all of a process's feeds of
    the event share (live.py), each then keeping what its viewer sees (`_assignments_of`'s
    rule, mirrored by `live.Everyone.seen_by`)."""
    event = await repository.get(db_session, app_id, event_id)
    if event is None:
        return None
    published = event.schedule_status == ScheduleStatus.published
    rows: list[Assignment] = []
    if published:
        rows = await repository.assignments(db_session, app_id, event_id, Stage.published.value)
    return LiveState(event, published, rows)


# --- follow-ups ---------------------------------------------------------------------------------


def _format_for(mentor: Mentor, asked: Format | None) -> Format:
    if asked is not None:
        if asked.value not in mentor.formats:
            raise InvalidInput(
                f"the mentor offers the formats {mentor.formats}", loc=["body", "format"]
            )
        return asked
    if Format.video.value in mentor.formats:
        return Format.video
    if not mentor.formats:
        raise Conflict("the mentor offers no session format: they cannot be booked")
    return Format(mentor.formats[0])


async def _skill_for(
    db_session: AsyncSession,
    mentor: Mentor,
    asked: str | None,
    mentee_registration: Registration,
    mentor_registration: Registration | None,
) -> str:
    offered = await repository.offered_skills(db_session, mentor.app_id, mentor.id)
    if asked is not None:
        if asked not in offered:
            raise InvalidInput("the mentor does not offer this skill", loc=["body", "skill_id"])
        return asked
    preferred = [
        *mentee_registration.skill_ids,
        *(mentor_registration.skill_ids if mentor_registration else []),
    ]
    for skill_id in [*preferred, *offered]:
        if skill_id in offered:
            return skill_id
    raise Conflict("the mentor offers no skill: there is nothing to book them for")


async def follow_up(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    event_id: str,
    data: FollowUpCreate,
) -> FollowUpView:
    """A session request to a mentor the mentee met (booked at once if the mentor
    auto-accepts), at the slot asked for or the mentor's first free one; a recommendation to
    book later when the mentor has no free slot in the next 14 days."""
    mentee_id = data.mentee_id or actor.mentee_id
    if mentee_id is None:
        raise InvalidInput(
            "mentee_id is required (a member token of a mentee gives it)", loc=["body", "mentee_id"]
        )
    require_mentee(actor, mentee_id)
    event = await _visible(db_session, app_id, actor, event_id, lock=True)
    registration = await _registration(db_session, event, mentee_id)
    met = await repository.meeting(
        db_session, app_id, event_id, Stage.published.value, mentee_id, data.mentor_id
    )
    current = now()
    if met is None or event.schedule_status != ScheduleStatus.published:
        raise Conflict("a follow-up is with a mentor you met at the event")
    if event.timeline.round_ends_at(met.round) > current:
        raise Conflict(f"you meet this mentor in round {met.round}: follow up after it")
    if await repository.get_follow_up(db_session, app_id, event_id, mentee_id, data.mentor_id):
        raise Conflict("you have already followed up with this mentor")
    mentor = await mentors_service.get(
        db_session=db_session, app_id=app_id, mentor_id=data.mentor_id
    )
    mentor_registration = await repository.get_registration(
        db_session, app_id, event_id, data.mentor_id
    )
    skill_id = await _skill_for(
        db_session, mentor, data.skill_id, registration, mentor_registration
    )
    session_format = _format_for(mentor, data.format)
    duration = data.duration_minutes or min(mentor.session_lengths, default=15)
    if duration not in mentor.session_lengths:
        raise InvalidInput(
            f"the mentor offers sessions of {mentor.session_lengths} minutes",
            loc=["body", "duration_minutes"],
        )
    starts_at = data.starts_at
    recommendation: dict[str, Any] | None = None
    if starts_at is None and session_format is not Format.async_:
        slots = await availability_service.slots(
            db_session=db_session,
            app_id=app_id,
            mentor_id=mentor.id,
            start=current,
            end=current + FOLLOW_UP_HORIZON,
            duration_minutes=duration,
        )
        if len(slots):
            starts_at = slots[0].starts_at
        else:
            recommendation = {
                "reason": f"no free slot of {duration} minutes in the next "
                f"{FOLLOW_UP_HORIZON.days} days",
                "skill_id": skill_id,
                "format": session_format.value,
                "duration_minutes": duration,
            }
    session: Session | None = None
    if recommendation is None:
        session = await sessions_service.book(
            db_session=db_session,
            app_id=app_id,
            actor=actor,
            data=SessionCreate(
                mentor_id=mentor.id,
                mentee_id=mentee_id,
                topic=data.ask,
                questions=data.questions,
                skill_id=skill_id,
                format=session_format,
                duration_minutes=duration,
                starts_at=starts_at,
            ),
        )
    outcome = FollowUpOutcome.recommendation
    if session is not None:
        outcome = (
            FollowUpOutcome.session_booked
            if session.status == "booked"
            else FollowUpOutcome.session_requested
        )
    record = FollowUp(
        app_id=app_id,
        event_id=event_id,
        mentee_id=mentee_id,
        mentor_id=mentor.id,
        outcome=outcome.value,
        ask=data.ask,
        session_id=session.id if session else None,
        recommendation=recommendation,
    )
    db_session.add(record)
    await flush_or_conflict(db_session, "you have just followed up with this mentor")
    return FollowUpView(record, session)


async def list_follow_ups(
    *, db_session: AsyncSession, app_id: str, actor: Caller, event_id: str
) -> list[FollowUpView]:
    """The API key sees all; a member those they are part of."""
    await _visible(db_session, app_id, actor, event_id)
    own = own_profiles(actor)
    participant = None if own is None else (own.mentor_id, own.mentee_id)
    rows = await repository.follow_ups(db_session, app_id, event_id, participant=participant)
    sessions = await repository.sessions_by_id(
        db_session, app_id, [r.session_id for r in rows if r.session_id]
    )
    return [FollowUpView(r, sessions.get(r.session_id) if r.session_id else None) for r in rows]
