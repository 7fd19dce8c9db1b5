from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import delete as sa_delete
from sqlalchemy import exists, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.db.paging import SortKey, paginate
from mentorapi.db.search import text_match
from mentorapi.kit.pagination import PageRequest, id_key
from mentorapi.mentees.models import Mentee, MenteeSkill
from mentorapi.skills.models import Skill


async def get(db_session: AsyncSession, app_id: str, mentee_id: str) -> Mentee | None:
    query = select(Mentee).where(col(Mentee.app_id) == app_id, col(Mentee.id) == mentee_id)
    return (await db_session.exec(query)).first()


async def get_by_external_id(
    db_session: AsyncSession, app_id: str, external_id: str
) -> Mentee | None:
    query = select(Mentee).where(
        col(Mentee.app_id) == app_id, col(Mentee.external_id) == external_id
    )
    return (await db_session.exec(query)).first()


async def list_page(
    db_session: AsyncSession,
    app_id: str,
    page: PageRequest,
    *,
    skill: str | None = None,
    q: str | None = None,
    only_id: str | None = None,
) -> tuple[list[Mentee], str | None]:
    query = select(Mentee).where(col(Mentee.app_id) == app_id)
    if only_id is not None:
        query = query.where(col(Mentee.id) == only_id)
    if skill:
        query = query.where(
            exists(
                select(MenteeSkill.mentee_id)
                .join(Skill, col(Skill.id) == col(MenteeSkill.skill_id))
                .where(
                    col(MenteeSkill.app_id) == app_id,
                    col(MenteeSkill.mentee_id) == col(Mentee.id),
                    col(Skill.app_id) == app_id,
                    col(Skill.slug) == skill,
                )
            )
        )
    if q:
        query = query.where(text_match([col(Mentee.name)], q))
    keys = [SortKey(col(Mentee.id), "id", kind=id_key("mte"))]
    return await paginate(db_session, query, sort="created", keys=keys, page=page)


async def seeking_for(
    db_session: AsyncSession, app_id: str, mentee_ids: Sequence[str]
) -> dict[str, list[tuple[MenteeSkill, Skill]]]:
    """The skills several mentees seek, in one query; another app's mentee ids find nothing."""
    result: dict[str, list[tuple[MenteeSkill, Skill]]] = defaultdict(list)
    if not mentee_ids:
        return result
    query = (
        select(MenteeSkill, Skill)
        .join(Skill, col(Skill.id) == col(MenteeSkill.skill_id))
        .where(
            col(MenteeSkill.app_id) == app_id,
            col(Skill.app_id) == app_id,
            col(MenteeSkill.mentee_id).in_(list(mentee_ids)),
        )
        .order_by(col(Skill.slug))
    )
    for link, skill in (await db_session.exec(query)).all():
        result[link.mentee_id].append((link, skill))
    return result


async def replace_seeking(
    db_session: AsyncSession, mentee: Mentee, links: Sequence[MenteeSkill]
) -> None:
    await db_session.exec(
        sa_delete(MenteeSkill).where(
            col(MenteeSkill.app_id) == mentee.app_id, col(MenteeSkill.mentee_id) == mentee.id
        )
    )
    db_session.add_all(links)
    await db_session.flush()


async def count_seeking(db_session: AsyncSession, app_id: str, skill_id: str) -> int:
    query = select(func.count()).where(
        col(MenteeSkill.app_id) == app_id, col(MenteeSkill.skill_id) == skill_id
    )
    return (await db_session.exec(query)).one()


async def delete(db_session: AsyncSession, mentee: Mentee) -> None:
    await db_session.delete(mentee)
    await db_session.flush()


async def get_many(db_session: AsyncSession, app_id: str, ids: Sequence[str]) -> list[Mentee]:
    """Mentees by id in one query (for DataLoaders); another app's ids are simply not found."""
    if not ids:
        return []
    query = select(Mentee).where(col(Mentee.app_id) == app_id, col(Mentee.id).in_(list(ids)))
    return list((await db_session.exec(query)).all())
