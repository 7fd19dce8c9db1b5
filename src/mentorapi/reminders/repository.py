"""All SQL of reminders: the policies, the scheduled rows, and the worker's claim."""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlmodel import col
from sqlmodel import select as sm_select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from mentorapi.db import fast
from mentorapi.db.pairs import pairs_in
from mentorapi.db.tenancy import CrossTenant, across_tenants
from mentorapi.feedback.models import Feedback
from mentorapi.group_sessions.models import GroupSession, GroupSessionStatus, Seat
from mentorapi.mentees.models import Mentee
from mentorapi.reminders.models import (
    SESSION_KINDS,
    MentorReminderPolicy,
    NotificationKind,
    ReminderPolicy,
    ScheduledNotification,
)
from mentorapi.sessions.models import ActionItem, Session, SessionStatus

SCHEDULED = cast(Table, ScheduledNotification.__table__)  # type: ignore[attr-defined]

NOTIFY_CHANNEL = "mentorapi_schedule"
# A worker sleeps at most this long, so it sees rows due later without being told of them;
# rows due sooner than this wake it (NOTIFY), whatever it is sleeping for.
HORIZON = timedelta(seconds=30)
_NOTIFIED = "mentorapi.reminders.notified"
_SESSION_KIND_VALUES = [k.value for k in SESSION_KINDS]


def _dialect(db_session: AsyncSession) -> str:
    return db_session.sync_session.get_bind().dialect.name


# --- policies -----------------------------------------------------------------------------------


async def get_policy(db_session: AsyncSession, app_id: str) -> ReminderPolicy | None:
    query = sm_select(ReminderPolicy).where(col(ReminderPolicy.app_id) == app_id)
    return (await db_session.exec(query)).first()


async def get_mentor_policy(
    db_session: AsyncSession, app_id: str, mentor_id: str
) -> MentorReminderPolicy | None:
    query = sm_select(MentorReminderPolicy).where(
        col(MentorReminderPolicy.app_id) == app_id,
        col(MentorReminderPolicy.mentor_id) == mentor_id,
    )
    return (await db_session.exec(query)).first()


def _policies_of(mentors: ColumnElement[bool]) -> CompoundSelect[Any]:
    """The app's policy and the offsets of the `mentors` that have their own."""
    return union_all(
        select(
            literal(None, String).label("mentor_id"),
            col(ReminderPolicy.offsets_minutes),
            col(ReminderPolicy.feedback_request_delay_minutes),
        ).where(col(ReminderPolicy.app_id) == bindparam("app_id")),
        select(
            col(MentorReminderPolicy.mentor_id),
            col(MentorReminderPolicy.offsets_minutes),
            literal(None, Integer),
        ).where(col(MentorReminderPolicy.app_id) == bindparam("app_id"), mentors),
    )


# Built once, with bind parameters: SQLAlchemy finds the compiled form by the statement's cache
# key instead of building the union for each booking. Several mentors: an expanding parameter;
# one (a booking): a plain one, so the statement runs on the driver (db/fast.py).
_POLICIES = _policies_of(
    col(MentorReminderPolicy.mentor_id).in_(bindparam("mentor_ids", expanding=True))
)
_POLICY_OF_ONE = _policies_of(col(MentorReminderPolicy.mentor_id) == bindparam("mentor_id"))


async def policies(
    db_session: AsyncSession, app_id: str, mentor_ids: Iterable[str]
) -> tuple[tuple[list[int], int] | None, dict[str, list[int]]]:
    """The app's policy (offsets, feedback delay; None: it never set one) and the mentors' own
    offsets, for those that have them, in one statement (every session change plans its
    reminders with these, while it holds the mentor's lock)."""
    found: tuple[list[int], int] | None = None
    offsets: dict[str, list[int]] = {}
    mentors = sorted(set(mentor_ids))
    rows: Sequence[Sequence[Any]]
    if len(mentors) == 1:
        rows = await fast.fetch(
            db_session, _POLICY_OF_ONE, {"app_id": app_id, "mentor_id": mentors[0]}
        )
    else:
        connection = await db_session.connection()
        params = {"app_id": app_id, "mentor_ids": mentors}
        rows = (await connection.execute(_POLICIES, params)).all()
    for mentor_id, minutes, delay in rows:
        if mentor_id is None:
            found = (list(minutes), delay)
        else:
            offsets[mentor_id] = list(minutes)
    return found, offsets


async def delete_mentor_policy(db_session: AsyncSession, policy: MentorReminderPolicy) -> None:
    await db_session.delete(policy)
    await db_session.flush()


async def mentee_timezone(db_session: AsyncSession, app_id: str, mentee_id: str) -> str | None:
    query = sm_select(Mentee.timezone).where(
        col(Mentee.app_id) == app_id, col(Mentee.id) == mentee_id
    )
    return (await db_session.exec(query)).first()


# --- what to plan again -------------------------------------------------------------------------


_Planned = TypeVar("_Planned", Session, GroupSession)


async def _to_replan(
    db_session: AsyncSession,
    model: type[_Planned],
    active: str,
    pending: SelectOfScalar[Any],
    *,
    app_id: str,
    ending_after: datetime,
    mentor_id: str | None,
    after_id: str,
    limit: int,
) -> list[_Planned]:
    """The rows of `model` whose reminders a new policy changes, in id order from `after_id`:
    those `active` that end after `ending_after`, and any with rows still to send (`pending`).
    Locked in id order, before their rows, as every change of one locks it first, so that a
    transition racing the new plan waits for it rather than deadlocking with it."""
    query = sm_select(model).where(
        col(model.app_id) == app_id,
        col(model.id) > after_id,
        or_(
            (col(model.status) == active) & (col(model.ends_at) > ending_after),
            col(model.id).in_(pending),
        ),
    )
    if mentor_id is not None:
        query = query.where(col(model.mentor_id) == mentor_id)
    query = (
        query.order_by(col(model.id))
        .limit(limit)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return list((await db_session.exec(query)).all())


async def sessions_to_replan(
    db_session: AsyncSession,
    app_id: str,
    *,
    ending_after: datetime,
    mentor_id: str | None = None,
    after_id: str = "",
    limit: int = 500,
) -> list[Session]:
    """Booked sessions ending after `ending_after`, and any session with rows still to send."""
    pending = sm_select(ScheduledNotification.session_id).where(
        col(ScheduledNotification.app_id) == app_id,
        col(ScheduledNotification.kind).in_(_SESSION_KIND_VALUES),
    )
    return await _to_replan(
        db_session,
        Session,
        SessionStatus.booked.value,
        pending,
        app_id=app_id,
        ending_after=ending_after,
        mentor_id=mentor_id,
        after_id=after_id,
        limit=limit,
    )


async def groups_to_replan(
    db_session: AsyncSession,
    app_id: str,
    *,
    ending_after: datetime,
    mentor_id: str | None = None,
    after_id: str = "",
    limit: int = 500,
) -> list[GroupSession]:
    """Scheduled group sessions ending after `ending_after`, and any with rows still to send."""
    pending = sm_select(ScheduledNotification.group_session_id).where(
        col(ScheduledNotification.app_id) == app_id,
        col(ScheduledNotification.group_session_id).is_not(None),
    )
    return await _to_replan(
        db_session,
        GroupSession,
        GroupSessionStatus.scheduled.value,
        pending,
        app_id=app_id,
        ending_after=ending_after,
        mentor_id=mentor_id,
        after_id=after_id,
        limit=limit,
    )


async def open_items_of_mentee(
    db_session: AsyncSession, app_id: str, mentee_id: str, due_from: str
) -> list[ActionItem]:
    """The mentee's action items not done, due on `due_from` (an ISO date) or later."""
    query = (
        sm_select(ActionItem)
        .join(
            Session,
            (col(Session.id) == col(ActionItem.session_id))
            & (col(Session.app_id) == col(ActionItem.app_id)),
        )
        .where(
            col(ActionItem.app_id) == app_id,
            col(Session.mentee_id) == mentee_id,
            col(ActionItem.done).is_(False),
            col(ActionItem.due_on) >= due_from,
        )
        .order_by(col(ActionItem.id))
    )
    return list((await db_session.exec(query)).all())


# --- scheduled rows -----------------------------------------------------------------------------


async def rows_of_sessions(
    db_session: AsyncSession, app_id: str, session_ids: Sequence[str]
) -> list[ScheduledNotification]:
    """The session-bound rows of these sessions, locked: a worker that claimed one of them
    finishes first (its event is then in the log before the caller's)."""
    if not session_ids:
        return []
    query = (
        sm_select(ScheduledNotification)
        .where(
            col(ScheduledNotification.app_id) == app_id,
            col(ScheduledNotification.session_id).in_(list(session_ids)),
            col(ScheduledNotification.kind).in_(_SESSION_KIND_VALUES),
        )
        .with_for_update()
    )
    return list((await db_session.exec(query)).all())


async def rows_of_items(
    db_session: AsyncSession, app_id: str, item_ids: Sequence[str]
) -> list[ScheduledNotification]:
    if not item_ids:
        return []
    query = (
        sm_select(ScheduledNotification)
        .where(
            col(ScheduledNotification.app_id) == app_id,
            col(ScheduledNotification.action_item_id).in_(list(item_ids)),
        )
        .with_for_update()
    )
    return list((await db_session.exec(query)).all())


async def keys_of_group(
    db_session: AsyncSession, app_id: str, group_id: str
) -> dict[str, datetime]:
    """The keys of a group session's rows (its seats' too) still to send, with their due
    times, locked: a worker that claimed one of them finishes first."""
    query = (
        sm_select(ScheduledNotification.key, ScheduledNotification.due_at)
        .where(
            col(ScheduledNotification.app_id) == app_id,
            col(ScheduledNotification.group_session_id) == group_id,
        )
        .with_for_update()
    )
    return dict((await db_session.exec(query)).all())


async def delete_keys(db_session: AsyncSession, app_id: str, keys: Sequence[str]) -> None:
    if keys:
        await db_session.exec(
            delete(ScheduledNotification).where(
                col(ScheduledNotification.app_id) == app_id,
                col(ScheduledNotification.key).in_(list(keys)),
            )
        )


async def delete_feedback_request(
    db_session: AsyncSession,
    app_id: str,
    party: str,
    *,
    session_id: str | None = None,
    seat_id: str | None = None,
) -> None:
    """A party's feedback request on a session, or on a group session's seat (one of the two)."""
    if (session_id is None) == (seat_id is None):
        raise ValueError("a feedback request is on a session or on a seat")
    subject = (
        col(ScheduledNotification.session_id) == session_id
        if session_id is not None
        else col(ScheduledNotification.seat_id) == seat_id
    )
    await db_session.exec(
        delete(ScheduledNotification).where(
            col(ScheduledNotification.app_id) == app_id,
            subject,
            col(ScheduledNotification.kind) == NotificationKind.feedback_requested.value,
            col(ScheduledNotification.party) == party,
        )
    )


async def move_due(
    db_session: AsyncSession, app_id: str, moves: Sequence[tuple[str, datetime]]
) -> None:
    """New due times for rows kept under their keys (a feedback request's delay changed)."""
    if not moves:
        return
    statement = (
        update(SCHEDULED)
        .where(SCHEDULED.c.app_id == bindparam("b_app"), SCHEDULED.c.key == bindparam("b_key"))
        .values(due_at=bindparam("b_due"))
    )
    connection = await db_session.connection()
    await connection.execute(
        statement, [{"b_app": app_id, "b_key": key, "b_due": due} for key, due in moves]
    )


_INSERT_SCHEDULED = insert(SCHEDULED)


async def insert_rows(
    db_session: AsyncSession, rows: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Write new rows; wake the workers (at commit) when one falls due before they would wake
    by themselves."""
    if not rows:
        return
    await fast.insert(db_session, _INSERT_SCHEDULED, rows, one_statement=True)
    if any(row["due_at"] <= now + HORIZON for row in rows):
        await _notify(db_session)


async def _notify(db_session: AsyncSession) -> None:
    # Delivered at commit, dropped at rollback (as webhooks/repository.notify_workers).
    if _dialect(db_session) != "postgresql":
        return
    transaction = db_session.sync_session.get_transaction()
    if transaction is not None and db_session.info.get(_NOTIFIED) is transaction:
        return
    await db_session.exec(sm_select(func.pg_notify(NOTIFY_CHANNEL, "")))
    db_session.info[_NOTIFIED] = transaction


# --- the worker ---------------------------------------------------------------------------------


async def next_due(db_session: AsyncSession) -> datetime | None:
    """When the earliest row of any app falls due (the first entry of the due_at index)."""
    query = across_tenants(select(func.min(SCHEDULED.c.due_at)), CrossTenant.scheduler)
    connection = await db_session.connection()
    due: datetime | None = (await connection.execute(query)).scalar()
    return due


async def claim_due(
    db_session: AsyncSession, *, now: datetime, limit: int
) -> list[ScheduledNotification]:
    """Up to `limit` due rows of any app, earliest first, locked until the caller's commit;
    rows another worker holds are skipped (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite's
    single writer makes the transaction exclusive anyway)."""
    query = across_tenants(
        sm_select(ScheduledNotification)
        .where(col(ScheduledNotification.due_at) <= now)
        .order_by(col(ScheduledNotification.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True),
        CrossTenant.scheduler,
    )
    return list((await db_session.exec(query)).all())


async def lock_sessions(
    db_session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Session]:
    """The sessions named by (app_id, id), locked; one that another transaction is changing
    right now is left out (SKIP LOCKED), and its rows wait for the next round. Every change of
    a session locks it first, so an event written under this lock is in order with theirs,
    and no worker ever waits on a lock here (no deadlock). NO KEY UPDATE: foreign-key checks
    of rows that reference the session (feedback being given) do not wait for it."""
    pairs = set(keys)
    if not pairs:
        return {}
    query = across_tenants(
        sm_select(Session)
        .where(pairs_in(_dialect(db_session), col(Session.app_id), col(Session.id), pairs))
        .with_for_update(skip_locked=True, key_share=True, of=Session)
        .execution_options(populate_existing=True),
        CrossTenant.scheduler,
    )
    return {(s.app_id, s.id): s for s in (await db_session.exec(query)).all()}


async def lock_group_sessions(
    db_session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], GroupSession]:
    """The group sessions named by (app_id, id), locked as `lock_sessions` locks sessions: one
    being changed right now is left out (SKIP LOCKED) and its rows wait for the next round."""
    pairs = set(keys)
    if not pairs:
        return {}
    query = across_tenants(
        sm_select(GroupSession)
        .where(
            pairs_in(_dialect(db_session), col(GroupSession.app_id), col(GroupSession.id), pairs)
        )
        .with_for_update(skip_locked=True, key_share=True, of=GroupSession)
        .execution_options(populate_existing=True),
        CrossTenant.scheduler,
    )
    return {(g.app_id, g.id): g for g in (await db_session.exec(query)).all()}


async def seats(
    db_session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Seat]:
    """The seats named by (app_id, id) (their group sessions locked by the caller)."""
    pairs = set(keys)
    if not pairs:
        return {}
    query = across_tenants(
        sm_select(Seat)
        .where(pairs_in(_dialect(db_session), col(Seat.app_id), col(Seat.id), pairs))
        .execution_options(populate_existing=True),
        CrossTenant.scheduler,
    )
    return {(s.app_id, s.id): s for s in (await db_session.exec(query)).all()}


async def feedback_authors(
    db_session: AsyncSession, keys: set[tuple[str, str]]
) -> set[tuple[str, str, str]]:
    """(app_id, session_id, author) of the feedback given on these sessions."""
    return await _authors(db_session, keys, "session_id")


async def seat_feedback_authors(
    db_session: AsyncSession, keys: set[tuple[str, str]]
) -> set[tuple[str, str, str]]:
    """(app_id, seat_id, author) of the feedback given on these seats of group sessions."""
    return await _authors(db_session, keys, "seat_id")


async def _authors(
    db_session: AsyncSession, keys: set[tuple[str, str]], subject: str
) -> set[tuple[str, str, str]]:
    if not keys:
        return set()
    column = col(getattr(Feedback, subject))
    given = pairs_in(_dialect(db_session), col(Feedback.app_id), column, keys)
    query = across_tenants(
        sm_select(Feedback).where(given),
        CrossTenant.scheduler,
    )
    rows = (await db_session.exec(query)).all()
    return {(f.app_id, getattr(f, subject) or "", f.author) for f in rows}


async def action_items(
    db_session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], ActionItem]:
    pairs = set(keys)
    if not pairs:
        return {}
    query = across_tenants(
        sm_select(ActionItem).where(
            pairs_in(_dialect(db_session), col(ActionItem.app_id), col(ActionItem.id), pairs)
        ),
        CrossTenant.scheduler,
    )
    return {(i.app_id, i.id): i for i in (await db_session.exec(query)).all()}


async def delete_claimed(db_session: AsyncSession, keys: Sequence[tuple[str, str]]) -> None:
    if keys:
        await db_session.exec(
            across_tenants(
                delete(SCHEDULED).where(
                    pairs_in(_dialect(db_session), SCHEDULED.c.app_id, SCHEDULED.c.key, keys)
                ),
                CrossTenant.scheduler,
            )
        )
