"""Group sessions: one mentor, a few mentees at once, each in a seat with their own ask.

Two rules hold whatever the code above does, on PostgreSQL:
- never more seats taken than offered: `seats_taken` is kept with the seats (under the group
  session's row lock) and a CHECK refuses `seats_taken > seats`;
- never a mentee in two seats at once: each seat carries a copy of its group session's time
  (kept in step by a reschedule), and an exclusion constraint refuses two taken seats of one
  mentee whose times overlap.
A seat against the mentee's one-to-one sessions, and a group session against the mentor's
one-to-one sessions, live in two tables, which no constraint spans: there the row locks decide
(mentor, then group session or session, then mentee: see group_sessions/service.py).
"""

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, String, func, literal_column, text
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlmodel import Field

from mentorapi.db.base import TenantOwned, same_app
from mentorapi.db.types import JSONList, UTCDateTime
from mentorapi.kit.enums import NamedStrEnum
from mentorapi.kit.ids import new_id

MIN_SEATS, MAX_SEATS = 2, 12


class GroupSessionStatus(NamedStrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"
    completed = "completed"


class SeatStatus(NamedStrEnum):
    taken = "taken"
    cancelled = "cancelled"


def _ref(*, index: bool = True) -> Any:
    # The id of another row of the same app (its foreign key is same_app(...) on the table);
    # no index of its own where a composite index starts with (app_id, it).
    return Column(String(30), nullable=False, index=index)


class GroupSession(TenantOwned, table=True):
    __tablename__ = "group_sessions"
    __table_args__ = (
        Index("ix_group_sessions_app_id_mentor_id_starts_at", "app_id", "mentor_id", "starts_at"),
        same_app("mentor_id", "mentors"),
        same_app("skill_id", "skills", ondelete="RESTRICT"),
        CheckConstraint(f"seats BETWEEN {MIN_SEATS} AND {MAX_SEATS}", name="seats"),
        CheckConstraint("seats_taken BETWEEN 0 AND seats", name="seats_taken"),
        # Two scheduled group sessions of one mentor never overlap (against the mentor's
        # one-to-one sessions, the mentor's row lock decides).
        ExcludeConstraint(
            (literal_column("app_id"), "="),
            (literal_column("mentor_id"), "="),
            (func.tstzrange(literal_column("starts_at"), literal_column("ends_at")), "&&"),
            name="ex_group_sessions_mentor_no_overlap",
            using="gist",
            where="status = 'scheduled'",
        ).ddl_if(dialect="postgresql"),
    )

    id: str = Field(default_factory=lambda: new_id("grp"), primary_key=True, max_length=30)
    mentor_id: str = Field(sa_column=_ref(index=False))
    status: str = Field(default=GroupSessionStatus.scheduled.value, max_length=16)
    topic: str = Field(max_length=200)
    skill_id: str = Field(sa_column=_ref())
    format: str = Field(max_length=16)
    duration_minutes: int
    seats: int
    seats_taken: int = Field(default=0)
    starts_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ends_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    rescheduled_from: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Earlier times, oldest first: [{"starts_at", "ends_at", "at"}] (as a session's).
    history: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    cancel_reason: str | None = Field(default=None, max_length=1000)
    completion_note: str | None = Field(default=None, max_length=2000)
    version: int = Field(default=1)


class Seat(TenantOwned, table=True):
    __tablename__ = "seats"
    __table_args__ = (
        same_app("group_session_id", "group_sessions"),
        same_app("mentee_id", "mentees"),
        # A mentee's places in time (their seats), for the checks of a booking or a seat.
        Index("ix_seats_app_id_mentee_id_starts_at", "app_id", "mentee_id", "starts_at"),
        # One taken seat per mentee and group session, on both databases.
        Index(
            "uq_seats_one_taken_per_mentee",
            "app_id",
            "group_session_id",
            "mentee_id",
            unique=True,
            postgresql_where=text("status = 'taken'"),
            sqlite_where=text("status = 'taken'"),
        ),
        ExcludeConstraint(
            (literal_column("app_id"), "="),
            (literal_column("mentee_id"), "="),
            (func.tstzrange(literal_column("starts_at"), literal_column("ends_at")), "&&"),
            name="ex_seats_mentee_no_overlap",
            using="gist",
            where="status = 'taken'",
        ).ddl_if(dialect="postgresql"),
    )

    id: str = Field(default_factory=lambda: new_id("sea"), primary_key=True, max_length=30)
    group_session_id: str = Field(sa_column=_ref())
    mentee_id: str = Field(sa_column=_ref(index=False))
    ask: str = Field(max_length=500)
    status: str = Field(default=SeatStatus.taken.value, max_length=16)
    # The group session's time, copied (and moved with it) for the exclusion constraint.
    starts_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ends_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    cancelled_by: str | None = Field(default=None, max_length=16)
    cancel_reason: str | None = Field(default=None, max_length=1000)
    version: int = Field(default=1)
