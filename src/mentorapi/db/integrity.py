from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.kit.errors import Conflict


@asynccontextmanager
async def or_conflict(detail: str) -> AsyncIterator[None]:
    """A unique, foreign-key or exclusion violation inside (a race the service's check lost)
    is a 409 with `detail`."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(detail) from exc


async def flush_or_conflict(db_session: AsyncSession, detail: str) -> None:
    """Flush; a unique or foreign-key violation (a race the service's check lost) is a 409."""
    async with or_conflict(detail):
        await db_session.flush()
