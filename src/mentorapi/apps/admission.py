"""How a request is admitted: one step, the same whichever face it comes through.

REST routes (the `CurrentCaller` and `CurrentApp` dependencies), lean routes, GraphQL over HTTP
and GraphQL over WebSocket (at `connection_init`, for every operation, and again before every
subscription message) all come here; no face authenticates or rate-limits on its own.
The body limit is counted before any of this, for every route (`limits.BodySizeLimit`).

1. `identify`: the credential (`Authorization: Bearer <api key | member token>`) to the caller,
   a member token's signature checked before anything it claims is trusted; the CORS middleware
   learns the caller's own app's origins.
2. `spend`: one token from the caller's rate-limit bucket (one per API key, one per member,
   shared by both faces), with the `RateLimit-*` headers for the response, or a 429 with
   `Retry-After`.
"""

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection

from mentorapi.apps import cors, service
from mentorapi.apps.service import Authenticated
from mentorapi.config import Settings
from mentorapi.kit import ratelimit
from mentorapi.kit.errors import TooManyRequests


async def identify(
    connection: HTTPConnection, db_session: AsyncSession, authorization: str | None
) -> Authenticated:
    """The caller of an `Authorization` header value (a 401 `Unauthenticated` otherwise)."""
    found = await service.authenticate_caller(
        db_session=db_session,
        credential=service.parse_bearer(authorization),
        keys=getattr(connection.app.state, "key_cache", None),
    )
    connection.state.app_id = found.app.id
    setattr(connection.state, cors.STATE_KEY, list(found.app.cors_origins))
    return found


async def spend(connection: HTTPConnection, found: Authenticated) -> None:
    """Take a token from the caller's bucket; the headers go on the response either way."""
    settings: Settings = connection.app.state.settings
    if not settings.rate_limits_enabled:
        return
    limit = (
        settings.rate_limit_per_window
        if found.caller.is_api_key
        else settings.rate_limit_member_per_window
    )
    try:
        headers = await ratelimit.enforce(
            connection.app.state.rate_limiter,
            found.rate_key,
            limit,
            settings.rate_limit_window_seconds,
        )
    except TooManyRequests as refused:
        # GraphQL answers with a body of its own: the headers reach it through the state.
        setattr(connection.state, ratelimit.STATE_KEY, refused.headers)
        raise
    setattr(connection.state, ratelimit.STATE_KEY, headers)


async def admit(
    connection: HTTPConnection, db_session: AsyncSession, authorization: str | None
) -> Authenticated:
    """`identify`, then `spend`: a request, or a GraphQL operation."""
    found = await identify(connection, db_session, authorization)
    await spend(connection, found)
    return found
