"""A stream of GraphQL documents each of a new shape plans and compiles nothing
(graphql/execution.py).

The plain-field completions are planned over the whole selection and compiled per shape, and a
document chooses its shapes: new aliases, or the same fields in a new order, make new ones.
Before, every document of a new shape was planned and compiled a function per plain object it
selects (bench/graphql_shapes.py: 260M instructions a request against 220M for graphql-core's
own execution); now an operation is planned at its second execution (the document cache hands
the same one back for the same text), and the first is graphql-core's.
"""

import json
import random
from typing import Any

from mentorapi.graphql import execution
from tests.conftest import Tenant
from tests.factories import create_mentor, create_skill
from tests.gql.helpers import gql_data

STATS = ["sessionsCompleted", "minutesMentored", "averageRating", "ratingsCount"]
SKILL = ["id", "slug", "name", "category"]


def page(i: int) -> str:
    """The mentors page with the fields of its plain objects (a mentor's stats, skill levels
    and skills) in orders of its own, and an alias of its own."""
    rng = random.Random(i)
    stats = [*STATS, f"a{i}: ratingsCount"]
    skill = list(SKILL)
    level = ["level", "note", "skill { " + " ".join(rng.sample(skill, len(skill))) + " }"]
    rng.shuffle(stats)
    rng.shuffle(level)
    return (
        "{ mentors(first: 5) { edges { node { id name stats { "
        + " ".join(stats)
        + " } skills { "
        + " ".join(level)
        + " } } } } }"
    )


def nodes(data: dict[str, Any], i: int) -> list[str]:
    """The page's mentors, the alias renamed, as text independent of the order of fields."""
    found = []
    for edge in data["mentors"]["edges"]:
        node = edge["node"]
        node["stats"]["a"] = node["stats"].pop(f"a{i}")
        found.append(json.dumps(node, sort_keys=True))
    return sorted(found)


async def test_documents_of_new_shapes_compile_nothing(tenant: Tenant) -> None:
    skill = await create_skill(tenant.client)
    for _ in range(2):
        await create_mentor(tenant.client, skills=[{"skill_id": skill["id"], "level": 3}])
    # Twice: what any page needs (its leaves' and lists' completions, set by the schema
    # alone, compiled whenever they are missing) is compiled, and kept.
    for _ in range(2):
        expected = nodes(await gql_data(tenant.client, page(1)), 1)
    before = execution.compile_count()
    start = random.randrange(10**6) * 100  # shapes no other test (or database) made
    for i in range(start, start + 40):
        data = await gql_data(tenant.client, page(i))
        # The same answers, field for field, whoever executed them.
        assert nodes(data, i) == expected
    assert execution.compile_count() == before


async def test_a_shape_met_again_is_compiled_once(tenant: Tenant) -> None:
    await create_mentor(tenant.client)
    for _ in range(2):  # the leaves' and lists' completions (any page's) compiled and kept
        await gql_data(tenant.client, page(2))
    document = page(7_000_000 + random.randrange(10**6))  # a shape no other test made
    before = execution.compile_count()
    first = await gql_data(tenant.client, document)
    assert execution.compile_count() == before  # met once: graphql-core executed all of it
    second = await gql_data(tenant.client, document)
    compiled = execution.compile_count() - before
    assert compiled >= 1  # met again: planned, its new shapes (the stats' at least) compiled
    third = await gql_data(tenant.client, document)
    assert execution.compile_count() - before == compiled  # kept: nothing compiled again
    assert first == second == third
