from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from mentorapi.kit.ids import MenteeId, MentorId, SkillId
from mentorapi.mentors.models import Format
from mentorapi.mentors.schemas import SessionLength
from mentorapi.sessions.models import (
    ActionItem,
    CancelledBy,
    Series,
    Session,
    SessionNote,
    SessionStatus,
)


def _sane_instant(value: datetime) -> datetime:
    # Years near 1 or 9999 cannot even be converted to UTC (OverflowError): refuse them here,
    # with every other time outside what a mentoring calendar can mean.
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"a time between the years {MIN_YEAR} and {MAX_YEAR}, please")
    return utc


MIN_YEAR, MAX_YEAR = 1970, 2999
# An instant with an explicit offset (a naive time names no instant), normalised to UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_sane_instant)]

Topic = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=10, max_length=500),
    Field(
        description="The ask: what the mentee wants out of the session (10-500 characters).",
        examples=["Review my first pivot table for the quarterly sales report"],
    ),
]
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mentor_id: MentorId
    mentee_id: MenteeId
    topic: Topic
    questions: list[Question] = Field(default_factory=list, max_length=10)
    skill_id: SkillId
    format: Format
    duration_minutes: SessionLength
    starts_at: Instant | None = Field(
        default=None, description="A free slot; omit for `async` sessions (and only for those)."
    )


class SeriesCreate(SessionCreate):
    count: int = Field(ge=2, le=26, description="How many sessions, the first included.")
    interval_weeks: int = Field(default=1, ge=1, le=4)


class Reschedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: Instant


class Cancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: CancelledBy
    reason: Reason = ""


class Decline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = ""


class Complete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class PastTime(BaseModel):
    starts_at: datetime
    ends_at: datetime
    at: datetime = Field(description="When the session was moved away from this time.")


class SessionRead(BaseModel):
    id: str
    mentor_id: str
    mentee_id: str
    status: str
    topic: str
    questions: list[str]
    skill_id: str
    format: Format
    duration_minutes: int
    starts_at: datetime | None
    ends_at: datetime | None
    series_id: str | None
    rescheduled_from: datetime | None = Field(
        description="The start time before the last reschedule (earlier ones are in `history`)."
    )
    history: list[PastTime]
    cancelled_by: CancelledBy | None
    cancel_reason: str | None
    decline_reason: str | None
    completion_note: str | None
    expires_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, session: Session) -> "SessionRead":
        return cls(
            id=session.id,
            mentor_id=session.mentor_id,
            mentee_id=session.mentee_id,
            status=session.status,
            topic=session.topic,
            questions=session.questions,
            skill_id=session.skill_id,
            format=Format(session.format),
            duration_minutes=session.duration_minutes,
            starts_at=session.starts_at,
            ends_at=session.ends_at,
            series_id=session.series_id,
            rescheduled_from=session.rescheduled_from,
            history=[PastTime.model_validate(h) for h in session.history],
            cancelled_by=CancelledBy(session.cancelled_by) if session.cancelled_by else None,
            cancel_reason=session.cancel_reason,
            decline_reason=session.decline_reason,
            completion_note=session.completion_note,
            expires_at=session.expires_at,
            version=session.version,
            created_at=session.created_at,
            updated_at=session.updated_at,
        )


class SessionEventData(SessionRead):
    """`data` of every `session.*` webhook event (for the OpenAPI `webhooks` section)."""

    previous: dict[str, Any] | None = Field(
        default=None,
        description="The fields this change altered, with their values before it.",
        examples=[{"status": "requested", "expires_at": "2027-01-11T08:00:00Z"}],
    )


def session_json(session: Session) -> dict[str, Any]:
    return SessionRead.from_model(session).model_dump(mode="json")


class SeriesRead(BaseModel):
    id: str
    mentor_id: str
    mentee_id: str
    count: int
    interval_weeks: int
    status: str
    sessions: list[SessionRead]
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, series: Series, sessions: list[Session]) -> "SeriesRead":
        return cls(
            id=series.id,
            mentor_id=series.mentor_id,
            mentee_id=series.mentee_id,
            count=series.count,
            interval_weeks=series.interval_weeks,
            status=series.status,
            sessions=[SessionRead.from_model(s) for s in sessions],
            version=series.version,
            created_at=series.created_at,
            updated_at=series.updated_at,
        )


class SeriesCancel(Cancel):
    pass


class NotesPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: Annotated[str, StringConstraints(max_length=20_000)] = ""
    takeaways: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    ] = Field(default_factory=list, max_length=50)


class NotesRead(BaseModel):
    session_id: str
    notes: str
    takeaways: list[str]
    version: int
    updated_at: datetime | None

    @classmethod
    def from_model(cls, note: SessionNote) -> "NotesRead":
        return cls(
            session_id=note.session_id,
            notes=note.notes,
            takeaways=note.takeaways,
            version=note.version,
            updated_at=note.updated_at,
        )


ItemText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ActionItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: ItemText
    due_on: date | None = None


class ActionItemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: ItemText | None = None
    due_on: date | None = None
    done: bool | None = None


class ActionItemRead(BaseModel):
    id: str
    session_id: str
    text: str
    due_on: date | None
    done: bool
    done_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, item: ActionItem) -> "ActionItemRead":
        return cls(
            id=item.id,
            session_id=item.session_id,
            text=item.text,
            due_on=date.fromisoformat(item.due_on) if item.due_on else None,
            done=item.done,
            done_at=item.done_at,
            version=item.version,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )


# Each status at most once.
StatusFilter = Annotated[list[SessionStatus], Field(max_length=len(SessionStatus))]


class SessionListArgs(BaseModel):
    """The filters of the session list: REST's query parameters and GraphQL's `SessionFilter`."""

    mentor_id: MentorId | None = None
    mentee_id: MenteeId | None = None
    status: StatusFilter | None = None
    from_: Instant | None = None
    to: Instant | None = None
