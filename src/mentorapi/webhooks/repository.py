from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.webhooks.models import Event, WebhookEndpoint


async def enabled_endpoints(db_session: AsyncSession, app_id: str) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(
        col(WebhookEndpoint.app_id) == app_id, col(WebhookEndpoint.enabled).is_(True)
    )
    return list((await db_session.exec(query)).all())


async def last_sequence(db_session: AsyncSession, app_id: str, object_id: str) -> int:
    query = select(func.max(Event.sequence)).where(
        col(Event.app_id) == app_id, col(Event.object_id) == object_id
    )
    return (await db_session.exec(query)).one() or 0
