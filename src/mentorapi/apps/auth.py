"""`Authorization: Bearer <api key | member token>` on every /v1 route.

- `CurrentCaller`: either credential; the services decide what the caller may do.
- `CurrentApp`: the API key only (a member token is a 403), for routes that are the app's
  servers' business: the app itself, member tokens, webhooks, events.
Both authenticate once (one query; a member token's query also resolves the member's mentor
and mentee ids), take a token from the caller's rate-limit bucket, and tell the CORS middleware
which origins the app allows.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from mentorapi.apps import cors, service
from mentorapi.apps.caller import Caller, require_api_key
from mentorapi.apps.models import AppFields
from mentorapi.apps.service import Authenticated
from mentorapi.config import Settings
from mentorapi.db.uow import DbSession, unit_of_work
from mentorapi.kit import ratelimit


def bearer_token(request: Request) -> str:
    return service.parse_bearer(request.headers.get("authorization"))


async def authenticate_request(request: Request, db_session: DbSession) -> Authenticated:
    """Also callable directly (e.g. by the GraphQL context, lazily, so GraphiQL's page loads
    without credentials): the caller, with the rate limit taken and the CORS state set."""
    found = await service.authenticate_caller(
        db_session=db_session,
        credential=bearer_token(request),
        keys=getattr(request.app.state, "key_cache", None),
    )
    request.state.app_id = found.app.id
    setattr(request.state, cors.STATE_KEY, list(found.app.cors_origins))
    settings: Settings = request.app.state.settings
    if settings.rate_limits_enabled:
        limit = (
            settings.rate_limit_per_window
            if found.caller.is_api_key
            else settings.rate_limit_member_per_window
        )
        headers = await ratelimit.enforce(
            request.app.state.rate_limiter,
            found.rate_key,
            limit,
            settings.rate_limit_window_seconds,
        )
        setattr(request.state, ratelimit.STATE_KEY, headers)
    return found


async def current_caller(found: Annotated[Authenticated, Depends(authenticate_request)]) -> Caller:
    return found.caller


async def current_app(
    found: Annotated[Authenticated, Depends(authenticate_request)],
) -> AppFields:
    require_api_key(found.caller, "this route")
    return found.app


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def lean_endpoint(
    body: Callable[..., Awaitable[Response]],
) -> Callable[[Request, dict[str, Any]], Awaitable[Response]]:
    """A lean route's handler (kit/lean.py): the unit of work and the caller that `DbSession`
    and `CurrentCaller` give the documented route, then `body(caller, db_session, **values)`."""

    async def handle(request: Request, values: dict[str, Any]) -> Response:
        async with unit_of_work(request) as db_session:
            found = await authenticate_request(request, db_session)
            return await body(found.caller, db_session, **values)

    return handle


CurrentApp = Annotated[AppFields, Depends(current_app)]
