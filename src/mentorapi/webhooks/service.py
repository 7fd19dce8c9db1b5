"""Webhook endpoints, secret rotation, test events, recovery and the event log."""

from datetime import datetime, timedelta

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.config import Settings
from mentorapi.db.integrity import flush_or_conflict
from mentorapi.kit.errors import Conflict, Gone, InvalidInput, NotFound
from mentorapi.kit.ids import id_kind
from mentorapi.kit.pagination import PageRequest
from mentorapi.kit.timezones import utcnow
from mentorapi.kit.versioning import check_version
from mentorapi.webhooks import outbox, repository
from mentorapi.webhooks.models import (
    Delivery,
    DeliveryAttempt,
    Event,
    EventType,
    WebhookEndpoint,
)
from mentorapi.webhooks.schemas import WebhookEndpointCreate, WebhookEndpointUpdate
from mentorapi.webhooks.signing import new_secret
from mentorapi.webhooks.transport import blocked_reason, literal_address

# After a rotation the old secret keeps signing for this long, so receivers can switch over.
ROTATION_OVERLAP = timedelta(hours=24)


def retention_window(settings: Settings) -> timedelta:
    """How long deliveries that are over, and events without deliveries, are kept."""
    return timedelta(days=settings.webhook_retention_days)


async def get_endpoint(
    *, db_session: AsyncSession, app_id: str, endpoint_id: str, lock: bool = False
) -> WebhookEndpoint:
    endpoint = await repository.get_endpoint(db_session, app_id, endpoint_id, lock=lock)
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return endpoint


async def list_endpoints(
    *, db_session: AsyncSession, app_id: str, page: PageRequest
) -> tuple[list[WebhookEndpoint], str | None]:
    return await repository.list_endpoints(db_session, app_id, page)


def check_destination(url: str, *, allow_private: bool) -> None:
    """A URL whose host is an internal IP address, written as one, is refused when it is
    created (a 422), as the delivery would be (transport.py checks every resolved address, so a
    name that resolves inward is refused then: its answer may change)."""
    if allow_private:
        return
    address = literal_address(httpx.URL(url).host)
    reason = blocked_reason(address) if address is not None else None
    if reason is not None:
        raise InvalidInput(
            f"webhooks are not delivered to internal addresses: {reason}", loc=["body", "url"]
        )


async def create_endpoint(
    *, db_session: AsyncSession, app_id: str, data: WebhookEndpointCreate, allow_private: bool
) -> WebhookEndpoint:
    check_destination(data.url, allow_private=allow_private)
    endpoint = WebhookEndpoint(
        app_id=app_id,
        url=data.url,
        events=[e.value for e in data.events],
        description=data.description,
        enabled=data.enabled,
        secret=new_secret(),
    )
    db_session.add(endpoint)
    await flush_or_conflict(db_session, "the webhook endpoint could not be created")
    return endpoint


async def update_endpoint(
    *,
    db_session: AsyncSession,
    app_id: str,
    endpoint_id: str,
    data: WebhookEndpointUpdate,
    allow_private: bool,
    expected_version: int | None = None,
) -> WebhookEndpoint:
    if data.url is not None:
        check_destination(data.url, allow_private=allow_private)
    endpoint = await get_endpoint(db_session=db_session, app_id=app_id, endpoint_id=endpoint_id)
    check_version(endpoint.version, expected_version, "the webhook endpoint")
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    if "events" in changes:
        changes["events"] = [EventType(e).value for e in changes["events"]]
    if not changes:
        return endpoint
    now = utcnow()
    if changes.get("enabled") is False and endpoint.enabled:
        await repository.fail_pending(db_session, app_id, endpoint.id, "endpoint disabled", now)
    if changes.get("enabled") is True and not endpoint.enabled:
        # A fresh start: the five-day failure clock and our reason for disabling are reset.
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    for field, value in changes.items():
        setattr(endpoint, field, value)
    endpoint.version += 1
    endpoint.updated_at = now
    db_session.add(endpoint)
    await flush_or_conflict(db_session, "the webhook endpoint could not be updated")
    return endpoint


async def delete_endpoint(
    *,
    db_session: AsyncSession,
    app_id: str,
    endpoint_id: str,
    expected_version: int | None = None,
) -> None:
    endpoint = await get_endpoint(
        db_session=db_session, app_id=app_id, endpoint_id=endpoint_id, lock=True
    )
    check_version(endpoint.version, expected_version, "the webhook endpoint")
    await repository.delete_endpoint(db_session, endpoint)


async def rotate_secret(
    *, db_session: AsyncSession, app_id: str, endpoint_id: str
) -> WebhookEndpoint:
    """A new secret signs from now on; the current one keeps signing (a second signature in
    `webhook-signature`) for 24 hours, so receivers can deploy the new one without a gap."""
    endpoint = await get_endpoint(db_session=db_session, app_id=app_id, endpoint_id=endpoint_id)
    now = utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    endpoint.version += 1
    endpoint.updated_at = now
    db_session.add(endpoint)
    await db_session.flush()
    return endpoint


async def send_test(*, db_session: AsyncSession, app_id: str, endpoint_id: str) -> Event:
    endpoint = await get_endpoint(db_session=db_session, app_id=app_id, endpoint_id=endpoint_id)
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled: enable it first")
    return await outbox.record_for_endpoint(
        db_session,
        endpoint=endpoint,
        type=EventType.webhook_test,
        data={"endpoint_id": endpoint.id, "message": "a test event from mentorapi"},
    )


async def recover(
    *, db_session: AsyncSession, app_id: str, endpoint_id: str, since: datetime
) -> int:
    """Queue again every delivery to this endpoint that gave up, for events since `since`."""
    endpoint = await get_endpoint(db_session=db_session, app_id=app_id, endpoint_id=endpoint_id)
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled: enable it first, then recover")
    now = utcnow()
    if since > now:
        raise InvalidInput("since is in the future", loc=["body", "since"])
    count = await repository.requeue_failed_since(db_session, app_id, endpoint.id, since, now)
    if count:
        await repository.notify_workers(db_session)
    return count


async def list_attempts(
    *,
    db_session: AsyncSession,
    app_id: str,
    endpoint_id: str,
    page: PageRequest,
    event_id: str | None = None,
) -> tuple[list[DeliveryAttempt], str | None]:
    await get_endpoint(db_session=db_session, app_id=app_id, endpoint_id=endpoint_id)
    return await repository.list_attempts(db_session, app_id, endpoint_id, page, event_id=event_id)


async def get_event(*, db_session: AsyncSession, app_id: str, event_id: str) -> Event:
    event = await repository.get_event(db_session, app_id, event_id)
    if event is None:
        raise NotFound(
            f"no event {event_id}: unknown, or pruned once older than the retention window "
            "(MENTORAPI_WEBHOOK_RETENTION_DAYS, 30 days by default)"
        )
    return event


async def list_events(
    *,
    db_session: AsyncSession,
    app_id: str,
    page: PageRequest,
    type: EventType | None = None,
    object_id: str | None = None,
) -> tuple[list[Event], str | None]:
    return await repository.list_events(
        db_session,
        app_id,
        page,
        type=type.value if type is not None else None,
        object_id=object_id,
    )


async def redeliver(
    *,
    db_session: AsyncSession,
    app_id: str,
    event_id: str,
    endpoint_id: str | None = None,
    retention: timedelta | None = None,
) -> int:
    """Send an event again to the enabled endpoints it went to (or to one of them). An event
    older than `retention` whose deliveries are gone (retention pruned them; the event itself
    is kept as its object's latest) is a 410, as is one whose deliveries are pruned while
    this runs: there is nothing left to send again."""
    event = await get_event(db_session=db_session, app_id=app_id, event_id=event_id)
    if endpoint_id is not None and id_kind(endpoint_id) != "whe":
        raise InvalidInput("expected a webhook endpoint id (whe_…)", loc=["body", "endpoint_id"])
    endpoints = await repository.endpoints_with_delivery(db_session, app_id, event.id)
    if not endpoints and retention is not None and event.created_at < utcnow() - retention:
        raise _deliveries_pruned(event, retention)
    if endpoint_id is not None:
        endpoints = [e for e in endpoints if e.id == endpoint_id]
        if not endpoints:
            raise NotFound(f"event {event.id} was never sent to {endpoint_id}")
    targets = [e.id for e in endpoints if e.enabled]
    if endpoints and not targets:
        raise Conflict("every endpoint this event went to is disabled")
    count = await repository.requeue_event(db_session, app_id, event.id, targets, utcnow())
    if targets and not count:
        # They were there when read, and a prune took them before the update could.
        raise _deliveries_pruned(event, retention)
    if count:
        await repository.notify_workers(db_session)
    return count


def _deliveries_pruned(event: Event, retention: timedelta | None) -> Gone:
    window = f"{retention.days} days" if retention is not None else "the retention window"
    return Gone(
        f"the deliveries of event {event.id} ended more than {window} ago and were pruned "
        "(MENTORAPI_WEBHOOK_RETENTION_DAYS): there is nothing left to send again"
    )


async def event_deliveries(
    *, db_session: AsyncSession, app_id: str, event: Event
) -> list[Delivery]:
    return await repository.deliveries_of_event(db_session, app_id, event.id)
