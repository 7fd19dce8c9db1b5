"""Reminder test helpers: a clock the tests set, a worker on it, and readers of the queue and
the event log (each scoped to the test's own app: the database is shared by the suite)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select, update

from mentorapi.db.engine import Database, write_intent
from mentorapi.reminders import service as reminders_service
from mentorapi.reminders.models import ScheduledNotification
from mentorapi.reminders.worker import Scheduler
from mentorapi.sessions import service as sessions_service
from mentorapi.webhooks.models import Delivery, Event
from tests.conftest import test_settings
from tests.webhooks.conftest import start_worker

__all__ = ["start_worker"]  # fixtures shared with the webhook tests


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Clock:
    """The one clock of a test: the sessions' (booking, completing), the policy routes' and
    the worker's. Moved by hand; nothing here sleeps."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set(self, value: str | datetime) -> None:
        self.now = at(value) if isinstance(value, str) else value

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(at("2027-01-04T08:00:00Z"))
    monkeypatch.setattr(sessions_service, "now", clock)
    monkeypatch.setattr(reminders_service, "now", clock)
    return clock


@pytest.fixture
def scheduler(db: Database, database_url: str, clock: Clock) -> Scheduler:
    """A worker on the test's clock, not started: the test runs its rounds."""
    return Scheduler(db, test_settings(database_url), clock=clock)


async def queued(db: Database, app_id: str) -> list[ScheduledNotification]:
    async with db.sessionmaker() as s:
        query = (
            select(ScheduledNotification)
            .where(col(ScheduledNotification.app_id) == app_id)
            .order_by(col(ScheduledNotification.due_at), col(ScheduledNotification.key))
        )
        return list((await s.exec(query)).all())


async def plan(db: Database, app_id: str, session_id: str | None = None) -> list[tuple[Any, ...]]:
    """(kind, due_at Z, minutes_before or party) of the queued rows, in time order."""
    return [
        (r.kind, z(r.due_at), r.minutes_before or r.party)
        for r in await queued(db, app_id)
        if session_id is None or r.session_id == session_id
    ]


async def sent(db: Database, app_id: str, *types: str) -> list[Event]:
    """The app's events of these types (all time-driven ones if none is named), oldest id
    first."""
    wanted = list(types) or [
        "session.reminder",
        "session.started",
        "session.ended",
        "feedback.requested",
        "action_item.due",
    ]
    # A reader's BEGIN (on SQLite not IMMEDIATE): polled while a worker writes, it must not
    # queue for the write lock behind every one of the worker's transactions.
    token = write_intent.set(False)
    try:
        async with db.read_sessionmaker() as s:
            query = (
                select(Event)
                .where(col(Event.app_id) == app_id, col(Event.type).in_(wanted))
                .order_by(col(Event.id))
            )
            return list((await s.exec(query)).all())
    finally:
        write_intent.reset(token)


async def deliveries(db: Database, app_id: str, event_id: str) -> list[Delivery]:
    async with db.sessionmaker() as s:
        query = select(Delivery).where(
            col(Delivery.app_id) == app_id, col(Delivery.event_id) == event_id
        )
        return list((await s.exec(query)).all())


async def move_due(db: Database, app_id: str, due_at: datetime) -> int:
    """Make every queued row of the app fall due at `due_at` (tests of the queue itself: the
    worker checks that a row still holds by its key, not by its time)."""
    async with db.sessionmaker() as s, s.begin():
        result = await s.exec(
            update(ScheduledNotification)
            .where(col(ScheduledNotification.app_id) == app_id)
            .values(due_at=due_at)
        )
        return int(result.rowcount)
