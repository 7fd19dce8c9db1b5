"""The transactional outbox: an event and its deliveries are rows in the caller's transaction.

Services call `record()` next to the change they make. If the transaction rolls back, the event
never existed, so nothing is sent; if it commits, the worker delivers it at least once.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.kit.timezones import utcnow
from mentorapi.webhooks import repository
from mentorapi.webhooks.models import Delivery, Event, EventType, WebhookEndpoint


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
    (event,) = await record_many(
        db_session, app_id=app_id, events=[NewEvent(type, data, object_id, created)]
    )
    return event


async def record_many(
    db_session: AsyncSession, *, app_id: str, events: Sequence[NewEvent]
) -> list[Event]:
    """`record` for several events of one app (a series' 26 bookings): the endpoints read once,
    the objects' last sequence numbers in one query, the events and the deliveries written in
    one flush each, in order."""
    if not events:
        return []
    endpoints = await repository.enabled_endpoints(db_session, app_id)
    return await _write(
        db_session,
        app_id,
        events,
        lambda type: [e for e in endpoints if not e.events or type.value in e.events],
    )


async def record_for_endpoint(
    db_session: AsyncSession,
    *,
    endpoint: WebhookEndpoint,
    type: EventType,
    data: dict[str, Any],
) -> Event:
    """An event delivered to one endpoint only (`webhook.test`)."""
    (event,) = await _write(
        db_session, endpoint.app_id, [NewEvent(type, data)], lambda _type: [endpoint]
    )
    return event


async def _write(
    db_session: AsyncSession,
    app_id: str,
    events: Sequence[NewEvent],
    endpoints_for: Callable[[EventType], list[WebhookEndpoint]],
) -> list[Event]:
    created = {e.object_id for e in events if e.created}
    asked = {e.object_id for e in events if e.object_id is not None} - created
    last = await repository.last_sequences(db_session, app_id, sorted(asked)) if asked else {}
    rows = []
    for new in events:
        sequence = 1
        if new.object_id is not None:
            sequence = last.get(new.object_id, 0) + 1
            last[new.object_id] = sequence
        rows.append(
            Event(
                app_id=app_id,
                type=new.type.value,
                object_id=new.object_id,
                sequence=sequence,
                data=new.data,
            )
        )
    db_session.add_all(rows)
    await db_session.flush()  # the event rows first: deliveries reference them
    now = utcnow()
    deliveries = [
        Delivery(app_id=app_id, event_id=event.id, endpoint_id=endpoint.id, next_attempt_at=now)
        for event, new in zip(rows, events, strict=True)
        for endpoint in endpoints_for(new.type)
    ]
    if deliveries:
        # The workers wake at commit: a trigger on deliveries NOTIFYs them (migration
        # e6a2c4b8d0f1), with no round trip of its own.
        db_session.add_all(deliveries)
        await db_session.flush()
    return rows
