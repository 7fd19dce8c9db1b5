"""An event's time-driven webhooks, through the reminders worker's queue.

Creating an event writes one `scheduled_notifications` row for its expiry (`event_expired`, at
its start: a draft or open event whose schedule is not published by then is `expired`).
Publishing a schedule replaces it with one row per round (`round_started`, at the round's
start) and one for the end (`event_ended`, at the end of the last round), in the publishing
transaction. The reminders worker claims them with every other due row and, under the
event's lock, writes `mentoring_event.expired`, `mentoring_event.round_started` and
`mentoring_event.ended` with ids derived from the rows' keys (reminders/keys.py): each is sent
once, however often the row is written. A row whose key no longer matches the event (its
times, or its status: an expiry once published, a round unpublished) is dropped; rows whose
time had passed when they were planned are never written."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.mentoring_events import repository
from mentorapi.mentoring_events.models import Counts, EventStatus, MentoringEvent
from mentorapi.mentoring_events.schemas import event_json
from mentorapi.reminders import keys
from mentorapi.reminders import repository as queue
from mentorapi.reminders.models import NotificationKind, ScheduledNotification
from mentorapi.webhooks.models import EventType
from mentorapi.webhooks.outbox import GivenEvent


def _stamp(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp())


def round_key(event_id: str, number: int, starts_at: datetime) -> str:
    return f"{event_id}/{NotificationKind.round_started.value}/{number}/{_stamp(starts_at)}"


def end_key(event_id: str, ends_at: datetime) -> str:
    return f"{event_id}/{NotificationKind.event_ended.value}/{_stamp(ends_at)}"


def expiry_key(event_id: str, starts_at: datetime) -> str:
    return f"{event_id}/{NotificationKind.event_expired.value}/{_stamp(starts_at)}"


_UNPUBLISHED = (EventStatus.draft, EventStatus.open)


@dataclass(frozen=True, slots=True)
class Planned:
    key: str
    kind: NotificationKind
    due_at: datetime
    round: int


def wanted(event: MentoringEvent) -> list[Planned]:
    """The rows the event calls for, whether or not their time has passed: its expiry while
    it is unpublished, its rounds and end once published."""
    if event.status in _UNPUBLISHED:
        key = expiry_key(event.id, event.starts_at)
        return [Planned(key, NotificationKind.event_expired, event.starts_at, 0)]
    if event.status != EventStatus.scheduled:
        return []
    line = event.timeline
    rows = [
        Planned(
            round_key(event.id, n, line.round_starts_at(n)),
            NotificationKind.round_started,
            line.round_starts_at(n),
            n,
        )
        for n in range(1, event.rounds + 1)
    ]
    rows.append(
        Planned(end_key(event.id, line.ends_at), NotificationKind.event_ended, line.ends_at, 0)
    )
    return rows


async def plan(db_session: AsyncSession, event: MentoringEvent, *, now: datetime) -> None:
    """Bring the event's queued rows in line with it (the event locked by the caller)."""
    plan = {p.key: p for p in wanted(event)}
    existing = await repository.queued_keys(db_session, event.app_id, event.id)
    await queue.delete_keys(db_session, event.app_id, [k for k in existing if k not in plan])
    rows: list[dict[str, Any]] = [
        {
            "app_id": event.app_id,
            "key": p.key,
            "kind": p.kind.value,
            "due_at": p.due_at,
            "session_id": None,
            "action_item_id": None,
            "mentoring_event_id": event.id,
            "party": None,
            "minutes_before": None,
            "created_at": now,
            "updated_at": now,
        }
        for key, p in plan.items()
        if key not in existing and p.due_at > now
    ]
    await queue.insert_rows(db_session, rows, now)


def _round_of(row: ScheduledNotification, event: MentoringEvent) -> int | None:
    """The round a claimed row still stands for (the last one for the end; 0 for the
    expiry), or None."""
    if row.kind == NotificationKind.event_expired:
        held = event.status in _UNPUBLISHED and row.key == expiry_key(event.id, event.starts_at)
        return 0 if held else None
    if event.status != EventStatus.scheduled:
        return None
    line = event.timeline
    if row.kind == NotificationKind.event_ended:
        return event.rounds if row.key == end_key(event.id, line.ends_at) else None
    for number in range(1, event.rounds + 1):
        if row.key == round_key(event.id, number, line.round_starts_at(number)):
            return number
    return None


@dataclass
class Due:
    events: list[GivenEvent]
    done: list[ScheduledNotification]  # rows to delete: sent, or no longer right
    deferred: int  # rows of an event being changed right now: left for the next round


async def due(db_session: AsyncSession, rows: list[ScheduledNotification], now: datetime) -> Due:
    """The events that claimed rows of mentoring events stand for (rows of any apps)."""
    if not rows:
        return Due([], [], 0)
    events = await repository.lock_events(
        db_session, {(r.app_id, r.mentoring_event_id or "") for r in rows}
    )
    ready = [r for r in rows if (r.app_id, r.mentoring_event_id) in events]
    counts = await repository.counts_of_pairs(
        db_session, {(e.app_id, e.id) for e in events.values()}
    )
    given: list[GivenEvent] = []
    for row in ready:
        event = events[(row.app_id, row.mentoring_event_id or "")]
        number = _round_of(row, event)
        if number is None:
            continue
        line = event.timeline
        late = max(now - row.due_at, timedelta(0))
        data: dict[str, Any] = event_json(
            event, counts.get((event.app_id, event.id), Counts()), now
        )
        if row.kind == NotificationKind.event_expired:
            type = EventType.mentoring_event_expired
        else:
            data["round"] = number
            data["round_starts_at"] = _z(line.round_starts_at(number))
            data["round_ends_at"] = _z(line.round_ends_at(number))
            type = (
                EventType.mentoring_event_ended
                if row.kind == NotificationKind.event_ended
                else EventType.mentoring_event_round_started
            )
        data["due_at"] = _z(row.due_at)
        data["lateness_seconds"] = round(late.total_seconds(), 3)
        given.append(
            GivenEvent(
                id=keys.event_id(row.app_id, row.key, row.due_at),
                app_id=row.app_id,
                type=type,
                data=data,
                object_id=event.id,
                happened_at=row.due_at,
            )
        )
    return Due(given, ready, len(rows) - len(ready))


def _z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
