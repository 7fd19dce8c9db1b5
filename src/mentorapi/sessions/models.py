from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, String, Text, func, literal_column
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlmodel import Field

from mentorapi.db.base import TenantOwned, same_app
from mentorapi.db.types import JSONList, UTCDateTime
from mentorapi.kit.enums import NamedStrEnum
from mentorapi.kit.ids import new_id


class SessionStatus(NamedStrEnum):
    requested = "requested"
    booked = "booked"
    declined = "declined"
    cancelled = "cancelled"
    expired = "expired"
    completed = "completed"
    no_show = "no_show"


# Statuses that hold the mentor's time: two of them never overlap.
ACTIVE = (SessionStatus.requested, SessionStatus.booked)
# Statuses that count against the weekly capacity (time given, or promised).
COUNTED = (*ACTIVE, SessionStatus.completed, SessionStatus.no_show)


class CancelledBy(NamedStrEnum):
    mentee = "mentee"
    mentor = "mentor"


class SeriesStatus(NamedStrEnum):
    active = "active"
    cancelled = "cancelled"


def _ref(*, nullable: bool = False) -> Any:
    # The id of another row of the same app (its foreign key is same_app(...) on the table).
    return Column(String(30), nullable=nullable, index=True)


class Series(TenantOwned, table=True):
    __tablename__ = "series"
    __table_args__ = (same_app("mentor_id", "mentors"), same_app("mentee_id", "mentees"))

    id: str = Field(default_factory=lambda: new_id("ser"), primary_key=True, max_length=30)
    mentor_id: str = Field(sa_column=_ref())
    mentee_id: str = Field(sa_column=_ref())
    count: int
    interval_weeks: int
    status: str = Field(default=SeriesStatus.active.value, max_length=16)
    version: int = Field(default=1)


class Session(TenantOwned, table=True):
    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_app_id_mentor_id_starts_at", "app_id", "mentor_id", "starts_at"),
        Index("ix_sessions_status_expires_at", "status", "expires_at"),
        same_app("mentor_id", "mentors"),
        same_app("mentee_id", "mentees"),
        same_app("skill_id", "skills", ondelete="RESTRICT"),
        same_app("series_id", "series"),
        # PostgreSQL enforces "never a double booking" itself, whatever the code above does.
        # (app_id first: a mentor's sessions are one app's, and Citus needs its distribution
        # column in every exclusion constraint.)
        ExcludeConstraint(
            (literal_column("app_id"), "="),
            (literal_column("mentor_id"), "="),
            (func.tstzrange(literal_column("starts_at"), literal_column("ends_at")), "&&"),
            name="ex_sessions_mentor_no_overlap",
            using="gist",
            where="status IN ('requested', 'booked') AND starts_at IS NOT NULL",
        ).ddl_if(dialect="postgresql"),
    )

    id: str = Field(default_factory=lambda: new_id("ses"), primary_key=True, max_length=30)
    mentor_id: str = Field(sa_column=_ref())
    mentee_id: str = Field(sa_column=_ref())
    status: str = Field(max_length=16)
    topic: str = Field(max_length=500)
    questions: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    skill_id: str = Field(sa_column=_ref())
    format: str = Field(max_length=16)
    duration_minutes: int
    starts_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A request not answered by then expires (the start time; a week for async sessions).
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    series_id: str | None = Field(default=None, sa_column=_ref(nullable=True))
    rescheduled_from: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Earlier times of a rescheduled session, oldest first: [{"starts_at", "ends_at", "at"}].
    history: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    cancelled_by: str | None = Field(default=None, max_length=16)
    cancel_reason: str | None = Field(default=None, max_length=1000)
    decline_reason: str | None = Field(default=None, max_length=1000)
    completion_note: str | None = Field(default=None, max_length=2000)
    version: int = Field(default=1)


class SessionNote(TenantOwned, table=True):
    """The mentee's private notes and takeaways on a session (never in webhook payloads)."""

    __tablename__ = "session_notes"
    __table_args__ = (same_app("session_id", "sessions"),)

    session_id: str = Field(sa_column=Column(String(30), primary_key=True))
    notes: str = Field(default="", sa_column=Column(Text, nullable=False))
    takeaways: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    version: int = Field(default=1)


class ActionItem(TenantOwned, table=True):
    __tablename__ = "action_items"
    __table_args__ = (same_app("session_id", "sessions"),)

    id: str = Field(default_factory=lambda: new_id("act"), primary_key=True, max_length=30)
    session_id: str = Field(sa_column=_ref())
    text: str = Field(max_length=500)
    due_on: str | None = Field(default=None, max_length=10)  # an ISO date, no time zone
    done: bool = Field(default=False)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = Field(default=1)
