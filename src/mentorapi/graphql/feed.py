"""Feed GraphQL subscriptions from the same `session.*` events the webhooks send, after commit
(and the live feeds of speed-mentoring events from their schedule's events).

The outbox writes an `Event` row in the business transaction. SQLAlchemy session events on the
app's sessionmaker watch those rows: `do_orm_execute` keeps the new session events of the
outbox's INSERT in `session.info` (and `after_flush` those of an `Event` flushed as an object),
`after_commit` publishes them to the in-process pub/sub, `after_rollback` drops them. So a
subscriber hears of a change exactly when it became true, and never of one that rolled back.
Nothing here touches the outbox itself.

That is the SQLite path: one process, so this process's commits are all there is. On
PostgreSQL every process hears every commit (any process's, the worker's) from a NOTIFY
instead (graphql/fanout.py), and this is not installed: one path only, so nothing is heard twice.

Topics are scoped by app id (`pubsub.topic_for`), one per session and one per mentor and mentee
taking part, so a subscriber hears only what it asked for, within its own app.
"""

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker
from sqlmodel import Session as SQLModelSession

from mentorapi.db.engine import Database
from mentorapi.graphql.pubsub import PubSub, topic_for
from mentorapi.webhooks.models import Event

log = logging.getLogger("mentorapi.graphql")

EVENTS = cast(Table, Event.__table__)  # type: ignore[attr-defined]

PENDING = "mentorapi.graphql.feed"
SESSION_EVENT_PREFIX = "session."
# Session events that are not news about the session itself: a reminder is a message for the
# people (sent to webhooks only, one per offset). `session.started` and `session.ended` do
# reach subscribers: a calendar view turns "upcoming" into "now" and "over" on them. The
# trigger of migration e7a2c4b6d8f0 leaves reminders out on PostgreSQL too.
NOT_FOR_SUBSCRIBERS = frozenset({"session.reminder"})


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """What a subscription receives: one committed `session.*` event."""

    id: str
    app_id: str
    type: str
    data: dict[str, Any]  # the session as in the webhook payload, plus `previous`


def session_topic(app_id: str, session_id: str) -> str:
    return topic_for(app_id, f"session:{session_id}")


def mentor_topic(app_id: str, mentor_id: str) -> str:
    return topic_for(app_id, f"mentor:{mentor_id}")


def mentee_topic(app_id: str, mentee_id: str) -> str:
    return topic_for(app_id, f"mentee:{mentee_id}")


def topics_of(found: SessionEvent) -> list[str]:
    data = found.data
    return [
        session_topic(found.app_id, str(data["id"])),
        mentor_topic(found.app_id, str(data["mentor_id"])),
        mentee_topic(found.app_id, str(data["mentee_id"])),
    ]


_SESSION_KEYS = ("id", "mentor_id", "mentee_id")


def _event_fields(row: object) -> tuple[str, str, str, Any] | None:
    """(id, app_id, type, data) of an event: an `Event`, or a row the outbox inserts."""
    if isinstance(row, Event):
        return row.id, row.app_id, row.type, row.data
    if isinstance(row, Mapping):
        try:
            return str(row["id"]), str(row["app_id"]), str(row["type"]), row["data"]
        except KeyError:
            return None
    return None


def session_event(row: object) -> SessionEvent | None:
    """The subscription message of an event row, or None: only events that carry a session (as
    sessions.service writes them) feed subscriptions."""
    fields = _event_fields(row)
    if fields is None:
        return None
    id, app_id, type, data = fields
    if (
        type.startswith(SESSION_EVENT_PREFIX)
        and type not in NOT_FOR_SUBSCRIBERS
        and isinstance(data, dict)
        and all(isinstance(data.get(k), str) for k in _SESSION_KEYS)
    ):
        return SessionEvent(id, app_id, type, dict(data))
    return None


# A speed-mentoring event's schedule changed (published, or a late change): its live feed reads
# the schedule again (mentoring_events/live.py). The trigger of migration a7c9e1f3b5d2 announces
# these on PostgreSQL too.
SCHEDULE_EVENT_TYPES = frozenset(
    {"mentoring_event.schedule_published", "mentoring_event.schedule_changed"}
)


@dataclass(frozen=True, slots=True)
class ScheduleNotice:
    """What a live feed receives: a committed change of one event's schedule."""

    id: str
    app_id: str
    type: str
    event_id: str


def mentoring_event_topic(app_id: str, event_id: str) -> str:
    return topic_for(app_id, f"mentoring_event:{event_id}")


def schedule_notice(row: object) -> ScheduleNotice | None:
    fields = _event_fields(row)
    if fields is None:
        return None
    id, app_id, type, data = fields
    if type in SCHEDULE_EVENT_TYPES and isinstance(data, dict) and isinstance(data.get("id"), str):
        return ScheduleNotice(id, app_id, type, str(data["id"]))
    return None


Message = SessionEvent | ScheduleNotice


def message_of(row: object) -> Message | None:
    """The subscription message of an event row, if it is one."""
    return session_event(row) or schedule_notice(row)


def publish(pubsub: PubSub, found: Message) -> None:
    """To every topic the event belongs to."""
    try:
        if isinstance(found, ScheduleNotice):
            pubsub.publish(mentoring_event_topic(found.app_id, found.event_id), found)
            return
        for topic in topics_of(found):
            pubsub.publish(topic, found)
    except Exception:
        # The change is committed whatever happens here: never fail the request for it.
        log.exception("could not publish event %s to subscriptions", found.id)


def _keep(session: Session, rows: Iterable[object]) -> None:
    for row in rows:
        found = message_of(row)
        if found is not None:
            pending: list[Message] = session.info.setdefault(PENDING, [])
            pending.append(found)


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    # Still the pre-flush view here: `session.new` holds the rows this flush inserted.
    _keep(session, session.new)


def _on_execute(state: ORMExecuteState) -> None:
    """The rows of an INSERT into the event log (the outbox writes rows, not objects). Before
    it runs: if it fails, the transaction rolls back and `_after_rollback` forgets them."""
    statement = state.statement
    if not (state.is_insert and getattr(statement, "table", None) is EVENTS):
        return
    params = state.parameters
    _keep(state.session, params if isinstance(params, Sequence) else [params])


def _publisher(pubsub: PubSub) -> Any:
    def after_commit(session: Session) -> None:
        for found in session.info.pop(PENDING, []):
            publish(pubsub, found)

    return after_commit


def _after_rollback(session: Session) -> None:
    # Conservative: a rollback (even of a savepoint) forgets every event collected so far, so
    # a subscriber may miss a change but never hears of one that did not happen.
    session.info.pop(PENDING, None)


def install_feed(database: Database, pubsub: PubSub) -> None:
    """Listen on this database's sessions only (a sessionmaker of our own as the async
    sessionmaker's sync_session_class, the way SQLAlchemy documents events with asyncio)."""
    sync_maker: sessionmaker[SQLModelSession] = sessionmaker(class_=SQLModelSession)
    event.listen(sync_maker, "after_flush", _after_flush)
    event.listen(sync_maker, "do_orm_execute", _on_execute)
    event.listen(sync_maker, "after_commit", _publisher(pubsub))
    event.listen(sync_maker, "after_rollback", _after_rollback)
    database.sessionmaker.configure(sync_session_class=sync_maker)
