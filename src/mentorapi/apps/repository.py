from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.models import ApiKey, App


async def get_app(db_session: AsyncSession, app_id: str) -> App | None:
    return await db_session.get(App, app_id)


async def list_apps(db_session: AsyncSession) -> list[App]:
    return list((await db_session.exec(select(App).order_by(col(App.id)))).all())


async def live_key(
    db_session: AsyncSession, key_hash: str, now: datetime
) -> tuple[App, datetime | None] | None:
    """The app owning a live key, and when the key expires: one indexed query."""
    query = (
        select(App, ApiKey.expires_at)
        .join(ApiKey, col(ApiKey.app_id) == col(App.id))
        .where(
            col(ApiKey.key_hash) == key_hash,
            col(ApiKey.revoked_at).is_(None),
            or_(col(ApiKey.expires_at).is_(None), col(ApiKey.expires_at) > now),
        )
    )
    row = (await db_session.exec(query)).first()
    return (row[0], row[1]) if row else None


async def app_for_key_hash(db_session: AsyncSession, key_hash: str, now: datetime) -> App | None:
    """The app owning a live key: one indexed query."""
    found = await live_key(db_session, key_hash, now)
    return found[0] if found else None


async def adopt_app(db_session: AsyncSession, app: App) -> App:
    """Attach an App built from remembered values to the session as if loaded, without SQL."""
    make_transient_to_detached(app)
    return await db_session.merge(app, load=False)


async def list_keys(db_session: AsyncSession, app_id: str) -> list[ApiKey]:
    query = select(ApiKey).where(col(ApiKey.app_id) == app_id).order_by(col(ApiKey.id))
    return list((await db_session.exec(query)).all())


async def get_key(db_session: AsyncSession, key_id: str) -> ApiKey | None:
    return await db_session.get(ApiKey, key_id)


async def expire_live_keys(
    db_session: AsyncSession, app_id: str, expires_at: datetime, *, keep: str
) -> None:
    await db_session.exec(
        update(ApiKey)
        .where(
            col(ApiKey.app_id) == app_id,
            col(ApiKey.id) != keep,
            col(ApiKey.revoked_at).is_(None),
            or_(col(ApiKey.expires_at).is_(None), col(ApiKey.expires_at) > expires_at),
        )
        .values(expires_at=expires_at)
    )
