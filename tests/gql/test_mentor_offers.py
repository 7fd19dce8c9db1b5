"""A mentor's skills answered from the stored offers (Mentor.offers) when the selection asks
only for what they hold, and from the links otherwise: the same answer either way (renamed
skills, 0..n skills, aliases, fragments), one statement for the bench page instead of two, and
a Skill field outside the offers never read from the partial skill."""

from typing import Any

import pytest
from bench.graphql import GRAPHQL_QUERY
from graphql import parse

from mentorapi.graphql.lookahead import selects_only
from mentorapi.mentors import gql as mentors_gql
from mentorapi.mentors.gql import OFFER_FIELDS
from tests.conftest import Tenant, count_statements, own
from tests.factories import create_mentor, create_skill
from tests.gql.helpers import gql, gql_data


def _links(statements: list[str]) -> int:
    return len([s for s in own(statements) if "mentor_skills" in s and "level" in s])


async def _world(tenant: Tenant) -> list[dict[str, Any]]:
    """Mentors with 0..4 skills (notes or none), one skill renamed after they chose it, one
    mentor's skills replaced."""
    skills = [
        await create_skill(tenant.client, name=f"Skill {i}", category=f"c{i % 2}") for i in range(3)
    ]
    skills.append(await create_skill(tenant.client, name="Bare", description="only in rows"))
    mentors = []
    for i in range(6):
        picks = [
            {"skill_id": s["id"], "level": 1 + (i * 3 + j) % 5, "note": f"n{i}{j}" if j else None}
            for j, s in enumerate(skills)
        ]
        mentors.append(await create_mentor(tenant.client, skills=picks[: i % 5]))
    renamed = await tenant.client.patch(
        f"/v1/skills/{skills[0]['id']}",
        json={"slug": "renamed", "name": "Renamed", "category": None},
    )
    assert renamed.status_code == 200, renamed.text
    replaced = await tenant.client.put(
        f"/v1/mentors/{mentors[1]['id']}/skills",
        json={"skills": [{"skill_id": skills[3]["id"], "level": 4, "note": "new"}]},
    )
    assert replaced.status_code == 200, replaced.text
    return mentors


FRAGMENTS = """{ mentors(first: 50) { edges { node { id
    a: skills { lv: level note s: skill { __typename ...R ... on Skill { category } } }
    ...M } } } }
  fragment R on Skill { id slug n: name }
  fragment M on Mentor { skills { __typename level skill { id name } } }"""

ONE = """query($id: ID!) { mentor(id: $id) { id ... on Mentor {
    skills { level note skill { ...R } } } } }
  fragment R on Skill { id slug name category }"""


async def _both(
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    variables: dict[str, Any],
    read: int = 0,
) -> dict[str, Any]:
    """The answer as it comes (from the offers: no links statement but the `read` the service
    makes itself), and as the links give it (the offers path turned off: one statement more);
    they must be the same."""
    with count_statements() as statements:
        offered = await gql(tenant.client, query, variables)
    assert _links(statements) == read
    with monkeypatch.context() as patch:
        patch.setattr(mentors_gql, "_offers_fit", lambda info, at: False)
        with count_statements() as statements:
            linked = await gql(tenant.client, query, variables)
        assert _links(statements) == read + 1
    assert not offered.get("errors"), offered
    assert offered == linked
    return offered


@pytest.mark.parametrize("document", ["bench", "fragments"])
async def test_the_offers_answer_as_the_links_do(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, document: str
) -> None:
    mentors = await _world(tenant)
    query = GRAPHQL_QUERY if document == "bench" else FRAGMENTS
    data = (await _both(tenant, monkeypatch, query, {"first": 50}))["data"]
    edges = data["mentors"]["edges"]
    assert [len(e["node"]["skills"]) for e in edges] == [0, 1, 2, 3, 4, 0]
    if document == "bench":
        slugs = {s["skill"]["slug"] for e in edges for s in e["node"]["skills"]}
        assert "renamed" in slugs
    for mentor in mentors:
        # One mentor's offers are the service's, read from the links (get_view): the loader's
        # statement is the one saved.
        await _both(tenant, monkeypatch, ONE, {"id": mentor["id"]}, read=1)


async def test_the_bench_page_is_one_statement(tenant: Tenant) -> None:
    await _world(tenant)
    with count_statements() as statements:
        data = await gql_data(tenant.client, GRAPHQL_QUERY, {"first": 50})
    assert len(data["mentors"]["edges"]) == 6
    assert len(own(statements)) == 1, own(statements)


@pytest.mark.parametrize(
    ("selection", "fragment"),
    [
        ("skill { id description }", ""),
        ("level skill { ...F }", "fragment F on Skill { id description version }"),
        ("level skill { id ... on Skill { createdAt updatedAt description } }", ""),
        ("level skill @include(if: true) { id description }", ""),
    ],
)
async def test_other_skill_fields_come_from_the_links(
    tenant: Tenant, selection: str, fragment: str
) -> None:
    await _world(tenant)
    query = f"{{ mentors(first: 50) {{ edges {{ node {{ id skills {{ {selection} }} }} }} }} }}"
    with count_statements() as statements:
        data = await gql_data(tenant.client, query + fragment)
    assert _links(statements) == 1
    nested = [s for e in data["mentors"]["edges"] for s in e["node"]["skills"]]
    assert len(nested) == 10
    # The Bare skill: chosen by mentor 4 and, replacing its skills, by mentor 1.
    described = [s["skill"]["description"] for s in nested]
    assert described.count("only in rows") == 2
    assert described.count(None) == 8


async def test_a_directive_under_skills_takes_the_links(tenant: Tenant) -> None:
    await _world(tenant)
    query = """query($x: Boolean!) { mentors(first: 50) { edges { node {
        skills { level skill { id name @include(if: $x) } } } } } }"""
    for x in (True, False):
        with count_statements() as statements:
            data = await gql_data(tenant.client, query, {"x": x})
        assert _links(statements) == 1
        assert all(
            ("name" in s["skill"]) is x
            for e in data["mentors"]["edges"]
            for s in e["node"]["skills"]
        )


async def test_a_field_outside_the_offers_is_never_made_up(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were a selection misjudged, the partial skill refuses (INTERNAL), never answers."""
    await _world(tenant)
    monkeypatch.setattr(mentors_gql, "_offers_fit", lambda info, at: True)
    body = await gql(
        tenant.client,
        "{ mentors(first: 50) { edges { node { skills { skill { description } } } } } }",
    )
    assert body["errors"]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"INTERNAL"}
    # The offers are plain data (graphql/execution.read_field): a key they lack is an error.
    skills = [s for e in body["data"]["mentors"]["edges"] for s in e["node"]["skills"]]
    assert skills
    assert all(s["skill"] == {"description": None} for s in skills)


class _Info:
    def __init__(self, document: str) -> None:
        parsed = parse(document)
        operation = parsed.definitions[0]
        fragments = {d.name.value: d for d in parsed.definitions[1:]}  # type: ignore[attr-defined]
        root = operation.selection_set.selections[0]  # type: ignore[attr-defined]
        self._raw_info = type("Raw", (), {"field_nodes": [root], "fragments": fragments})


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{ m { skills { level note skill { id slug name category __typename } } } }", True),
        ("{ m { x: skills { y: level z: skill { w: id } } } }", True),
        ("{ m { skills { skill { ...F } } } } fragment F on Skill { id ... { slug } }", True),
        ("{ m { ... on M { skills { level } } skills { skill { id } } } }", True),
        ("{ m { skills { skill { id description } } } }", False),
        ("{ m { skills { skill { id } } skills { skill { version } } } }", False),
        ("{ m { skills { skill { ...F } } } } fragment F on Skill { ... { createdAt } }", False),
        ("{ m { skills { level @skip(if: false) } } }", False),
        ("{ m { skills @include(if: true) { level } } }", False),
        ("{ m { skills { ...F } } } fragment F on L @x { level }", False),
        ("{ m { skills { ...Nope } } }", False),
        ("{ m { skills { level { x } } } }", False),
        ("{ m { id } }", False),  # nothing reached: nothing known to fit
    ],
)
def test_selects_only_looks_through_aliases_and_fragments(document: str, expected: bool) -> None:
    assert selects_only(_Info(document), ["skills"], OFFER_FIELDS) is expected
