from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict

from mentorapi.group_sessions.models import (
    MAX_SEATS,
    MIN_SEATS,
    GroupSession,
    GroupSessionStatus,
    Seat,
    SeatStatus,
)
from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody, sometimes
from mentorapi.kit.ids import (
    GroupSessionIdOut,
    MenteeId,
    MenteeIdOut,
    MentorId,
    MentorIdOut,
    SeatIdOut,
    SkillId,
    SkillIdOut,
)
from mentorapi.mentors.models import Format
from mentorapi.mentors.schemas import SessionLength
from mentorapi.sessions.models import CancelledBy
from mentorapi.sessions.schemas import Instant, PastTime, Reason, Topic

GroupTopic = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=200),
    Field(
        description="What the group session is about (3-200 characters).",
        examples=["Pivot tables office hours: bring your messiest sheet"],
    ),
]
Seats = Annotated[
    int,
    Field(
        ge=MIN_SEATS,
        le=MAX_SEATS,
        description=f"Seats offered ({MIN_SEATS}-{MAX_SEATS}): mentees who may join.",
    ),
]

GROUP_SESSION_CREATE_EXAMPLE: JsonDict = {
    "mentor_id": ex.MENTOR_ID,
    "topic": "Pivot tables office hours: bring your messiest sheet",
    "skill_id": ex.SKILL_ID,
    "format": "video",
    "duration_minutes": 30,
    "seats": 6,
    "starts_at": ex.GROUP_STARTS_AT,
}


class GroupSessionCreate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [GROUP_SESSION_CREATE_EXAMPLE]})

    mentor_id: MentorId
    topic: GroupTopic
    skill_id: SkillId
    format: Format = Field(description="Any format the mentor offers but `async`.")
    duration_minutes: SessionLength
    seats: Seats
    starts_at: Instant = Field(description="A free slot of the mentor.")


class GroupSessionCancel(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "Quarter close moved; new date next week."}]}
    )

    reason: Reason = ""


GROUP_SESSION_READ_EXAMPLE: JsonDict = {
    "id": ex.GROUP_SESSION_ID,
    "mentor_id": ex.MENTOR_ID,
    "status": "scheduled",
    "topic": "Pivot tables office hours: bring your messiest sheet",
    "skill_id": ex.SKILL_ID,
    "format": "video",
    "duration_minutes": 30,
    "seats": 6,
    "seats_taken": 2,
    "seats_left": 4,
    "starts_at": ex.GROUP_STARTS_AT,
    "ends_at": ex.GROUP_ENDS_AT,
    "rescheduled_from": None,
    "history": [],
    "cancel_reason": None,
    "completion_note": None,
    "version": 1,
    "created_at": ex.CREATED_AT,
    "updated_at": ex.CREATED_AT,
}


class GroupSessionRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [GROUP_SESSION_READ_EXAMPLE]})

    id: GroupSessionIdOut
    mentor_id: MentorIdOut
    status: GroupSessionStatus
    topic: str
    skill_id: SkillIdOut
    format: Format
    duration_minutes: int
    seats: int = Field(description="Seats offered.")
    seats_taken: int = Field(description="Seats taken now (cancelled seats are free again).")
    seats_left: int = Field(description="`seats` - `seats_taken`.")
    starts_at: datetime
    ends_at: datetime
    rescheduled_from: datetime | None = Field(
        description="The start time before the last reschedule (earlier ones are in `history`)."
    )
    history: list[PastTime]
    cancel_reason: str | None
    completion_note: str | None
    version: int = Field(
        description="Grows with each change of the session itself (a reschedule, a cancel, "
        "its completion), not with seats taken or given back."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, group: GroupSession) -> "GroupSessionRead":
        return cls(
            id=group.id,
            mentor_id=group.mentor_id,
            status=GroupSessionStatus(group.status),
            topic=group.topic,
            skill_id=group.skill_id,
            format=Format(group.format),
            duration_minutes=group.duration_minutes,
            seats=group.seats,
            seats_taken=group.seats_taken,
            seats_left=group.seats - group.seats_taken,
            starts_at=group.starts_at,
            ends_at=group.ends_at,
            rescheduled_from=group.rescheduled_from,
            history=[PastTime.model_validate(h) for h in group.history],
            cancel_reason=group.cancel_reason,
            completion_note=group.completion_note,
            version=group.version,
            created_at=group.created_at,
            updated_at=group.updated_at,
        )


def group_session_json(group: GroupSession) -> dict[str, Any]:
    return GroupSessionRead.from_model(group).model_dump(mode="json")


class GroupSessionEventData(GroupSessionRead):
    """`data` of every `group_session.*` webhook event."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **GROUP_SESSION_READ_EXAMPLE,
                    "rescheduled_from": ex.GROUP_STARTS_AT,
                    "starts_at": "2027-03-09T15:00:00Z",
                    "ends_at": "2027-03-09T15:30:00Z",
                    "version": 2,
                    "previous": {
                        "starts_at": ex.GROUP_STARTS_AT,
                        "ends_at": ex.GROUP_ENDS_AT,
                        "rescheduled_from": None,
                    },
                }
            ]
        }
    )

    previous: dict[str, Any] | None = sometimes(
        "The fields this change altered, with their values before it (left out of "
        "`group_session.created`)."
    )


SEAT_CREATE_EXAMPLE: JsonDict = {
    "mentee_id": ex.MENTEE_ID,
    "ask": "How do I show each region's growth next to its total without a helper column?",
}


class SeatCreate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [SEAT_CREATE_EXAMPLE]})

    mentee_id: MenteeId
    ask: Topic = Field(
        description="The mentee's own ask: what they bring to this group session (10-500 "
        "characters)."
    )


SEAT_READ_EXAMPLE: JsonDict = {
    "id": ex.SEAT_ID,
    "group_session_id": ex.GROUP_SESSION_ID,
    "mentee_id": ex.MENTEE_ID,
    "ask": SEAT_CREATE_EXAMPLE["ask"],
    "status": "taken",
    "cancelled_by": None,
    "cancel_reason": None,
    "version": 1,
    "created_at": "2027-02-20T10:00:00Z",
    "updated_at": "2027-02-20T10:00:00Z",
}


class SeatRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [SEAT_READ_EXAMPLE]})

    id: SeatIdOut
    group_session_id: GroupSessionIdOut
    mentee_id: MenteeIdOut
    ask: str
    status: SeatStatus
    cancelled_by: CancelledBy | None = Field(
        description="Who gave the seat back: the mentee, or the mentor (who also cancels every "
        "seat when cancelling the group session)."
    )
    cancel_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, seat: Seat) -> "SeatRead":
        return cls(
            id=seat.id,
            group_session_id=seat.group_session_id,
            mentee_id=seat.mentee_id,
            ask=seat.ask,
            status=SeatStatus(seat.status),
            cancelled_by=CancelledBy(seat.cancelled_by) if seat.cancelled_by else None,
            cancel_reason=seat.cancel_reason,
            version=seat.version,
            created_at=seat.created_at,
            updated_at=seat.updated_at,
        )


def seat_json(seat: Seat) -> dict[str, Any]:
    return SeatRead.from_model(seat).model_dump(mode="json")


class SeatEventData(SeatRead):
    """`data` of every `seat.*` webhook event."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **SEAT_READ_EXAMPLE,
                    "status": "cancelled",
                    "cancelled_by": "mentee",
                    "cancel_reason": "Solved it with the team this morning.",
                    "version": 2,
                    "updated_at": "2027-03-01T08:00:00Z",
                    "previous": {"status": "taken", "cancelled_by": None, "cancel_reason": None},
                }
            ]
        }
    )

    previous: dict[str, Any] | None = sometimes(
        "The fields this change altered, with their values before it (left out of `seat.taken`)."
    )


# Each status at most once.
GroupStatusFilter = Annotated[list[GroupSessionStatus], Field(max_length=len(GroupSessionStatus))]
SeatStatusFilter = Annotated[list[SeatStatus], Field(max_length=len(SeatStatus))]


class GroupSessionListArgs(BaseModel):
    """The filters of the group session list: REST's query parameters and GraphQL's
    `GroupSessionFilter`."""

    mentor_id: MentorId | None = None
    mentee_id: MenteeId | None = None
    skill_id: SkillId | None = None
    status: GroupStatusFilter | None = None
    from_: Instant | None = None
    to: Instant | None = None
