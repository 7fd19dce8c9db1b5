from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field

from mentorapi.db.base import TenantOwned, same_app
from mentorapi.db.types import JSONList, UTCDateTime
from mentorapi.kit.enums import NamedStrEnum
from mentorapi.kit.ids import new_id


class EventType(NamedStrEnum):
    session_requested = "session.requested"
    session_booked = "session.booked"
    session_declined = "session.declined"
    session_rescheduled = "session.rescheduled"
    session_cancelled = "session.cancelled"
    session_completed = "session.completed"
    session_no_show = "session.no_show"
    session_expired = "session.expired"
    # Time-driven (reminders/): sent by the worker at their time, not by a caller's change.
    session_reminder = "session.reminder"
    session_started = "session.started"
    session_ended = "session.ended"
    feedback_submitted = "feedback.submitted"
    feedback_impact_added = "feedback.impact_added"
    feedback_requested = "feedback.requested"
    action_item_due = "action_item.due"
    group_session_created = "group_session.created"
    group_session_rescheduled = "group_session.rescheduled"
    group_session_cancelled = "group_session.cancelled"
    group_session_completed = "group_session.completed"
    seat_taken = "seat.taken"
    seat_cancelled = "seat.cancelled"
    # Time-driven (group_sessions/timed.py, sent by the reminders worker): the mentor's
    # reminders, each seat's mentee's, and the group session's start and end.
    group_session_reminder = "group_session.reminder"
    seat_reminder = "seat.reminder"
    group_session_started = "group_session.started"
    group_session_ended = "group_session.ended"
    # A published cohort match run (cohorts/): one per match.
    match_created = "match.created"
    # Speed-mentoring events (mentoring_events/): the schedule published or changed by a late
    # change; the rounds, the end and the expiry of an event never published are time-driven
    # (sent by the reminders worker).
    mentoring_event_schedule_published = "mentoring_event.schedule_published"
    mentoring_event_schedule_changed = "mentoring_event.schedule_changed"
    mentoring_event_round_started = "mentoring_event.round_started"
    mentoring_event_ended = "mentoring_event.ended"
    mentoring_event_expired = "mentoring_event.expired"
    webhook_test = "webhook.test"


class WebhookEndpoint(TenantOwned, table=True):
    __tablename__ = "webhook_endpoints"

    id: str = Field(default_factory=lambda: new_id("whe"), primary_key=True, max_length=30)
    url: str = Field(max_length=2048)
    # Event types this endpoint receives; empty means all.
    events: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    description: str = Field(default="", max_length=500)
    enabled: bool = Field(default=True)
    secret: str = Field(max_length=100)
    # After a rotation the old secret keeps signing (a second signature) until this time.
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = Field(default=1)
    # Set on the first failure after a success; five days of failures disable the endpoint.
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Why the endpoint was disabled by us (410 Gone, days of failures); None when enabled.
    disabled_reason: str | None = Field(default=None, max_length=200)


class Event(TenantOwned, table=True):
    """One thing that happened, written in the same transaction as the change itself."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("app_id", "object_id", "sequence"),
        # Retention's sweep of the log by age, every app at once, in keyset order
        # (retention.py): the oldest first, from where the last batch stopped.
        Index("ix_events_created_at", "created_at", "app_id", "id"),
    )

    id: str = Field(default_factory=lambda: new_id("evt"), primary_key=True, max_length=30)
    type: str = Field(max_length=64)
    # The object the event is about and its per-object sequence (1, 2, …) so receivers can order.
    object_id: str | None = Field(default=None, max_length=30)
    sequence: int = Field(default=1)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONList, nullable=False)


class DeliveryStatus(NamedStrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"  # gave up (schedule exhausted, endpoint disabled)


# The SQL of "this delivery is over": the predicate of the partial index below, repeated word
# for word by the statements that must use it (webhooks/repository.prune_deliveries).
FINISHED = "status <> 'pending'"


class Delivery(TenantOwned, table=True):
    """One event for one endpoint, retried on the schedule until it succeeds or gives up."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        # Retention: the deliveries that are over (succeeded or gave up), by when they ended.
        # Partial, so retries of pending ones (most updates) never touch it.
        Index(
            "ix_deliveries_finished",
            "updated_at",
            postgresql_where=text(FINISHED),
            sqlite_where=text(FINISHED),
        ),
        same_app("event_id", "events"),
        same_app("endpoint_id", "webhook_endpoints"),
    )

    id: str = Field(default_factory=lambda: new_id("dlv"), primary_key=True, max_length=30)
    event_id: str = Field(index=True, max_length=30)
    endpoint_id: str = Field(index=True, max_length=30)
    status: str = Field(default=DeliveryStatus.pending.value, max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=1000)


class AttemptKind(NamedStrEnum):
    attempt = "attempt"  # one HTTP request
    endpoint_disabled = "endpoint.disabled"  # a log entry: the endpoint was disabled by us


class DeliveryAttempt(TenantOwned, table=True):
    """The endpoint's delivery log: one row per HTTP attempt (and per automatic disabling)."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (
        Index("ix_delivery_attempts_endpoint_log", "endpoint_id", "id"),
        same_app("delivery_id", "deliveries"),
        same_app("endpoint_id", "webhook_endpoints"),
    )

    id: str = Field(default_factory=lambda: new_id("dla"), primary_key=True, max_length=30)
    delivery_id: str = Field(index=True, max_length=30)
    endpoint_id: str = Field(max_length=30)
    event_id: str = Field(max_length=30)
    event_type: str = Field(max_length=64)
    kind: str = Field(default=AttemptKind.attempt.value, max_length=32)
    attempt: int = Field(default=1)
    status_code: int | None = Field(default=None)
    duration_ms: int | None = Field(default=None)
    # The first kilobyte of the response body, to debug a failing receiver.
    response_excerpt: str | None = Field(default=None, max_length=1024)
    error: str | None = Field(default=None, max_length=1000)
    # When the delivery will be tried again after this attempt; None when done or given up.
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
