"""Request and response shapes of webhook endpoints, the event log and delivery attempts."""

from datetime import datetime
from typing import Annotated, Any

import httpx
from pydantic import AnyUrl, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from mentorapi.kit.ids import AnyId, EndpointId
from mentorapi.kit.timezones import as_utc
from mentorapi.webhooks.models import EventType
from mentorapi.webhooks.transport import literal_address

MAX_URL_LENGTH = 2048


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
    Field(examples=["https://example.com/webhooks/mentorapi"]),
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


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    events: EventTypes = []
    description: Description = ""
    enabled: bool = True

    _url = field_validator("url")(_check_url)
    _events = field_validator("events")(_unique)


class WebhookEndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

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


class WebhookEndpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    events: list[str]
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

    secret: str = Field(
        description="`whsec_<base64>`: verify each delivery's signature with it.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class RecoverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime = Field(description="Re-send deliveries that failed for events since then.")

    _since = field_validator("since")(as_utc)


class RedeliverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint_id: Annotated[
        EndpointId | None, Field(description="Only to this endpoint; default: all.")
    ] = None


class Queued(BaseModel):
    queued: int = Field(description="How many deliveries were queued.")


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    type: str
    object_id: str | None
    sequence: int = Field(description="1, 2, … per object: order events of one object by it.")
    data: dict[str, Any]
    created_at: datetime


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    endpoint_id: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None


class EventWithDeliveries(EventRead):
    deliveries: list[DeliveryRead]


class DeliveryAttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str = Field(description="`attempt` (one HTTP request) or `endpoint.disabled`.")
    delivery_id: str
    event_id: str
    event_type: str
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
