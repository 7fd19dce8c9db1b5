from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.models import ApiKey, App, AppRecord
from mentorapi.db import fast
from mentorapi.db.search import json_array_contains
from mentorapi.db.tenancy import CrossTenant, across_tenants, cross_tenant_options
from mentorapi.mentees.models import Mentee
from mentorapi.mentors.models import Mentor


async def get_app(db_session: AsyncSession, app_id: str) -> App | None:
    return await db_session.get(App, app_id)


async def list_apps(db_session: AsyncSession) -> list[App]:
    return list((await db_session.exec(select(App).order_by(col(App.id)))).all())


# Built once: this runs on every authenticated request (but for keys a process remembers, see
# apps/keycache.py), and building the expression costs more than running it.
_APP_FOR_KEY_HASH = across_tenants(
    sa_select(*(getattr(App, name) for name in AppRecord.__slots__), col(ApiKey.expires_at))
    .join(ApiKey, col(ApiKey.app_id) == col(App.id))
    .where(
        col(ApiKey.key_hash) == bindparam("key_hash"),
        col(ApiKey.revoked_at).is_(None),
        or_(col(ApiKey.expires_at).is_(None), col(ApiKey.expires_at) > bindparam("now")),
    ),
    CrossTenant.key_lookup,
)


@dataclass(frozen=True, slots=True)
class LiveKey:
    app: AppRecord
    expires_at: datetime | None  # the key's


async def live_key(db_session: AsyncSession, key_hash: str, now: datetime) -> LiveKey | None:
    """A live key's app and expiry: one indexed query (a plain record on the driver's fast
    path; see db/fast.py)."""
    rows = await fast.fetch(db_session, _APP_FOR_KEY_HASH, {"key_hash": key_hash, "now": now})
    if not rows:
        return None
    *app, expires_at = rows[0]
    return LiveKey(AppRecord(*app), expires_at)


async def list_keys(db_session: AsyncSession, app_id: str) -> list[ApiKey]:
    query = select(ApiKey).where(col(ApiKey.app_id) == app_id).order_by(col(ApiKey.id))
    return list((await db_session.exec(query)).all())


async def get_key(db_session: AsyncSession, key_id: str) -> ApiKey | None:
    """A key of any app, by id (for the operator's command line)."""
    options = cross_tenant_options(CrossTenant.operator)
    return await db_session.get(ApiKey, key_id, execution_options=options)


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


@dataclass(frozen=True)
class MemberLookup:
    app: App
    mentor_id: str | None
    mentee_id: str | None


async def member_lookup(
    db_session: AsyncSession, app_id: str, external_id: str
) -> MemberLookup | None:
    """The app (for its token secrets) and the member's mentor and mentee ids: one query, run on
    every request made with a member token."""
    # The app named on the profiles too, not only through the apps row: a distributed database
    # then sends the whole statement to the one node holding this app's rows (docs/scaling.md).
    query = (
        select(App, Mentor.id, Mentee.id)
        .select_from(App)
        .outerjoin(
            Mentor, and_(col(Mentor.app_id) == app_id, col(Mentor.external_id) == external_id)
        )
        .outerjoin(
            Mentee, and_(col(Mentee.app_id) == app_id, col(Mentee.external_id) == external_id)
        )
        .where(col(App.id) == app_id)
    )
    row = (await db_session.exec(query)).first()
    if row is None:
        return None
    app, mentor_id, mentee_id = row
    return MemberLookup(app=app, mentor_id=mentor_id, mentee_id=mentee_id)


# A member token's two statements (apps/service.py authenticate_member): the app, for the
# secrets that verify the token; then, with the token verified, the member's profiles. Built once
# and run on the driver's fast path, as the API-key lookup is.
_APP_BY_ID = sa_select(*(getattr(App, name) for name in AppRecord.__slots__)).where(
    col(App.id) == bindparam("app_id")
)
_MEMBER_PROFILES = sa_select(
    sa_select(col(Mentor.id))
    .where(col(Mentor.app_id) == bindparam("app_id"), col(Mentor.external_id) == bindparam("ext"))
    .scalar_subquery(),
    sa_select(col(Mentee.id))
    .where(col(Mentee.app_id) == bindparam("app_id"), col(Mentee.external_id) == bindparam("ext"))
    .scalar_subquery(),
)


async def app_record(db_session: AsyncSession, app_id: str) -> AppRecord | None:
    rows = await fast.fetch(db_session, _APP_BY_ID, {"app_id": app_id})
    return AppRecord(*rows[0]) if rows else None


async def member_profiles(
    db_session: AsyncSession, app_id: str, external_id: str
) -> tuple[str | None, str | None]:
    """The member's mentor id and mentee id (either None where there is no such profile)."""
    rows = await fast.fetch(db_session, _MEMBER_PROFILES, {"app_id": app_id, "ext": external_id})
    mentor_id, mentee_id = rows[0]
    return mentor_id, mentee_id


async def any_app_allows_origin(db_session: AsyncSession, origin: str) -> bool:
    dialect = db_session.get_bind().dialect.name
    query = select(App.id).where(json_array_contains(col(App.cors_origins), origin, dialect))
    return (await db_session.exec(query.limit(1))).first() is not None


async def save(db_session: AsyncSession, app: App) -> App:
    db_session.add(app)
    await db_session.flush()
    return app
