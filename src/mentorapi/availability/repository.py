from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BindParameter, Select, Table, and_, bindparam, exists
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.availability.models import Availability
from mentorapi.db import fast
from mentorapi.group_sessions import repository as group_sessions_repository
from mentorapi.group_sessions.repository import Place
from mentorapi.mentors.models import Mentor, MentorSkill
from mentorapi.sessions import repository as sessions_repository


async def get(db_session: AsyncSession, app_id: str, mentor_id: str) -> Availability | None:
    query = select(Availability).where(
        col(Availability.app_id) == app_id, col(Availability.mentor_id) == mentor_id
    )
    return (await db_session.exec(query)).first()


async def save(db_session: AsyncSession, availability: Availability) -> None:
    db_session.add(availability)
    await db_session.flush()


async def get_many(
    db_session: AsyncSession, app_id: str, mentor_ids: Sequence[str]
) -> list[Availability]:
    """The availabilities of several mentors in one query (mentors without one are left out)."""
    if not mentor_ids:
        return []
    query = select(Availability).where(
        col(Availability.app_id) == app_id, col(Availability.mentor_id).in_(list(mentor_ids))
    )
    return list((await db_session.exec(query)).all())


MENTORS = cast(Table, Mentor.__table__)  # type: ignore[attr-defined]
AVAILABILITIES = cast(Table, Availability.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class SlotSource:
    """What a slots request reads: the mentor's zone and session lengths, their availability's
    values (`weekly` None: never set), and the times held around the range, as the database
    sent them (`held_raw`, hashable: bytes on PostgreSQL, text on SQLite; `held()` decodes)."""

    timezone: str
    session_lengths: list[int]
    weekly: list[dict[str, Any]] | None
    overrides: list[dict[str, Any]]
    buffer_before_minutes: int
    buffer_after_minutes: int
    min_notice_minutes: int
    booking_horizon_days: int | None
    weekly_capacity: int | None
    daily_limit_sessions: int | None
    daily_limit_minutes: int | None
    auto_accept: bool
    dialect: str
    held_raw: bytes | str | None

    def held(self) -> list[sessions_repository.Held]:
        return sessions_repository.decode_held(self.dialect, self.held_raw)


_slot_statements: dict[str, Select[Any]] = {}


def _slot_statement(dialect: str) -> Select[Any]:
    # Built once per dialect with bind parameters: SQLAlchemy then finds its compiled form by
    # the statement's cache key, which a reused statement object keeps.
    statement = _slot_statements.get(dialect)
    if statement is None:
        m, a = MENTORS.c, AVAILABILITIES.c
        held = sessions_repository.held_times(
            dialect,
            app_id=bindparam("app_id"),
            mentor_id=bindparam("mentor_id"),
            start=bindparam("held_from"),
            end=bindparam("held_to"),
            now=bindparam("now"),
        )
        built: Select[Any] = (
            sa_select(
                m.timezone,
                m.session_lengths,
                a.weekly,
                a.overrides,
                a.buffer_before_minutes,
                a.buffer_after_minutes,
                a.min_notice_minutes,
                a.booking_horizon_days,
                a.weekly_capacity,
                a.daily_limit_sessions,
                a.daily_limit_minutes,
                a.auto_accept,
                held.label("held"),
            )
            .select_from(
                MENTORS.outerjoin(AVAILABILITIES, and_(a.app_id == m.app_id, a.mentor_id == m.id))
            )
            .where(m.app_id == bindparam("app_id"), m.id == bindparam("mentor_id"))
        )
        statement = _slot_statements[dialect] = built
    return statement


async def slot_source(
    db_session: AsyncSession,
    app_id: str,
    mentor_id: str,
    held_from: datetime,
    held_to: datetime,
    now: datetime,
) -> SlotSource | None:
    """The mentor, their availability and the sessions starting in [held_from, held_to)
    (`sessions.repository.held_times`) in one statement; None if the app has no such mentor."""
    dialect = db_session.get_bind().dialect.name
    # On the driver itself (db/fast.py): every slots request runs it.
    rows = await fast.fetch(
        db_session,
        _slot_statement(dialect),
        _slot_params(app_id, mentor_id, held_from, held_to, now),
    )
    return _source_of(rows[0], dialect) if rows else None


@dataclass(frozen=True, slots=True)
class BookingSource:
    """What a booking is checked against, read in one statement once the mentor and the mentee
    are locked: the mentor's availability and held times (`slots`), whether the mentor offers
    the skill, and the mentee's places in time over the booking's span."""

    slots: SlotSource
    offers_skill: bool
    places: list[Place]


_booking_statements: dict[str, Select[Any]] = {}


def _booking_statement(dialect: str) -> Select[Any]:
    statement = _booking_statements.get(dialect)
    if statement is None:
        app_id: BindParameter[str] = bindparam("app_id")
        offered = exists().where(
            col(MentorSkill.app_id) == app_id,
            col(MentorSkill.mentor_id) == bindparam("mentor_id"),
            col(MentorSkill.skill_id) == bindparam("skill_id"),
        )
        places = group_sessions_repository.places_value(
            dialect,
            app_id=app_id,
            mentee_id=bindparam("mentee_id"),
            start=bindparam("places_from"),
            end=bindparam("places_to"),
            now=bindparam("now"),
        )
        statement = _booking_statements[dialect] = _slot_statement(dialect).add_columns(
            offered.label("offers_skill"), places.label("places")
        )
    return statement


async def booking_source(
    db_session: AsyncSession,
    app_id: str,
    mentor_id: str,
    *,
    mentee_id: str,
    skill_id: str,
    held_from: datetime,
    held_to: datetime,
    places_from: datetime,
    places_to: datetime,
    now: datetime,
) -> BookingSource | None:
    """`slot_source` with the mentor's offer of the skill and the mentee's places overlapping
    [places_from, places_to) (group_sessions/places.py), in one statement: a booking reads this
    while it holds the mentor's and the mentee's locks, so each round trip saved here is one
    less that every other booking of the mentor waits for. None: no such mentor."""
    dialect = db_session.get_bind().dialect.name
    params = _slot_params(app_id, mentor_id, held_from, held_to, now)
    params.update(
        mentee_id=mentee_id, skill_id=skill_id, places_from=places_from, places_to=places_to
    )
    rows = await fast.fetch(db_session, _booking_statement(dialect), params)
    if not rows:
        return None
    row = rows[0]
    places = group_sessions_repository.decode_places(row[-1])
    return BookingSource(_source_of(row, dialect), bool(row[-2]), places)


def _slot_params(
    app_id: str, mentor_id: str, held_from: datetime, held_to: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "app_id": app_id,
        "mentor_id": mentor_id,
        "held_from": held_from,
        "held_to": held_to,
        "now": now,
    }


def _source_of(row: Sequence[Any], dialect: str) -> SlotSource:
    (timezone, lengths, weekly, overrides, before, after, notice, horizon, capacity) = row[:9]
    daily_sessions, daily_minutes, auto_accept, held = row[9:13]
    # A mentor who never set an availability comes with NULLs (the outer join): no limits.
    return SlotSource(
        timezone=timezone,
        session_lengths=lengths,
        weekly=weekly,
        overrides=overrides or [],
        buffer_before_minutes=before or 0,
        buffer_after_minutes=after or 0,
        min_notice_minutes=notice or 0,
        booking_horizon_days=horizon,
        weekly_capacity=capacity,
        daily_limit_sessions=daily_sessions,
        daily_limit_minutes=daily_minutes,
        auto_accept=bool(auto_accept),
        dialect=dialect,
        held_raw=held,
    )
