"""Request and response shapes of webhook endpoints, the event log and delivery attempts."""

from datetime import datetime
from typing import Annotated, Any

import httpx
from pydantic import AnyUrl, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.config import JsonDict

from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.fields import shown
from mentorapi.kit.ids import (
    AnyId,
    AnyIdOut,
    AttemptIdOut,
    DeliveryIdOut,
    EndpointId,
    EndpointIdOut,
    EventIdOut,
)
from mentorapi.kit.timezones import as_utc
from mentorapi.webhooks.models import AttemptKind, DeliveryStatus, EventType
from mentorapi.webhooks.transport import literal_address

MAX_URL_LENGTH = 2048
# The scheme `_check_url` requires (any case).
URL_PATTERN = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://"


def _check_url(value: str) -> str:
    """http(s), a host, at most 2048 characters. Reachability is not checked: an endpoint may
    be created before its receiver is up."""
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        url = AnyUrl(value)
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {value[:100]!r}") from exc
    if url.scheme not in ("http", "https") or not value.lower().startswith(("http://", "https://")):
        raise ValueError("the URL must start with http:// or https://")
    if not url.host:
        raise ValueError("the URL needs a host")
    if url.username or url.password:
        raise ValueError("credentials in the URL are not allowed; verify the signature instead")
    _check_host(value, url.host)
    return value


def _check_host(value: str, canonical: str) -> None:
    """The host must read the same to every URL parser: the one that validates here (WHATWG,
    which reads `0177.0.0.1`, `0x7f.1`, `2130706433`, `127.1` and fullwidth digits as 127.0.0.1)
    and the one that delivers (httpx, which reads them otherwise or not at all). An endpoint
    whose host is not written canonically is refused now rather than failing at delivery,
    and no check of its address can be fooled by a form only one parser understands."""
    try:
        delivered = httpx.URL(value).raw_host.decode("ascii").lower()
    except (httpx.InvalidURL, UnicodeError) as exc:
        delivered, why = "", str(exc)
    else:
        why = f"as written, some clients read it as {delivered[:100]!r}"
    as_written, as_read = literal_address(delivered), literal_address(canonical)
    same = as_written == as_read if as_read is not None else delivered == canonical
    if not same:
        raise ValueError(f"write the URL's host canonically, as {canonical!r} ({why})")


Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    Field(
        description=f"An http(s) URL of at most {MAX_URL_LENGTH} characters, without credentials.",
        examples=["https://example.com/webhooks/mentorapi"],
    ),
    shown(format="uri", maxLength=MAX_URL_LENGTH, pattern=URL_PATTERN),
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
EventTypes = Annotated[
    list[EventType],
    Field(
        max_length=len(EventType),
        description="The event types to receive; empty means every type.",
        examples=[["session.booked", "session.cancelled"]],
    ),
]


def _unique(types: list[EventType]) -> list[EventType]:
    return list(dict.fromkeys(types))


class WebhookEndpointCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.acme-learning.example/mentorapi",
                    "events": ["session.booked", "session.cancelled", "feedback.submitted"],
                    "description": "Calendar sync",
                    "enabled": True,
                }
            ]
        }
    )

    url: Url
    events: EventTypes = Field(default_factory=list)
    description: Description = ""
    enabled: bool = True

    _url = field_validator("url")(_check_url)
    _events = field_validator("events")(_unique)


class WebhookEndpointUpdate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"enabled": False}]})

    url: Url | None = None
    events: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[EventType] | None) -> list[EventType] | None:
        return None if value is None else _unique(value)


ENDPOINT_EXAMPLE: JsonDict = {
    "id": ex.ENDPOINT_ID,
    "url": "https://hooks.acme-learning.example/mentorapi",
    "events": ["session.booked", "session.cancelled", "feedback.submitted"],
    "description": "Calendar sync",
    "enabled": True,
    "disabled_reason": None,
    "failing_since": None,
    "previous_secret_expires_at": None,
    "version": 1,
    "created_at": ex.CREATED_AT,
    "updated_at": ex.CREATED_AT,
}


class WebhookEndpointRead(ResponseBody):
    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [ENDPOINT_EXAMPLE]}
    )

    id: EndpointIdOut
    url: str
    events: list[EventType]
    description: str
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why mentorapi disabled the endpoint (410 Gone, five days of failures)."
    )
    failing_since: datetime | None = Field(
        description="First failure since the last success; five days of failures disable it."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the secret before the last rotation signs too."
    )
    version: int
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpointRead):
    """Shown at creation and at rotation only."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]
        }
    )

    secret: str = Field(
        description="`whsec_<base64>`: verify each delivery's signature with it.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


# What the event log and the delivery log keep (retention.py), in every place that shows them.
RETENTION = (
    "Kept for the retention window (`MENTORAPI_WEBHOOK_RETENTION_DAYS`, 30 days by default): "
    "a delivery that succeeded or gave up is pruned, with its attempts, that long after it "
    "ended, and an event once it is that old and none of its deliveries is left. The latest "
    "event of each object is kept whatever its age, so its `sequence` goes on."
)


class RecoverRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"since": "2026-11-23T00:00:00Z"}]})

    since: datetime = Field(
        description="Re-send deliveries that failed for events since then (those pruned by "
        "retention, over for longer than its window, are not there to re-send)."
    )

    _since = field_validator("since")(as_utc)


class RedeliverRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"endpoint_id": ex.ENDPOINT_ID}]})

    endpoint_id: Annotated[
        EndpointId | None, Field(description="Only to this endpoint; default: all.")
    ] = None


class Queued(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"queued": 3}]})

    queued: int = Field(description="How many deliveries were queued.")


EVENT_EXAMPLE: JsonDict = {
    "id": ex.EVENT_ID,
    "type": "session.booked",
    "object_id": ex.SESSION_ID,
    "sequence": 2,
    "data": {"id": ex.SESSION_ID, "status": "booked", "previous": {"status": "requested"}},
    "created_at": "2026-11-24T16:03:10Z",
}
DELIVERY_EXAMPLE: JsonDict = {
    "id": ex.DELIVERY_ID,
    "endpoint_id": ex.ENDPOINT_ID,
    "status": "succeeded",
    "attempts": 1,
    "next_attempt_at": None,
    "last_status_code": 204,
    "last_error": None,
}


class EventRead(ResponseBody):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [EVENT_EXAMPLE]})

    id: EventIdOut
    type: EventType
    object_id: AnyIdOut | None
    sequence: int = Field(description="1, 2, … per object: order events of one object by it.")
    data: dict[str, Any]
    created_at: datetime


class DeliveryRead(ResponseBody):
    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [DELIVERY_EXAMPLE]}
    )

    id: DeliveryIdOut
    endpoint_id: EndpointIdOut
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None


class EventWithDeliveries(EventRead):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**EVENT_EXAMPLE, "deliveries": [DELIVERY_EXAMPLE]}]}
    )

    deliveries: list[DeliveryRead]


class DeliveryAttemptRead(ResponseBody):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": ex.ATTEMPT_ID,
                    "kind": "attempt",
                    "delivery_id": ex.DELIVERY_ID,
                    "event_id": ex.EVENT_ID,
                    "event_type": "session.booked",
                    "attempt": 1,
                    "status_code": 204,
                    "duration_ms": 87,
                    "response_excerpt": "",
                    "error": None,
                    "next_attempt_at": None,
                    "created_at": "2026-11-24T16:03:11Z",
                }
            ]
        },
    )

    id: AttemptIdOut
    kind: AttemptKind = Field(description="`attempt` (one HTTP request) or `endpoint.disabled`.")
    delivery_id: DeliveryIdOut
    event_id: EventIdOut
    event_type: EventType
    attempt: int
    status_code: int | None
    duration_ms: int | None
    response_excerpt: str | None = Field(description="The first kilobyte of the response body.")
    error: str | None
    next_attempt_at: datetime | None
    created_at: datetime


class EventListArgs(BaseModel):
    """The filters of the event log: REST's query parameters and GraphQL's `EventFilter`."""

    type: EventType | None = None
    object_id: AnyId | None = None
