"""A group session's time-driven webhooks, through the reminders worker's queue.

A scheduled group session gets, at each offset of its mentor's reminder policy (the mentor's
own offsets, else the app's), a `group_session.reminder` for the mentor and a `seat.reminder`
for the mentee of each taken seat; a scheduled or completed one gets `group_session.started`
and `group_session.ended` at its start and end. One-to-one sessions' rules, for a group: a
reminder whose time has passed when it is planned is skipped, never sent late; a reminder
more than the grace late, or at or after the start, is dropped by the worker; start and end go
however late. (No `feedback.requested`: feedback is given on one-to-one sessions only.)

Every change of a group session or of its seats plans its rows again, in its transaction and
under the group session's row lock (create, reschedule, cancel, complete, a seat taken or
given back, a new reminder policy), so the queue follows it: a seat taken after a reminder's
time gets only the reminders still to come, a seat given back loses its own. Each row's key is
its object (the group session, or the seat), its kind and its time (reminders/keys.py), and its
event id is derived from the key, so each event is sent once however often it is planned. The
worker checks again, under the group session's lock, that a claimed row still holds.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.feedback.models import Author
from mentorapi.group_sessions import repository
from mentorapi.group_sessions.models import GroupSession, GroupSessionStatus, Seat, SeatStatus
from mentorapi.group_sessions.schemas import group_session_json, seat_json
from mentorapi.reminders import keys
from mentorapi.reminders import repository as queue
from mentorapi.reminders.models import NotificationKind, ScheduledNotification
from mentorapi.webhooks.models import EventType
from mentorapi.webhooks.outbox import GivenEvent

_TOOK_PLACE = (GroupSessionStatus.scheduled.value, GroupSessionStatus.completed.value)
_SEATED = _TOOK_PLACE  # whose taken seats the plan reads
PARTIES = (Author.mentee.value, Author.mentor.value)


@dataclass(frozen=True, slots=True)
class Planned:
    key: str
    kind: NotificationKind
    due_at: datetime
    seat_id: str | None = None  # a mentee's reminder, a feedback request: the seat
    minutes_before: int | None = None
    party: str | None = None  # a feedback request: who is asked

    def row(self, group: GroupSession, due_at: datetime, written_at: datetime) -> dict[str, Any]:
        return {
            "app_id": group.app_id,
            "key": self.key,
            "kind": self.kind.value,
            "due_at": due_at,
            "session_id": None,
            "action_item_id": None,
            "mentoring_event_id": None,
            "group_session_id": group.id,
            "seat_id": self.seat_id,
            "party": self.party,
            "minutes_before": self.minutes_before,
            "created_at": written_at,
            "updated_at": written_at,
        }


def wanted(
    group: GroupSession,
    seats: Sequence[Seat],
    offsets: Sequence[int],
    feedback_delay: timedelta,
) -> list[Planned]:
    """Every row the group session (and its taken `seats`) calls for, whether or not its time
    has passed. (As a session's: a feedback request is wanted of every party; planning again
    after one gave feedback may queue theirs anew, and the worker, which checks, drops it.)"""
    rows: list[Planned] = []
    if group.status == GroupSessionStatus.scheduled:
        for minutes in offsets:
            due = group.starts_at - timedelta(minutes=minutes)
            rows.append(
                Planned(
                    keys.reminder(group.id, group.starts_at, minutes),
                    NotificationKind.reminder,
                    due,
                    minutes_before=minutes,
                )
            )
            for seat in seats:
                rows.append(
                    Planned(
                        keys.reminder(seat.id, group.starts_at, minutes),
                        NotificationKind.reminder,
                        due,
                        seat_id=seat.id,
                        minutes_before=minutes,
                    )
                )
    if group.status in _TOOK_PLACE:
        rows.append(
            Planned(
                keys.started(group.id, group.starts_at),
                NotificationKind.started,
                group.starts_at,
            )
        )
        rows.append(
            Planned(keys.ended(group.id, group.ends_at), NotificationKind.ended, group.ends_at)
        )
    if group.status == GroupSessionStatus.completed:
        for seat in seats:
            for party in PARTIES:
                rows.append(
                    Planned(
                        keys.feedback_requested(seat.id, party),
                        NotificationKind.feedback_requested,
                        group.ends_at + feedback_delay,
                        seat_id=seat.id,
                        party=party,
                    )
                )
    return rows


async def plan(
    db_session: AsyncSession,
    group: GroupSession,
    *,
    offsets: Sequence[int],
    feedback_delay: timedelta,
    now: datetime,
    new: bool = False,
    completing: bool = False,
) -> None:
    """Bring the group session's queued rows in line with it and its taken seats (the group
    session locked by the caller, or `new`: just created, nothing queued yet). `completing`:
    it was just completed, so its feedback requests go now if their time has passed."""
    seats: list[Seat] = []
    if group.status in _SEATED and not new:
        seats = await repository.taken_seats(db_session, group.app_id, group.id)
    plan = {p.key: p for p in wanted(group, seats, offsets, feedback_delay)}
    existing = {} if new else await queue.keys_of_group(db_session, group.app_id, group.id)
    await queue.delete_keys(db_session, group.app_id, [k for k in existing if k not in plan])
    # A key names its time (a row kept is right as it is), but a feedback request's, whose
    # delay may have changed; a row whose time has passed is skipped, but a feedback request
    # of a group session just completed, which goes now.
    moves: list[tuple[str, datetime]] = []
    rows: list[dict[str, Any]] = []
    for key, planned in plan.items():
        if key in existing:
            if existing[key] != planned.due_at:
                moves.append((key, max(planned.due_at, now)))
            continue
        if planned.due_at > now:
            rows.append(planned.row(group, planned.due_at, now))
        elif completing and planned.kind is NotificationKind.feedback_requested:
            rows.append(planned.row(group, now, now))
    await queue.move_due(db_session, group.app_id, moves)
    await queue.insert_rows(db_session, rows, now)


# --- sending (the worker) ------------------------------------------------------------------------


@dataclass
class Due:
    events: list[GivenEvent]
    done: list[ScheduledNotification]  # rows to delete: sent, or no longer right


def _event(
    row: ScheduledNotification,
    group: GroupSession,
    seat: Seat | None,
    authors: set[tuple[str, str, str]],
    now: datetime,
    grace: timedelta,
) -> GivenEvent | None:
    """The event a claimed row stands for, if it still holds; None drops it."""
    late = max(now - row.due_at, timedelta(0))
    kind = NotificationKind(row.kind)
    data = group_session_json(group)
    object_id = group.id
    if kind is NotificationKind.reminder:
        minutes = row.minutes_before or 0
        target = group.id if row.seat_id is None else row.seat_id
        if not (
            group.status == GroupSessionStatus.scheduled
            and row.key == keys.reminder(target, group.starts_at, minutes)
            and now < group.starts_at
            and late <= grace
        ):
            return None
        event_type = EventType.group_session_reminder
        if row.seat_id is not None:
            if seat is None or seat.status != SeatStatus.taken:
                return None
            event_type, object_id = EventType.seat_reminder, seat.id
            data = {**seat_json(seat), "group_session": data}
        data = {**data, "minutes_before": minutes}
    elif kind is NotificationKind.started:
        if group.status not in _TOOK_PLACE or row.key != keys.started(group.id, group.starts_at):
            return None
        event_type = EventType.group_session_started
    elif kind is NotificationKind.ended:
        if group.status not in _TOOK_PLACE or row.key != keys.ended(group.id, group.ends_at):
            return None
        event_type = EventType.group_session_ended
    elif kind is NotificationKind.feedback_requested:
        party = row.party or ""
        if (
            group.status != GroupSessionStatus.completed
            or seat is None
            or seat.status != SeatStatus.taken
            or (row.app_id, seat.id, party) in authors
        ):
            return None
        event_type, object_id = EventType.feedback_requested, seat.id
        data = {**seat_json(seat), "group_session": data, "party": party}
    else:
        return None
    return GivenEvent(
        id=keys.event_id(row.app_id, row.key, row.due_at),
        app_id=row.app_id,
        type=event_type,
        data={**data, "due_at": _z(row.due_at), "lateness_seconds": round(late.total_seconds(), 3)},
        object_id=object_id,
        happened_at=row.due_at,
    )


async def due(
    db_session: AsyncSession, rows: list[ScheduledNotification], now: datetime, grace: timedelta
) -> Due:
    """The events that claimed rows of group sessions stand for (rows of any apps). A group
    session being changed right now (locked) is skipped: its rows wait for the next round."""
    if not rows:
        return Due([], [])
    groups = await queue.lock_group_sessions(
        db_session, {(r.app_id, r.group_session_id or "") for r in rows}
    )
    ready = [r for r in rows if (r.app_id, r.group_session_id) in groups]
    seats = await queue.seats(
        db_session, {(r.app_id, r.seat_id) for r in ready if r.seat_id is not None}
    )
    authors = await queue.seat_feedback_authors(
        db_session,
        {
            (r.app_id, r.seat_id)
            for r in ready
            if r.seat_id is not None and r.kind == NotificationKind.feedback_requested
        },
    )
    given: list[GivenEvent] = []
    for row in ready:
        group = groups[(row.app_id, row.group_session_id or "")]
        seat = seats.get((row.app_id, row.seat_id or ""))
        event = _event(row, group, seat, authors, now, grace)
        if event is not None:
            given.append(event)
    return Due(given, ready)


def _z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
