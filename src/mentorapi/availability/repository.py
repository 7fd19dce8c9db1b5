from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.availability.models import Availability


async def get(db_session: AsyncSession, app_id: str, mentor_id: str) -> Availability | None:
    query = select(Availability).where(
        col(Availability.app_id) == app_id, col(Availability.mentor_id) == mentor_id
    )
    return (await db_session.exec(query)).first()


async def save(db_session: AsyncSession, availability: Availability) -> None:
    db_session.add(availability)
    await db_session.flush()


async def get_many(
    db_session: AsyncSession, app_id: str, mentor_ids: Sequence[str]
) -> list[Availability]:
    """The availabilities of several mentors in one query (mentors without one are left out)."""
    if not mentor_ids:
        return []
    query = select(Availability).where(
        col(Availability.app_id) == app_id, col(Availability.mentor_id).in_(list(mentor_ids))
    )
    return list((await db_session.exec(query)).all())
