"""`Authorization: Bearer <api key | member token>` on every /v1 route.

- `CurrentCaller`: either credential; the services decide what the caller may do.
- `CurrentApp`: the API key only (a member token is a 403), for routes that are the app's
  servers' business: the app itself, member tokens, webhooks, events.
Both are the one admission step every face shares (`apps/admission.py`): authenticate once,
take a token from the caller's rate-limit bucket, tell the CORS middleware which origins the
caller's app allows.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from mentorapi.apps import admission
from mentorapi.apps.caller import Caller, require_api_key
from mentorapi.apps.models import AppFields
from mentorapi.apps.service import Authenticated
from mentorapi.db.uow import DbSession, unit_of_work


async def authenticate_request(request: Request, db_session: DbSession) -> Authenticated:
    """The caller, with the rate limit taken and the CORS state set."""
    return await admission.admit(request, db_session, request.headers.get("authorization"))


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
