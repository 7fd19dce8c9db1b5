"""Client apps and API keys: create, rotate without downtime, revoke."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps import repository
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


async def authenticate(*, db_session: AsyncSession, api_key: str) -> App | None:
    if not api_key.startswith(KEY_PREFIX) or len(api_key) > 128:
        return None
    return await repository.app_for_key_hash(db_session, hash_key(api_key), utcnow())
