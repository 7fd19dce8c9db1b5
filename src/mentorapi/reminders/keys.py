"""Deterministic keys of scheduled notifications, and the event ids derived from them.

A key names what a row is for: the object, the kind, and the time (so a rescheduled session's
reminders are new rows, and the old ones can be told apart). The event id of a row is derived
from its app and key: an `evt_` id whose time part is the due time (so the event log still
sorts by time) and whose other 80 bits are a hash of the key. Writing the same event twice is
then impossible (the second insert finds the id taken), whichever worker, retry or re-planning
produced the row again.
"""

import hashlib
from datetime import UTC, date, datetime

from mentorapi.kit.ids import BODY_LENGTH
from mentorapi.reminders.models import NotificationKind

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _stamp(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp())


def reminder(session_id: str, starts_at: datetime, minutes_before: int) -> str:
    return f"{session_id}/{NotificationKind.reminder.value}/{minutes_before}/{_stamp(starts_at)}"


def started(session_id: str, starts_at: datetime) -> str:
    return f"{session_id}/{NotificationKind.started.value}/{_stamp(starts_at)}"


def ended(session_id: str, ends_at: datetime) -> str:
    return f"{session_id}/{NotificationKind.ended.value}/{_stamp(ends_at)}"


def feedback_requested(session_id: str, party: str) -> str:
    # No time: one request per party per session, whenever it goes out.
    return f"{session_id}/{NotificationKind.feedback_requested.value}/{party}"


def action_item_due(item_id: str, due_on: date) -> str:
    return f"{item_id}/{NotificationKind.action_item_due.value}/{due_on.isoformat()}"


def event_id(app_id: str, key: str, due_at: datetime) -> str:
    millis = int(due_at.astimezone(UTC).timestamp() * 1000)
    digest = hashlib.sha256(f"{app_id}\n{key}".encode()).digest()
    value = (millis << 80) | int.from_bytes(digest[:10], "big")
    chars = []
    for _ in range(BODY_LENGTH):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "evt_" + "".join(reversed(chars))
