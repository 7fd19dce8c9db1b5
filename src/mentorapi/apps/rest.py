from datetime import timedelta

from fastapi import APIRouter, status

from mentorapi.apps import service
from mentorapi.apps.auth import CurrentApp, CurrentCaller
from mentorapi.apps.models import AppFields
from mentorapi.apps.schemas import (
    AppRead,
    AppUpdate,
    MemberTokenCreate,
    MemberTokenRead,
    TokenSecretRead,
    TokenSecretRotate,
)
from mentorapi.db.uow import DbSession
from mentorapi.kit.problems import problems

router = APIRouter(prefix="/v1", tags=["app"])


def _read(app: AppFields) -> AppRead:
    return AppRead(
        id=app.id, name=app.name, cors_origins=app.cors_origins, created_at=app.created_at
    )


@router.get("/app", summary="The calling client app", responses=problems(403))
async def get_app(app: CurrentApp) -> AppRead:
    # CurrentApp: the API key only (403 for a member token), and the row it already loaded.
    return _read(app)


@router.patch(
    "/app", summary="Change the app's settings (CORS origins)", responses=problems(403, 422)
)
async def update_app(caller: CurrentCaller, db_session: DbSession, body: AppUpdate) -> AppRead:
    app = await service.update_app(
        db_session=db_session, app_id=caller.app_id, actor=caller, data=body
    )
    return _read(app)


@router.post(
    "/app/rotate-token-secret",
    summary="Rotate the secret that signs member tokens",
    description="Returns the new secret once. Tokens signed with the previous secret keep "
    "working for `grace_seconds` (default 24 h, the longest a token lives).",
    responses=problems(403, 422),
)
async def rotate_token_secret(
    caller: CurrentCaller, db_session: DbSession, body: TokenSecretRotate | None = None
) -> TokenSecretRead:
    grace = timedelta(seconds=(body or TokenSecretRotate()).grace_seconds)
    app = await service.rotate_token_secret(
        db_session=db_session, app_id=caller.app_id, actor=caller, grace=grace
    )
    return TokenSecretRead(
        token_secret=app.token_secret, previous_expires_at=app.previous_token_secret_expires_at
    )


@router.post(
    "/member-tokens",
    status_code=status.HTTP_201_CREATED,
    operation_id="createMemberToken",
    summary="Mint a member token",
    description="A short-lived token (HS256 JWT) that acts as one member, for calls from a "
    "phone or a browser. The member must exist (a mentor and/or mentee profile with that "
    "`external_id`).",
    responses=problems(403, 422),
)
async def mint_member_token(
    caller: CurrentCaller, db_session: DbSession, body: MemberTokenCreate
) -> MemberTokenRead:
    minted = await service.mint_member_token(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        external_id=body.external_id,
        role=body.role,
        ttl=timedelta(seconds=body.ttl_seconds),
    )
    return MemberTokenRead(token=minted.token, expires_at=minted.expires_at)
