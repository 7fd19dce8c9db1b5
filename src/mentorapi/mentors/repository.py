from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import delete as sa_delete
from sqlalchemy import exists, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.db.paging import SortKey, paginate
from mentorapi.db.search import json_array_contains, text_match
from mentorapi.kit.pagination import PageRequest
from mentorapi.mentors.models import Mentor, MentorSkill, SkillOffer
from mentorapi.mentors.schemas import MentorSort
from mentorapi.skills.models import Skill


def _dialect(db_session: AsyncSession) -> str:
    return db_session.get_bind().dialect.name


async def get(db_session: AsyncSession, app_id: str, mentor_id: str) -> Mentor | None:
    query = select(Mentor).where(col(Mentor.app_id) == app_id, col(Mentor.id) == mentor_id)
    return (await db_session.exec(query)).first()


async def get_by_external_id(
    db_session: AsyncSession, app_id: str, external_id: str
) -> Mentor | None:
    query = select(Mentor).where(
        col(Mentor.app_id) == app_id, col(Mentor.external_id) == external_id
    )
    return (await db_session.exec(query)).first()


def _sort_keys(sort: MentorSort) -> list[SortKey]:
    if sort in (MentorSort.name, MentorSort.name_desc):
        desc = sort is MentorSort.name_desc
        return [SortKey(col(Mentor.name), "name", desc), SortKey(col(Mentor.id), "id", desc)]
    if sort is MentorSort.rating:
        return [SortKey(col(Mentor.rating_avg), "rating_avg", True), SortKey(col(Mentor.id), "id")]
    if sort is MentorSort.sessions:
        return [
            SortKey(col(Mentor.sessions_completed), "sessions_completed", True),
            SortKey(col(Mentor.id), "id"),
        ]
    # Ids are time-ordered, so the id is the creation order.
    return [SortKey(col(Mentor.id), "id", sort is MentorSort.newest)]


def cursor_values(mentor: Mentor, sort: MentorSort) -> list[object]:
    """The sort-key values a cursor after `mentor` carries (the GraphQL edge cursors)."""
    return [getattr(mentor, key.attr) for key in _sort_keys(sort)]


async def list_page(
    db_session: AsyncSession,
    app_id: str,
    page: PageRequest,
    *,
    skills: Sequence[str] = (),
    q: str | None = None,
    language: str | None = None,
    format: str | None = None,
    session_length: int | None = None,
    sort: MentorSort = MentorSort.created,
) -> tuple[list[Mentor], str | None]:
    query = select(Mentor).where(col(Mentor.app_id) == app_id)
    for slug in dict.fromkeys(skills):  # every listed skill must be offered
        query = query.where(
            exists(
                select(MentorSkill.mentor_id)
                .join(Skill, col(Skill.id) == col(MentorSkill.skill_id))
                .where(
                    col(MentorSkill.mentor_id) == col(Mentor.id),
                    col(Skill.app_id) == app_id,
                    col(Skill.slug) == slug,
                )
            )
        )
    dialect = _dialect(db_session)
    if q:
        query = query.where(
            text_match([col(Mentor.name), col(Mentor.headline), col(Mentor.bio)], q)
        )
    if language:
        query = query.where(json_array_contains(col(Mentor.languages), language, dialect))
    if format:
        query = query.where(json_array_contains(col(Mentor.formats), format, dialect))
    if session_length is not None:
        query = query.where(
            json_array_contains(col(Mentor.session_lengths), session_length, dialect)
        )
    return await paginate(db_session, query, sort=sort.value, keys=_sort_keys(sort), page=page)


async def skills_for(
    db_session: AsyncSession, mentor_ids: Sequence[str]
) -> dict[str, list[tuple[MentorSkill, Skill]]]:
    """The skills of many mentors in one query (the list endpoint and the GraphQL loader)."""
    result: dict[str, list[tuple[MentorSkill, Skill]]] = defaultdict(list)
    if not mentor_ids:
        return result
    query = (
        select(MentorSkill, Skill)
        .join(Skill, col(Skill.id) == col(MentorSkill.skill_id))
        .where(col(MentorSkill.mentor_id).in_(list(mentor_ids)))
        .order_by(col(MentorSkill.level).desc(), col(Skill.slug))
    )
    for link, skill in (await db_session.exec(query)).all():
        result[link.mentor_id].append((link, skill))
    return result


async def offers_for(
    db_session: AsyncSession, mentor_ids: Sequence[str]
) -> dict[str, list[SkillOffer]]:
    """The skills of many mentors in one query, as plain values: the hot path of the mentor
    list (no ORM identity map or instances for a read-only page)."""
    result: dict[str, list[SkillOffer]] = defaultdict(list)
    if not mentor_ids:
        return result
    query = (
        sa_select(
            col(MentorSkill.mentor_id),
            col(Skill.id),
            col(Skill.slug),
            col(Skill.name),
            col(Skill.category),
            col(MentorSkill.level),
            col(MentorSkill.note),
        )
        .join(Skill, col(Skill.id) == col(MentorSkill.skill_id))
        .where(col(MentorSkill.mentor_id).in_(list(mentor_ids)))
        .order_by(col(MentorSkill.level).desc(), col(Skill.slug))
    )
    # Core execution on the session's connection (and transaction): rows, not entities.
    connection = await db_session.connection()
    for mentor_id, skill_id, slug, name, category, level, note in await connection.execute(query):
        result[mentor_id].append(SkillOffer(skill_id, slug, name, category, level, note))
    return result


async def replace_skills(
    db_session: AsyncSession, mentor: Mentor, links: Sequence[MentorSkill]
) -> None:
    await db_session.exec(sa_delete(MentorSkill).where(col(MentorSkill.mentor_id) == mentor.id))
    db_session.add_all(links)
    await db_session.flush()


async def count_offering(db_session: AsyncSession, app_id: str, skill_id: str) -> int:
    query = select(func.count()).where(
        col(MentorSkill.app_id) == app_id, col(MentorSkill.skill_id) == skill_id
    )
    return (await db_session.exec(query)).one()


async def delete(db_session: AsyncSession, mentor: Mentor) -> None:
    await db_session.delete(mentor)
    await db_session.flush()


async def get_many(db_session: AsyncSession, app_id: str, ids: Sequence[str]) -> list[Mentor]:
    """Mentors by id in one query (for DataLoaders); another app's ids are simply not found."""
    if not ids:
        return []
    query = select(Mentor).where(col(Mentor.app_id) == app_id, col(Mentor.id).in_(list(ids)))
    return list((await db_session.exec(query)).all())
