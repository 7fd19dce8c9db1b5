from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field
from pydantic.config import JsonDict, JsonValue

from mentorapi.feedback.models import Author
from mentorapi.group_sessions.schemas import (
    GROUP_SESSION_READ_EXAMPLE,
    SEAT_READ_EXAMPLE,
    GroupSessionRead,
    SeatRead,
)
from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.enums import NamedStrEnum
from mentorapi.kit.ids import MenteeIdOut, MentorIdOut
from mentorapi.reminders.models import (
    DEFAULT_FEEDBACK_DELAY_MINUTES,
    DEFAULT_OFFSETS,
    MentorReminderPolicy,
    ReminderPolicy,
)
from mentorapi.sessions.schemas import SESSION_READ_EXAMPLE, ActionItemRead, SessionRead

MAX_OFFSET_MINUTES = 20_160  # two weeks before the start
MAX_OFFSETS = 5
MAX_FEEDBACK_DELAY_MINUTES = 1440


def _distinct_latest_first(offsets: list[int]) -> list[int]:
    if len(set(offsets)) != len(offsets):
        duplicates = sorted({o for o in offsets if offsets.count(o) > 1})
        raise ValueError(f"each offset at most once; repeated: {duplicates}")
    return sorted(offsets, reverse=True)


Offsets = Annotated[
    list[Annotated[int, Field(ge=1, le=MAX_OFFSET_MINUTES)]],
    Field(
        max_length=MAX_OFFSETS,
        description=f"Minutes before the start, one reminder each (1-{MAX_OFFSET_MINUTES}, at "
        f"most {MAX_OFFSETS}, each once; `[]`: no reminders). Real minutes from the start "
        "instant: 1440 is 24 hours before, across a change of the clocks too. Shown latest "
        "first.",
        examples=[DEFAULT_OFFSETS],
    ),
    AfterValidator(_distinct_latest_first),
]
FeedbackDelay = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_FEEDBACK_DELAY_MINUTES,
        description="Minutes after a session's end before `feedback.requested` goes to each "
        f"party that has not given feedback (0-{MAX_FEEDBACK_DELAY_MINUTES}).",
        examples=[DEFAULT_FEEDBACK_DELAY_MINUTES],
    ),
]


class ReminderPolicyPut(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"offsets_minutes": [1440, 60], "feedback_request_delay_minutes": 10}]
        }
    )

    offsets_minutes: Offsets = Field(default=DEFAULT_OFFSETS)
    feedback_request_delay_minutes: FeedbackDelay = DEFAULT_FEEDBACK_DELAY_MINUTES


class ReminderPolicyRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "offsets_minutes": [1440, 60],
                    "feedback_request_delay_minutes": 10,
                    "version": 1,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    offsets_minutes: list[int] = Field(description="Minutes before the start, latest first.")
    feedback_request_delay_minutes: int
    version: int = Field(description="0 while the app has never set its policy (the defaults).")
    updated_at: datetime | None

    @classmethod
    def from_model(cls, policy: ReminderPolicy) -> "ReminderPolicyRead":
        return cls(
            offsets_minutes=policy.offsets_minutes,
            feedback_request_delay_minutes=policy.feedback_request_delay_minutes,
            version=policy.version,
            updated_at=policy.updated_at if policy.version else None,
        )


class OffsetsSource(NamedStrEnum):
    mentor = "mentor"  # the mentor's own offsets
    app = "app"  # the app's, since the mentor has none


class MentorRemindersPut(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"offsets_minutes": [30]}]})

    offsets_minutes: Offsets


class MentorRemindersRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mentor_id": ex.MENTOR_ID,
                    "offsets_minutes": [30],
                    "source": "mentor",
                    "version": 1,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    mentor_id: MentorIdOut
    offsets_minutes: list[int] = Field(
        description="The offsets that apply to the mentor's sessions, latest first."
    )
    source: OffsetsSource = Field(
        description="`mentor`: the mentor's own; `app`: the app's policy (none of their own)."
    )
    version: int = Field(description="0 while the mentor has no offsets of their own.")
    updated_at: datetime | None

    @classmethod
    def build(
        cls, mentor_id: str, own: MentorReminderPolicy | None, app: ReminderPolicy
    ) -> "MentorRemindersRead":
        if own is None:
            return cls(
                mentor_id=mentor_id,
                offsets_minutes=app.offsets_minutes,
                source=OffsetsSource.app,
                version=0,
                updated_at=None,
            )
        return cls(
            mentor_id=mentor_id,
            offsets_minutes=own.offsets_minutes,
            source=OffsetsSource.mentor,
            version=own.version,
            updated_at=own.updated_at,
        )


# --- the payloads of the time-driven events (`data`; the OpenAPI `webhooks` section) ----------

_DUE_AT = "When the event was due (a reminder: the start minus `minutes_before`)."
_LATENESS = (
    "Seconds between `due_at` and when it was written to the outbox: a fraction of a second "
    "normally; more only when the worker was down. A reminder more than the grace late is "
    "never sent; other events are, however late."
)
_TIMED: JsonDict = {"due_at": ex.STARTS_AT, "lateness_seconds": 0.412}
_REMINDER_DUE = "2027-03-02T13:00:00Z"


def _session_example(**extra: JsonValue) -> JsonDict:
    return {**SESSION_READ_EXAMPLE, **extra}


class SessionReminderData(SessionRead):
    """`data` of `session.reminder`: the session as `GET /v1/sessions/{id}` returns it, and
    how long before its start this reminder is."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _session_example(minutes_before=60, due_at=_REMINDER_DUE, lateness_seconds=0.412)
            ]
        }
    )

    minutes_before: int = Field(description="The policy's offset this reminder is for.")
    due_at: datetime = Field(description=_DUE_AT)
    lateness_seconds: float = Field(description=_LATENESS)


class SessionTimeData(SessionRead):
    """`data` of `session.started` and `session.ended`: the session, at its start or end."""

    model_config = ConfigDict(json_schema_extra={"examples": [_session_example(**_TIMED)]})

    due_at: datetime = Field(description="The session's start (started) or end (ended).")
    lateness_seconds: float = Field(description=_LATENESS)


class FeedbackRequestData(SessionRead):
    """`data` of `feedback.requested`: the completed session, and who is asked."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _session_example(
                    status="completed",
                    party="mentee",
                    due_at="2027-03-02T14:25:00Z",
                    lateness_seconds=0.12,
                )
            ]
        }
    )

    party: Author = Field(description="Who is asked for feedback: `mentee` or `mentor`.")
    due_at: datetime = Field(
        description="The session's end plus the policy's delay (or its completion, if later)."
    )
    lateness_seconds: float = Field(description=_LATENESS)


class ActionItemDueData(ActionItemRead):
    """`data` of `action_item.due`: the action item, and the two people of its session."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **ex.ACTION_ITEM,
                    "mentee_id": ex.MENTEE_ID,
                    "mentor_id": ex.MENTOR_ID,
                    "due_at": "2027-03-09T14:00:00Z",
                    "lateness_seconds": 0.3,
                }
            ]
        }
    )

    mentee_id: MenteeIdOut
    mentor_id: MentorIdOut
    due_at: datetime = Field(description="09:00 on `due_on` in the mentee's zone.")
    lateness_seconds: float = Field(description=_LATENESS)


# --- a group session's (group_sessions/timed.py) --------------------------------------------------

_GROUP_REMINDER_DUE = "2027-03-02T14:00:00Z"


class GroupSessionReminderData(GroupSessionRead):
    """`data` of `group_session.reminder` (the mentor's): the group session as
    `GET /v1/group-sessions/{id}` returns it, and how long before its start this reminder is."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **GROUP_SESSION_READ_EXAMPLE,
                    "minutes_before": 60,
                    "due_at": _GROUP_REMINDER_DUE,
                    "lateness_seconds": 0.412,
                }
            ]
        }
    )

    minutes_before: int = Field(description="The policy's offset this reminder is for.")
    due_at: datetime = Field(description=_DUE_AT)
    lateness_seconds: float = Field(description=_LATENESS)


class SeatReminderData(SeatRead):
    """`data` of `seat.reminder` (one per taken seat: its mentee's): the seat as
    `GET /v1/group-sessions/{id}/seats/{seat_id}` returns it, the group session, and how long
    before its start this reminder is."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **SEAT_READ_EXAMPLE,
                    "group_session": GROUP_SESSION_READ_EXAMPLE,
                    "minutes_before": 60,
                    "due_at": _GROUP_REMINDER_DUE,
                    "lateness_seconds": 0.412,
                }
            ]
        }
    )

    group_session: GroupSessionRead = Field(description="The group session the seat is in.")
    minutes_before: int = Field(description="The policy's offset this reminder is for.")
    due_at: datetime = Field(description=_DUE_AT)
    lateness_seconds: float = Field(description=_LATENESS)


class SeatFeedbackRequestData(SeatRead):
    """`data` of `feedback.requested` on a group session: the taken seat, its completed group
    session, and who is asked (the seat's mentee, or the mentor on that mentee)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **SEAT_READ_EXAMPLE,
                    "group_session": {**GROUP_SESSION_READ_EXAMPLE, "status": "completed"},
                    "party": "mentee",
                    "due_at": "2027-03-04T17:40:00Z",
                    "lateness_seconds": 0.12,
                }
            ]
        }
    )

    group_session: GroupSessionRead = Field(description="The completed group session.")
    party: Author = Field(description="Who is asked for feedback on the seat.")
    due_at: datetime = Field(
        description="The group session's end plus the policy's delay (or its completion, if later)."
    )
    lateness_seconds: float = Field(description=_LATENESS)


class GroupSessionTimeData(GroupSessionRead):
    """`data` of `group_session.started` and `group_session.ended`: the group session, at its
    start or end."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **GROUP_SESSION_READ_EXAMPLE,
                    "due_at": ex.GROUP_STARTS_AT,
                    "lateness_seconds": 0.412,
                }
            ]
        }
    )

    due_at: datetime = Field(description="The group session's start (started) or end (ended).")
    lateness_seconds: float = Field(description=_LATENESS)
