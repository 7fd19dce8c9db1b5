"""Issue #12, tenancy by construction.

1. The suite-wide statement check (tests/tenancy_hook.py) fails a test on any SELECT, UPDATE
   or DELETE of a tenant table that does not say which app it is for: through the ORM, Core,
   raw SQL and the asyncpg fast path, and even when the code swallows the error.
2. The repository functions that used to read by parent id alone (a mentor's skills and
   offers, a mentee's sought skills, a goal's milestones, a feedback's impact updates) take the
   app: reached through the GraphQL loaders with another app's ids, they find nothing.
"""

import asyncio
import contextlib
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, delete, func, text, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from mentorapi.db import fast
from mentorapi.db.engine import Database
from mentorapi.db.tenancy import CrossTenant, across_tenants
from mentorapi.graphql.context import Context
from mentorapi.mentors import repository as mentors_repository
from mentorapi.mentors.models import Mentor, MentorSkill
from mentorapi.skills.models import Skill
from tests import tenancy_hook
from tests.conftest import Tenant
from tests.factories import bookable, create_mentee, create_mentor, create_skill
from tests.gql.helpers import graphql_request
from tests.tenancy_hook import TenancyViolation, problems
from tests.test_feedback import MENTEE_FEEDBACK, completed_session


def _took(expected: int) -> list[str]:
    """Take the violations this test provoked on purpose off the list (else the suite-wide
    fixture fails the test, as it should for any other)."""
    found = list(tenancy_hook.violations)
    tenancy_hook.violations.clear()
    assert len(found) == expected, found
    return found


# --- the check fails the test -----------------------------------------------------------------


async def test_an_unscoped_orm_query_raises(db: Database, tenant: Tenant) -> None:
    await create_mentor(tenant.client)
    async with db.sessionmaker() as s:
        with pytest.raises(TenancyViolation, match="SELECT of mentors"):
            await s.exec(select(Mentor))
        # The same query with the app is fine.
        assert len((await s.exec(select(Mentor).where(Mentor.app_id == tenant.id))).all()) == 1  # type: ignore[arg-type]
    _took(1)


async def test_unscoped_writes_and_raw_sql_raise(db: Database, tenant: Tenant) -> None:
    mentor = await create_mentor(tenant.client, name="Kept")
    async with db.sessionmaker() as s:
        with pytest.raises(TenancyViolation, match="UPDATE of mentors"):
            await s.exec(update(Mentor).where(col(Mentor.id) == mentor["id"]).values(name="X"))
        await s.rollback()
        with pytest.raises(TenancyViolation, match="DELETE of mentor_skills"):
            await s.exec(delete(MentorSkill).where(col(MentorSkill.mentor_id) == mentor["id"]))
        await s.rollback()
        connection = await s.connection()
        with pytest.raises(TenancyViolation, match="SELECT of skills"):
            await connection.execute(text("SELECT count(*) FROM skills"))
        await s.rollback()
    _took(3)
    # Nothing was written: the check runs before the statement does.
    assert (await tenant.client.get(f"/v1/mentors/{mentor['id']}")).json()["name"] == "Kept"


async def test_an_unscoped_fast_path_read_raises(db: Database, tenant: Tenant) -> None:
    """db.fast sends statements straight to asyncpg (no cursor event): it is checked too."""
    skill = await create_skill(tenant.client)
    statement = sa_select(col(Skill.name)).where(col(Skill.id) == bindparam("id"))
    async with db.read_sessionmaker() as s:
        with pytest.raises(TenancyViolation, match="SELECT of skills"):
            await fast.fetch(s, statement, {"id": skill["id"]})
    _took(1)


async def test_a_swallowed_violation_is_still_recorded(db: Database, tenant: Tenant) -> None:
    """A worker's loop logs and carries on: the suite-wide fixture still sees the violation."""
    async with db.sessionmaker() as s:
        with contextlib.suppress(Exception):  # what a background loop does
            await s.exec(select(func.count()).select_from(Skill))
    assert "SELECT of skills" in _took(1)[0]


async def test_a_statement_marked_with_a_named_reason_passes(db: Database) -> None:
    async with db.sessionmaker() as s:
        every_app = across_tenants(
            select(func.count()).select_from(Skill), CrossTenant.housekeeping
        )
        assert (await s.exec(every_app)).one() >= 0
        unknown = (
            select(func.count())
            .select_from(Skill)
            .execution_options(mentorapi_cross_tenant="because")
        )
        with pytest.raises(TenancyViolation, match="unknown cross-tenant reason"):
            await s.exec(unknown)
    _took(1)


async def test_the_unit_of_work_writes_back_what_it_loaded(db: Database, tenant: Tenant) -> None:
    """A flush's UPDATE/DELETE by primary key is of a row a checked SELECT loaded."""
    skill = await create_skill(tenant.client, name="Before")
    async with db.sessionmaker() as s, s.begin():
        row = (
            await s.exec(select(Skill).where(Skill.app_id == tenant.id, Skill.id == skill["id"]))  # type: ignore[arg-type]
        ).one()
        row.name = "After"
        s.add(row)
    assert (await tenant.client.get(f"/v1/skills/{skill['id']}")).json()["name"] == "After"
    assert tenancy_hook.violations == []


# --- what the rule accepts (the parser, on the SQL both databases receive) --------------------


@pytest.mark.parametrize(
    ("sql", "found"),
    [
        ("SELECT * FROM mentors WHERE mentors.app_id = ?", []),
        ("SELECT * FROM mentors WHERE mentors.app_id = $1::VARCHAR AND mentors.id = $2", []),
        ("SELECT * FROM mentors WHERE app_id = ?", []),  # one table: unqualified is its own
        ("SELECT * FROM mentors", ["mentors"]),
        ("SELECT * FROM mentors WHERE mentors.id = ?", ["mentors"]),
        # Under OR, or against a column, an app_id predicate limits nothing for sure.
        ("SELECT * FROM mentors WHERE mentors.app_id = ? OR mentors.id = ?", ["mentors"]),
        ("SELECT * FROM mentors WHERE mentors.app_id = mentors.external_id", ["mentors"]),
        ("SELECT * FROM mentors WHERE mentors.app_id IN (?, ?)", ["mentors"]),
        # A link joined on its foreign key to a scoped mentor, a skill reached from a scoped
        # link: scoped only when the join names the app on both sides, as the composite key does.
        (
            "SELECT * FROM mentor_skills JOIN mentors ON mentors.id = mentor_skills.mentor_id "
            "WHERE mentors.app_id = ?",
            ["mentor_skills"],
        ),
        (
            "SELECT * FROM mentor_skills JOIN mentors ON mentors.app_id = mentor_skills.app_id "
            "AND mentors.id = mentor_skills.mentor_id WHERE mentors.app_id = ?",
            [],
        ),
        (
            "SELECT * FROM mentor_skills AS l JOIN skills AS s ON s.id = l.skill_id "
            "WHERE l.app_id = ?",
            ["skills"],
        ),
        (
            "SELECT * FROM mentor_skills AS l JOIN skills AS s ON s.id = l.skill_id "
            "AND s.app_id = l.app_id WHERE l.app_id = ?",
            [],
        ),
        # The same join, nothing scoped: both reported.
        (
            "SELECT * FROM mentor_skills AS l JOIN skills AS s ON s.id = l.skill_id",
            ["mentor_skills", "skills"],
        ),
        # A join on a column that is no foreign key between them does not carry the scope.
        (
            "SELECT * FROM mentors JOIN mentees ON mentees.external_id = mentors.external_id "
            "WHERE mentors.app_id = ?",
            ["mentees"],
        ),
        (
            "SELECT * FROM mentors JOIN mentees ON mentees.app_id = mentors.app_id "
            "WHERE mentors.app_id = ?",
            [],
        ),
        # An outer join's ON limits the table it brings in, never the other side.
        (
            "SELECT * FROM mentors LEFT OUTER JOIN availability "
            "ON availability.mentor_id = mentors.id AND mentors.app_id = ?",
            ["mentors"],
        ),
        # Through the apps row: `t.app_id = apps.id` with `apps.id = :x`.
        (
            "SELECT * FROM apps LEFT OUTER JOIN mentors ON mentors.app_id = apps.id "
            "WHERE apps.id = ?",
            [],
        ),
        # Subqueries are statements of their own; a correlated one may lean on its outer row.
        (
            "SELECT * FROM mentors WHERE mentors.app_id = ? AND mentors.id IN "
            "(SELECT mentor_id FROM mentor_skills)",
            ["mentor_skills"],
        ),
        (
            "SELECT * FROM mentees WHERE mentees.app_id = ? AND EXISTS (SELECT 1 FROM "
            "mentee_skills WHERE mentee_skills.mentee_id = mentees.id)",
            ["mentee_skills"],
        ),
        (
            "SELECT * FROM mentees WHERE mentees.app_id = ? AND EXISTS (SELECT 1 FROM "
            "mentee_skills WHERE mentee_skills.app_id = mentees.app_id "
            "AND mentee_skills.mentee_id = mentees.id)",
            [],
        ),
        ("UPDATE mentors SET name = ? WHERE mentors.id = ?", ["mentors"]),
        ("UPDATE mentors SET name = ? WHERE mentors.app_id = ? AND mentors.id = ?", []),
        ("DELETE FROM goals WHERE goals.mentee_id = ?", ["goals"]),
        # Not tenant tables, or not reads/writes this rule is about.
        ("SELECT * FROM apps", []),
        ("INSERT INTO mentors (id, app_id) VALUES (?, ?)", []),
    ],
)
def test_what_counts_as_scoped(sql: str, found: list[str]) -> None:
    # As SQLite's and asyncpg's placeholders (the PostgreSQL-only casts on PostgreSQL only).
    sqlite = problems(sql, "sqlite") if "$" not in sql else ()
    reported = sqlite + problems(sql.replace("?", "$1"), "postgresql")
    tables = sorted({p.split(" of ")[1].split(" ")[0] for p in reported})
    assert tables == sorted(found)


def test_a_unit_of_work_update_is_accepted_only_while_flushing() -> None:
    # api_keys: global, keyed by id alone, but with an app_id (every tenant table's primary key
    # starts with app_id, so a flush names the app anyway).
    sql = "UPDATE api_keys SET revoked_at=? WHERE api_keys.id = ?"
    assert problems(sql, "sqlite", flushing=True) == ()
    assert problems(sql, "sqlite", flushing=False) != ()
    # A flush never writes by anything but the primary key.
    assert problems("UPDATE api_keys SET prefix=? WHERE api_keys.prefix = ?", "sqlite", True) != ()
    assert problems("UPDATE skills SET name=? WHERE skills.id = ?", "sqlite", True) != ()
    sql = "UPDATE skills SET name=? WHERE skills.app_id = ? AND skills.id = ?"
    assert problems(sql, "sqlite", flushing=False) == ()


# --- the five functions, through the GraphQL loaders, with another app's ids ------------------


async def _other_apps_rows(theirs: Tenant) -> dict[str, Any]:
    """A mentor with skills, a mentee seeking one, a goal with milestones and a feedback with
    an impact update, all of `theirs`."""
    c = theirs.client
    skill = await create_skill(c)
    mentor = await create_mentor(c, skills=[{"skill_id": skill["id"], "level": 4}])
    mentee = await create_mentee(c, seeking=[{"skill_id": skill["id"], "level": 2}])
    goal = await c.post(
        f"/v1/mentees/{mentee['id']}/goals",
        json={"title": "Negotiate my next offer", "milestones": [{"title": "Know my rate"}]},
    )
    assert goal.status_code == 201, goal.text
    base = await bookable(c)
    sid = await completed_session(theirs, base)
    feedback = await c.post(f"/v1/sessions/{sid}/feedback", json=MENTEE_FEEDBACK)
    assert feedback.status_code == 201, feedback.text
    update_ = await c.post(
        f"/v1/feedback/{feedback.json()['id']}/impact-updates", json={"text": "Promoted."}
    )
    assert update_.status_code == 201, update_.text
    return {
        "mentor": mentor["id"],
        "mentee": mentee["id"],
        "goal": goal.json()["id"],
        "feedback": feedback.json()["id"],
    }


async def test_loaders_find_nothing_of_another_app(
    app: FastAPI, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await _other_apps_rows(other_tenant)
    # The other app sees its own rows through the same loaders (the ids are real).
    own = Context(db, graphql_request(app, f"Bearer {other_tenant.key}"))
    try:
        found = await asyncio.gather(
            own.loaders.mentor_skills.load(theirs["mentor"]),
            own.loaders.mentee_seeking.load(theirs["mentee"]),
            own.loaders.milestones.load(theirs["goal"]),
            own.loaders.impact_updates.load(theirs["feedback"]),
        )
        assert all(len(rows) == 1 for rows in found), found
    finally:
        await own.finish(commit=False)
        await own.close()

    context = Context(db, graphql_request(app, f"Bearer {tenant.key}"))
    try:
        found = await asyncio.gather(
            context.loaders.mentor_skills.load(theirs["mentor"]),  # mentors.skills_for
            context.loaders.mentee_seeking.load(theirs["mentee"]),  # mentees.seeking_for
            context.loaders.milestones.load(theirs["goal"]),  # goals.milestones_for
            context.loaders.impact_updates.load(theirs["feedback"]),  # feedback.updates_for
        )
        assert found == [[], [], [], []]
    finally:
        await context.finish(commit=False)
        await context.close()


async def test_offers_of_another_apps_mentor_are_not_found(
    db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    """mentors.offers_for (the mentor page and skill renames) takes the app too."""
    skill = await create_skill(other_tenant.client)
    mentor = await create_mentor(other_tenant.client, skills=[{"skill_id": skill["id"]}])
    async with db.read_sessionmaker() as s:
        offers = mentors_repository.offers_for
        theirs = await offers(s, other_tenant.id, [mentor["id"]])  # type: ignore[call-arg]
        assert [o["skill"]["id"] for o in theirs[mentor["id"]]] == [skill["id"]]
        assert await offers(s, tenant.id, [mentor["id"]]) == {}  # type: ignore[call-arg]
