"""A page of mentors asking for no field with a resolver is answered by mentors as plain data
(dicts, `mentors/gql.mentor_data`), not 50 `MentorType` objects; any selection of a field with
a resolver (availability, upcoming sessions, feedback), however it is reached (alias, fragment,
inline fragment, directive), builds the objects. The answer is the same either way."""

from typing import Any

import pytest
from bench.graphql import GRAPHQL_QUERY

from mentorapi.mentors import gql as mentors_gql
from tests.conftest import Tenant
from tests.factories import create_mentor, create_skill
from tests.gql.helpers import gql

PLAIN = [
    GRAPHQL_QUERY,
    """{ mentors(first: 10) { edges { cursor node { __typename id externalId name headline bio
        timezone languages formats sessionLengths version createdAt updatedAt
        stats { sessionsCompleted averageRating } } } pageInfo { endCursor } } }""",
    # skills from the links (a Skill field the offers do not hold), through a fragment
    """{ mentors { edges { node { ...M skills { skill { description } } } } } }
      fragment M on Mentor { id n: name skills { level skill { slug } } }""",
    # skills not asked for
    "{ mentors { edges { node { id ... on Mentor { name } } } } }",
]

WITH_RESOLVERS = [
    "{ mentors { edges { node { id availability { version } } } } }",
    "{ mentors { edges { node { id s: upcomingSessions(first: 2) { id } } } } }",
    """{ mentors { edges { node { ...F } } } }
      fragment F on Mentor { name feedback { id } }""",
    "{ mentors { edges { node { id ... on Mentor { availability { version } } } } } }",
    """query($on: Boolean!) { mentors { edges { node { id
        availability @include(if: $on) { version } } } } }""",
]


async def _world(tenant: Tenant) -> None:
    skills = [await create_skill(tenant.client, name=f"Skill {i}") for i in range(3)]
    for i in range(4):
        picks = [
            {"skill_id": s["id"], "level": 1 + (i + j) % 5, "note": f"n{j}" if j else None}
            for j, s in enumerate(skills[: i % 4])
        ]
        await create_mentor(tenant.client, skills=picks)


async def _answer(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, query: str, *, objects: bool
) -> tuple[dict[str, Any], int]:
    """The answer, and how many `MentorType` objects were built for it; with `objects`, the
    plain-data path turned off."""
    built = 0
    make = mentors_gql.MentorType.from_model.__func__  # type: ignore[attr-defined]

    def counted(cls: type, *args: Any) -> Any:
        nonlocal built
        built += 1
        return make(cls, *args)

    with monkeypatch.context() as patch:
        patch.setattr(mentors_gql.MentorType, "from_model", classmethod(counted))
        if objects:
            patch.setattr(mentors_gql, "_PLAIN", {})
        body = await gql(tenant.client, query, {"on": True, "first": 50})
    assert not body.get("errors"), body
    return body, built


@pytest.mark.parametrize("query", PLAIN)
async def test_plain_selection_builds_no_mentor_object(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    await _world(tenant)
    plain, built = await _answer(tenant, monkeypatch, query, objects=False)
    assert built == 0
    assert len(plain["data"]["mentors"]["edges"]) == 4
    as_objects, built = await _answer(tenant, monkeypatch, query, objects=True)
    assert built == 4
    assert plain == as_objects


@pytest.mark.parametrize("query", WITH_RESOLVERS)
async def test_a_field_with_a_resolver_builds_objects(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    await _world(tenant)
    body, built = await _answer(tenant, monkeypatch, query, objects=False)
    assert built == 4
    assert len(body["data"]["mentors"]["edges"]) == 4
