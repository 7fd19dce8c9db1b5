from datetime import date, datetime, timedelta

from sqlalchemy import Column, String, UniqueConstraint
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


def _ref() -> Column[str]:
    # The id of another row of the same app (its foreign key is same_app(...) on the table).
    return Column(String(30), nullable=False, index=True)


class Feedback(TenantOwned, table=True):
    __tablename__ = "feedback"
    # One per author per session; the database refuses a second even from racing requests.
    __table_args__ = (
        UniqueConstraint("app_id", "session_id", "author"),
        same_app("session_id", "sessions"),
        same_app("mentor_id", "mentors"),
        same_app("mentee_id", "mentees"),
    )

    id: str = Field(default_factory=lambda: new_id("fbk"), primary_key=True, max_length=30)
    session_id: str = Field(sa_column=_ref())
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
