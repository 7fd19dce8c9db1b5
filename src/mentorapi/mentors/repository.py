from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, make_dataclass
from typing import Any, NamedTuple, cast

from sqlalchemy import Select, and_, bindparam, func, null
from sqlalchemy import delete as sa_delete
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.db import fast
from mentorapi.db.paging import (
    SortKey,
    fetch_limit,
    keyset_page,
    keyset_params,
    keyset_statement,
    text_kind,
)
from mentorapi.db.search import (
    json_array_contains_param,
    json_array_value,
    like_pattern,
    text_match_param,
)
from mentorapi.kit.bounded import BoundedLRU
from mentorapi.kit.pagination import FLOAT_KEY, INT_KEY, PageRequest, id_key
from mentorapi.mentors.models import Mentor, MentorFields, MentorSkill, SkillOffer, make_offer
from mentorapi.mentors.schemas import MentorSort
from mentorapi.skills.models import Skill, SkillFields


def _dialect(db_session: AsyncSession) -> str:
    return db_session.get_bind().dialect.name


async def get(
    db_session: AsyncSession, app_id: str, mentor_id: str, *, for_update: bool = False
) -> Mentor | None:
    query = select(Mentor).where(col(Mentor.app_id) == app_id, col(Mentor.id) == mentor_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await db_session.exec(query)).first()


async def get_by_external_id(
    db_session: AsyncSession, app_id: str, external_id: str
) -> Mentor | None:
    query = select(Mentor).where(
        col(Mentor.app_id) == app_id, col(Mentor.external_id) == external_id
    )
    return (await db_session.exec(query)).first()


_ID = id_key("mtr")


def _sort_keys(sort: MentorSort) -> list[SortKey]:
    if sort in (MentorSort.name, MentorSort.name_desc):
        desc = sort is MentorSort.name_desc
        return [
            SortKey(col(Mentor.name), "name", desc, kind=text_kind(col(Mentor.name))),
            SortKey(col(Mentor.id), "id", desc, kind=_ID),
        ]
    if sort is MentorSort.rating:
        return [
            SortKey(col(Mentor.rating_avg), "rating_avg", True, kind=FLOAT_KEY),
            SortKey(col(Mentor.id), "id", kind=_ID),
        ]
    if sort is MentorSort.sessions:
        return [
            SortKey(col(Mentor.sessions_completed), "sessions_completed", True, kind=INT_KEY),
            SortKey(col(Mentor.id), "id", kind=_ID),
        ]
    # Ids are time-ordered, so the id is the creation order.
    return [SortKey(col(Mentor.id), "id", sort is MentorSort.newest, kind=_ID)]


def cursor_values(mentor: MentorFields, sort: MentorSort) -> list[object]:
    """The sort-key values a cursor after `mentor` carries (the GraphQL edge cursors)."""
    return [getattr(mentor, key.attr) for key in _sort_keys(sort)]


@dataclass(frozen=True)
class _Shape:
    """Which filters a search uses (not their values): one statement is built per shape."""

    dialect: str
    sort: MentorSort
    skills: int
    q: bool
    language: bool
    format: bool
    session_length: bool
    after: bool
    limit: int  # rows to fetch (written into the SQL: see db/paging.py)


_MENTORS = Mentor.__table__  # type: ignore[attr-defined]
_LINKS = MentorSkill.__table__  # type: ignore[attr-defined]
_SKILLS = Skill.__table__  # type: ignore[attr-defined]


# A listed row as plain attributes (the table's columns, in order): read ~20 times each while
# rendering, and a slotted attribute is the cheapest read there is.
_ListedRow: Any = make_dataclass(
    "_ListedRow", [c.name for c in _MENTORS.columns], frozen=True, slots=True
)


def sort_offers(offers: list[SkillOffer]) -> list[SkillOffer]:
    """A mentor's skills as they are shown: highest level first, then by slug. Sorted here
    rather than in SQL, so the order is the same whatever the database's collation."""
    return sorted(offers, key=lambda offer: (-offer["level"], offer["skill"]["slug"]))


def _skill_id(i: int) -> Any:
    # The id of the i-th wanted skill, looked up once per statement (an InitPlan on PostgreSQL).
    return (
        sa_select(_SKILLS.c.id)
        .where(_SKILLS.c.app_id == bindparam("app_id"), _SKILLS.c.slug == bindparam(f"skill_{i}"))
        .scalar_subquery()
    )


def _wanted_links(skills: int) -> tuple[Any, list[Any]]:
    """Links of every wanted skill, joined on the mentor: (links, their aliases); wanted_0
    drives. (app_id, mentor_id, skill_id) is the links' key, so no mentor comes twice."""
    links = [_LINKS.alias(f"wanted_{i}") for i in range(skills)]
    joined = links[0]
    for i, link in enumerate(links[1:], start=1):
        joined = joined.join(
            link,
            and_(
                link.c.app_id == bindparam("app_id"),
                link.c.mentor_id == links[0].c.mentor_id,
                link.c.skill_id == _skill_id(i),
            ),
        )
    return joined, links


def _by_skill_statement(shape: _Shape) -> Select[Any]:
    """Skills are the only filter and the order is creation (id): the page is read from the
    first skill's links alone, on their (app_id, skill_id, mentor_id) index, and only its rows
    are joined to their mentors. A join of mentors to links instead lets the planner walk mentors
    in id order until enough of them match (a merge join): cheap for a skill most mentors
    offer, a scan of most of the table for a rare one (measured: 0.1 vs 0.9 ms)."""
    joined, links = _wanted_links(shape.skills)
    driver = links[0]
    key = SortKey(driver.c.mentor_id, "id", shape.sort is MentorSort.newest, kind=_ID)
    ids = (
        sa_select(driver.c.mentor_id)
        .select_from(joined)
        .where(driver.c.app_id == bindparam("app_id"), driver.c.skill_id == _skill_id(0))
    )
    page = keyset_statement(ids, [key], after=shape.after, limit=shape.limit).subquery("page")
    order = _MENTORS.c.id.desc() if key.descending else _MENTORS.c.id.asc()
    return (
        sa_select(_MENTORS)
        .select_from(page.join(_MENTORS, _MENTORS.c.id == page.c.mentor_id))
        # The page's links and skills were the app's already; the mentors are checked as well.
        .where(_MENTORS.c.app_id == bindparam("app_id"))
        .order_by(order)
    )


# One statement per shape, built on first use. A caller chooses the shape (sorts x filters x
# page sizes: many thousands), and a statement with ten skills holds ~0.25 MB: bounded by
# entries and by bytes (kit/bounded.py), least recently used out first.
_statements: BoundedLRU[_Shape, Select[Any]] = BoundedLRU(
    max_entries=512,
    max_weight=32 * 2**20,
    weigh=lambda shape, statement: fast.statement_weight(str(statement)),
)


def _search_statement(shape: _Shape) -> Select[Any]:
    found = _statements.get(shape)
    if found is None:
        found = _build_search_statement(shape)
        _statements.put(shape, found)
    return found


def _build_search_statement(shape: _Shape) -> Select[Any]:
    only_skills = not (shape.q or shape.language or shape.format or shape.session_length)
    if shape.skills and only_skills and shape.sort in (MentorSort.created, MentorSort.newest):
        return _by_skill_statement(shape)
    # Rows of the table, not entities: a page is read-only and entities cost several times more.
    query = sa_select(_MENTORS).where(_MENTORS.c.app_id == bindparam("app_id"))
    if shape.skills:
        # Every listed skill must be offered: joins on the links' index
        # (app_id, skill_id, mentor_id).
        joined, links = _wanted_links(shape.skills)
        query = query.join(
            joined,
            and_(
                links[0].c.app_id == bindparam("app_id"),
                links[0].c.mentor_id == _MENTORS.c.id,
                links[0].c.skill_id == _skill_id(0),
            ),
        )
    if shape.q:
        columns = [_MENTORS.c.name, _MENTORS.c.headline, _MENTORS.c.bio]
        query = query.where(text_match_param(columns, "q"))
    for name, wanted in (
        ("languages", shape.language),
        ("formats", shape.format),
        ("session_lengths", shape.session_length),
    ):
        if wanted:
            query = query.where(json_array_contains_param(_MENTORS.c[name], name, shape.dialect))
    return keyset_statement(query, _row_sort_keys(shape.sort), after=shape.after, limit=shape.limit)


def _row_sort_keys(sort: MentorSort) -> list[SortKey]:
    # The same order as _sort_keys, on the table's columns (the statement reads rows).
    return [
        SortKey(_MENTORS.c[key.attr], key.attr, key.descending, kind=key.kind)
        for key in _sort_keys(sort)
    ]


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
) -> tuple[list[tuple[MentorFields, list[SkillOffer]]], str | None]:
    """A page of the app's mentors matching every given filter (rows of the table) with the
    skills each offers (the stored Mentor.offers), in one statement."""
    dialect = _dialect(db_session)
    slugs = list(dict.fromkeys(skills))
    keys = _sort_keys(sort)
    params = keyset_params(page, sort.value, keys)
    params["app_id"] = app_id
    params.update({f"skill_{i}": slug for i, slug in enumerate(slugs)})
    if q:
        params["q"] = like_pattern(q)
    for name, value in (
        ("languages", language),
        ("formats", format),
        ("session_lengths", session_length),
    ):
        if value is not None:
            params[name] = json_array_value(value, dialect)
    shape = _Shape(
        dialect=dialect,
        sort=sort,
        skills=len(slugs),
        q=bool(q),
        language=language is not None,
        format=format is not None,
        session_length=session_length is not None,
        after="after_0" in params,
        limit=fetch_limit(page),
    )
    rows = await fast.fetch(db_session, _search_statement(shape), params)
    found, cursor = keyset_page([_ListedRow(*row) for row in rows], page, sort.value, keys)
    # The shown offers are stored in display order (Mentor.offers).
    return [(cast(MentorFields, row), row.offers) for row in found], cursor


class SkillLink(NamedTuple):
    """A skill as one mentor offers it, with the whole skill row (plain values). A tuple: a
    page builds one per link (150 for 50 mentors), and a frozen dataclass cost four times as
    much to build."""

    skill: SkillFields
    level: int
    note: str | None


_SkillRow: Any = make_dataclass(
    "_SkillRow", [c.name for c in _SKILLS.columns], frozen=True, slots=True
)

# A skill-links row: the link's mentor, level, note and skill id, then the skill's columns.
_SKILL_COLUMNS = 4

# One statement per dialect (they differ in how the list of mentor ids is sent: fast.in_list).
_skill_links_statements: dict[str, Any] = {}


def _skill_links_statement(dialect: str) -> Any:
    """The page's skills, each once (its row, and NULL for a link's columns), then each link
    (mentor, level, note, skill id, and NULL for the skill's columns): a page's 150 links name
    about 5 skills, and decoding the whole skill row (two timestamps, five texts) on every link
    was most of the statement's CPU in the driver. (A window function marking each skill's
    first link did the same in one pass, but on SQLite it read every link of the app, in the
    (skill, mentor) index's order, and cost twice the two lookups by mentor here; the order is
    made in Python, as for the stored offers.)"""
    statement = _skill_links_statements.get(dialect)
    if statement is None:
        on_page = fast.in_list(_LINKS.c.mentor_id, "mentor_ids", dialect)
        links = _LINKS.c
        skills = sa_select(
            *(
                null().cast(c.type).label(c.name)
                for c in (links.mentor_id, links.level, links.note)
            ),
            _SKILLS.c.id.label("skill_id"),
            *_SKILLS.columns,
        ).where(
            _SKILLS.c.app_id == bindparam("app_id"),
            _SKILLS.c.id.in_(
                sa_select(links.skill_id).where(links.app_id == bindparam("app_id"), on_page)
            ),
        )
        statement = _skill_links_statements[dialect] = skills.union_all(
            sa_select(
                links.mentor_id,
                links.level,
                links.note,
                links.skill_id,
                *(null().cast(c.type) for c in _SKILLS.columns),
            ).where(links.app_id == bindparam("app_id"), on_page)
        )
    return statement


def _link_order(link: SkillLink) -> tuple[int, str]:
    return -link.level, link.skill.slug


async def skills_for(
    db_session: AsyncSession, app_id: str, mentor_ids: Sequence[str]
) -> dict[str, list[SkillLink]]:
    """The skills of many mentors in one query (the GraphQL loader), highest level first (then
    by slug, as sort_offers), as plain values (no ORM identity map or instances: read-only, and
    many per page; a skill's row read and built once however many mentors offer it); another
    app's mentor ids find nothing."""
    result: dict[str, list[SkillLink]] = defaultdict(list)
    if not mentor_ids:
        return result
    rows = await fast.fetch(
        db_session,
        _skill_links_statement(_dialect(db_session)),
        {"app_id": app_id, "mentor_ids": list(mentor_ids)},
    )
    skills: dict[str, SkillFields] = {
        row[3]: _SkillRow(*row[_SKILL_COLUMNS:]) for row in rows if row[0] is None
    }
    for row in rows:
        if row[0] is not None:
            result[row[0]].append(SkillLink(skills[row[3]], row[1], row[2]))
    for found in result.values():
        found.sort(key=_link_order)
    return result


_OFFERS = (
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
    .where(
        col(MentorSkill.app_id) == bindparam("app_id"),
        col(Skill.app_id) == bindparam("app_id"),
        col(MentorSkill.mentor_id).in_(bindparam("mentor_ids", expanding=True)),
    )
)


async def offers_for(
    db_session: AsyncSession, app_id: str, mentor_ids: Sequence[str]
) -> dict[str, list[SkillOffer]]:
    """The skills of many mentors in one query, as plain values: the hot path of the mentor
    list (no ORM identity map or instances for a read-only page)."""
    result: dict[str, list[SkillOffer]] = defaultdict(list)
    if not mentor_ids:
        return result
    # Core execution on the session's connection (and transaction): rows, not entities.
    connection = await db_session.connection()
    rows = await connection.execute(_OFFERS, {"app_id": app_id, "mentor_ids": list(mentor_ids)})
    for mentor_id, skill_id, slug, name, category, level, note in rows:
        result[mentor_id].append(make_offer(skill_id, slug, name, category, level, note))
    for offers in result.values():
        offers[:] = sort_offers(offers)
    return result


async def replace_skills(
    db_session: AsyncSession, mentor: Mentor, links: Sequence[MentorSkill]
) -> None:
    await db_session.exec(
        sa_delete(MentorSkill).where(
            col(MentorSkill.app_id) == mentor.app_id, col(MentorSkill.mentor_id) == mentor.id
        )
    )
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


_SET_OFFERS = (
    sa_update(_MENTORS)
    .where(_MENTORS.c.app_id == bindparam("b_app_id"), _MENTORS.c.id == bindparam("mentor_id"))
    .values(offers=bindparam("shown"))
)


async def refresh_offers(db_session: AsyncSession, app_id: str, skill_id: str) -> int:
    """Rewrite the shown offers (Mentor.offers) of every mentor offering `skill_id`, from the
    links and skills as they now are (after the skill's slug, name or category changed, in the
    same transaction). Returns how many mentors were rewritten."""
    await db_session.flush()
    offering = select(MentorSkill.mentor_id).where(
        col(MentorSkill.app_id) == app_id, col(MentorSkill.skill_id) == skill_id
    )
    # The mentors are locked before their links are read (in id order: two renames cannot
    # deadlock), so a PUT of skills that commits meanwhile is seen, not overwritten with stale
    # data; new links to this skill wait for its row, which the caller's UPDATE holds.
    lock = (
        select(Mentor.id)
        .where(col(Mentor.app_id) == app_id, col(Mentor.id).in_(offering))
        .order_by(col(Mentor.id))
        .with_for_update()
    )
    mentor_ids = list((await db_session.exec(lock)).all())
    connection = await db_session.connection()
    for start in range(0, len(mentor_ids), 500):  # bounded IN lists and parameter counts
        chunk = mentor_ids[start : start + 500]
        offers = await offers_for(db_session, app_id, chunk)
        await connection.execute(
            _SET_OFFERS,
            [{"b_app_id": app_id, "mentor_id": m, "shown": offers.get(m, [])} for m in chunk],
        )
    return len(mentor_ids)
