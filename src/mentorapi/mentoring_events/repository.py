"""All SQL of speed-mentoring events: events, registrations, assignments, follow-ups, and the
event rows of the scheduled-notifications queue."""

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, case, delete, func, insert, literal, select
from sqlmodel import col
from sqlmodel import select as sm_select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.db.paging import SortKey, paginate
from mentorapi.db.pairs import pairs_in
from mentorapi.db.tenancy import CrossTenant, across_tenants
from mentorapi.kit.pagination import KeyType, PageRequest, id_key
from mentorapi.kit.timezones import utcnow
from mentorapi.mentees.models import Mentee
from mentorapi.mentoring_events.models import (
    Assignment,
    Attendance,
    Counts,
    EventRole,
    EventStatus,
    FollowUp,
    MentoringEvent,
    Registration,
    ScoresRow,
)
from mentorapi.mentors.models import Mentor, MentorSkill
from mentorapi.reminders.models import ScheduledNotification
from mentorapi.sessions.models import Session

ASSIGNMENTS = cast(Table, Assignment.__table__)  # type: ignore[attr-defined]
MEMBER_KEY = KeyType("text", max_length=30)


def _dialect(db_session: AsyncSession) -> str:
    return db_session.sync_session.get_bind().dialect.name


# --- events -------------------------------------------------------------------------------------


async def get(
    db_session: AsyncSession, app_id: str, event_id: str, *, lock: bool = False
) -> MentoringEvent | None:
    """The event; `lock`: until commit (every change of an event, its registrations and its
    schedule locks it first, so they run one at a time)."""
    query = sm_select(MentoringEvent).where(
        col(MentoringEvent.app_id) == app_id, col(MentoringEvent.id) == event_id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await db_session.exec(query)).first()


async def list_page(
    db_session: AsyncSession, app_id: str, page: PageRequest, *, visible_only: bool
) -> tuple[list[MentoringEvent], str | None]:
    query = sm_select(MentoringEvent).where(col(MentoringEvent.app_id) == app_id)
    if visible_only:
        query = query.where(col(MentoringEvent.status) != EventStatus.draft.value)
    return await paginate(
        db_session,
        query,
        sort="created",
        keys=[SortKey(col(MentoringEvent.id), "id", kind=id_key("mev"))],
        page=page,
    )


async def save(db_session: AsyncSession, event: MentoringEvent) -> None:
    db_session.add(event)
    await db_session.flush()


def _counts_query() -> Any:
    mentor = col(Registration.role) == EventRole.mentor.value
    mentee = col(Registration.role) == EventRole.mentee.value
    return select(
        col(Registration.app_id),
        col(Registration.event_id),
        func.sum(case((mentor, 1), else_=0)),
        func.sum(case((mentee, 1), else_=0)),
        func.sum(case((col(Registration.attendance) == Attendance.checked_in.value, 1), else_=0)),
        func.sum(case((col(Registration.attendance) == Attendance.no_show.value, 1), else_=0)),
    ).group_by(col(Registration.app_id), col(Registration.event_id))


async def counts(
    db_session: AsyncSession, app_id: str, event_ids: Sequence[str]
) -> dict[str, Counts]:
    """Registrations of these events by role and attendance, in one query."""
    if not event_ids:
        return {}
    query = _counts_query().where(
        col(Registration.app_id) == app_id, col(Registration.event_id).in_(list(event_ids))
    )
    rows = (await db_session.exec(query)).all()
    return {row[1]: Counts(*(int(v or 0) for v in row[2:])) for row in rows}


async def counts_of_pairs(
    db_session: AsyncSession, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], Counts]:
    """The same for (app_id, event_id) pairs of any apps (the reminders worker's batch)."""
    if not keys:
        return {}
    query = across_tenants(
        _counts_query().where(
            pairs_in(
                _dialect(db_session), col(Registration.app_id), col(Registration.event_id), keys
            )
        ),
        CrossTenant.scheduler,
    )
    rows = (await db_session.exec(query)).all()
    return {(row[0], row[1]): Counts(*(int(v or 0) for v in row[2:])) for row in rows}


async def lock_events(
    db_session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], MentoringEvent]:
    """Events named by (app_id, id), locked; one another transaction is changing right now is
    left out (SKIP LOCKED): its rows wait for the worker's next round (as sessions' do)."""
    pairs = set(keys)
    if not pairs:
        return {}
    query = across_tenants(
        sm_select(MentoringEvent)
        .where(
            pairs_in(
                _dialect(db_session), col(MentoringEvent.app_id), col(MentoringEvent.id), pairs
            )
        )
        .with_for_update(skip_locked=True, key_share=True)
        .execution_options(populate_existing=True),
        CrossTenant.scheduler,
    )
    return {(e.app_id, e.id): e for e in (await db_session.exec(query)).all()}


# --- registrations ------------------------------------------------------------------------------


async def get_registration(
    db_session: AsyncSession, app_id: str, event_id: str, member_id: str
) -> Registration | None:
    query = sm_select(Registration).where(
        col(Registration.app_id) == app_id,
        col(Registration.event_id) == event_id,
        col(Registration.member_id) == member_id,
    )
    return (await db_session.exec(query)).first()


async def registrations(db_session: AsyncSession, app_id: str, event_id: str) -> list[Registration]:
    """Every registration of the event, mentors and mentees, in member id order."""
    query = (
        sm_select(Registration)
        .where(col(Registration.app_id) == app_id, col(Registration.event_id) == event_id)
        .order_by(col(Registration.member_id))
    )
    return list((await db_session.exec(query)).all())


async def registrations_page(
    db_session: AsyncSession,
    app_id: str,
    event_id: str,
    page: PageRequest,
    *,
    role: EventRole | None = None,
    members: Sequence[str] | None = None,
) -> tuple[list[Registration], str | None]:
    """`members`: only these (a member's own); None for all."""
    query = sm_select(Registration).where(
        col(Registration.app_id) == app_id, col(Registration.event_id) == event_id
    )
    if role is not None:
        query = query.where(col(Registration.role) == role.value)
    if members is not None:
        query = query.where(col(Registration.member_id).in_(list(members)))
    return await paginate(
        db_session,
        query,
        sort="member",
        keys=[SortKey(col(Registration.member_id), "member_id", kind=MEMBER_KEY)],
        page=page,
    )


async def registered_ids(
    db_session: AsyncSession, app_id: str, event_id: str, member_ids: Sequence[str]
) -> set[str]:
    """Which of these people are registered for the event."""
    if not member_ids:
        return set()
    query = sm_select(Registration.member_id).where(
        col(Registration.app_id) == app_id,
        col(Registration.event_id) == event_id,
        col(Registration.member_id).in_(list(member_ids)),
    )
    return set((await db_session.exec(query)).all())


async def delete_registration(db_session: AsyncSession, registration: Registration) -> None:
    await db_session.delete(registration)
    await db_session.flush()


async def mentor_exists(db_session: AsyncSession, app_id: str, mentor_id: str) -> bool:
    query = sm_select(Mentor.id).where(col(Mentor.app_id) == app_id, col(Mentor.id) == mentor_id)
    return (await db_session.exec(query)).first() is not None


async def mentee_exists(db_session: AsyncSession, app_id: str, mentee_id: str) -> bool:
    query = sm_select(Mentee.id).where(col(Mentee.app_id) == app_id, col(Mentee.id) == mentee_id)
    return (await db_session.exec(query)).first() is not None


async def offered_skills(db_session: AsyncSession, app_id: str, mentor_id: str) -> list[str]:
    """The skills a mentor offers, best level first."""
    query = (
        sm_select(MentorSkill.skill_id)
        .where(col(MentorSkill.app_id) == app_id, col(MentorSkill.mentor_id) == mentor_id)
        .order_by(col(MentorSkill.level).desc(), col(MentorSkill.skill_id))
    )
    return list((await db_session.exec(query)).all())


# --- assignments --------------------------------------------------------------------------------


async def assignments(
    db_session: AsyncSession,
    app_id: str,
    event_id: str,
    stage: str,
    *,
    mentor_id: str | None = None,
    mentee_id: str | None = None,
    from_round: int | None = None,
) -> list[Assignment]:
    """The stage's assignments, by round then table then mentee; `mentor_id` and `mentee_id`:
    of that person only (both: either)."""
    query = sm_select(Assignment).where(
        col(Assignment.app_id) == app_id,
        col(Assignment.event_id) == event_id,
        col(Assignment.stage) == stage,
    )
    if mentor_id is not None and mentee_id is not None:
        query = query.where(
            (col(Assignment.mentor_id) == mentor_id) | (col(Assignment.mentee_id) == mentee_id)
        )
    elif mentor_id is not None:
        query = query.where(col(Assignment.mentor_id) == mentor_id)
    elif mentee_id is not None:
        query = query.where(col(Assignment.mentee_id) == mentee_id)
    if from_round is not None:
        query = query.where(col(Assignment.round) >= from_round)
    query = query.order_by(
        col(Assignment.round), col(Assignment.table_no), col(Assignment.mentee_id)
    )
    return list((await db_session.exec(query)).all())


async def count_assignments(
    db_session: AsyncSession, app_id: str, event_id: str, stage: str
) -> int:
    query = select(func.count()).where(
        col(Assignment.app_id) == app_id,
        col(Assignment.event_id) == event_id,
        col(Assignment.stage) == stage,
    )
    return int((await db_session.exec(query)).one()[0])  # type: ignore[call-overload]


async def meeting(
    db_session: AsyncSession, app_id: str, event_id: str, stage: str, mentee_id: str, mentor_id: str
) -> Assignment | None:
    """The pair's meeting (there is at most one: the unique key)."""
    query = sm_select(Assignment).where(
        col(Assignment.app_id) == app_id,
        col(Assignment.event_id) == event_id,
        col(Assignment.stage) == stage,
        col(Assignment.mentee_id) == mentee_id,
        col(Assignment.mentor_id) == mentor_id,
    )
    return (await db_session.exec(query)).first()


async def delete_assignments(
    db_session: AsyncSession, app_id: str, event_id: str, stage: str, *, from_round: int = 1
) -> None:
    await db_session.exec(
        delete(Assignment).where(
            col(Assignment.app_id) == app_id,
            col(Assignment.event_id) == event_id,
            col(Assignment.stage) == stage,
            col(Assignment.round) >= from_round,
        )
    )


async def delete_pairs(
    db_session: AsyncSession,
    app_id: str,
    event_id: str,
    stage: str,
    pairs: Sequence[tuple[str, str]],
) -> None:
    """The stage's meetings of these (mentee, mentor) pairs."""
    if pairs:
        await db_session.exec(
            delete(Assignment).where(
                col(Assignment.app_id) == app_id,
                col(Assignment.event_id) == event_id,
                col(Assignment.stage) == stage,
                pairs_in(
                    _dialect(db_session),
                    col(Assignment.mentee_id),
                    col(Assignment.mentor_id),
                    pairs,
                ),
            )
        )


async def insert_assignments(db_session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Many rows in one statement (executemany): a schedule of 300 mentees is 2,400."""
    if rows:
        connection = await db_session.connection()
        await connection.execute(insert(ASSIGNMENTS), list(rows))


async def copy_assignments(
    db_session: AsyncSession, app_id: str, event_id: str, source: str, target: str
) -> None:
    """The `source` stage's rows again under `target`, in one statement."""
    stage = literal(target, ASSIGNMENTS.c.stage.type).label("stage")
    query = select(*[stage if c.name == "stage" else c for c in ASSIGNMENTS.c]).where(
        ASSIGNMENTS.c.app_id == app_id,
        ASSIGNMENTS.c.event_id == event_id,
        ASSIGNMENTS.c.stage == source,
    )
    await db_session.exec(insert(ASSIGNMENTS).from_select([c.name for c in ASSIGNMENTS.c], query))


# --- the scores a schedule was built from ------------------------------------------------------


async def get_scores(db_session: AsyncSession, app_id: str, event_id: str) -> ScoresRow | None:
    query = sm_select(ScoresRow).where(
        col(ScoresRow.app_id) == app_id, col(ScoresRow.event_id) == event_id
    )
    return (await db_session.exec(query)).first()


async def keep_scores(
    db_session: AsyncSession, app_id: str, event_id: str, kept: dict[str, Any]
) -> None:
    """Replace the event's kept scores (the event locked by the caller)."""
    row = await get_scores(db_session, app_id, event_id)
    if row is None:
        row = ScoresRow(app_id=app_id, event_id=event_id)
    row.mentees, row.mentors, row.relevance = kept["mentees"], kept["mentors"], kept["relevance"]
    row.updated_at = utcnow()
    db_session.add(row)
    await db_session.flush()


# --- follow-ups ---------------------------------------------------------------------------------


async def get_follow_up(
    db_session: AsyncSession, app_id: str, event_id: str, mentee_id: str, mentor_id: str
) -> FollowUp | None:
    query = sm_select(FollowUp).where(
        col(FollowUp.app_id) == app_id,
        col(FollowUp.event_id) == event_id,
        col(FollowUp.mentee_id) == mentee_id,
        col(FollowUp.mentor_id) == mentor_id,
    )
    return (await db_session.exec(query)).first()


async def follow_ups(
    db_session: AsyncSession,
    app_id: str,
    event_id: str,
    *,
    participant: tuple[str | None, str | None] | None = None,
) -> list[FollowUp]:
    """The event's follow-ups, oldest first; `participant` (mentor id, mentee id): only those
    of that mentor or that mentee (a None side matches nothing)."""
    query = sm_select(FollowUp).where(
        col(FollowUp.app_id) == app_id, col(FollowUp.event_id) == event_id
    )
    if participant is not None:
        mentor_id, mentee_id = participant
        query = query.where(
            (col(FollowUp.mentor_id) == (mentor_id or ""))
            | (col(FollowUp.mentee_id) == (mentee_id or ""))
        )
    query = query.order_by(
        col(FollowUp.created_at), col(FollowUp.mentee_id), col(FollowUp.mentor_id)
    )
    return list((await db_session.exec(query)).all())


async def sessions_by_id(
    db_session: AsyncSession, app_id: str, session_ids: Sequence[str]
) -> dict[str, Session]:
    if not session_ids:
        return {}
    query = sm_select(Session).where(
        col(Session.app_id) == app_id, col(Session.id).in_(list(session_ids))
    )
    return {s.id: s for s in (await db_session.exec(query)).all()}


async def save_follow_up(db_session: AsyncSession, follow_up: FollowUp) -> None:
    db_session.add(follow_up)
    await db_session.flush()


# --- the event's rows of the scheduled-notifications queue --------------------------------------


async def queued_keys(db_session: AsyncSession, app_id: str, event_id: str) -> list[str]:
    """The keys of the event's rows still to send, locked (a worker that claimed one finishes
    first)."""
    query = (
        sm_select(ScheduledNotification.key)
        .where(
            col(ScheduledNotification.app_id) == app_id,
            col(ScheduledNotification.mentoring_event_id) == event_id,
        )
        .with_for_update()
    )
    return list((await db_session.exec(query)).all())
