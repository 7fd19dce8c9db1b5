from datetime import date, datetime, timedelta

from sqlalchemy import CheckConstraint, Column, String, UniqueConstraint
from sqlmodel import Field

from mentorapi.db.base import TenantOwned, same_app
from mentorapi.db.types import JSONList
from mentorapi.kit.enums import NamedStrEnum
from mentorapi.kit.ids import new_id

# Feedback can be edited for this long after it was given; later words are impact updates.
EDIT_WINDOW = timedelta(days=7)


class Author(NamedStrEnum):
    mentee = "mentee"
    mentor = "mentor"


class Visibility(NamedStrEnum):
    mentor = "mentor"  # the mentor (and the client app) only
    public = "public"  # also on the mentor's public profile


def _ref(*, nullable: bool = False, index: bool = True) -> Column[str]:
    # The id of another row of the same app (its foreign key is same_app(...) on the table);
    # no index of its own where a composite index starts with (app_id, it).
    return Column(String(30), nullable=nullable, index=index)


class Feedback(TenantOwned, table=True):
    __tablename__ = "feedback"
    # Feedback closes a one-to-one session (`session_id`) or one seat of a group session
    # (`group_session_id` and `seat_id`: the mentee of that seat and the group's mentor), never
    # both. One per author per session or seat; the database refuses a second even from racing
    # requests (NULLs are distinct, so each constraint binds only its own kind of row).
    __table_args__ = (
        UniqueConstraint("app_id", "session_id", "author"),
        UniqueConstraint("app_id", "seat_id", "author"),
        CheckConstraint(
            "(session_id IS NULL) <> (seat_id IS NULL) "
            "AND (seat_id IS NULL) = (group_session_id IS NULL)",
            name="one_subject",
        ),
        same_app("session_id", "sessions"),
        same_app("group_session_id", "group_sessions"),
        same_app("seat_id", "seats"),
        same_app("mentor_id", "mentors"),
        same_app("mentee_id", "mentees"),
    )

    id: str = Field(default_factory=lambda: new_id("fbk"), primary_key=True, max_length=30)
    session_id: str | None = Field(default=None, sa_column=_ref(nullable=True))
    group_session_id: str | None = Field(default=None, sa_column=_ref(nullable=True))
    seat_id: str | None = Field(default=None, sa_column=_ref(nullable=True, index=False))
    mentor_id: str = Field(sa_column=_ref())
    mentee_id: str = Field(sa_column=_ref())
    author: str = Field(max_length=8)
    rating: int | None = None
    impact: str = Field(default="", max_length=4000)
    takeaways: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    thanks: str = Field(default="", max_length=2000)
    note: str = Field(default="", max_length=2000)
    visibility: str = Field(default=Visibility.mentor.value, max_length=8)
    version: int = Field(default=1)


class ImpactUpdate(TenantOwned, table=True):
    """A later word on what the advice changed ("promoted six months later")."""

    __tablename__ = "impact_updates"
    __table_args__ = (same_app("feedback_id", "feedback"),)

    id: str = Field(default_factory=lambda: new_id("imp"), primary_key=True, max_length=30)
    feedback_id: str = Field(sa_column=_ref())
    text: str = Field(max_length=2000)
    occurred_on: date | None = None


def editable_until(feedback: Feedback) -> datetime:
    return feedback.created_at + EDIT_WINDOW
