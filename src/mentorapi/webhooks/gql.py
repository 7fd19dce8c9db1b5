"""GraphQL face of webhooks: endpoints, the event log and delivery attempts, for the app's API
key only (as in REST), over webhooks.service (no rules here)."""

from datetime import datetime, timedelta
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from mentorapi.apps.caller import require_api_key
from mentorapi.graphql.context import Info
from mentorapi.graphql.inputs import typed_id, validate
from mentorapi.graphql.relay import AFTER_DESCRIPTION, FIRST_DESCRIPTION, Connection, page_args
from mentorapi.kit.pagination import DEFAULT_LIMIT
from mentorapi.webhooks import service
from mentorapi.webhooks.models import DeliveryAttempt, Event, WebhookEndpoint
from mentorapi.webhooks.schemas import (
    RETENTION,
    DeliveryAttemptRead,
    EventListArgs,
    EventRead,
    RecoverRequest,
    WebhookEndpointCreate,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
)
from mentorapi.webhooks.service import retention_window


async def _app_id(info: Info, action: str) -> str:
    # Webhooks are the app's servers' business: a member token is refused, as by REST's
    # CurrentApp.
    require_api_key(await info.context.caller(), action)
    return await info.context.app_id()


@strawberry.type(name="WebhookEndpoint", description="Where the app receives events.")
class WebhookEndpointType:
    id: strawberry.ID
    url: str
    events: list[str] = strawberry.field(description="Event types received; empty means all.")
    description: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, endpoint: WebhookEndpoint) -> "WebhookEndpointType":
        read = WebhookEndpointRead.model_validate(endpoint)
        return cls(**{**read.model_dump(), "id": strawberry.ID(read.id)})


@strawberry.type(description="An endpoint with its signing secret: shown at creation and rotation.")
class WebhookEndpointWithSecret(WebhookEndpointType):
    secret: str

    @classmethod
    def with_secret(cls, endpoint: WebhookEndpoint) -> "WebhookEndpointWithSecret":
        read = WebhookEndpointRead.model_validate(endpoint)
        return cls(**{**read.model_dump(), "id": strawberry.ID(read.id)}, secret=endpoint.secret)


@strawberry.type(name="Event", description="One thing that happened, as sent to webhooks.")
class EventType_:
    id: strawberry.ID
    type: str
    object_id: str | None
    sequence: int = strawberry.field(description="1, 2, … per object: order by it.")
    data: JSON
    created_at: datetime

    @classmethod
    def from_model(cls, event: Event) -> "EventType_":
        read = EventRead.model_validate(event)
        return cls(**{**read.model_dump(), "id": strawberry.ID(read.id)})


@strawberry.type(name="DeliveryAttempt", description="One HTTP attempt (or an endpoint event).")
class DeliveryAttemptType:
    id: strawberry.ID
    kind: str
    delivery_id: str
    event_id: str
    event_type: str
    attempt: int
    status_code: int | None
    duration_ms: int | None
    response_excerpt: str | None
    error: str | None
    next_attempt_at: datetime | None
    created_at: datetime

    @classmethod
    def from_model(cls, attempt: DeliveryAttempt) -> "DeliveryAttemptType":
        read = DeliveryAttemptRead.model_validate(attempt)
        return cls(**{**read.model_dump(), "id": strawberry.ID(read.id)})


@strawberry.input
class CreateWebhookEndpointInput:
    url: str
    events: list[str] | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


@strawberry.input(description="Fields to change; leave one out to keep it.")
class UpdateWebhookEndpointInput:
    url: str | None = strawberry.UNSET
    events: list[str] | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


@strawberry.input
class EventFilter:
    type: str | None = None
    object_id: str | None = None


def _endpoints(
    info: Info, rows: list[WebhookEndpoint], cursor: str | None
) -> Connection[WebhookEndpointType]:
    return Connection[WebhookEndpointType].build(
        rows,
        cursor,
        node=WebhookEndpointType.from_model,
        sort="id",
        key=lambda e: [e.id],
        info=info,
    )


@strawberry.type
class Query:
    @strawberry.field(description="The app's webhook endpoints (API key only).")
    async def webhook_endpoints(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)] = DEFAULT_LIMIT,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[WebhookEndpointType]:
        page = page_args(first, after)
        app_id = await _app_id(info, "reading webhook endpoints")
        async with info.context.session() as db_session:
            rows, cursor = await service.list_endpoints(
                db_session=db_session, app_id=app_id, page=page
            )
        return _endpoints(info, rows, cursor)

    @strawberry.field
    async def webhook_endpoint(self, info: Info, id: strawberry.ID) -> WebhookEndpointType:
        endpoint_id = typed_id(id, "whe")
        app_id = await _app_id(info, "reading webhook endpoints")
        async with info.context.session() as db_session:
            endpoint = await service.get_endpoint(
                db_session=db_session, app_id=app_id, endpoint_id=endpoint_id
            )
        return WebhookEndpointType.from_model(endpoint)

    @strawberry.field(description="Delivery attempts to an endpoint, newest first. " + RETENTION)
    async def webhook_deliveries(
        self,
        info: Info,
        endpoint_id: strawberry.ID,
        first: Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)] = DEFAULT_LIMIT,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[DeliveryAttemptType]:
        page = page_args(first, after)
        whe = typed_id(endpoint_id, "whe", argument="endpointId")
        app_id = await _app_id(info, "reading webhook deliveries")
        async with info.context.session() as db_session:
            rows, cursor = await service.list_attempts(
                db_session=db_session, app_id=app_id, endpoint_id=whe, page=page
            )
        return Connection[DeliveryAttemptType].build(
            rows,
            cursor,
            node=DeliveryAttemptType.from_model,
            sort="-id",
            key=lambda a: [a.id],
            info=info,
        )

    @strawberry.field(description="The event log, newest first (API key only). " + RETENTION)
    async def events(
        self,
        info: Info,
        filter: EventFilter | None = None,
        first: Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)] = DEFAULT_LIMIT,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[EventType_]:
        page = page_args(first, after)
        args = validate(EventListArgs, filter or {}, argument="filter")
        app_id = await _app_id(info, "reading the event log")
        async with info.context.session() as db_session:
            rows, cursor = await service.list_events(
                db_session=db_session,
                app_id=app_id,
                page=page,
                type=args.type,
                object_id=args.object_id,
            )
        return Connection[EventType_].build(
            rows, cursor, node=EventType_.from_model, sort="-id", key=lambda e: [e.id], info=info
        )

    @strawberry.field(
        description="One event (API key only); a pruned one is NOT_FOUND. " + RETENTION
    )
    async def event(self, info: Info, id: strawberry.ID) -> EventType_:
        event_id = typed_id(id, "evt")
        app_id = await _app_id(info, "reading the event log")
        async with info.context.session() as db_session:
            event = await service.get_event(db_session=db_session, app_id=app_id, event_id=event_id)
        return EventType_.from_model(event)


def _retention(info: Info) -> timedelta | None:
    request = info.context.request
    return None if request is None else retention_window(request.app.state.settings)


def _allow_private(info: Info) -> bool:
    request = info.context.request  # set by strawberry's router, over HTTP and WebSocket alike
    return request is not None and bool(request.app.state.settings.webhook_allow_private_urls)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register an endpoint; the answer shows its secret once.")
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> WebhookEndpointWithSecret:
        data = validate(WebhookEndpointCreate, input)
        app_id = await _app_id(info, "managing webhooks")
        async with info.context.session() as db_session:
            endpoint = await service.create_endpoint(
                db_session=db_session, app_id=app_id, data=data, allow_private=_allow_private(info)
            )
        return WebhookEndpointWithSecret.with_secret(endpoint)

    @strawberry.mutation
    async def update_webhook_endpoint(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateWebhookEndpointInput,
        expected_version: Annotated[
            int | None, strawberry.argument(description="Like REST's If-Match.")
        ] = None,
    ) -> WebhookEndpointType:
        endpoint_id = typed_id(id, "whe")
        data = validate(WebhookEndpointUpdate, input)
        app_id = await _app_id(info, "managing webhooks")
        async with info.context.session() as db_session:
            endpoint = await service.update_endpoint(
                db_session=db_session,
                app_id=app_id,
                endpoint_id=endpoint_id,
                data=data,
                allow_private=_allow_private(info),
                expected_version=expected_version,
            )
        return WebhookEndpointType.from_model(endpoint)

    @strawberry.mutation(description="Delete an endpoint; returns its id.")
    async def delete_webhook_endpoint(
        self, info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> strawberry.ID:
        endpoint_id = typed_id(id, "whe")
        app_id = await _app_id(info, "managing webhooks")
        async with info.context.session() as db_session:
            await service.delete_endpoint(
                db_session=db_session,
                app_id=app_id,
                endpoint_id=endpoint_id,
                expected_version=expected_version,
            )
        return id

    @strawberry.mutation(description="A new secret; the old one also signs for 24 hours.")
    async def rotate_webhook_endpoint_secret(
        self, info: Info, id: strawberry.ID
    ) -> WebhookEndpointWithSecret:
        endpoint_id = typed_id(id, "whe")
        app_id = await _app_id(info, "managing webhooks")
        async with info.context.session() as db_session:
            endpoint = await service.rotate_secret(
                db_session=db_session, app_id=app_id, endpoint_id=endpoint_id
            )
        return WebhookEndpointWithSecret.with_secret(endpoint)

    @strawberry.mutation(description="Send a `webhook.test` event to this endpoint only.")
    async def test_webhook_endpoint(self, info: Info, id: strawberry.ID) -> EventType_:
        endpoint_id = typed_id(id, "whe")
        app_id = await _app_id(info, "managing webhooks")
        async with info.context.session() as db_session:
            event = await service.send_test(
                db_session=db_session, app_id=app_id, endpoint_id=endpoint_id
            )
        return EventType_.from_model(event)

    @strawberry.mutation(
        description="Queue again the deliveries that gave up, for events since (those pruned by "
        "retention are not there to re-send)."
    )
    async def recover_webhook_endpoint(self, info: Info, id: strawberry.ID, since: datetime) -> int:
        endpoint_id = typed_id(id, "whe")
        body = validate(RecoverRequest, {"since": since}, argument=None)
        app_id = await _app_id(info, "managing webhooks")
        async with info.context.session() as db_session:
            return await service.recover(
                db_session=db_session, app_id=app_id, endpoint_id=endpoint_id, since=body.since
            )

    @strawberry.mutation(
        description="Send an event again; returns how many were queued. A pruned event is "
        "NOT_FOUND; an event kept after its deliveries were pruned is GONE. " + RETENTION
    )
    async def redeliver_event(
        self, info: Info, id: strawberry.ID, endpoint_id: strawberry.ID | None = None
    ) -> int:
        event_id = typed_id(id, "evt")
        whe = typed_id(endpoint_id, "whe", argument="endpointId") if endpoint_id else None
        app_id = await _app_id(info, "managing webhooks")
        async with info.context.session() as db_session:
            return await service.redeliver(
                db_session=db_session,
                app_id=app_id,
                event_id=event_id,
                endpoint_id=whe,
                retention=_retention(info),
            )
