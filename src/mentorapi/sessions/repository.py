import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    false,
    insert,
    literal_column,
    or_,
    union_all,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.types import NullType
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from mentorapi.db import fast
from mentorapi.db.paging import SortKey, paginate
from mentorapi.db.ranked import first_per_group
from mentorapi.db.tenancy import CrossTenant, across_tenants
from mentorapi.group_sessions.models import GroupSession, GroupSessionStatus, Seat, SeatStatus
from mentorapi.kit.pagination import PageRequest, id_key
from mentorapi.mentees.models import Mentee
from mentorapi.mentors.models import Mentor, MentorSkill
from mentorapi.sessions.models import (
    ACTIVE,
    COUNTED,
    ActionItem,
    Series,
    Session,
    SessionNote,
    SessionStatus,
)

# Built once (every change of a mentor's calendar runs it): found by its cache key.
_LOCK_MENTOR = (
    select(Mentor)
    .where(col(Mentor.app_id) == bindparam("app_id"), col(Mentor.id) == bindparam("mentor_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


async def lock_mentor(db_session: AsyncSession, app_id: str, mentor_id: str) -> Mentor | None:
    """The mentor row, locked until commit: bookings of one mentor run one at a time, so the
    overlap and capacity checks that follow cannot interleave (PostgreSQL `FOR UPDATE`; SQLite
    already serializes writers with BEGIN IMMEDIATE)."""
    found = await db_session.exec(_LOCK_MENTOR, params={"app_id": app_id, "mentor_id": mentor_id})
    return found.first()


# Both rows in one statement: PostgreSQL locks a statement's rows table by table in the order
# of its FROM (mentors, then mentees: the order every change takes them in), after the join
# found them (tests/test_booking_concurrency.py holds the order).
_LOCK_MENTOR_AND_MENTEE = (
    select(Mentor)
    .join(
        Mentee,
        and_(col(Mentee.app_id) == col(Mentor.app_id), col(Mentee.id) == bindparam("mentee_id")),
    )
    .where(col(Mentor.app_id) == bindparam("app_id"), col(Mentor.id) == bindparam("mentor_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


_LOCKED_COLUMNS = list(_LOCK_MENTOR_AND_MENTEE.selected_columns.keys())
_TIMEZONE, _FORMATS, _LENGTHS = (
    _LOCKED_COLUMNS.index(name) for name in ("timezone", "formats", "session_lengths")
)


@dataclass(frozen=True, slots=True)
class LockedMentor:
    """What a booking reads of the mentor it locked: its terms and its zone."""

    app_id: str
    id: str
    timezone: str
    formats: list[str]
    session_lengths: list[int]


async def lock_mentor_and_mentee(
    db_session: AsyncSession, app_id: str, mentor_id: str, mentee_id: str
) -> LockedMentor | None:
    """`lock_mentor` and `lock_mentee` in one round trip, for a booking (which holds the mentor
    for every round trip it makes). None: the mentor or the mentee does not exist, and neither
    is locked. Read on the driver (db/fast.py, in the booking's transaction), not loaded as a
    `Mentor`: a booking reads four of its fields, and the ORM's loading of the row cost more
    than the statement."""
    params = {"app_id": app_id, "mentor_id": mentor_id, "mentee_id": mentee_id}
    rows = await fast.fetch(db_session, _LOCK_MENTOR_AND_MENTEE, params)
    if not rows:
        return None
    row = rows[0]
    return LockedMentor(app_id, mentor_id, row[_TIMEZONE], list(row[_FORMATS]), list(row[_LENGTHS]))


_LOCK_MENTEE = (
    sa_select(col(Mentee.id))
    .where(col(Mentee.app_id) == bindparam("app_id"), col(Mentee.id) == bindparam("mentee_id"))
    .with_for_update()
)


async def lock_mentee(db_session: AsyncSession, app_id: str, mentee_id: str) -> bool:
    """The mentee row, locked (False: no such mentee): a booking in flight for them (holding
    its foreign-key lock) finishes first, so a deletion counts it. Only the lock is wanted, no
    object: a statement built once, its compiled form found by its cache key."""
    connection = await db_session.connection()
    found = await connection.execute(_LOCK_MENTEE, {"app_id": app_id, "mentee_id": mentee_id})
    return found.first() is not None


async def offers_skill(
    db_session: AsyncSession, app_id: str, mentor_id: str, skill_id: str
) -> bool:
    query = select(MentorSkill.skill_id).where(
        col(MentorSkill.app_id) == app_id,
        col(MentorSkill.mentor_id) == mentor_id,
        col(MentorSkill.skill_id) == skill_id,
    )
    return (await db_session.exec(query)).first() is not None


# (holds the mentor's time, start, end or None): a session as the slot engine needs it, with its
# instants as microseconds since 1970-01-01 UTC (a month of a busy mentor is hundreds of them on
# every slots request: no ORM objects, no datetimes).
Held = tuple[bool, int, int | None]

SESSIONS = cast(Table, Session.__table__)  # type: ignore[attr-defined]
_INSERT_SESSIONS = insert(SESSIONS)
_SESSION_COLUMNS = tuple(c.key for c in SESSIONS.columns)


async def insert_new(db_session: AsyncSession, sessions: Sequence[Session]) -> None:
    """New sessions written as rows, in one statement (a series: one executemany), not flushed
    as objects: nothing reads them back in the transaction that books them, and the ORM's
    flush of a `Session` cost more than its INSERT. The objects stay as they were built (not
    in the unit of work), for the response, the events and the reminders."""
    rows = [{name: getattr(s, name) for name in _SESSION_COLUMNS} for s in sessions]
    await fast.insert(db_session, _INSERT_SESSIONS, rows)


GROUP_SESSIONS = cast(Table, GroupSession.__table__)  # type: ignore[attr-defined]
# Inline constants, not parameters: an IN list of parameters is rendered anew on every execution.
_ACTIVE: list[ColumnElement[str]] = [literal_column(f"'{s.value}'") for s in ACTIVE]
_COUNTED: list[ColumnElement[str]] = [literal_column(f"'{s.value}'") for s in COUNTED]
_REQUESTED: ColumnElement[str] = literal_column(f"'{SessionStatus.requested.value}'")
# A group session holds the mentor's time while scheduled and counts for their limits as one
# session (whatever its seats) once completed too, like a booked and a completed session.
_GROUP_SCHEDULED: ColumnElement[str] = literal_column(f"'{GroupSessionStatus.scheduled.value}'")
_GROUP_COUNTED: list[ColumnElement[str]] = [
    _GROUP_SCHEDULED,
    literal_column(f"'{GroupSessionStatus.completed.value}'"),
]
_NAIVE_EPOCH = datetime(1970, 1, 1)
_ONE_US = timedelta(microseconds=1)


# PostgreSQL sends held times in the binary form it keeps a timestamptz in (`timestamptz_send`:
# 8 bytes, big-endian microseconds since 2000-01-01 UTC), 17 bytes a session in one bytea:
# [active: 1 byte][start][end, or -infinity for none]. EXTRACT(epoch ...) would compute them
# in numeric arithmetic (PostgreSQL 14 on), which cost more than the rest of the slots
# statement; nested int arrays cost more to decode.
_HELD_RECORD = struct.Struct(">Bqq")
_PG_EPOCH_US = 946_684_800 * 1_000_000  # 2000-01-01 in microseconds since 1970
_PG_NO_END = -(2**63)  # PostgreSQL's -infinity: "no end" (ends_at is NULL)


def _pg_held_record(
    active: ColumnElement[bool], starts_at: ColumnElement[Any], ends_at: ColumnElement[Any]
) -> ColumnElement[bytes]:
    flag = case((active, literal_column("'\\x01'::bytea")), else_=literal_column("'\\x00'::bytea"))
    end = func.coalesce(
        func.timestamptz_send(ends_at), literal_column("'\\x8000000000000000'::bytea")
    )
    return flag.op("||")(func.timestamptz_send(starts_at)).op("||")(end)


def held_times(
    dialect: str,
    *,
    app_id: Any,
    mentor_id: Any,
    start: Any,
    end: Any,
    now: Any,
    exclude_id: Any = None,
) -> ScalarSelect[Any]:
    """One value holding the sessions and group sessions of the mentor starting in
    [start, end) that hold time or count for capacity, leaving out requests nobody answered
    before they expired (at `now`), whether or not a worker has said so yet. Arguments are
    values or bind parameters; `exclude_id` is a session's or a group session's. Decode it with
    `decode_held`. PostgreSQL: 17-byte records of [active, start, end] (see above); SQLite: the
    same as JSON text, with the stored timestamps."""
    s, g = SESSIONS.c, GROUP_SESSIONS.c
    where = [
        s.app_id == app_id,
        s.mentor_id == mentor_id,
        s.status.in_(_COUNTED),
        s.starts_at >= start,
        s.starts_at < end,
        or_(
            s.status != _REQUESTED,
            s.expires_at.is_(None),
            s.expires_at > now,
        ),
    ]
    group_where = [
        g.app_id == app_id,
        g.mentor_id == mentor_id,
        g.status.in_(_GROUP_COUNTED),
        g.starts_at >= start,
        g.starts_at < end,
    ]
    if exclude_id is not None:
        where.append(s.id != exclude_id)
        group_where.append(g.id != exclude_id)
    if dialect == "postgresql":
        held = union_all(
            sa_select(
                _pg_held_record(s.status.in_(_ACTIVE), s.starts_at, s.ends_at).label("record")
            )
            .where(*where)
            .correlate_except(SESSIONS),
            sa_select(
                _pg_held_record(g.status == _GROUP_SCHEDULED, g.starts_at, g.ends_at).label(
                    "record"
                )
            )
            .where(*group_where)
            .correlate_except(GROUP_SESSIONS),
        ).subquery()
        # NullType: asyncpg's bytes as they come.
        records = func.string_agg(held.c.record, literal_column("''::bytea"), type_=NullType())
        return sa_select(records).scalar_subquery()
    active = case((s.status.in_(_ACTIVE), literal_column("1")), else_=literal_column("0"))
    # Correlated to an enclosing query when `app_id` and `mentor_id` are its columns (several
    # mentors' held times at once, matching/repository.py): two levels down, SQLAlchemy would
    # otherwise add the enclosing table to these FROMs.
    group_active = case(
        (g.status == _GROUP_SCHEDULED, literal_column("1")), else_=literal_column("0")
    )
    rows = union_all(
        sa_select(
            active.label("active"), s.starts_at.label("starts_at"), s.ends_at.label("ends_at")
        )
        .where(*where)
        .correlate_except(SESSIONS),
        sa_select(group_active, g.starts_at, g.ends_at)
        .where(*group_where)
        .correlate_except(GROUP_SESSIONS),
    )
    inner = rows.subquery()
    text = func.json_group_array(
        func.json_array(inner.c.active, inner.c.starts_at, inner.c.ends_at), type_=String
    )
    return sa_select(text).scalar_subquery()


def _stored_us(value: str | None) -> int | None:
    # SQLite keeps naive UTC text ("2027-01-11 08:00:00.000000").
    if value is None:
        return None
    return (datetime.fromisoformat(value) - _NAIVE_EPOCH) // _ONE_US


def decode_held(dialect: str, value: Any) -> list[Held]:
    if value is None:
        return []
    if dialect == "postgresql":
        # Hundreds of them on every slots request: one C-level unpack; 0/1 test like False/True.
        shift, no_end = _PG_EPOCH_US, _PG_NO_END
        records = [
            (active, start + shift, None if end == no_end else end + shift)
            for active, start, end in _HELD_RECORD.iter_unpack(value)
        ]
        return cast(list[Held], records)
    held: list[Held] = []
    for active, start, end in json.loads(value):
        starts = _stored_us(start)
        assert starts is not None  # the query asks for a start in range
        held.append((bool(active), starts, _stored_us(end)))
    return held


async def counted_between(
    db_session: AsyncSession,
    app_id: str,
    mentor_id: str,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    exclude_id: str | None = None,
) -> list[Held]:
    """Sessions of the mentor starting in [start, end) that hold time or count for capacity
    (`held_times`), in no particular order."""
    dialect = db_session.get_bind().dialect.name
    query = sa_select(
        held_times(
            dialect,
            app_id=app_id,
            mentor_id=mentor_id,
            start=start,
            end=end,
            now=now,
            exclude_id=exclude_id,
        )
    )
    connection = await db_session.connection()
    return decode_held(dialect, (await connection.execute(query)).scalar())


async def get(
    db_session: AsyncSession, app_id: str, session_id: str, *, for_update: bool = False
) -> Session | None:
    query = select(Session).where(col(Session.app_id) == app_id, col(Session.id) == session_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await db_session.exec(query)).first()


def _for_participant(
    query: SelectOfScalar[Session], participant: tuple[str | None, str | None] | None
) -> SelectOfScalar[Session]:
    """`participant` = (mentor id, mentee id): only sessions with that mentor OR that mentee
    (a None side matches nothing); None: no restriction (the API key)."""
    if participant is None:
        return query
    sides = [
        column == value
        for column, value in zip(
            (col(Session.mentor_id), col(Session.mentee_id)), participant, strict=True
        )
        if value is not None
    ]
    return query.where(or_(*sides) if sides else false())


async def list_page(
    db_session: AsyncSession,
    app_id: str,
    page: PageRequest,
    *,
    participant: tuple[str | None, str | None] | None = None,
    mentor_id: str | None = None,
    mentee_id: str | None = None,
    statuses: Sequence[str] = (),
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
    series_id: str | None = None,
) -> tuple[list[Session], str | None]:
    """`participant` = (mentor id, mentee id): only sessions with that mentor OR that mentee
    (a None side matches nothing), before the other filters narrow it further."""
    query = _for_participant(select(Session).where(col(Session.app_id) == app_id), participant)
    if mentor_id:
        query = query.where(col(Session.mentor_id) == mentor_id)
    if mentee_id:
        query = query.where(col(Session.mentee_id) == mentee_id)
    if statuses:
        query = query.where(col(Session.status).in_(list(statuses)))
    if starts_from is not None:
        query = query.where(col(Session.starts_at) >= starts_from)
    if starts_before is not None:
        query = query.where(col(Session.starts_at) < starts_before)
    if series_id:
        query = query.where(col(Session.series_id) == series_id)
    return await paginate(
        db_session,
        query,
        sort="created",
        keys=[SortKey(col(Session.id), "id", kind=id_key("ses"))],
        page=page,
    )


async def due_requests(
    db_session: AsyncSession, now: datetime, app_id: str | None = None, limit: int = 500
) -> list[Session]:
    """Requests nobody answered before they expired, locked (skipped if another worker has them)."""
    query = select(Session).where(
        col(Session.status) == SessionStatus.requested.value,
        col(Session.expires_at) <= now,
    )
    if app_id is not None:
        query = query.where(col(Session.app_id) == app_id)
    else:
        query = across_tenants(query, CrossTenant.housekeeping)
    query = query.order_by(col(Session.expires_at)).limit(limit)
    query = query.with_for_update(skip_locked=True).execution_options(populate_existing=True)
    return list((await db_session.exec(query)).all())


async def has_due_requests(db_session: AsyncSession, app_id: str, now: datetime) -> bool:
    query = select(Session.id).where(
        col(Session.app_id) == app_id,
        col(Session.status) == SessionStatus.requested.value,
        col(Session.expires_at) <= now,
    )
    return (await db_session.exec(query.limit(1))).first() is not None


async def count_active(
    db_session: AsyncSession,
    app_id: str,
    *,
    mentor_id: str | None = None,
    mentee_id: str | None = None,
) -> int:
    query = select(func.count()).where(
        col(Session.app_id) == app_id, col(Session.status).in_([s.value for s in ACTIVE])
    )
    if mentor_id is not None:
        query = query.where(col(Session.mentor_id) == mentor_id)
    if mentee_id is not None:
        query = query.where(col(Session.mentee_id) == mentee_id)
    return (await db_session.exec(query)).one()


async def count_for_skill(db_session: AsyncSession, app_id: str, skill_id: str) -> int:
    query = select(func.count()).where(
        col(Session.app_id) == app_id, col(Session.skill_id) == skill_id
    )
    return (await db_session.exec(query)).one()


async def add_completed(
    db_session: AsyncSession,
    app_id: str,
    mentor_id: str,
    duration_minutes: int,
    mentee_ids: Sequence[str],
) -> None:
    """Count a completion in the mentor's stats: one session, its minutes, and the mentees it
    helped for the first time. One rule for a one-to-one session (its mentee) and a group
    session (its seated mentees): a mentee is new to the mentor when this is their only
    completed meeting with them, a completed session or a seat in a completed group session.
    Call after the completion is saved, with the mentor row locked (every change of a session
    or a group session takes it first), so the check cannot race another completion."""
    first_met = 0
    if mentee_ids:
        wanted = sorted(set(mentee_ids))
        one_to_one: Select[*tuple[Any, ...]] = sa_select(
            col(Session.mentee_id).label("mentee_id")
        ).where(
            col(Session.app_id) == app_id,
            col(Session.mentor_id) == mentor_id,
            col(Session.mentee_id).in_(wanted),
            col(Session.status) == SessionStatus.completed.value,
        )
        in_groups: Select[*tuple[Any, ...]] = (
            sa_select(col(Seat.mentee_id).label("mentee_id"))
            .join(
                GroupSession,
                (col(GroupSession.app_id) == col(Seat.app_id))
                & (col(GroupSession.id) == col(Seat.group_session_id)),
            )
            .where(
                col(Seat.app_id) == app_id,
                col(Seat.mentee_id).in_(wanted),
                col(Seat.status) == SeatStatus.taken.value,
                col(GroupSession.mentor_id) == mentor_id,
                col(GroupSession.status) == GroupSessionStatus.completed.value,
            )
        )
        met = union_all(one_to_one, in_groups).subquery()
        per_mentee = (
            sa_select(met.c.mentee_id)
            .group_by(met.c.mentee_id)
            .having(func.count() == 1)
            .subquery()
        )
        connection = await db_session.connection()
        counted = sa_select(func.count()).select_from(per_mentee)
        first_met = int((await connection.execute(counted)).scalar_one())
    # SET x = x + n: exact under concurrent completions, no read-modify-write.
    await db_session.exec(
        update(Mentor)
        .where(col(Mentor.app_id) == app_id, col(Mentor.id) == mentor_id)
        .values(
            sessions_completed=col(Mentor.sessions_completed) + 1,
            minutes_mentored=col(Mentor.minutes_mentored) + duration_minutes,
            mentees_helped=col(Mentor.mentees_helped) + first_met,
        )
    )


async def get_series(
    db_session: AsyncSession, app_id: str, series_id: str, *, for_update: bool = False
) -> Series | None:
    query = select(Series).where(col(Series.app_id) == app_id, col(Series.id) == series_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await db_session.exec(query)).first()


async def series_sessions(
    db_session: AsyncSession, app_id: str, series_id: str, *, for_update: bool = False
) -> list[Session]:
    query = (
        select(Session)
        .where(col(Session.app_id) == app_id, col(Session.series_id) == series_id)
        .order_by(col(Session.starts_at), col(Session.id))
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list((await db_session.exec(query)).all())


async def get_notes(db_session: AsyncSession, app_id: str, session_id: str) -> SessionNote | None:
    query = select(SessionNote).where(
        col(SessionNote.app_id) == app_id, col(SessionNote.session_id) == session_id
    )
    return (await db_session.exec(query)).first()


async def action_items(db_session: AsyncSession, app_id: str, session_id: str) -> list[ActionItem]:
    query = (
        select(ActionItem)
        .where(col(ActionItem.app_id) == app_id, col(ActionItem.session_id) == session_id)
        .order_by(col(ActionItem.id))
    )
    return list((await db_session.exec(query)).all())


async def get_action_item(
    db_session: AsyncSession, app_id: str, session_id: str, item_id: str
) -> ActionItem | None:
    query = select(ActionItem).where(
        col(ActionItem.app_id) == app_id,
        col(ActionItem.session_id) == session_id,
        col(ActionItem.id) == item_id,
    )
    return (await db_session.exec(query)).first()


async def save(db_session: AsyncSession, *rows: object) -> None:
    db_session.add_all(rows)
    await db_session.flush()


# --- for GraphQL's DataLoaders: many parents in one query --------------------------------------


async def upcoming_for_mentors(
    db_session: AsyncSession,
    app_id: str,
    mentor_ids: Sequence[str],
    *,
    now: datetime,
    limit: int,
    participant: tuple[str | None, str | None] | None = None,
) -> dict[str, list[Session]]:
    """Each mentor's next `limit` requested or booked sessions (soonest first), in one query;
    `participant` as in `list_page`."""
    if not mentor_ids:
        return {}
    query = select(Session).where(
        col(Session.app_id) == app_id,
        col(Session.mentor_id).in_(list(mentor_ids)),
        col(Session.status).in_([s.value for s in ACTIVE]),
        col(Session.starts_at) >= now,
    )
    query = _for_participant(query, participant)
    return await first_per_group(
        db_session,
        Session,
        query,
        group="mentor_id",
        order_by=[col(Session.starts_at), col(Session.id)],
        limit=limit,
    )


async def latest_for_mentees(
    db_session: AsyncSession,
    app_id: str,
    mentee_ids: Sequence[str],
    *,
    limit: int,
    participant: tuple[str | None, str | None] | None = None,
) -> dict[str, list[Session]]:
    """Each mentee's `limit` most recently created sessions, newest first, in one query."""
    if not mentee_ids:
        return {}
    query = select(Session).where(
        col(Session.app_id) == app_id, col(Session.mentee_id).in_(list(mentee_ids))
    )
    query = _for_participant(query, participant)
    return await first_per_group(
        db_session,
        Session,
        query,
        group="mentee_id",
        order_by=[col(Session.id).desc()],
        limit=limit,
    )


async def get_many_series(
    db_session: AsyncSession, app_id: str, ids: Sequence[str]
) -> list[Series]:
    if not ids:
        return []
    query = select(Series).where(col(Series.app_id) == app_id, col(Series.id).in_(list(ids)))
    return list((await db_session.exec(query)).all())


async def sessions_of_series(
    db_session: AsyncSession, app_id: str, series_ids: Sequence[str]
) -> dict[str, list[Session]]:
    """The sessions of several series in one query, each in time order."""
    result: dict[str, list[Session]] = {}
    if not series_ids:
        return result
    query = (
        select(Session)
        .where(col(Session.app_id) == app_id, col(Session.series_id).in_(list(series_ids)))
        .order_by(col(Session.starts_at), col(Session.id))
    )
    for session in (await db_session.exec(query)).all():
        result.setdefault(session.series_id or "", []).append(session)
    return result
