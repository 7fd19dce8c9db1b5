"""Nested lists cost a fixed number of SQL statements, however many objects they hold."""

from fastapi import FastAPI

from tests.conftest import Tenant, count_statements, make_tenant
from tests.factories import create_mentee, create_mentor, create_skill
from tests.gql.helpers import gql_data

MENTORS = """{ mentors(first: 100) { edges { node {
  id name
  skills { skill { name } level note }
  stats { sessionsCompleted minutesMentored averageRating ratingsCount }
} } pageInfo { hasNextPage } } }"""

MENTEES = """{ mentees(first: 100) { edges { node { id seeking { skill { slug } level } } } } }"""


async def _statements(tenant: Tenant, query: str, expected: int) -> int:
    with count_statements() as statements:
        data = await gql_data(tenant.client, query)
    root = next(iter(data.values()))
    assert len(root["edges"]) == expected
    return len(statements)


async def _populate(tenant: Tenant, mentors: int) -> None:
    skills = [await create_skill(tenant.client) for _ in range(3)]
    for i in range(mentors):
        picks = [{"skill_id": s["id"], "level": 1 + (i + j) % 5} for j, s in enumerate(skills[:2])]
        await create_mentor(tenant.client, skills=picks)
        await create_mentee(tenant.client, seeking=[{"skill_id": skills[2]["id"]}])


async def test_mentors_with_skills_and_stats_in_fixed_statements(
    app: FastAPI, tenant: Tenant
) -> None:
    async for small in make_tenant(app, "five mentors"):
        await _populate(small, 5)
        await _populate(tenant, 50)
        five = await _statements(small, MENTORS, 5)
        fifty = await _statements(tenant, MENTORS, 50)
        assert fifty == five, (five, fifty)
        assert fifty <= 6, fifty
        print(f"statements for 5 and 50 mentors: {five}, {fifty}")
        five = await _statements(small, MENTEES, 5)
        fifty = await _statements(tenant, MENTEES, 50)
        assert fifty == five <= 6, (five, fifty)
        # Lists side by side: still one query per list and one per kind of nested thing.
        both = MENTORS[:-1] + MENTEES[1:-1] + "}"
        with count_statements() as statements:
            data = await gql_data(tenant.client, both)
        assert len(data["mentors"]["edges"]) == len(data["mentees"]["edges"]) == 50
        assert len(statements) <= 8, statements
