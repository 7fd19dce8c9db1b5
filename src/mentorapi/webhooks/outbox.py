"""The transactional outbox: an event and its deliveries are rows in the caller's transaction.

Services call `record()` next to the change they make. If the transaction rolls back, the event
never existed, so nothing is sent; if it commits, the worker delivers it at least once.
"""

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.kit.timezones import utcnow
from mentorapi.webhooks import repository
from mentorapi.webhooks.models import Delivery, Event, EventType, WebhookEndpoint


async def record(
    db_session: AsyncSession,
    *,
    app_id: str,
    type: EventType,
    data: dict[str, Any],
    object_id: str | None = None,
    created: bool = False,
) -> Event:
    """Write the event and one pending delivery per enabled endpoint subscribed to its type.

    `data` must be JSON-ready (e.g. `SessionRead.model_dump(mode="json")`); for a change,
    include `previous` with the fields that changed. `created`: the object was created in this
    transaction, so this is its first event (numbered 1 without asking the database).
    """
    endpoints = [
        e
        for e in await repository.enabled_endpoints(db_session, app_id)
        if not e.events or type.value in e.events
    ]
    return await _write(db_session, app_id, type, data, object_id, endpoints, created=created)


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
    *,
    created: bool = False,
) -> Event:
    sequence = 1
    if object_id is not None and not created:
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
        # The workers wake at commit: a trigger on deliveries NOTIFYs them (migration
        # e6a2c4b8d0f1), with no round trip of its own.
        await db_session.flush()
    return event
