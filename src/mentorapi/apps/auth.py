"""`Authorization: Bearer <api key>` on every /v1 route."""

from typing import Annotated

from fastapi import Depends, Request

from mentorapi.apps import service
from mentorapi.apps.models import App
from mentorapi.config import Settings
from mentorapi.db.uow import DbSession
from mentorapi.kit.errors import Unauthenticated


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated(
            "missing Authorization header: send 'Authorization: Bearer <api key>'"
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <api key>'")
    return token.strip()


async def current_app(request: Request, db_session: DbSession) -> App:
    settings: Settings = request.app.state.settings
    app = await service.authenticate(
        db_session=db_session,
        api_key=bearer_token(request),
        cache_seconds=settings.api_key_cache_seconds,
    )
    if app is None:
        raise Unauthenticated("the API key is unknown, revoked or expired")
    request.state.app_id = app.id
    return app


CurrentApp = Annotated[App, Depends(current_app)]
