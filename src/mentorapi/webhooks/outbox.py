"""The transactional outbox: an event and its deliveries are rows in the caller's transaction.

Services call `record()` next to the change they make. If the transaction rolls back, the event
never existed, so nothing is sent; if it commits, the worker delivers it at least once.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.kit.ids import new_id
from mentorapi.kit.timezones import utcnow
from mentorapi.webhooks import repository
from mentorapi.webhooks.models import DeliveryStatus, Event, EventType, WebhookEndpoint


@dataclass(frozen=True, slots=True)
class Subscriber:
    """An enabled endpoint, as the outbox needs it: which events it takes (None or empty: all)."""

    app_id: str
    id: str
    events: list[str] | None

    def takes(self, type: EventType) -> bool:
        return not self.events or type.value in self.events


@dataclass(frozen=True)
class NewEvent:
    """An event to record. `data` must be JSON-ready (e.g. `SessionRead.model_dump(mode="json")`);
    for a change, include `previous` with the fields that changed. `created`: the object was
    created in this transaction, so its events are numbered from 1 without asking the database."""

    type: EventType
    data: dict[str, Any]
    object_id: str | None = None
    created: bool = False


async def record(
    db_session: AsyncSession,
    *,
    app_id: str,
    type: EventType,
    data: dict[str, Any],
    object_id: str | None = None,
    created: bool = False,
) -> Event:
    """Write the event and one pending delivery per enabled endpoint subscribed to its type."""
    (row,) = await _write_for_subscribers(
        db_session, app_id, [NewEvent(type, data, object_id, created)], None
    )
    return Event(**row)  # what was written, for the caller to read (not in the unit of work)


async def subscribers(db_session: AsyncSession, app_id: str) -> list[Subscriber]:
    """The app's enabled endpoints, for `record_many(..., endpoints=)`: a caller that records
    under a lock the endpoints do not need reads them before taking the lock."""
    return [
        Subscriber(app_id, id, events)
        for id, events in await repository.enabled_endpoints(db_session, app_id)
    ]


async def record_many(
    db_session: AsyncSession,
    *,
    app_id: str,
    events: Sequence[NewEvent],
    endpoints: Sequence[Subscriber] | None = None,
) -> None:
    """`record` for several events of one app (a series' 26 bookings): the endpoints read once
    (or given: `subscribers`), the objects' last sequence numbers in one query, the events and
    the deliveries written in one statement each, in order."""
    await _write_for_subscribers(db_session, app_id, events, endpoints)


async def _write_for_subscribers(
    db_session: AsyncSession,
    app_id: str,
    events: Sequence[NewEvent],
    endpoints: Sequence[Subscriber] | None,
) -> list[dict[str, Any]]:
    if not events:
        return []
    if endpoints is None:
        endpoints = await subscribers(db_session, app_id)
    elif any(e.app_id != app_id for e in endpoints):
        raise ValueError("endpoints of another app")
    return await _write(
        db_session,
        app_id,
        events,
        lambda type: [e for e in endpoints if e.takes(type)],
    )


async def record_for_endpoint(
    db_session: AsyncSession,
    *,
    endpoint: WebhookEndpoint,
    type: EventType,
    data: dict[str, Any],
) -> Event:
    """An event delivered to one endpoint only (`webhook.test`)."""
    (row,) = await _write(
        db_session,
        endpoint.app_id,
        [NewEvent(type, data)],
        lambda _type: [Subscriber(endpoint.app_id, endpoint.id, endpoint.events)],
    )
    return Event(**row)


async def _write(
    db_session: AsyncSession,
    app_id: str,
    events: Sequence[NewEvent],
    endpoints_for: Callable[[EventType], list[Subscriber]],
) -> list[dict[str, Any]]:
    created = {e.object_id for e in events if e.created}
    asked = {
        (app_id, e.object_id)
        for e in events
        if e.object_id is not None and e.object_id not in created
    }
    last = await repository.last_sequences(db_session, asked)
    now = utcnow()
    rows = []
    for new in events:
        sequence = 1
        if new.object_id is not None:
            sequence = last.get((app_id, new.object_id), 0) + 1
            last[(app_id, new.object_id)] = sequence
        rows.append(
            _event_row(new_id("evt"), app_id, new.type, new.object_id, sequence, new.data, now, now)
        )
    await repository.insert_events(db_session, rows)  # first: deliveries reference them
    deliveries = [
        _delivery(app_id, row["id"], endpoint.id, now)
        for row, new in zip(rows, events, strict=True)
        for endpoint in endpoints_for(new.type)
    ]
    if deliveries:
        # The workers wake at commit: a trigger on deliveries NOTIFYs them (migration
        # e6a2c4b8d0f1), with no round trip of its own.
        await repository.insert_deliveries(db_session, deliveries)
    return rows


def _event_row(
    id: str,
    app_id: str,
    type: EventType,
    object_id: str | None,
    sequence: int,
    data: dict[str, Any],
    created_at: datetime,
    updated_at: datetime,
) -> dict[str, Any]:
    """An event as a row: written without an ORM object, as deliveries are (nobody reads it
    back in the transaction that records it; building and flushing an `Event` cost more than
    its INSERT)."""
    return {
        "id": id,
        "app_id": app_id,
        "created_at": created_at,
        "updated_at": updated_at,
        "type": type.value,
        "object_id": object_id,
        "sequence": sequence,
        "data": data,
    }


def _delivery(app_id: str, event_id: str, endpoint_id: str, now: datetime) -> dict[str, Any]:
    """A pending delivery, due now, as a row: written without an ORM object (nobody reads it
    back in the transaction that records it; building a `Delivery` cost more than its insert)."""
    return {
        "id": new_id("dlv"),
        "app_id": app_id,
        "created_at": now,
        "updated_at": now,
        "event_id": event_id,
        "endpoint_id": endpoint_id,
        "status": DeliveryStatus.pending.value,
        "attempts": 0,
        "next_attempt_at": now,
        "last_status_code": None,
        "last_error": None,
    }


@dataclass(frozen=True, slots=True)
class GivenEvent:
    """An event whose id the caller chose (derived from what it is about: reminders/keys.py)."""

    id: str
    app_id: str
    type: EventType
    data: dict[str, Any]
    object_id: str | None
    happened_at: datetime


async def record_given(
    db_session: AsyncSession, events: Sequence[GivenEvent], *, now: datetime
) -> list[Event]:
    """Write events of any apps at once (the reminders worker's batch), each with its
    deliveries, as `record` does one at a time. An event whose id is already in the log was
    written before and is skipped: an event with a given id is sent at most once, however many
    times it is recorded. Returns the events written."""
    if not events:
        return []
    known = await repository.existing_event_ids(db_session, [(e.app_id, e.id) for e in events])
    fresh = [e for e in events if e.id not in known]
    if not fresh:
        return []
    objects = {(e.app_id, e.object_id) for e in fresh if e.object_id is not None}
    sequences = await repository.last_sequences(db_session, objects)
    endpoints = await repository.enabled_endpoints_of_apps(db_session, {e.app_id for e in fresh})
    written: list[Event] = []
    rows: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    for given in fresh:
        sequence = 1
        if given.object_id is not None:
            sequence = sequences.get((given.app_id, given.object_id), 0) + 1
            sequences[(given.app_id, given.object_id)] = sequence
        row = _event_row(
            given.id,
            given.app_id,
            given.type,
            given.object_id,
            sequence,
            given.data,
            given.happened_at,
            now,
        )
        rows.append(row)
        written.append(Event(**row))
        for endpoint in endpoints.get(given.app_id, []):
            if endpoint.events and given.type.value not in endpoint.events:
                continue
            deliveries.append(_delivery(given.app_id, given.id, endpoint.id, now))
    await repository.insert_events(db_session, rows)
    if deliveries:
        # The workers wake at commit: the trigger on deliveries (migration e6a2c4b8d0f1).
        await repository.insert_deliveries(db_session, deliveries)
    return written
