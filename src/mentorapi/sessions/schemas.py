from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict

from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody, sometimes
from mentorapi.kit.ids import (
    ActionItemIdOut,
    MenteeId,
    MenteeIdOut,
    MentorId,
    MentorIdOut,
    SeriesIdOut,
    SessionIdOut,
    SkillId,
    SkillIdOut,
)
from mentorapi.mentors.models import Format
from mentorapi.mentors.schemas import SessionLength
from mentorapi.sessions.models import (
    ActionItem,
    CancelledBy,
    Series,
    SeriesStatus,
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
Instant = Annotated[
    AwareDatetime,
    AfterValidator(_sane_instant),
    Field(description=f"RFC 3339 with an offset, between {MIN_YEAR} and {MAX_YEAR}."),
]

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


SESSION_CREATE_EXAMPLE: JsonDict = {
    "mentor_id": ex.MENTOR_ID,
    "mentee_id": ex.MENTEE_ID,
    "topic": "Review my first pivot table for the quarterly sales report",
    "questions": ["Should regions be rows or columns?", "How do I show growth as a percentage?"],
    "skill_id": ex.SKILL_ID,
    "format": "video",
    "duration_minutes": 15,
    "starts_at": ex.STARTS_AT,
}


class SessionCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                SESSION_CREATE_EXAMPLE,
                {
                    **{k: v for k, v in SESSION_CREATE_EXAMPLE.items() if k != "starts_at"},
                    "format": "async",
                    "topic": "Is a pivot table or SUMIFS better for my weekly stock sheet?",
                },
            ]
        }
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **SESSION_CREATE_EXAMPLE,
                    "topic": "Weekly check-in on my sales dashboard, one pivot table at a time",
                    # Thursdays at 09:00 in Berlin, four weeks running.
                    "starts_at": "2027-03-04T08:00:00Z",
                    "count": 4,
                    "interval_weeks": 1,
                }
            ]
        }
    )

    count: int = Field(ge=2, le=26, description="How many sessions, the first included.")
    interval_weeks: int = Field(default=1, ge=1, le=4)


class Reschedule(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"starts_at": "2027-03-09T14:00:00Z"}]}
    )

    starts_at: Instant


class Cancel(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"by": "mentee", "reason": "My report deadline moved; I'll rebook."}]
        }
    )

    by: CancelledBy
    reason: Reason = ""


class Decline(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"reason": "Travelling that week; my Thursday slots are free."}]
        }
    )

    reason: Reason = ""


class Complete(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"note": "Built the pivot together; Ben will add a growth column."}]
        }
    )

    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class PastTime(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "starts_at": "2027-03-01T14:00:00Z",
                    "ends_at": "2027-03-01T14:15:00Z",
                    "at": "2027-02-26T10:05:00Z",
                }
            ]
        }
    )

    starts_at: datetime
    ends_at: datetime
    at: datetime = Field(description="When the session was moved away from this time.")


SESSION_READ_EXAMPLE: JsonDict = {
    "id": ex.SESSION_ID,
    "mentor_id": ex.MENTOR_ID,
    "mentee_id": ex.MENTEE_ID,
    "status": "booked",
    "topic": "Review my first pivot table for the quarterly sales report",
    "questions": ["Should regions be rows or columns?", "How do I show growth as a percentage?"],
    "skill_id": ex.SKILL_ID,
    "format": "video",
    "duration_minutes": 15,
    "starts_at": ex.STARTS_AT,
    "ends_at": ex.ENDS_AT,
    "series_id": None,
    "rescheduled_from": None,
    "history": [],
    "cancelled_by": None,
    "cancel_reason": None,
    "decline_reason": None,
    "completion_note": None,
    "expires_at": None,
    "version": 2,
    "created_at": ex.CREATED_AT,
    "updated_at": ex.UPDATED_AT,
}


class SessionRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [SESSION_READ_EXAMPLE]})

    id: SessionIdOut
    mentor_id: MentorIdOut
    mentee_id: MenteeIdOut
    status: SessionStatus
    topic: str
    questions: list[str]
    skill_id: SkillIdOut
    format: Format
    duration_minutes: int
    starts_at: datetime | None
    ends_at: datetime | None
    series_id: SeriesIdOut | None
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
            status=SessionStatus(session.status),
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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **SESSION_READ_EXAMPLE,
                    "previous": {"status": "requested", "expires_at": ex.EXPIRES_AT},
                }
            ]
        }
    )

    previous: dict[str, Any] | None = sometimes(
        "The fields this change altered, with their values before it (left out of events that "
        "change nothing, such as `session.requested`)."
    )


def session_json(session: Session) -> dict[str, Any]:
    return SessionRead.from_model(session).model_dump(mode="json")


class SeriesRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.SERIES_ID,
                    "mentor_id": ex.MENTOR_ID,
                    "mentee_id": ex.MENTEE_ID,
                    "count": 2,
                    "interval_weeks": 1,
                    "status": "active",
                    "sessions": [
                        {**SESSION_READ_EXAMPLE, "series_id": ex.SERIES_ID},
                        {
                            **SESSION_READ_EXAMPLE,
                            "id": "ses_01JDB2R5S6T7V8W9X0Y1Z2A3B5",
                            "series_id": ex.SERIES_ID,
                            "starts_at": "2027-03-09T14:00:00Z",
                            "ends_at": "2027-03-09T14:15:00Z",
                        },
                    ],
                    "version": 1,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.CREATED_AT,
                }
            ]
        }
    )

    id: SeriesIdOut
    mentor_id: MentorIdOut
    mentee_id: MenteeIdOut
    count: int
    interval_weeks: int
    status: SeriesStatus
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
            status=SeriesStatus(series.status),
            sessions=[SessionRead.from_model(s) for s in sessions],
            version=series.version,
            created_at=series.created_at,
            updated_at=series.updated_at,
        )


class SeriesCancel(Cancel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"by": "mentor", "reason": "Changing teams next month."}]}
    )


class NotesPut(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "notes": "Regions as rows, quarters as columns. Growth: show values as % of.",
                    "takeaways": ["Use 'Show values as' for growth", "Refresh after new data"],
                }
            ]
        }
    )

    notes: Annotated[str, StringConstraints(max_length=20_000)] = ""
    takeaways: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    ] = Field(default_factory=list, max_length=50)


class NotesRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session_id": ex.SESSION_ID,
                    "notes": "Regions as rows, quarters as columns. Growth: show values as % of.",
                    "takeaways": ["Use 'Show values as' for growth", "Refresh after new data"],
                    "version": 1,
                    "updated_at": "2027-03-02T14:20:00Z",
                }
            ]
        }
    )

    session_id: SessionIdOut
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


class ActionItemCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"text": "Add a growth % column to the Q1 pivot", "due_on": "2027-03-09"}]
        }
    )

    text: ItemText
    due_on: date | None = None


class ActionItemUpdate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"done": True}]})

    text: ItemText | None = None
    due_on: date | None = None
    done: bool | None = None


class ActionItemRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [ex.ACTION_ITEM]})

    id: ActionItemIdOut
    session_id: SessionIdOut
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
