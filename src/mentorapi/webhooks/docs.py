"""The payload of every event type, for the `webhooks` section of the OpenAPI document.

These routes are never served: FastAPI documents them as requests *we* send to the client
app's endpoint (`app.webhooks`). `data` is the object the event is about, as the REST API
returns it, plus `previous` (the fields that changed) where something changed.
"""

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field
from pydantic.config import JsonValue

from mentorapi.cohorts.schemas import MatchRead
from mentorapi.feedback.schemas import FeedbackRead, ImpactUpdateRead
from mentorapi.group_sessions.schemas import GroupSessionEventData, SeatEventData
from mentorapi.kit.bodies import sometimes
from mentorapi.kit.ids import EndpointIdOut
from mentorapi.mentoring_events.schemas import (
    ExpiredEventData,
    RoundEventData,
    ScheduleEventData,
)
from mentorapi.reminders.schemas import (
    ActionItemDueData,
    FeedbackRequestData,
    GroupSessionReminderData,
    GroupSessionTimeData,
    SeatFeedbackRequestData,
    SeatReminderData,
    SessionReminderData,
    SessionTimeData,
)
from mentorapi.sessions.schemas import SessionEventData
from mentorapi.webhooks.models import EventType

HEADERS = """
Headers (Standard Webhooks v1): `webhook-id` (the event id, the same on every retry),
`webhook-timestamp` (integer seconds of this attempt), `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with your endpoint's secret; two
space-separated signatures for 24 hours after a rotation). Answer 2xx within 10 seconds; anything
else is retried (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h), `Retry-After` on 429/503
is honoured, 410 Gone disables the endpoint. Delivery is at least once: de-duplicate on
`webhook-id`; order one object's events by its `version` (the event log,
`GET /v1/events`, also numbers each object's events with `sequence`).
"""


class FeedbackEventData(FeedbackRead):
    """`data` of `feedback.*` events: the feedback as `GET /v1/feedback/{id}` returns it."""

    impact_update: ImpactUpdateRead | None = sometimes(
        "On `feedback.impact_added`: the update just added (left out of other events)."
    )


class WebhookTestData(BaseModel):
    endpoint_id: EndpointIdOut
    message: str


# Sent by the reminders worker at their time, with payloads of their own (below).
TIMED = {
    EventType.session_reminder,
    EventType.session_started,
    EventType.session_ended,
    EventType.feedback_requested,
    EventType.action_item_due,
    EventType.mentoring_event_round_started,
    EventType.mentoring_event_ended,
    EventType.mentoring_event_expired,
    EventType.group_session_reminder,
    EventType.seat_reminder,
    EventType.group_session_started,
    EventType.group_session_ended,
}


def _types(family: str) -> list[JsonValue]:
    return [t.value for t in EventType if t.value.startswith(family) and t not in TIMED]


class SessionEvent(BaseModel):
    type: str = Field(examples=["session.booked"], json_schema_extra={"enum": _types("session.")})
    timestamp: datetime = Field(description="When the event happened (not this attempt).")
    data: SessionEventData


class FeedbackEvent(BaseModel):
    type: str = Field(
        examples=["feedback.submitted"], json_schema_extra={"enum": _types("feedback.")}
    )
    timestamp: datetime
    data: FeedbackEventData


class GroupSessionEvent(BaseModel):
    type: str = Field(
        examples=["group_session.rescheduled"],
        json_schema_extra={"enum": _types("group_session.")},
    )
    timestamp: datetime = Field(description="When the event happened (not this attempt).")
    data: GroupSessionEventData


class SeatEvent(BaseModel):
    type: str = Field(examples=["seat.taken"], json_schema_extra={"enum": _types("seat.")})
    timestamp: datetime = Field(description="When the event happened (not this attempt).")
    data: SeatEventData


class SessionReminderEvent(BaseModel):
    type: Literal["session.reminder"]
    timestamp: datetime = Field(description="When the reminder was due.")
    data: SessionReminderData


class SessionTimeEvent(BaseModel):
    type: str = Field(
        examples=["session.started"],
        json_schema_extra={"enum": ["session.started", "session.ended"]},
    )
    timestamp: datetime = Field(description="The session's start or end.")
    data: SessionTimeData


class FeedbackRequestedEvent(BaseModel):
    type: Literal["feedback.requested"]
    timestamp: datetime = Field(description="When the request was due.")
    data: FeedbackRequestData | SeatFeedbackRequestData = Field(
        description="A one-to-one session's request (the session), or a group session's (the "
        "seat, with `group_session`)."
    )


class ActionItemDueEvent(BaseModel):
    type: Literal["action_item.due"]
    timestamp: datetime = Field(description="09:00 on the due date in the mentee's zone.")
    data: ActionItemDueData


class GroupSessionReminderEvent(BaseModel):
    type: Literal["group_session.reminder"]
    timestamp: datetime = Field(description="When the reminder was due.")
    data: GroupSessionReminderData


class SeatReminderEvent(BaseModel):
    type: Literal["seat.reminder"]
    timestamp: datetime = Field(description="When the reminder was due.")
    data: SeatReminderData


class GroupSessionTimeEvent(BaseModel):
    type: str = Field(
        examples=["group_session.started"],
        json_schema_extra={"enum": ["group_session.started", "group_session.ended"]},
    )
    timestamp: datetime = Field(description="The group session's start or end.")
    data: GroupSessionTimeData


class MatchEvent(BaseModel):
    type: Literal["match.created"]
    timestamp: datetime = Field(description="When the match run was published.")
    data: MatchRead


class MentoringEventScheduleEvent(BaseModel):
    type: str = Field(
        examples=["mentoring_event.schedule_published"],
        json_schema_extra={
            "enum": ["mentoring_event.schedule_published", "mentoring_event.schedule_changed"]
        },
    )
    timestamp: datetime
    data: ScheduleEventData


class MentoringEventRoundEvent(BaseModel):
    type: str = Field(
        examples=["mentoring_event.round_started"],
        json_schema_extra={"enum": ["mentoring_event.round_started", "mentoring_event.ended"]},
    )
    timestamp: datetime = Field(description="The round's start, or the event's end.")
    data: RoundEventData


class MentoringEventExpiredEvent(BaseModel):
    type: Literal["mentoring_event.expired"]
    timestamp: datetime = Field(description="The event's start.")
    data: ExpiredEventData


class WebhookTestEvent(BaseModel):
    type: Literal["webhook.test"]
    timestamp: datetime
    data: WebhookTestData


_DESCRIPTIONS = {
    EventType.session_requested: "A mentee asked for a session; the mentor must accept it.",
    EventType.session_booked: "A session is booked (accepted, or auto-accepted).",
    EventType.session_declined: "The mentor declined a requested session.",
    EventType.session_rescheduled: "A booked session moved; `previous` has the old times.",
    EventType.session_cancelled: "A session was cancelled by the mentee or the mentor.",
    EventType.session_completed: "A session took place.",
    EventType.session_no_show: "A booked session was marked as a no-show.",
    EventType.session_expired: "A request was not accepted before its start.",
    EventType.session_reminder: "A booked session starts in `minutes_before` minutes (one "
    "event per offset of the reminder policy, at that time; never sent late: see `GET "
    "/v1/app/reminders`).",
    EventType.session_started: "A booked session's start time has come.",
    EventType.session_ended: "A booked session's end time has come (prompt the mentor to "
    "complete it).",
    EventType.feedback_requested: "Ask `party` for feedback on a completed session, or on a "
    "taken seat of a completed group session (one per seat and party): the policy's delay "
    "after its end, unless that party has already given feedback.",
    EventType.action_item_due: "An action item not done is due today (09:00 in the mentee's zone).",
    EventType.mentoring_event_schedule_published: "A speed-mentoring event's schedule is "
    "published: read it with `GET /v1/mentoring-events/{id}/schedule`.",
    EventType.mentoring_event_schedule_changed: "A no-show or a late arrival changed the rounds "
    "not yet started, from `from_round` on (`changed_assignments` of them).",
    EventType.mentoring_event_round_started: "A round of a published speed-mentoring event "
    "starts (at its time).",
    EventType.mentoring_event_ended: "The last round of a published speed-mentoring event is "
    "over: the time for follow-ups.",
    EventType.mentoring_event_expired: "A speed-mentoring event's start came before its "
    "schedule was published: it is `expired` (final; nothing can be registered, built or "
    "published any more).",
    EventType.feedback_submitted: "Feedback on a session, or on a seat of a group session "
    "(`group_session_id`, `seat_id`), was submitted.",
    EventType.feedback_impact_added: "A later impact update was added to feedback.",
    EventType.group_session_created: "A mentor's group session was created: its seats are open.",
    EventType.group_session_rescheduled: "A group session moved, with every seat in it; "
    "`previous` has the old times.",
    EventType.group_session_cancelled: "A group session was cancelled; each of its taken seats "
    "gets a `seat.cancelled` too.",
    EventType.group_session_completed: "A group session took place.",
    EventType.seat_taken: "A mentee took a seat in a group session, with their own ask.",
    EventType.seat_cancelled: "A seat was given back: by its mentee, by the mentor, or with "
    "the whole group session (`cancelled_by: mentor`).",
    EventType.group_session_reminder: "A scheduled group session starts in `minutes_before` "
    "minutes: the mentor's reminder (one per offset of the mentor's reminder policy, at that "
    "time; never sent late). Each seat's mentee gets a `seat.reminder` at the same time.",
    EventType.seat_reminder: "A mentee's group session starts in `minutes_before` minutes: one "
    "per taken seat and offset (a seat taken later gets the reminders still to come; a seat "
    "given back, none).",
    EventType.group_session_started: "A scheduled group session's start time has come.",
    EventType.group_session_ended: "A group session's end time has come (prompt the mentor to "
    "complete it).",
    EventType.match_created: "A cohort's match run was published: one event per match "
    "made (`POST /v1/match-runs/{id}/publish`), in the publish's transaction.",
    EventType.webhook_test: "Sent by `POST /v1/webhook-endpoints/{id}/test` to that endpoint.",
}

router = APIRouter(tags=["webhooks"])


def _document(event_type: EventType, body: type[BaseModel]) -> None:
    async def receive(
        payload: body,  # type: ignore[valid-type]
        webhook_id: str = Header(alias="webhook-id"),
        webhook_timestamp: str = Header(alias="webhook-timestamp"),
        webhook_signature: str = Header(alias="webhook-signature"),
    ) -> None:
        """Documentation only."""

    receive.__name__ = event_type.value.replace(".", "_")
    router.post(
        event_type.value,
        summary=_DESCRIPTIONS[event_type],
        description=_DESCRIPTIONS[event_type] + "\n" + HEADERS,
        status_code=200,
        # `onSessionBooked`: camelCase, as the operations of the API itself.
        operation_id="on" + "".join(p.capitalize() for p in receive.__name__.split("_")),
        # Your endpoint's answer has no body we read.
        response_class=Response,
        responses={
            200: {"description": "Any 2xx acknowledges the delivery."},
            "default": {
                "description": "Anything else is retried later; 410 Gone disables the endpoint."
            },
        },
    )(receive)


_TIMED_EVENTS: dict[EventType, type[BaseModel]] = {
    EventType.session_reminder: SessionReminderEvent,
    EventType.session_started: SessionTimeEvent,
    EventType.session_ended: SessionTimeEvent,
    EventType.feedback_requested: FeedbackRequestedEvent,
    EventType.action_item_due: ActionItemDueEvent,
    EventType.mentoring_event_round_started: MentoringEventRoundEvent,
    EventType.mentoring_event_ended: MentoringEventRoundEvent,
    EventType.mentoring_event_expired: MentoringEventExpiredEvent,
    EventType.group_session_reminder: GroupSessionReminderEvent,
    EventType.seat_reminder: SeatReminderEvent,
    EventType.group_session_started: GroupSessionTimeEvent,
    EventType.group_session_ended: GroupSessionTimeEvent,
}

for _type in EventType:
    if _type in _TIMED_EVENTS:
        _document(_type, _TIMED_EVENTS[_type])
    elif _type.value.startswith("session."):
        _document(_type, SessionEvent)
    elif _type.value.startswith("feedback."):
        _document(_type, FeedbackEvent)
    elif _type.value.startswith("group_session."):
        _document(_type, GroupSessionEvent)
    elif _type.value.startswith("seat."):
        _document(_type, SeatEvent)
    elif _type is EventType.match_created:
        _document(_type, MatchEvent)
    elif _type.value.startswith("mentoring_event."):
        _document(_type, MentoringEventScheduleEvent)
    else:
        _document(_type, WebhookTestEvent)
