from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status

from mentorapi.apps.auth import CurrentApp
from mentorapi.db.uow import DbSession
from mentorapi.kit.ids import AnyId, EndpointId, EventId
from mentorapi.kit.pagination import Page, PageRequest, page_request
from mentorapi.kit.problems import problems
from mentorapi.kit.versioning import parse_if_match, set_etag
from mentorapi.webhooks import service
from mentorapi.webhooks.models import EventType, WebhookEndpoint
from mentorapi.webhooks.schemas import (
    RETENTION,
    DeliveryAttemptRead,
    DeliveryRead,
    EventRead,
    EventWithDeliveries,
    Queued,
    RecoverRequest,
    RedeliverRequest,
    WebhookEndpointCreate,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
)
from mentorapi.webhooks.service import retention_window

endpoints = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])
events = APIRouter(prefix="/v1/events", tags=["webhooks"])


def _read(endpoint: WebhookEndpoint, response: Response) -> WebhookEndpointRead:
    set_etag(response, endpoint.version)
    return WebhookEndpointRead.model_validate(endpoint)


def _with_secret(endpoint: WebhookEndpoint, response: Response) -> WebhookEndpointWithSecret:
    set_etag(response, endpoint.version)
    return WebhookEndpointWithSecret.model_validate(endpoint)


def _allow_private(request: Request) -> bool:
    return bool(request.app.state.settings.webhook_allow_private_urls)


@endpoints.get(
    "",
    operation_id="listWebhookEndpoints",
    summary="List webhook endpoints",
    responses=problems(422),
)
async def list_endpoints(
    app: CurrentApp,
    db_session: DbSession,
    page: Annotated[PageRequest, Depends(page_request)],
) -> Page[WebhookEndpointRead]:
    rows, cursor = await service.list_endpoints(db_session=db_session, app_id=app.id, page=page)
    return Page(data=[WebhookEndpointRead.model_validate(r) for r in rows], next_cursor=cursor)


@endpoints.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="createWebhookEndpoint",
    summary="Create a webhook endpoint (the response shows its secret)",
    responses=problems(422, etag=201),
)
async def create_endpoint(
    app: CurrentApp,
    db_session: DbSession,
    body: WebhookEndpointCreate,
    request: Request,
    response: Response,
) -> WebhookEndpointWithSecret:
    endpoint = await service.create_endpoint(
        db_session=db_session, app_id=app.id, data=body, allow_private=_allow_private(request)
    )
    return _with_secret(endpoint, response)


@endpoints.get(
    "/{endpoint_id}",
    operation_id="getWebhookEndpoint",
    summary="Get a webhook endpoint",
    responses=problems(404, 422, etag=200),
)
async def get_endpoint(
    app: CurrentApp, db_session: DbSession, endpoint_id: EndpointId, response: Response
) -> WebhookEndpointRead:
    endpoint = await service.get_endpoint(
        db_session=db_session, app_id=app.id, endpoint_id=endpoint_id
    )
    return _read(endpoint, response)


@endpoints.patch(
    "/{endpoint_id}",
    operation_id="updateWebhookEndpoint",
    summary="Update a webhook endpoint (enable, disable, change URL or events)",
    responses=problems(404, 412, 422, etag=200),
)
async def update_endpoint(
    app: CurrentApp,
    db_session: DbSession,
    endpoint_id: EndpointId,
    body: WebhookEndpointUpdate,
    request: Request,
    response: Response,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> WebhookEndpointRead:
    endpoint = await service.update_endpoint(
        db_session=db_session,
        app_id=app.id,
        endpoint_id=endpoint_id,
        data=body,
        allow_private=_allow_private(request),
        expected_version=expected_version,
    )
    return _read(endpoint, response)


@endpoints.delete(
    "/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteWebhookEndpoint",
    summary="Delete a webhook endpoint and its delivery log",
    responses=problems(404, 412, 422),
)
async def delete_endpoint(
    app: CurrentApp,
    db_session: DbSession,
    endpoint_id: EndpointId,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> None:
    await service.delete_endpoint(
        db_session=db_session,
        app_id=app.id,
        endpoint_id=endpoint_id,
        expected_version=expected_version,
    )


@endpoints.post(
    "/{endpoint_id}/rotate-secret",
    operation_id="rotateWebhookEndpointSecret",
    summary="Rotate the signing secret; the old one also signs for 24 hours",
    responses=problems(404, 422, etag=200),
)
async def rotate_secret(
    app: CurrentApp, db_session: DbSession, endpoint_id: EndpointId, response: Response
) -> WebhookEndpointWithSecret:
    endpoint = await service.rotate_secret(
        db_session=db_session, app_id=app.id, endpoint_id=endpoint_id
    )
    return _with_secret(endpoint, response)


@endpoints.post(
    "/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="testWebhookEndpoint",
    summary="Send a webhook.test event to this endpoint only",
    responses=problems(404, 409, 422),
)
async def send_test(app: CurrentApp, db_session: DbSession, endpoint_id: EndpointId) -> EventRead:
    event = await service.send_test(db_session=db_session, app_id=app.id, endpoint_id=endpoint_id)
    return EventRead.model_validate(event)


@endpoints.post(
    "/{endpoint_id}/recover",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="recoverWebhookEndpoint",
    summary="Send again every delivery that failed, for events since a time",
    description="Deliveries pruned by retention are not re-sent. " + RETENTION,
    responses=problems(404, 409, 422),
)
async def recover(
    app: CurrentApp, db_session: DbSession, endpoint_id: EndpointId, body: RecoverRequest
) -> Queued:
    count = await service.recover(
        db_session=db_session, app_id=app.id, endpoint_id=endpoint_id, since=body.since
    )
    return Queued(queued=count)


@endpoints.get(
    "/{endpoint_id}/deliveries",
    operation_id="listWebhookDeliveries",
    summary="The endpoint's delivery log: every attempt, newest first",
    description=RETENTION,
    responses=problems(404, 422),
)
async def list_attempts(
    app: CurrentApp,
    db_session: DbSession,
    endpoint_id: EndpointId,
    page: Annotated[PageRequest, Depends(page_request)],
    event_id: Annotated[EventId | None, Query(description="Only attempts for this event.")] = None,
) -> Page[DeliveryAttemptRead]:
    rows, cursor = await service.list_attempts(
        db_session=db_session, app_id=app.id, endpoint_id=endpoint_id, page=page, event_id=event_id
    )
    return Page(data=[DeliveryAttemptRead.model_validate(r) for r in rows], next_cursor=cursor)


@events.get(
    "", summary="The event log, newest first", description=RETENTION, responses=problems(422)
)
async def list_events(
    app: CurrentApp,
    db_session: DbSession,
    page: Annotated[PageRequest, Depends(page_request)],
    type: Annotated[EventType | None, Query(description="Only events of this type.")] = None,
    object_id: Annotated[AnyId | None, Query(description="Only events about this object.")] = None,
) -> Page[EventRead]:
    rows, cursor = await service.list_events(
        db_session=db_session, app_id=app.id, page=page, type=type, object_id=object_id
    )
    return Page(data=[EventRead.model_validate(r) for r in rows], next_cursor=cursor)


@events.get(
    "/{event_id}",
    summary="An event and the state of its deliveries",
    description=RETENTION + " A pruned event is a 404.",
    responses=problems(404, 422),
)
async def get_event(
    app: CurrentApp, db_session: DbSession, event_id: EventId
) -> EventWithDeliveries:
    event = await service.get_event(db_session=db_session, app_id=app.id, event_id=event_id)
    deliveries = await service.event_deliveries(db_session=db_session, app_id=app.id, event=event)
    return EventWithDeliveries(
        **EventRead.model_validate(event).model_dump(),
        deliveries=[DeliveryRead.model_validate(d) for d in deliveries],
    )


@events.post(
    "/{event_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="redeliverEvent",
    summary="Send an event again to the enabled endpoints it went to",
    description=RETENTION
    + " A pruned event is a 404; an event kept after its deliveries were pruned is a 410.",
    responses=problems(404, 409, 410, 422),
)
async def redeliver(
    request: Request,
    app: CurrentApp,
    db_session: DbSession,
    event_id: EventId,
    body: Annotated[RedeliverRequest | None, Body()] = None,
) -> Queued:
    count = await service.redeliver(
        db_session=db_session,
        app_id=app.id,
        event_id=event_id,
        endpoint_id=body.endpoint_id if body else None,
        retention=retention_window(request.app.state.settings),
    )
    return Queued(queued=count)


router = APIRouter()
router.include_router(endpoints)
router.include_router(events)
