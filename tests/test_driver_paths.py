"""db/fast.py's driver paths for the mentors page (asyncpg on PostgreSQL, aiosqlite on SQLite):
the same rows as SQLAlchemy's own execution of the same statement, the same statement count,
and never another app's rows; and for a booking's INSERTs, the same statements and the same
409 when a constraint refuses them."""

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, exc, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from mentorapi.db import engine as fast_engine
from mentorapi.db import fast
from mentorapi.db.engine import Database
from mentorapi.group_sessions import places
from mentorapi.kit.pagination import PageRequest
from mentorapi.mentors import repository
from mentorapi.mentors.models import MentorSkill
from mentorapi.mentors.schemas import MentorSort
from mentorapi.sessions import models as session_models
from mentorapi.sessions import service as session_service
from mentorapi.sessions.service import SLOT_TAKEN
from mentorapi.skills.models import Skill
from tests.conftest import Tenant, count_statements, own
from tests.factories import book_session, bookable, create_mentor, create_skill
from tests.gql.helpers import gql_data

MENTORS = 14
SLUGS = ["alpha", "beta", "gamma", "delta", "epsilon"]


@contextmanager
def through_sqlalchemy() -> Iterator[None]:
    """db.fast as it is for any other driver: `connection.execute` of the same statement."""
    with (
        patch.object(fast, "_uses_asyncpg", lambda _dialect: False),
        patch.object(fast, "_uses_aiosqlite", lambda _dialect: False),
    ):
        yield


# Per tenant (the fixture's app lives for the test; Hypothesis runs many examples in it).
_populations: dict[str, tuple[list[str], list[str]]] = {}


async def _population(tenant: Tenant, other: Tenant) -> tuple[list[str], list[str]]:
    """The tenant's mentors (some offering nothing) and the other app's: the same slugs,
    links at every level, notes and no notes, skills with and without category."""
    found = _populations.get(tenant.id)
    if found is not None:
        return found
    ids: dict[str, list[str]] = {}
    for who in (tenant, other):
        skills = [
            await create_skill(
                who.client,
                slug=slug,
                name=f"{slug.title()} ({who.id[-4:]})",
                **({"category": "c", "description": "d"} if i % 2 else {}),
            )
            for i, slug in enumerate(SLUGS)
        ]
        made = []
        for i in range(MENTORS if who is tenant else 4):
            picks = [
                {"skill_id": s["id"], "level": 1 + (i * 3 + j) % 5, "note": f"n{i}" if j else None}
                for j, s in enumerate(skills)
                if (i + j) % 3 and i % 7
            ]
            made.append((await create_mentor(who.client, name=f"M{i % 4}", skills=picks))["id"])
        ids[who.id] = made
    _populations[tenant.id] = ids[tenant.id], ids[other.id]
    return _populations[tenant.id]


async def _walk(db: Database, app_id: str, limit: int, sort: MentorSort, skills: list[str]) -> Any:
    """Every page of a search, from the first to the last (each through its cursor)."""
    pages = []
    after = None
    async with db.read_sessionmaker() as s:
        while True:
            page = PageRequest(limit=limit, cursor=after)
            found, after = await repository.list_page(s, app_id, page, skills=skills, sort=sort)
            pages.append(found)
            if after is None or len(pages) > MENTORS + 1:
                return pages


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    limit=st.integers(1, MENTORS + 2),
    sort=st.sampled_from(list(MentorSort)),
    skills=st.lists(st.sampled_from([*SLUGS, "unknown"]), max_size=3),
)
async def test_pages_on_the_driver_equal_sqlalchemys(
    db: Database,
    tenant: Tenant,
    other_tenant: Tenant,
    limit: int,
    sort: MentorSort,
    skills: list[str],
) -> None:
    """Every page of a search (sizes, sorts, skill filters, each page through the cursor the
    last gave) is the same on the driver as through SQLAlchemy: values of the same types
    (aware timestamps, JSON lists) and the same cursors; none of another app's mentors."""
    mine, theirs = await _population(tenant, other_tenant)
    found = await _walk(db, tenant.id, limit, sort, skills)
    with through_sqlalchemy():
        expected = await _walk(db, tenant.id, limit, sort, skills)
    assert found == expected
    listed = [mentor.id for page in found for mentor, _offers in page]
    assert set(listed) <= set(mine)
    assert not set(listed) & set(theirs)
    if not skills:
        assert sorted(listed) == sorted(mine)
    first = found[0][0][0] if found[0] else None
    if first is not None:
        assert first.created_at.tzinfo is not None
        assert isinstance(first.languages, list)


async def _reference(db: Database, app_id: str, mentor_ids: list[str]) -> dict[str, Any]:
    """The mentors' skills through the ORM (entities), in the order shown."""
    async with db.sessionmaker() as s:
        rows = (
            await s.exec(
                select(MentorSkill, Skill)
                .join(Skill, col(Skill.id) == col(MentorSkill.skill_id))
                .where(
                    col(MentorSkill.app_id) == app_id,
                    col(Skill.app_id) == app_id,
                    col(MentorSkill.mentor_id).in_(mentor_ids),
                )
            )
        ).all()
    found: dict[str, list[tuple[Any, ...]]] = {}
    for link, skill in rows:
        found.setdefault(link.mentor_id, []).append(
            (link.level, link.note, tuple(getattr(skill, c) for c in _SKILL_FIELDS))
        )
    return {m: sorted(links, key=lambda x: (-x[0], x[2][1])) for m, links in found.items()}


_SKILL_FIELDS = ("id", "slug", "name", "category", "description", "version", "app_id")
_TIMES = ("created_at", "updated_at")


def _plain(found: dict[str, list[repository.SkillLink]]) -> dict[str, Any]:
    return {
        m: [
            (link.level, link.note, tuple(getattr(link.skill, c) for c in _SKILL_FIELDS))
            for link in links
        ]
        for m, links in found.items()
    }


async def _skills_for(db: Database, app_id: str, mentor_ids: list[str]) -> Any:
    async with db.read_sessionmaker() as s:
        return await repository.skills_for(s, app_id, mentor_ids)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(picks=st.lists(st.integers(0, MENTORS + 5), max_size=20), bogus=st.booleans())
async def test_skills_on_the_driver_equal_the_orms(
    db: Database, tenant: Tenant, other_tenant: Tenant, picks: list[int], bogus: bool
) -> None:
    """The GraphQL skills loader's rows (any list of ids: repeated, unknown, another app's)
    are the mentors' links and whole skills, highest level first then by slug, as the ORM
    reads them, and as SQLAlchemy's execution of the same statement gives them; another app's
    mentors have none."""
    mine, theirs = await _population(tenant, other_tenant)
    pool = [*mine, *theirs]
    mentor_ids = [pool[i % len(pool)] for i in picks] + (["mtr_unknown"] if bogus else [])
    found = await _skills_for(db, tenant.id, mentor_ids)
    with through_sqlalchemy():
        through = await _skills_for(db, tenant.id, mentor_ids)
    assert found == through
    assert _plain(found) == await _reference(db, tenant.id, mentor_ids)
    assert not set(found) & set(theirs)
    for links in found.values():
        for link in links:
            assert link.skill.app_id == tenant.id
            assert all(getattr(link.skill, t).tzinfo is not None for t in _TIMES)


async def test_the_page_runs_on_the_driver_in_two_statements(
    db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    """The GraphQL page's two statements (page, skills: whatever the page size) are sent
    straight to the driver on both databases: counted, and never through SQLAlchemy's cursor
    (its before_cursor_execute event does not see them). (The skills statement runs for a
    Skill field the mentors' stored offers do not hold: `description`.)"""
    await _population(tenant, other_tenant)
    assert isinstance(db.engine, AsyncEngine)
    seen: list[str] = []

    def cursor(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql)

    event.listen(db.engine.sync_engine, "before_cursor_execute", cursor)
    try:
        for first in (1, 5, MENTORS):
            with count_statements() as statements:
                data = await gql_data(
                    tenant.client,
                    f"{{ mentors(first: {first}) {{ edges {{ node {{ id skills {{ level "
                    "skill { slug description } } } } } }",
                )
            assert len(data["mentors"]["edges"]) == first
            counted = own(statements)
            assert len(counted) == 2, counted
            assert any("json_each" in s or "ANY" in s for s in counted)
            assert not set(counted) & set(seen)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", cursor)


async def test_skills_are_read_by_mentor_not_by_scanning_the_app(
    db: Database, dialect: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    """SQLite reads a page's links by (app_id, mentor_id), the links' key, rather than every
    link of the app in the (app_id, skill_id) index's order (as it did for the window
    function that marked each skill's first link)."""
    if dialect != "sqlite":
        pytest.skip("SQLite's query planner")
    mine, _theirs = await _population(tenant, other_tenant)
    compiled = repository._skill_links_statement(dialect).compile(dialect=db.engine.dialect)
    state = compiled.construct_expanded_state({"app_id": tenant.id, "mentor_ids": mine})
    processors = {**compiled._bind_processors, **state.processors}
    args = tuple(
        processors[n](state.parameters[n]) if callable(processors.get(n)) else state.parameters[n]
        for n in state.positiontup or ()
    )
    async with db.sessionmaker() as s:
        connection = await s.connection()
        plan = (
            await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + state.statement, args)
        ).all()
    searches = [row[-1] for row in plan if "mentor_skills" in row[-1]]
    assert searches, plan
    assert all("mentor_id=?" in detail for detail in searches), searches


async def test_a_driver_error_on_sqlite_is_sqlalchemys(db: Database, dialect: str) -> None:
    """A statement the database refuses raises SQLAlchemy's error (OperationalError, as
    "database is locked" would), not the driver's own."""
    if dialect != "sqlite":
        pytest.skip("the SQLite driver path")
    async with db.read_sessionmaker() as s:
        with pytest.raises(exc.OperationalError, match="no such table"):
            await fast.fetch(s, _BROKEN, {})


_BROKEN = text("SELECT missing FROM no_such_table")


# --- a booking's INSERTs (db.fast.insert) -------------------------------------------------------


def _problem(response: Any) -> tuple[int, str, bytes]:
    return response.status_code, response.headers["content-type"], response.content


async def test_a_bookings_inserts_run_on_the_driver(
    db: Database, dialect: str, tenant: Tenant
) -> None:
    """On PostgreSQL every statement of a booking (the mentor's and mentee's lock, the session,
    its event, delivery, reminders and key) is sent straight to the driver: counted, never
    through SQLAlchemy's cursor; on SQLite the INSERTs go through SQLAlchemy, as before. The
    same statements either way."""
    await tenant.client.post("/v1/webhook-endpoints", json={"url": "https://example.com/hook"})
    base = await bookable(tenant.client)
    assert isinstance(db.engine, AsyncEngine)
    seen: list[str] = []

    def cursor(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql)

    event.listen(db.engine.sync_engine, "before_cursor_execute", cursor)
    try:
        counted = []
        for starts, face in (("2027-03-23T09:00:00Z", "driver"), ("2027-03-23T10:00:00Z", "sa")):
            if face == "sa":  # what SQLAlchemy's cursor saw of the first booking
                through_cursor = [s for s in counted[0] if s in seen]
            with count_statements() as statements:
                if face == "sa":
                    with through_sqlalchemy():
                        await _book(tenant, base, starts, key=face)
                else:
                    await _book(tenant, base, starts, key=face)
            counted.append(own(statements))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", cursor)
    # Several rows of a table go as one INSERT ... SELECT FROM unnest on PostgreSQL (db/rows.py).
    inserts = [s for s in counted[0] if s.startswith("INSERT")]
    tables = ["sessions", "events", "deliveries", "scheduled_notifications", "idempotency_keys"]
    assert [s.split()[2] for s in inserts] == tables
    assert counted[0] == counted[1]
    if dialect == "postgresql":  # every statement, the locks and the INSERTs included
        assert len(counted[0]) == 11
        assert through_cursor == []
    else:
        assert [s for s in through_cursor if s.startswith("INSERT")] == inserts
    assert all(s in seen for s in inserts)  # through SQLAlchemy: its cursor saw each


async def _book(tenant: Tenant, base: dict[str, Any], starts: str, *, key: str) -> Any:
    response = await tenant.client.post(
        "/v1/sessions", json={**base, "starts_at": starts}, headers={"Idempotency-Key": key}
    )
    assert response.status_code == 201, response.text
    return response


async def test_a_duplicate_session_is_the_same_409_on_the_driver(tenant: Tenant) -> None:
    """A broken unique key (here the session's id, forced) raises SQLAlchemy's IntegrityError
    from the driver too: the booking's 409 problem, the same bytes as through SQLAlchemy, and
    nothing written (the slot stays free)."""
    base = await bookable(tenant.client)
    taken = await book_session(tenant.client, base, "2027-03-23T09:00:00Z")
    answers = []
    for starts, sqlalchemy in (("2027-03-23T10:00:00Z", False), ("2027-03-23T10:00:00Z", True)):
        with patch.object(session_models, "new_id", lambda _prefix: taken["id"]):
            if sqlalchemy:
                with through_sqlalchemy():
                    response = await tenant.client.post(
                        "/v1/sessions", json={**base, "starts_at": starts}
                    )
            else:
                response = await tenant.client.post(
                    "/v1/sessions", json={**base, "starts_at": starts}
                )
        answers.append(_problem(response))
    assert answers[0] == answers[1]
    status, content_type, content = answers[0]
    assert (status, content_type) == (409, "application/problem+json")
    assert json.loads(content)["detail"] == SLOT_TAKEN
    # Nothing was written: the slot is still free to book.
    await book_session(tenant.client, base, "2027-03-23T10:00:00Z")


async def test_an_overlap_past_the_checks_is_the_same_409_on_the_driver(
    dialect: str, tenant: Tenant
) -> None:
    """PostgreSQL's exclusion constraint, behind the booking's checks (switched off here),
    refuses an overlapping session on the driver as through SQLAlchemy: the same 409, with an
    Idempotency-Key kept, and no second session."""
    if dialect != "postgresql":
        pytest.skip("the exclusion constraint is PostgreSQL's")
    base = await bookable(tenant.client)
    await book_session(tenant.client, base, "2027-03-23T09:00:00Z")
    answers = []
    with (
        patch.object(session_service, "why_not", lambda *_args: None),
        patch.object(places, "clashing", lambda *_args: False),
    ):
        for key, sqlalchemy in (("a", False), ("b", True)):
            body = {**base, "starts_at": "2027-03-23T09:15:00Z"}
            headers = {"Idempotency-Key": key}
            if sqlalchemy:
                with through_sqlalchemy():
                    response = await tenant.client.post("/v1/sessions", json=body, headers=headers)
            else:
                response = await tenant.client.post("/v1/sessions", json=body, headers=headers)
            answers.append(_problem(response))
            again = await tenant.client.post("/v1/sessions", json=body, headers=headers)
            assert again.content == response.content  # kept and replayed
    assert answers[0] == answers[1]
    assert answers[0][0] == 409
    assert json.loads(answers[0][2])["detail"] == SLOT_TAKEN
    listed = await tenant.client.get("/v1/sessions", params={"mentor_id": base["mentor_id"]})
    assert len(listed.json()["data"]) == 1


_TRANSACTION = text("SELECT txid_current()")
_ONE = text("SELECT 1")


async def test_the_connection_is_asked_for_once_a_transaction(db: Database, dialect: str) -> None:
    """The driver paths ask SQLAlchemy for the session's connection once per transaction (a
    trip through its greenlet bridge each time), and afresh after a commit or a rollback: the
    next statement runs in the next transaction, never on the one that ended."""
    statement = _TRANSACTION if dialect == "postgresql" else _ONE
    async with db.sessionmaker() as s:
        with patch.object(s, "connection", wraps=s.connection) as asked:
            first = await fast.fetch(s, statement, {})
            second = await fast.fetch(s, statement, {})
            assert asked.call_count == 1
            await s.commit()
            third = await fast.fetch(s, statement, {})
            assert asked.call_count == 2
            await s.rollback()
            fourth = await fast.fetch(s, statement, {})
            assert asked.call_count == 3
            await s.rollback()
    if dialect == "postgresql":
        assert first == second
        assert len({first[0][0], third[0][0], fourth[0][0]}) == 3


@pytest.mark.parametrize("unnamed", [False, True])
async def test_a_series_is_written_in_one_executemany_each(
    db: Database, dialect: str, tenant: Tenant, unnamed: bool
) -> None:
    """A series' rows go in one statement each (an executemany on the driver), also as
    behind PgBouncer with the statement cache off (each statement described once per
    connection, db/fast.py); a duplicate among them is the series' 409 and writes nothing."""
    if unnamed and dialect != "postgresql":
        pytest.skip("the unnamed statements are asyncpg's")
    base = await bookable(tenant.client)
    body = {**base, "starts_at": "2027-03-18T08:00:00Z", "count": 4, "interval_weeks": 1}
    with ExitStack() as stack:
        if unnamed:
            fast_engine.UNNAMED_STATEMENTS.add(db.engine.dialect)
            stack.callback(fast_engine.UNNAMED_STATEMENTS.discard, db.engine.dialect)
        # Two of the four sessions with one id (the series' own id as ever).
        made = session_models.new_id
        ids = iter(["ses_01JD8X4K8Y3N6Q2W5E7R9T1V3A"] * 2 + [made("ses"), made("ses")])

        def new_id(prefix: str) -> str:
            return next(ids) if prefix == "ses" else made(prefix)

        with patch.object(session_models, "new_id", new_id):
            refused = await tenant.client.post("/v1/series", json=body)
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == SLOT_TAKEN
        with count_statements() as statements:
            booked = await tenant.client.post("/v1/series", json=body)
        assert booked.status_code == 201, booked.text
    assert len(booked.json()["sessions"]) == 4
    inserts = [s.split()[2] for s in own(statements) if s.startswith("INSERT")]
    assert inserts == [
        "series",
        "sessions",
        "events",
        "scheduled_notifications",
    ]
    listed = await tenant.client.get("/v1/sessions", params={"mentor_id": base["mentor_id"]})
    assert len(listed.json()["data"]) == 4
