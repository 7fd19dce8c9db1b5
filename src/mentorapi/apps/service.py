"""Client apps and API keys: create, rotate without downtime, revoke."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps import repository, tokens
from mentorapi.apps.caller import Caller, Member, Role, require_api_key
from mentorapi.apps.keycache import KeyCache
from mentorapi.apps.models import ApiKey, App, AppFields, new_token_secret
from mentorapi.apps.schemas import AppUpdate
from mentorapi.kit.errors import InvalidInput, NotFound, Unauthenticated
from mentorapi.kit.timezones import utcnow

KEY_PREFIX = "mk_"


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


async def create_key(*, db_session: AsyncSession, app_id: str) -> IssuedKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(app_id=app_id, key_hash=hash_key(secret), prefix=secret[:10])
    db_session.add(key)
    await db_session.flush()
    return IssuedKey(key=key, secret=secret)


async def create_app(*, db_session: AsyncSession, name: str) -> tuple[App, IssuedKey]:
    app = App(name=name.strip()[:200] or "app")
    db_session.add(app)
    await db_session.flush()
    return app, await create_key(db_session=db_session, app_id=app.id)


async def rotate_key(
    *, db_session: AsyncSession, app_id: str, grace: timedelta = timedelta(hours=24)
) -> IssuedKey:
    """A new key now; every other live key keeps working for `grace`, then lapses by itself."""
    if await repository.get_app(db_session, app_id) is None:
        raise NotFound(f"no app {app_id}")
    issued = await create_key(db_session=db_session, app_id=app_id)
    await repository.expire_live_keys(db_session, app_id, utcnow() + grace, keep=issued.key.id)
    return issued


async def revoke_key(*, db_session: AsyncSession, key_id: str) -> ApiKey:
    key = await repository.get_key(db_session, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db_session.add(key)
        await db_session.flush()
    return key


async def authenticate(
    *, db_session: AsyncSession, api_key: str, keys: KeyCache | None = None
) -> AppFields | None:
    """The app of a live key; from `keys` when this process has seen the key (and nothing
    about apps or keys changed since), else from the database."""
    found = await _live_key(db_session=db_session, api_key=api_key, keys=keys)
    return found[0] if found is not None else None


async def _live_key(
    *, db_session: AsyncSession, api_key: str, keys: KeyCache | None
) -> tuple[AppFields, datetime | None] | None:
    """The app of a live key and the key's expiry."""
    if not api_key.startswith(KEY_PREFIX) or len(api_key) > 128:
        return None
    key_hash, now = hash_key(api_key), utcnow()
    if keys is not None:
        remembered = keys.entry(key_hash, now)
        if remembered is not None:
            return remembered.app, remembered.expires_at
        generation = keys.generation()
    found = await repository.live_key(db_session, key_hash, now)
    if found is None:
        return None
    if keys is not None:
        keys.keep(key_hash, found.app, found.expires_at, generation)
    return found.app, found.expires_at


# --- the caller of a request -------------------------------------------------------------------


@dataclass(frozen=True)
class Authenticated:
    caller: Caller
    app: AppFields
    # Whose bucket a request draws on: one per API key, one per member.
    rate_key: str
    # When the credential lapses by itself (a key's end of grace, a token's `exp`): a
    # long-lived connection (a subscription) checks it on every message.
    expires_at: datetime | None = None


def parse_bearer(header: str | None) -> str:
    """The credential of an `Authorization: Bearer …` header (REST, GraphQL over HTTP and
    WebSocket, the idempotency middleware all read it here); a 401 otherwise."""
    if not header:
        raise Unauthenticated(
            "missing Authorization header: send 'Authorization: Bearer <api key or member token>'"
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <api key or member token>'")
    return token.strip()


async def authenticate_caller(
    *, db_session: AsyncSession, credential: str, keys: KeyCache | None = None
) -> Authenticated:
    """An API key or a member token -> the caller; one query either way (none for an API key
    found in `keys`)."""
    if not tokens.looks_like_jwt(credential):
        found = await _live_key(db_session=db_session, api_key=credential, keys=keys)
        if found is None:
            raise Unauthenticated("the API key is unknown, revoked or expired")
        app, expires_at = found
        return Authenticated(
            Caller.api_key(app.id), app, "k:" + hash_key(credential)[:40], expires_at
        )
    return await authenticate_member(db_session=db_session, token=credential)


def _token_secrets(app: AppFields) -> list[str]:
    current = [app.token_secret]
    expires = app.previous_token_secret_expires_at
    if app.previous_token_secret and expires is not None and expires > utcnow():
        current.append(app.previous_token_secret)
    return current


async def authenticate_member(*, db_session: AsyncSession, token: str) -> Authenticated:
    """Signature before any lookup that uses what the token says: the app (by a well-formed id,
    for its secrets), the token verified with its secrets, and only then the member. Two
    statements; nothing a forger writes in `sub` ever reaches a query."""
    claimed = tokens.peek(token)
    app = await repository.app_record(db_session, claimed.app_id)
    if app is None:
        # The same words as a bad signature: an unknown app id and a wrong one look alike.
        raise tokens.bad_signature(claimed.app_id)
    claims = tokens.verify(token, app_id=app.id, secrets=_token_secrets(app))
    role = tokens.role_of(claims)
    mentor_id, mentee_id = await repository.member_profiles(db_session, app.id, claimed.external_id)
    mentor_id = mentor_id if Role.mentor in role.grants else None
    mentee_id = mentee_id if Role.mentee in role.grants else None
    for granted, profile in ((Role.mentor, mentor_id), (Role.mentee, mentee_id)):
        if granted in role.grants and profile is None:
            raise Unauthenticated(
                f"member {claimed.external_id!r} has no {granted.value} profile in this app "
                "(never created, or deleted)"
            )
    member = Member(
        external_id=claimed.external_id,
        roles=role.grants,
        mentor_id=mentor_id,
        mentee_id=mentee_id,
    )
    return Authenticated(
        Caller(app_id=app.id, member=member),
        app,
        f"m:{app.id}:{claimed.external_id}",
        # As long as `verify` accepts it: `exp` and the clock skew it tolerates.
        datetime.fromtimestamp(claims["exp"] + tokens.LEEWAY_SECONDS, UTC),
    )


# --- app settings, token secrets and member tokens (API key only) ----------------------------


async def get_app(*, db_session: AsyncSession, app_id: str, actor: Caller) -> App:
    require_api_key(actor, "reading the app")
    app = await repository.get_app(db_session, app_id)
    if app is None:
        raise NotFound(f"no app {app_id}")
    return app


async def update_app(
    *, db_session: AsyncSession, app_id: str, actor: Caller, data: AppUpdate
) -> App:
    app = await get_app(db_session=db_session, app_id=app_id, actor=actor)
    if data.cors_origins is not None:
        app.cors_origins = data.cors_origins
        app.updated_at = utcnow()
        await repository.save(db_session, app)
    return app


async def rotate_token_secret(
    *, db_session: AsyncSession, app_id: str, actor: Caller, grace: timedelta = tokens.MAX_TTL
) -> App:
    """A new secret signs from now on; the old one verifies for `grace` (tokens live at most
    24 h, so the default grace lets every token already handed out run its course)."""
    require_api_key(actor, "rotating the token secret")
    if not timedelta(0) <= grace <= tokens.MAX_TTL:
        raise InvalidInput("the grace period is 0 to 24 hours", loc=["body", "grace_seconds"])
    app = await get_app(db_session=db_session, app_id=app_id, actor=actor)
    if grace > timedelta(0):
        app.previous_token_secret = app.token_secret
        app.previous_token_secret_expires_at = utcnow() + grace
    else:
        app.previous_token_secret = None
        app.previous_token_secret_expires_at = None
    app.token_secret = new_token_secret()
    app.updated_at = utcnow()
    return await repository.save(db_session, app)


@dataclass(frozen=True)
class MemberToken:
    token: str
    expires_at: datetime


async def mint_member_token(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    external_id: str,
    role: Role,
    ttl: timedelta,
) -> MemberToken:
    require_api_key(actor, "minting member tokens")
    found = await repository.member_lookup(db_session, app_id, external_id)
    if found is None:
        raise NotFound(f"no app {app_id}")
    profiles = {Role.mentor: found.mentor_id, Role.mentee: found.mentee_id}
    for granted in sorted(role.grants):
        if profiles[granted] is None:
            raise InvalidInput(
                f"no {granted.value} with external_id {external_id!r} in this app: "
                "create the profile first",
                loc=["body", "external_id"],
            )
    now = utcnow().replace(microsecond=0)
    token = tokens.mint(
        secret=found.app.token_secret,
        app_id=app_id,
        external_id=external_id,
        role=role,
        now=now,
        ttl=ttl,
    )
    return MemberToken(token=token, expires_at=now + ttl)
