"""The transactional outbox: an event and its deliveries are rows in the caller's transaction.

Services call `record()` next to the change they make. If the transaction rolls back, the event
never existed, so nothing is sent; if it commits, the worker delivers it at least once.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.kit.ids import new_id
from mentorapi.kit.timezones import utcnow
from mentorapi.webhooks import repository
from mentorapi.webhooks.models import Delivery, DeliveryStatus, Event, EventType, WebhookEndpoint


async def record(
    db_session: AsyncSession,
    *,
    app_id: str,
    type: EventType,
    data: dict[str, Any],
    object_id: str | None = None,
) -> Event:
    """Write the event and one pending delivery per enabled endpoint subscribed to its type.

    `data` must be JSON-ready (e.g. `SessionRead.model_dump(mode="json")`); for a change,
    include `previous` with the fields that changed.
    """
    endpoints = [
        e
        for e in await repository.enabled_endpoints(db_session, app_id)
        if not e.events or type.value in e.events
    ]
    return await _write(db_session, app_id, type, data, object_id, endpoints)


async def record_for_endpoint(
    db_session: AsyncSession,
    *,
    endpoint: WebhookEndpoint,
    type: EventType,
    data: dict[str, Any],
) -> Event:
    """An event delivered to one endpoint only (`webhook.test`)."""
    return await _write(db_session, endpoint.app_id, type, data, None, [endpoint])


async def _write(
    db_session: AsyncSession,
    app_id: str,
    type: EventType,
    data: dict[str, Any],
    object_id: str | None,
    endpoints: list[WebhookEndpoint],
) -> Event:
    sequence = 1
    if object_id is not None:
        sequence = await repository.last_sequence(db_session, app_id, object_id) + 1
    event = Event(app_id=app_id, type=type.value, object_id=object_id, sequence=sequence, data=data)
    db_session.add(event)
    await db_session.flush()  # the event row first: deliveries reference it
    now = utcnow()
    for endpoint in endpoints:
        db_session.add(
            Delivery(app_id=app_id, event_id=event.id, endpoint_id=endpoint.id, next_attempt_at=now)
        )
    if endpoints:
        await db_session.flush()
        await repository.notify_workers(db_session)
    return event


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
    deliveries: list[dict[str, Any]] = []
    for given in fresh:
        sequence = 1
        if given.object_id is not None:
            sequence = sequences.get((given.app_id, given.object_id), 0) + 1
            sequences[(given.app_id, given.object_id)] = sequence
        written.append(
            Event(
                id=given.id,
                app_id=given.app_id,
                type=given.type.value,
                object_id=given.object_id,
                sequence=sequence,
                data=given.data,
                created_at=given.happened_at,
                updated_at=now,
            )
        )
        for endpoint in endpoints.get(given.app_id, []):
            if endpoint.events and given.type.value not in endpoint.events:
                continue
            deliveries.append(
                {
                    "id": new_id("dlv"),
                    "app_id": given.app_id,
                    "created_at": now,
                    "updated_at": now,
                    "event_id": given.id,
                    "endpoint_id": endpoint.id,
                    "status": DeliveryStatus.pending.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_status_code": None,
                    "last_error": None,
                }
            )
    # Through the ORM: on SQLite the subscription feed (graphql/feed.py) hears new event rows
    # at flush; on PostgreSQL a trigger announces them at commit.
    db_session.add_all(written)
    await db_session.flush()
    if deliveries:
        await repository.insert_deliveries(db_session, deliveries)
        await repository.notify_workers(db_session)
    return written
