from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.kit.errors import Conflict


async def flush_or_conflict(db_session: AsyncSession, detail: str) -> None:
    """Flush; a unique or foreign-key violation (a race the service's check lost) is a 409."""
    try:
        await db_session.flush()
    except IntegrityError as exc:
        raise Conflict(detail) from exc
