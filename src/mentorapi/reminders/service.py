"""Reminders and the other time-driven events: the policy, the plan, and what the worker sends.

The rules (README "Reminders and time-driven events"):
- A booked session gets a `session.reminder` at each offset of the policy (the mentor's own
  offsets if they have some, else the app's), in real minutes before the start instant: 1440
  is 24 hours before, whatever the clocks do in between. `session.started` and `session.ended`
  go at its start and end. Requests get nothing until they are accepted.
- A reminder whose time has already passed when the session is booked (or moved, or the policy
  changed) is skipped, never sent late. If the worker is late (it was down), a reminder more
  than the grace late (MENTORAPI_REMINDER_GRACE_SECONDS), or at or after the start, is dropped;
  everything else is sent however late, with `lateness_seconds` saying how late.
- `feedback.requested` goes to each party of a completed session that has not given feedback,
  the app's delay after the end; a session completed later than that gets it at completion.
  (Feedback closes a completed session, so a booked session not yet completed gets none: the
  app prompts the mentor to complete it on `session.ended`.)
- `action_item.due` goes at 09:00 in the mentee's zone on the item's due date, unless it is done.
- A group session gets its reminders (the mentor's, and each seated mentee's), start and end
  by the same rules, and once completed a `feedback.requested` for each taken seat and party
  (group_sessions/timed.py).
- Every row is written, replaced or removed in the transaction of the change that decides it,
  and the worker checks again, under the session's lock, that the row still holds when it
  sends: a session cancelled a second before a reminder gets none.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import Caller, require_api_key
from mentorapi.db.integrity import flush_or_conflict
from mentorapi.feedback.models import Author
from mentorapi.group_sessions import timed as group_timed
from mentorapi.kit import timezones
from mentorapi.kit.versioning import check_version
from mentorapi.mentoring_events import timed
from mentorapi.mentors import service as mentors_service
from mentorapi.reminders import keys, repository
from mentorapi.reminders.models import (
    DEFAULT_FEEDBACK_DELAY_MINUTES,
    DEFAULT_OFFSETS,
    MentorReminderPolicy,
    NotificationKind,
    ReminderPolicy,
    ScheduledNotification,
)
from mentorapi.reminders.schemas import MentorRemindersPut, ReminderPolicyPut
from mentorapi.sessions.models import ActionItem, Session, SessionStatus
from mentorapi.sessions.schemas import ActionItemRead, session_json
from mentorapi.webhooks import outbox
from mentorapi.webhooks.models import EventType

# When an action item is due on its date, in the mentee's zone: the start of a working day.
ACTION_ITEM_DUE_TIME = time(9, 0)
REPLAN_BATCH = 500
PARTIES = (Author.mentee.value, Author.mentor.value)


def now() -> datetime:
    """The clock of the policy routes (tests move it); session changes pass their own."""
    return timezones.utcnow()


def _z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- the policy ----------------------------------------------------------------------------------


def defaults(app_id: str) -> ReminderPolicy:
    """The policy of an app that never set one (not saved: version 0)."""
    return ReminderPolicy(
        app_id=app_id,
        offsets_minutes=list(DEFAULT_OFFSETS),
        feedback_request_delay_minutes=DEFAULT_FEEDBACK_DELAY_MINUTES,
        version=0,
    )


@dataclass(frozen=True)
class Policy:
    """What plans the sessions of these mentors (`mentor_ids`) of one app."""

    app_id: str
    mentor_ids: frozenset[str]
    offsets: list[int]
    feedback_delay: timedelta
    mentor_offsets: dict[str, list[int]]

    def offsets_for(self, mentor_id: str) -> list[int]:
        return self.mentor_offsets.get(mentor_id, self.offsets)


async def policy_for(db_session: AsyncSession, app_id: str, mentor_ids: set[str]) -> Policy:
    """The policy for sessions of these mentors, for `plan_sessions(..., policy=)`: a caller
    that plans under a lock the policy does not need reads it before taking the lock."""
    found, mentor_offsets = await repository.policies(db_session, app_id, mentor_ids)
    offsets, delay = found or (DEFAULT_OFFSETS, DEFAULT_FEEDBACK_DELAY_MINUTES)
    return Policy(
        app_id=app_id,
        mentor_ids=frozenset(mentor_ids),
        offsets=list(offsets),
        feedback_delay=timedelta(minutes=delay),
        mentor_offsets=mentor_offsets,
    )


async def get_policy(*, db_session: AsyncSession, app_id: str, actor: Caller) -> ReminderPolicy:
    require_api_key(actor, "reading the reminder policy")
    return await repository.get_policy(db_session, app_id) or defaults(app_id)


async def put_policy(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    data: ReminderPolicyPut,
    expected_version: int | None = None,
) -> ReminderPolicy:
    """Replace the app's policy. It applies at once to every booked session still to come:
    their reminders are planned again (those whose time has passed are not sent)."""
    require_api_key(actor, "changing the reminder policy")
    policy = await repository.get_policy(db_session, app_id)
    if policy is None:
        check_version(0, expected_version, "the reminder policy")
        policy = defaults(app_id)
        policy.version = 1
    else:
        check_version(policy.version, expected_version, "the reminder policy")
        policy.version += 1
        policy.updated_at = timezones.utcnow()
    policy.offsets_minutes = list(data.offsets_minutes)
    policy.feedback_request_delay_minutes = data.feedback_request_delay_minutes
    db_session.add(policy)
    # Two first policies at once: one wins, the other is told to read it again.
    await flush_or_conflict(db_session, "the reminder policy was just set by another request")
    await _replan(db_session, app_id, current=now())
    return policy


async def get_mentor_reminders(
    *, db_session: AsyncSession, app_id: str, actor: Caller, mentor_id: str
) -> tuple[MentorReminderPolicy | None, ReminderPolicy]:
    """The mentor's own offsets (None: they have none) and the app's policy."""
    require_api_key(actor, "reading a mentor's reminder offsets")
    await mentors_service.get(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
    own = await repository.get_mentor_policy(db_session, app_id, mentor_id)
    return own, await repository.get_policy(db_session, app_id) or defaults(app_id)


async def put_mentor_reminders(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    mentor_id: str,
    data: MentorRemindersPut,
    expected_version: int | None = None,
) -> tuple[MentorReminderPolicy | None, ReminderPolicy]:
    require_api_key(actor, "changing a mentor's reminder offsets")
    await mentors_service.get(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
    own = await repository.get_mentor_policy(db_session, app_id, mentor_id)
    if own is None:
        check_version(0, expected_version, "the mentor's reminder offsets")
        own = MentorReminderPolicy(app_id=app_id, mentor_id=mentor_id, offsets_minutes=[])
    else:
        check_version(own.version, expected_version, "the mentor's reminder offsets")
        own.version += 1
        own.updated_at = timezones.utcnow()
    own.offsets_minutes = list(data.offsets_minutes)
    db_session.add(own)
    await flush_or_conflict(
        db_session, "the mentor's offsets were just set (or the mentor deleted) by another request"
    )
    await _replan(db_session, app_id, current=now(), mentor_id=mentor_id)
    return own, await repository.get_policy(db_session, app_id) or defaults(app_id)


async def clear_mentor_reminders(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    mentor_id: str,
    expected_version: int | None = None,
) -> tuple[MentorReminderPolicy | None, ReminderPolicy]:
    """The mentor follows the app's policy again."""
    require_api_key(actor, "changing a mentor's reminder offsets")
    await mentors_service.get(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
    own = await repository.get_mentor_policy(db_session, app_id, mentor_id)
    check_version(own.version if own else 0, expected_version, "the mentor's reminder offsets")
    if own is not None:
        await repository.delete_mentor_policy(db_session, own)
        await _replan(db_session, app_id, current=now(), mentor_id=mentor_id)
    return None, await repository.get_policy(db_session, app_id) or defaults(app_id)


async def _replan(
    db_session: AsyncSession, app_id: str, *, current: datetime, mentor_id: str | None = None
) -> None:
    after = ""
    while True:
        batch = await repository.sessions_to_replan(
            db_session,
            app_id,
            ending_after=current,
            mentor_id=mentor_id,
            after_id=after,
            limit=REPLAN_BATCH,
        )
        await plan_sessions(db_session, batch, now=current)
        if len(batch) < REPLAN_BATCH:
            break
        after = batch[-1].id
    after = ""
    while True:
        groups = await repository.groups_to_replan(
            db_session,
            app_id,
            ending_after=current,
            mentor_id=mentor_id,
            after_id=after,
            limit=REPLAN_BATCH,
        )
        if groups:
            policy = await policy_for(db_session, app_id, {g.mentor_id for g in groups})
            for group in groups:
                offsets = policy.offsets_for(group.mentor_id)
                await group_timed.plan(
                    db_session,
                    group,
                    offsets=offsets,
                    feedback_delay=policy.feedback_delay,
                    now=current,
                )
        if len(groups) < REPLAN_BATCH:
            return
        after = groups[-1].id


# --- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    key: str
    kind: NotificationKind
    due_at: datetime
    session_id: str
    action_item_id: str | None = None
    party: str | None = None
    minutes_before: int | None = None

    def row(self, app_id: str, due_at: datetime, written_at: datetime) -> dict[str, Any]:
        return {
            "app_id": app_id,
            "key": self.key,
            "kind": self.kind.value,
            "due_at": due_at,
            "session_id": self.session_id,
            "action_item_id": self.action_item_id,
            "party": self.party,
            "minutes_before": self.minutes_before,
            "created_at": written_at,
            "updated_at": written_at,
        }


def _feedback_from(session: Session) -> datetime | None:
    """When a session ended, for its feedback requests: its end, or for an async session its
    completion (the last change of a completed session)."""
    if session.ends_at is not None:
        return session.ends_at
    return session.updated_at if session.status == SessionStatus.completed else None


def wanted(session: Session, policy: Policy) -> list[Planned]:
    """Every row the session's current state calls for, whether or not its time has passed.
    (A feedback request is wanted of both parties: planning again after one gave feedback may
    queue theirs anew, and the worker, which checks, drops it.)"""
    rows: list[Planned] = []
    status = session.status
    if status not in (SessionStatus.booked, SessionStatus.completed):
        return rows
    if session.starts_at is not None and session.ends_at is not None:
        if status == SessionStatus.booked:
            for minutes in policy.offsets_for(session.mentor_id):
                rows.append(
                    Planned(
                        keys.reminder(session.id, session.starts_at, minutes),
                        NotificationKind.reminder,
                        session.starts_at - timedelta(minutes=minutes),
                        session.id,
                        minutes_before=minutes,
                    )
                )
        rows.append(
            Planned(
                keys.started(session.id, session.starts_at),
                NotificationKind.started,
                session.starts_at,
                session.id,
            )
        )
        rows.append(
            Planned(
                keys.ended(session.id, session.ends_at),
                NotificationKind.ended,
                session.ends_at,
                session.id,
            )
        )
    ended = _feedback_from(session)
    if ended is not None:
        for party in PARTIES:
            rows.append(
                Planned(
                    keys.feedback_requested(session.id, party),
                    NotificationKind.feedback_requested,
                    ended + policy.feedback_delay,
                    session.id,
                    party=party,
                )
            )
    return rows


async def plan_sessions(
    db_session: AsyncSession,
    sessions: list[Session],
    *,
    now: datetime,
    new: bool = False,
    completing: bool = False,
    policy: Policy | None = None,
) -> None:
    """Bring the rows of these sessions (of one app, each locked by the caller, or new) in
    line with their state: rows no longer wanted go, wanted rows still to come are written.
    `new`: the sessions were just created (nothing to read). `completing`: they were just
    completed, so their feedback requests go now if their time has passed. `policy`: read
    already (`policy_for`), for these sessions' app and mentors."""
    if not sessions:
        return
    app_id = sessions[0].app_id
    mentor_ids = {s.mentor_id for s in sessions}
    if policy is None:
        policy = await policy_for(db_session, app_id, mentor_ids)
    if policy.app_id != app_id or not mentor_ids <= policy.mentor_ids:
        raise ValueError("the policy was read for other sessions")
    plan = {p.key: p for s in sessions for p in wanted(s, policy)}
    existing: dict[str, ScheduledNotification] = {}
    if not new:
        found = await repository.rows_of_sessions(db_session, app_id, [s.id for s in sessions])
        existing = {row.key: row for row in found}
    await repository.delete_keys(db_session, app_id, [k for k in existing if k not in plan])
    moves: list[tuple[str, datetime]] = []
    rows: list[dict[str, Any]] = []
    for key, planned in plan.items():
        row = existing.get(key)
        if row is not None:
            # Same key, same time, except a feedback request whose delay changed.
            if row.due_at != planned.due_at:
                moves.append((key, max(planned.due_at, now)))
            continue
        due = planned.due_at
        if due <= now:
            if not (completing and planned.kind is NotificationKind.feedback_requested):
                continue  # its time has passed: skipped, never sent late
            due = now
        rows.append(planned.row(app_id, due, now))
    await repository.move_due(db_session, app_id, moves)
    await repository.insert_rows(db_session, rows, now)


async def feedback_given(
    db_session: AsyncSession,
    app_id: str,
    party: str,
    *,
    session_id: str | None = None,
    seat_id: str | None = None,
) -> None:
    """That party will not be asked for feedback on the session, or on the group session's
    seat."""
    await repository.delete_feedback_request(
        db_session, app_id, party, session_id=session_id, seat_id=seat_id
    )


def _item_due(item: ActionItem, timezone: str) -> tuple[date, datetime] | None:
    if item.done or not item.due_on:
        return None
    day = date.fromisoformat(item.due_on)
    local = datetime.combine(day, ACTION_ITEM_DUE_TIME, tzinfo=timezones.zone(timezone))
    return day, local.astimezone(UTC)


async def plan_action_items(
    db_session: AsyncSession,
    app_id: str,
    items: list[ActionItem],
    timezone: str,
    *,
    now: datetime,
) -> None:
    """The `action_item.due` rows of these items (their mentee's zone: `timezone`)."""
    if not items:
        return
    plan: dict[str, Planned] = {}
    for item in items:
        due = _item_due(item, timezone)
        if due is not None:
            key = keys.action_item_due(item.id, due[0])
            plan[key] = Planned(
                key,
                NotificationKind.action_item_due,
                due[1],
                item.session_id,
                action_item_id=item.id,
            )
    found = await repository.rows_of_items(db_session, app_id, [i.id for i in items])
    existing = {row.key: row for row in found}
    await repository.delete_keys(db_session, app_id, [k for k in existing if k not in plan])
    moves = [
        (key, max(p.due_at, now))
        for key, p in plan.items()
        if key in existing and existing[key].due_at != p.due_at
    ]
    rows = [
        p.row(app_id, p.due_at, now)
        for key, p in plan.items()
        if key not in existing and p.due_at > now
    ]
    await repository.move_due(db_session, app_id, moves)
    await repository.insert_rows(db_session, rows, now)


async def plan_mentee_items(
    db_session: AsyncSession, app_id: str, mentee_id: str, timezone: str, *, now: datetime
) -> None:
    """After the mentee's zone changed: their open action items fall due at 09:00 there."""
    since = (now - timedelta(days=1)).date().isoformat()
    items = await repository.open_items_of_mentee(db_session, app_id, mentee_id, since)
    for start in range(0, len(items), REPLAN_BATCH):
        await plan_action_items(
            db_session, app_id, items[start : start + REPLAN_BATCH], timezone, now=now
        )


async def mentee_timezone(db_session: AsyncSession, app_id: str, mentee_id: str) -> str:
    return await repository.mentee_timezone(db_session, app_id, mentee_id) or "UTC"


# --- sending (the worker) ------------------------------------------------------------------------


@dataclass
class Round:
    """What one claim did."""

    claimed: int = 0
    sent: int = 0  # events written
    dropped: int = 0  # rows no longer right (or a reminder too late): deleted, nothing sent
    deferred: int = 0  # rows of a session being changed right now: left for the next round
    lateness: list[float] = field(default_factory=list)  # seconds, of each event written


@dataclass(frozen=True)
class _Found:
    sessions: dict[tuple[str, str], Session]
    authors: set[tuple[str, str, str]]
    items: dict[tuple[str, str], ActionItem]


def _event(
    row: ScheduledNotification, found: _Found, now: datetime, grace: timedelta
) -> outbox.GivenEvent | None:
    """The event a claimed row stands for, if it still holds; None drops it."""
    session = found.sessions[(row.app_id, row.session_id or "")]
    late = max(now - row.due_at, timedelta(0))
    extra: dict[str, Any] = {
        "due_at": _z(row.due_at),
        "lateness_seconds": round(late.total_seconds(), 3),
    }
    kind = NotificationKind(row.kind)
    booked = session.status == SessionStatus.booked
    took_place = session.status in (SessionStatus.booked, SessionStatus.completed)
    event_type: EventType
    data: dict[str, Any]
    object_id = session.id
    if kind is NotificationKind.reminder:
        minutes = row.minutes_before or 0
        if not (
            booked
            and session.starts_at is not None
            and row.key == keys.reminder(session.id, session.starts_at, minutes)
            and now < session.starts_at
            and late <= grace
        ):
            return None
        event_type = EventType.session_reminder
        data = {**session_json(session), "minutes_before": minutes}
    elif kind is NotificationKind.started:
        if not (
            took_place
            and session.starts_at is not None
            and row.key == keys.started(session.id, session.starts_at)
        ):
            return None
        event_type, data = EventType.session_started, session_json(session)
    elif kind is NotificationKind.ended:
        if not (
            took_place
            and session.ends_at is not None
            and row.key == keys.ended(session.id, session.ends_at)
        ):
            return None
        event_type, data = EventType.session_ended, session_json(session)
    elif kind is NotificationKind.feedback_requested:
        party = row.party or ""
        if (
            session.status != SessionStatus.completed
            or (row.app_id, session.id, party) in found.authors
        ):
            return None
        event_type = EventType.feedback_requested
        data = {**session_json(session), "party": party}
    else:
        item = found.items.get((row.app_id, row.action_item_id or ""))
        if (
            item is None
            or item.done
            or not item.due_on
            or row.key != keys.action_item_due(item.id, date.fromisoformat(item.due_on))
        ):
            return None
        event_type = EventType.action_item_due
        data = {
            **ActionItemRead.from_model(item).model_dump(mode="json"),
            "mentee_id": session.mentee_id,
            "mentor_id": session.mentor_id,
        }
        object_id = item.id
    return outbox.GivenEvent(
        id=keys.event_id(row.app_id, row.key, row.due_at),
        app_id=row.app_id,
        type=event_type,
        data={**data, **extra},
        object_id=object_id,
        happened_at=row.due_at,
    )


async def send_due(
    db_session: AsyncSession, *, now: datetime, limit: int, grace: timedelta
) -> Round:
    """Claim up to `limit` due rows of any app, write the events that still hold (with their
    deliveries), delete the rows: one transaction, the caller's. A crash before its commit
    leaves every row in place; after it, the events are in the outbox and the rows gone."""
    claimed = await repository.claim_due(db_session, now=now, limit=limit)
    if not claimed:
        return Round()
    # A speed-mentoring event's rounds and end: checked and written under the event's lock.
    of_events = await timed.due(
        db_session, [r for r in claimed if r.mentoring_event_id is not None], now
    )
    # A group session's reminders, start and end: checked under the group session's lock.
    of_groups = await group_timed.due(
        db_session, [r for r in claimed if r.group_session_id is not None], now, grace
    )
    rows = [r for r in claimed if r.session_id is not None]
    sessions = await repository.lock_sessions(
        db_session, {(r.app_id, r.session_id) for r in rows if r.session_id is not None}
    )
    ready = [r for r in rows if (r.app_id, r.session_id) in sessions]
    feedback = {
        (r.app_id, r.session_id or "")
        for r in ready
        if r.kind == NotificationKind.feedback_requested
    }
    items = {(r.app_id, r.action_item_id) for r in ready if r.action_item_id is not None}
    found = _Found(
        sessions=sessions,
        authors=await repository.feedback_authors(db_session, feedback),
        items=await repository.action_items(db_session, items),
    )
    events = [e for e in (_event(r, found, now, grace) for r in ready) if e is not None]
    events += of_events.events + of_groups.events
    ready += of_events.done + of_groups.done
    written = await outbox.record_given(db_session, events, now=now)
    await repository.delete_claimed(db_session, [(r.app_id, r.key) for r in ready])
    return Round(
        claimed=len(claimed),
        sent=len(written),
        dropped=len(ready) - len(written),
        deferred=len(claimed) - len(ready),
        lateness=[(now - e.created_at).total_seconds() for e in written],
    )
