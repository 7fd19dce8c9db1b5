"""Client apps and API keys: create, rotate without downtime, revoke."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps import repository
from mentorapi.apps.keycache import api_key_cache
from mentorapi.apps.models import ApiKey, App
from mentorapi.kit.errors import NotFound
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
    api_key_cache.forget_app(app_id)  # this process sees the new expiry at once
    return issued


async def revoke_key(*, db_session: AsyncSession, key_id: str) -> ApiKey:
    key = await repository.get_key(db_session, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db_session.add(key)
        await db_session.flush()
    # At once in this process; other processes within MENTORAPI_API_KEY_CACHE_SECONDS.
    api_key_cache.forget(key.key_hash)
    return key


async def authenticate(
    *, db_session: AsyncSession, api_key: str, cache_seconds: float = 0.0
) -> App | None:
    """The app of a live key. With `cache_seconds`, a key seen live within that many seconds is
    trusted without a query (see apps/keycache.py for what that means for revocation)."""
    if not api_key.startswith(KEY_PREFIX) or len(api_key) > 128:
        return None
    key_hash = hash_key(api_key)
    if cache_seconds > 0:
        remembered = api_key_cache.get(key_hash, cache_seconds)
        if remembered is not None:
            return await repository.adopt_app(db_session, remembered)
    found = await repository.live_key(db_session, key_hash, utcnow())
    if found is None:
        return None
    app, key_expires_at = found
    if cache_seconds > 0:
        api_key_cache.put(key_hash, app, key_expires_at)
    return app
