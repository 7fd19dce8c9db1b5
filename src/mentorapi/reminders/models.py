"""The reminder policy of an app (and of single mentors), and the queue of time-driven events.

`scheduled_notifications` holds one row per event still to send: a reminder of one occurrence,
a session's start or end, a feedback request to one party, an action item falling due, a round
of a speed-mentoring event starting or the event ending, a group session's reminders (to its
mentor, and to each seat's mentee), start and end. Rows are written, replaced and removed
in the same transaction as the change that makes them right (booking, accepting, rescheduling,
cancelling, completing, feedback, an action item, publishing an event's schedule, a group
session created, moved, cancelled or completed, a seat taken or given back), so the
queue is never ahead of or behind the sessions. The worker (reminders/worker.py) claims due
rows, writes their webhook events and deletes them, in one transaction.

Each row's `key` is deterministic (the object, the kind, and the time it is for), so planning
again is idempotent and the event id derived from it is the same however often the row is
written: an event already sent is never sent twice (reminders/keys.py).
"""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String
from sqlmodel import Field

from mentorapi.db.base import Timestamped, same_app
from mentorapi.db.types import JSONList, UTCDateTime
from mentorapi.kit.enums import NamedStrEnum

DEFAULT_OFFSETS = [1440, 60]
DEFAULT_FEEDBACK_DELAY_MINUTES = 10


class NotificationKind(NamedStrEnum):
    reminder = "reminder"
    started = "started"
    ended = "ended"
    feedback_requested = "feedback_requested"
    action_item_due = "action_item_due"
    # A speed-mentoring event's rounds and end (mentoring_events/timed.py).
    round_started = "round_started"
    event_ended = "event_ended"
    event_expired = "event_expired"  # its start came before its schedule was published


# The kinds that follow a session's status and times (all but action items, the mentee's own).
SESSION_KINDS = (
    NotificationKind.reminder,
    NotificationKind.started,
    NotificationKind.ended,
    NotificationKind.feedback_requested,
)


def _app_key() -> Column[str]:
    return Column(String(30), ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)


class ScheduledNotification(Timestamped, table=True):
    __tablename__ = "scheduled_notifications"
    __table_args__ = (
        # The worker's claim: the earliest due rows of every app.
        Index("ix_scheduled_notifications_due_at", "due_at"),
        same_app("session_id", "sessions"),
        same_app("action_item_id", "action_items"),
        same_app("mentoring_event_id", "mentoring_events"),
        same_app("group_session_id", "group_sessions"),
        same_app("seat_id", "seats"),
    )

    app_id: str = Field(sa_column=_app_key())
    key: str = Field(sa_column=Column(String(100), primary_key=True))
    kind: str = Field(max_length=24)
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # Indexed (the primary key is by key): a deleted session, item, event, group session or
    # seat cascades here by these. A row is about a session (and maybe one of its action
    # items), about an event, or about a group session (and maybe one of its seats).
    session_id: str | None = Field(
        default=None, sa_column=Column(String(30), nullable=True, index=True)
    )
    action_item_id: str | None = Field(
        default=None, sa_column=Column(String(30), nullable=True, index=True)
    )
    mentoring_event_id: str | None = Field(
        default=None, sa_column=Column(String(30), nullable=True, index=True)
    )
    group_session_id: str | None = Field(
        default=None, sa_column=Column(String(30), nullable=True, index=True)
    )
    seat_id: str | None = Field(
        default=None, sa_column=Column(String(30), nullable=True, index=True)
    )
    party: str | None = Field(default=None, max_length=8)  # feedback requests: who is asked
    minutes_before: int | None = Field(default=None)  # reminders


class ReminderPolicy(Timestamped, table=True):
    """An app's policy; an app that never set one has the defaults (no row)."""

    __tablename__ = "reminder_policies"

    app_id: str = Field(sa_column=_app_key())
    offsets_minutes: list[int] = Field(sa_type=JSONList, nullable=False)
    feedback_request_delay_minutes: int
    version: int = Field(default=1)


class MentorReminderPolicy(Timestamped, table=True):
    """One mentor's reminder offsets, in place of the app's for that mentor's sessions."""

    __tablename__ = "mentor_reminder_policies"
    __table_args__ = (same_app("mentor_id", "mentors"),)

    app_id: str = Field(sa_column=_app_key())
    # The primary key (app_id, mentor_id) also serves the cascade from mentors.
    mentor_id: str = Field(sa_column=Column(String(30), primary_key=True))
    offsets_minutes: list[int] = Field(sa_type=JSONList, nullable=False)
    version: int = Field(default=1)
