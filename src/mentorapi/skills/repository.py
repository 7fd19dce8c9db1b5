from collections.abc import Iterable

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.db.paging import SortKey, paginate, text_kind
from mentorapi.db.search import text_match
from mentorapi.kit.pagination import PageRequest, id_key
from mentorapi.skills.models import Skill


async def get(db_session: AsyncSession, app_id: str, skill_id: str) -> Skill | None:
    query = select(Skill).where(col(Skill.app_id) == app_id, col(Skill.id) == skill_id)
    return (await db_session.exec(query)).first()


async def get_by_slug(db_session: AsyncSession, app_id: str, slug: str) -> Skill | None:
    query = select(Skill).where(col(Skill.app_id) == app_id, col(Skill.slug) == slug)
    return (await db_session.exec(query)).first()


async def find(
    db_session: AsyncSession,
    app_id: str,
    *,
    ids: Iterable[str] = (),
    slugs: Iterable[str] = (),
    for_share: bool = False,
) -> list[Skill]:
    """The app's skills with any of these ids or slugs, in one query; `for_share` holds them
    (FOR SHARE on PostgreSQL) until the transaction ends, so they cannot change meanwhile."""
    ids, slugs = list(ids), list(slugs)
    if not ids and not slugs:
        return []
    query = select(Skill).where(
        col(Skill.app_id) == app_id, or_(col(Skill.id).in_(ids), col(Skill.slug).in_(slugs))
    )
    if for_share:
        query = query.with_for_update(read=True).execution_options(populate_existing=True)
    return list((await db_session.exec(query)).all())


async def list_page(
    db_session: AsyncSession,
    app_id: str,
    page: PageRequest,
    *,
    category: str | None = None,
    q: str | None = None,
) -> tuple[list[Skill], str | None]:
    query = select(Skill).where(col(Skill.app_id) == app_id)
    if category is not None:
        query = query.where(col(Skill.category) == category)
    if q:
        query = query.where(text_match([col(Skill.slug), col(Skill.name)], q))
    keys = [
        SortKey(col(Skill.slug), "slug", kind=text_kind(col(Skill.slug))),
        SortKey(col(Skill.id), "id", kind=id_key("skl")),
    ]
    return await paginate(db_session, query, sort="slug", keys=keys, page=page)


async def delete(db_session: AsyncSession, skill: Skill) -> None:
    await db_session.delete(skill)
    await db_session.flush()
