from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    ColumnElement,
    CompoundSelect,
    ScalarSelect,
    Select,
    String,
    bindparam,
    cast,
    false,
    literal_column,
    null,
    or_,
    union_all,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from mentorapi.db.paging import SortKey, paginate
from mentorapi.group_sessions.models import GroupSession, GroupSessionStatus, Seat, SeatStatus
from mentorapi.kit.pagination import PageRequest, id_key
from mentorapi.mentees.models import Mentee
from mentorapi.sessions.models import ACTIVE, Session, SessionStatus

_TAKEN = SeatStatus.taken.value
# Inline constants, not parameters, in statements built once (as sessions/repository.py).
_ACTIVE: list[ColumnElement[str]] = [literal_column(f"'{s.value}'") for s in ACTIVE]
_REQUESTED: ColumnElement[str] = literal_column(f"'{SessionStatus.requested.value}'")
_SCHEDULED = GroupSessionStatus.scheduled.value

# Whose seats a caller sees: None, every seat (the API key); else (mentor id, mentee id) of a
# member: the seats of that mentor's group sessions and that mentee's own (a None side: none).
Visible = tuple[str | None, str | None] | None
T = TypeVar("T")


async def get(
    db_session: AsyncSession, app_id: str, group_id: str, *, for_update: bool = False
) -> GroupSession | None:
    query = select(GroupSession).where(
        col(GroupSession.app_id) == app_id, col(GroupSession.id) == group_id
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await db_session.exec(query)).first()


async def get_many(db_session: AsyncSession, app_id: str, ids: Sequence[str]) -> list[GroupSession]:
    if not ids:
        return []
    query = select(GroupSession).where(
        col(GroupSession.app_id) == app_id, col(GroupSession.id).in_(list(ids))
    )
    return list((await db_session.exec(query)).all())


def _seated(app_id: str, mentee_id: str) -> SelectOfScalar[str]:
    """The ids of the group sessions where the mentee holds a taken seat."""
    return select(Seat.group_session_id).where(
        col(Seat.app_id) == app_id,
        col(Seat.mentee_id) == mentee_id,
        col(Seat.status) == _TAKEN,
    )


async def list_page(
    db_session: AsyncSession,
    app_id: str,
    page: PageRequest,
    *,
    mentor_id: str | None = None,
    mentee_id: str | None = None,
    skill_id: str | None = None,
    statuses: Sequence[str] = (),
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
) -> tuple[list[GroupSession], str | None]:
    query = select(GroupSession).where(col(GroupSession.app_id) == app_id)
    if mentor_id:
        query = query.where(col(GroupSession.mentor_id) == mentor_id)
    if mentee_id:
        query = query.where(col(GroupSession.id).in_(_seated(app_id, mentee_id)))
    if skill_id:
        query = query.where(col(GroupSession.skill_id) == skill_id)
    if statuses:
        query = query.where(col(GroupSession.status).in_(list(statuses)))
    if starts_from is not None:
        query = query.where(col(GroupSession.starts_at) >= starts_from)
    if starts_before is not None:
        query = query.where(col(GroupSession.starts_at) < starts_before)
    return await paginate(
        db_session,
        query,
        sort="created",
        keys=[SortKey(col(GroupSession.id), "id", kind=id_key("grp"))],
        page=page,
    )


# --- seats ---------------------------------------------------------------------------------------


async def get_seat(
    db_session: AsyncSession,
    app_id: str,
    group_id: str,
    seat_id: str,
    *,
    for_update: bool = False,
) -> Seat | None:
    query = select(Seat).where(
        col(Seat.app_id) == app_id,
        col(Seat.group_session_id) == group_id,
        col(Seat.id) == seat_id,
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await db_session.exec(query)).first()


async def taken_seat_of(
    db_session: AsyncSession, app_id: str, group_id: str, mentee_id: str
) -> Seat | None:
    """The mentee's taken seat in the group session (one at most: uq_seats_one_taken_per_mentee)."""
    query = select(Seat).where(
        col(Seat.app_id) == app_id,
        col(Seat.group_session_id) == group_id,
        col(Seat.mentee_id) == mentee_id,
        col(Seat.status) == _TAKEN,
    )
    return (await db_session.exec(query)).first()


async def taken_seats(
    db_session: AsyncSession, app_id: str, group_id: str, *, for_update: bool = False
) -> list[Seat]:
    """The taken seats of a group session, in the order they were taken."""
    query = (
        select(Seat)
        .where(
            col(Seat.app_id) == app_id,
            col(Seat.group_session_id) == group_id,
            col(Seat.status) == _TAKEN,
        )
        .order_by(col(Seat.id))
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list((await db_session.exec(query)).all())


def _visible_to(
    query: SelectOfScalar[T], app_id: str, group_ids: Sequence[str], visible: Visible
) -> SelectOfScalar[T]:
    """Only the seats `visible` lets a caller see (the one rule, in SQL, for every seat read)."""
    if visible is None:
        return query
    mentor_id, mentee_id = visible
    sides: list[ColumnElement[bool]] = []
    if mentor_id is not None:
        owned = select(GroupSession.id).where(
            col(GroupSession.app_id) == app_id,
            col(GroupSession.mentor_id) == mentor_id,
            col(GroupSession.id).in_(list(group_ids)),
        )
        sides.append(col(Seat.group_session_id).in_(owned))
    if mentee_id is not None:
        sides.append(col(Seat.mentee_id) == mentee_id)
    return query.where(or_(*sides) if sides else false())


async def seats_page(
    db_session: AsyncSession,
    app_id: str,
    group_id: str,
    page: PageRequest,
    *,
    visible: Visible,
    statuses: Sequence[str] = (),
) -> tuple[list[Seat], str | None]:
    query = select(Seat).where(col(Seat.app_id) == app_id, col(Seat.group_session_id) == group_id)
    query = _visible_to(query, app_id, [group_id], visible)
    if statuses:
        query = query.where(col(Seat.status).in_(list(statuses)))
    return await paginate(
        db_session,
        query,
        sort="created",
        keys=[SortKey(col(Seat.id), "id", kind=id_key("sea"))],
        page=page,
    )


async def taken_seats_of(
    db_session: AsyncSession,
    app_id: str,
    group_ids: Sequence[str],
    *,
    visible: Visible,
) -> dict[str, list[Seat]]:
    """The taken seats of several group sessions that `visible` shows, in one query, each in
    the order taken."""
    found: dict[str, list[Seat]] = {}
    if not group_ids:
        return found
    query = select(Seat).where(
        col(Seat.app_id) == app_id,
        col(Seat.group_session_id).in_(list(group_ids)),
        col(Seat.status) == _TAKEN,
    )
    query = _visible_to(query, app_id, group_ids, visible)
    for seat in (await db_session.exec(query.order_by(col(Seat.id)))).all():
        found.setdefault(seat.group_session_id, []).append(seat)
    return found


async def count_seat(db_session: AsyncSession, group: GroupSession, delta: int) -> None:
    """`seats_taken` += `delta` in the database itself (the CHECK sees the true sum, whatever
    this process read), and the row's new value in `group` (not marked as changed)."""
    query = (
        update(GroupSession)
        .where(col(GroupSession.app_id) == group.app_id, col(GroupSession.id) == group.id)
        .values(seats_taken=col(GroupSession.seats_taken) + delta)
        .returning(col(GroupSession.seats_taken))
    )
    taken = (await db_session.exec(query)).scalar_one()
    set_committed_value(group, "seats_taken", taken)


async def lock_mentees(db_session: AsyncSession, app_id: str, mentee_ids: Sequence[str]) -> None:
    """Lock several mentee rows, in id order (the order every change takes them in)."""
    if not mentee_ids:
        return
    query = (
        select(Mentee.id)
        .where(col(Mentee.app_id) == app_id, col(Mentee.id).in_(list(mentee_ids)))
        .order_by(col(Mentee.id))
        .with_for_update()
    )
    await db_session.exec(query)


async def move_seats(
    db_session: AsyncSession, app_id: str, group_id: str, starts_at: datetime, ends_at: datetime
) -> None:
    """The taken seats of a group session follow it to its new time."""
    await db_session.exec(
        update(Seat)
        .where(
            col(Seat.app_id) == app_id,
            col(Seat.group_session_id) == group_id,
            col(Seat.status) == _TAKEN,
        )
        .values(starts_at=starts_at, ends_at=ends_at)
    )


# --- a mentee's places in time (group_sessions/places.py) --------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    mentee_id: str
    group_session_id: str | None  # None: a one-to-one session
    starts_at: datetime
    ends_at: datetime


# A statement of places: the seats alone, or seats and one-to-one sessions.
Places = Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]


def _places(
    *,
    app_id: Any,
    mentee_ids: Any,
    start: Any,
    end: Any,
    now: Any,
    with_sessions: bool,
    exclude_group_id: Any = None,
    exclude_session_id: Any = None,
) -> Places:
    """The one definition of a mentee's places in time: their taken seats overlapping
    [start, end) (but those of `exclude_group_id`) and, with `with_sessions`, their one-to-one
    sessions that hold time there (booked, or requested and not expired at `now`; but
    `exclude_session_id`). Arguments are bind parameters (statements built once) or values;
    `mentee_ids` is anything `IN` takes (an expanding parameter, a list)."""
    seat_where = [
        col(Seat.app_id) == app_id,
        col(Seat.mentee_id).in_(mentee_ids),
        col(Seat.status) == _TAKEN,
        col(Seat.starts_at) < end,
        col(Seat.ends_at) > start,
    ]
    if exclude_group_id is not None:
        seat_where.append(col(Seat.group_session_id) != exclude_group_id)
    # Never correlated to an enclosing statement (the checks' statement embeds it).
    seats: Select[*tuple[Any, ...]] = (
        sa_select(
            col(Seat.mentee_id).label("mentee_id"),
            cast(col(Seat.group_session_id), String).label("group_session_id"),
            col(Seat.starts_at).label("starts_at"),
            col(Seat.ends_at).label("ends_at"),
        )
        .where(*seat_where)
        .correlate(None)
    )
    if not with_sessions:
        return seats
    session_where = []
    if exclude_session_id is not None:
        session_where.append(col(Session.id) != exclude_session_id)
    sessions: Select[*tuple[Any, ...]] = (
        sa_select(
            col(Session.mentee_id),
            cast(null(), String),
            col(Session.starts_at),
            col(Session.ends_at),
        )
        .where(
            *session_where,
            col(Session.app_id) == app_id,
            col(Session.mentee_id).in_(mentee_ids),
            col(Session.status).in_(_ACTIVE),
            col(Session.starts_at) < end,
            col(Session.ends_at) > start,
            or_(
                col(Session.status) != _REQUESTED,
                col(Session.expires_at).is_(None),
                col(Session.expires_at) > now,
            ),
        )
        .correlate(None)
    )
    return union_all(seats, sessions)


# Built once per shape, with bind parameters: SQLAlchemy finds the compiled form by the
# statement's cache key instead of building and compiling the union for every call.
_places_statements: dict[tuple[bool, bool, bool], Places] = {}


def _places_statement(with_sessions: bool, by_group: bool, by_session: bool) -> Places:
    shape = (with_sessions, by_group, by_session)
    statement = _places_statements.get(shape)
    if statement is None:
        statement = _places_statements[shape] = _places(
            app_id=bindparam("app_id"),
            mentee_ids=bindparam("mentee_ids", expanding=True),
            start=bindparam("start"),
            end=bindparam("end"),
            now=bindparam("now"),
            with_sessions=with_sessions,
            exclude_group_id=bindparam("exclude_group_id") if by_group else None,
            exclude_session_id=bindparam("exclude_session_id") if by_session else None,
        )
    return statement


async def places_of(
    db_session: AsyncSession,
    app_id: str,
    mentee_ids: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    with_sessions: bool,
    exclude_group_id: str | None,
    exclude_session_id: str | None = None,
) -> list[Place]:
    """In one statement, the mentees' places overlapping [start, end) (`_places`)."""
    statement = _places_statement(
        with_sessions, exclude_group_id is not None, exclude_session_id is not None
    )
    params = {
        "app_id": app_id,
        "mentee_ids": list(mentee_ids),
        "start": start,
        "end": end,
        "now": now,
        "exclude_group_id": exclude_group_id,
        "exclude_session_id": exclude_session_id,
    }
    connection = await db_session.connection()
    rows = (await connection.execute(statement, params)).all()
    return [Place(r[0], r[1], r[2], r[3]) for r in rows]


def places_value(
    dialect: str, *, app_id: Any, mentee_id: Any, start: Any, end: Any, now: Any
) -> ScalarSelect[Any]:
    """One mentee's places overlapping [start, end), seats and one-to-one sessions (`_places`),
    as one value (a JSON array, NULL or `[]` for none) for a statement that reads more than
    them: a booking's checks (availability/repository.py). Decode it with `decode_places`."""
    rows = _places(
        app_id=app_id,
        mentee_ids=[mentee_id],
        start=start,
        end=end,
        now=now,
        with_sessions=True,
    ).subquery()
    row = (rows.c.mentee_id, rows.c.group_session_id, rows.c.starts_at, rows.c.ends_at)
    if dialect == "postgresql":
        places = func.json_agg(func.json_build_array(*row), type_=JSON)
    else:
        places = func.json_group_array(func.json_array(*row), type_=JSON)
    return sa_select(places).scalar_subquery()


def decode_places(value: list[list[str]] | None) -> list[Place]:
    """`places_value` as read (its JSON decoded by the driver or SQLAlchemy): PostgreSQL
    writes the times as ISO 8601 with their offset, SQLite as the naive UTC text it keeps
    them in."""
    return [Place(m, g, _instant(s), _instant(e)) for m, g, s, e in value or ()]


def _instant(text: str) -> datetime:
    found = datetime.fromisoformat(text)
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


# --- what other domains ask before they delete ---------------------------------------------------


async def count_scheduled(db_session: AsyncSession, app_id: str, mentor_id: str) -> int:
    query = select(func.count()).where(
        col(GroupSession.app_id) == app_id,
        col(GroupSession.mentor_id) == mentor_id,
        col(GroupSession.status) == _SCHEDULED,
    )
    return (await db_session.exec(query)).one()


async def count_taken_seats(db_session: AsyncSession, app_id: str, mentee_id: str) -> int:
    """The mentee's seats in group sessions still to take place."""
    scheduled = select(GroupSession.id).where(
        col(GroupSession.app_id) == app_id, col(GroupSession.status) == _SCHEDULED
    )
    query = select(func.count()).where(
        col(Seat.app_id) == app_id,
        col(Seat.mentee_id) == mentee_id,
        col(Seat.status) == _TAKEN,
        col(Seat.group_session_id).in_(scheduled),
    )
    return (await db_session.exec(query)).one()


async def count_for_skill(db_session: AsyncSession, app_id: str, skill_id: str) -> int:
    query = select(func.count()).where(
        col(GroupSession.app_id) == app_id, col(GroupSession.skill_id) == skill_id
    )
    return (await db_session.exec(query)).one()


async def save(db_session: AsyncSession, *rows: object) -> None:
    db_session.add_all(rows)
    await db_session.flush()
