"""A mentor's skills are loaded by whoever builds mentor objects, for all of them at once, when
the selection asks for them (graphql/lookahead.py), and read as plain data: through aliases,
fragments and inline fragments, in lists, in one mentor, in mutations and under sessions, the
skills are the links' (the same as REST's), in one statement however many mentors. (A list or
one mentor asking only for what the stored offers hold is answered from them instead:
tests/gql/test_mentor_offers.py.)"""

from typing import Any

import pytest
from graphql import parse

from mentorapi.db import fast
from mentorapi.graphql.lookahead import selects
from mentorapi.mentors import gql as mentors_gql
from mentorapi.mentors.gql import SkillsNotLoaded
from tests.conftest import Tenant, count_statements, own
from tests.factories import book_session, bookable, create_mentor, create_skill
from tests.gql.helpers import gql, gql_data


def _is_links(statement: str) -> bool:
    return "mentor_skills" in statement and "mentor_skills.level" in statement


async def _mentors(tenant: Tenant, n: int) -> list[dict[str, Any]]:
    skills = [await create_skill(tenant.client, name=f"Skill {i}") for i in range(3)]
    created = []
    for i in range(n):
        picks = [{"skill_id": s["id"], "level": 1 + (i + j) % 5} for j, s in enumerate(skills)]
        created.append(await create_mentor(tenant.client, skills=picks[: 1 + i % 3]))
    return created


def _rest_skills(mentor: dict[str, Any]) -> list[tuple[str, int]]:
    return [(s["skill"]["id"], s["level"]) for s in mentor["skills"]]


def _gql_skills(node: dict[str, Any], key: str = "skills") -> list[tuple[str, int]]:
    return [(s["skill"]["id"], s["level"]) for s in node[key]]


SHAPES = {
    "plain": "{ mentors(first: 50) { edges { node { id skills { skill { id } level } } } } }",
    "alias": "{ mentors(first: 50) { edges { node { id s: skills { skill { id } level } } } } }",
    "fragment": """{ mentors(first: 50) { edges { node { ...M } } } }
        fragment M on Mentor { id skills { skill { id } level } }""",
    "inline": """{ mentors(first: 50) { edges { ... on MentorEdge { node {
        id ... on Mentor { skills { skill { id } level } } } } } } }""",
    "twice": """{ mentors(first: 50) { edges { node { id skills { level } }
        node { skills { skill { id } } } } } }""",
}


@pytest.mark.parametrize("path", ["offers", "links"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_every_way_of_asking_gets_each_mentors_skills(
    tenant: Tenant, shape: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """These selections ask only for what the offers hold: answered from them (no links
    statement), or, with that path turned off, from the links (one statement)."""
    if path == "links":
        monkeypatch.setattr(mentors_gql, "_offers_fit", lambda info, at: False)
    created = {m["id"]: m for m in await _mentors(tenant, 7)}
    query = SHAPES[shape]
    with count_statements() as statements:
        body = await gql(tenant.client, query)
    assert not body.get("errors"), body
    edges = body["data"]["mentors"]["edges"]
    assert len(edges) == 7
    for edge in edges:
        node = edge["node"]
        key = "s" if shape == "alias" else "skills"
        assert _gql_skills(node, key) == _rest_skills(created[node["id"]])
    links = len([s for s in own(statements) if _is_links(s)])
    assert links == (1 if path == "links" else 0)


async def test_skills_not_asked_for_are_not_loaded(tenant: Tenant) -> None:
    await _mentors(tenant, 3)
    with count_statements() as statements:
        data = await gql_data(tenant.client, "{ mentors(first: 5) { edges { node { id } } } }")
    assert len(data["mentors"]["edges"]) == 3
    assert not [s for s in statements if _is_links(s)]


async def test_one_mentor_and_mutations_carry_their_skills(tenant: Tenant) -> None:
    (mentor,) = await _mentors(tenant, 1)
    data = await gql_data(
        tenant.client,
        "query($id: ID!) { mentor(id: $id) { skills { skill { id slug } level note } } }",
        {"id": mentor["id"]},
    )
    assert _gql_skills(data["mentor"]) == _rest_skills(mentor)
    skill = await create_skill(tenant.client, name="Brand new")
    data = await gql_data(
        tenant.client,
        """mutation($id: ID!, $skill: ID!) {
          setMentorSkills(id: $id, skills: [{skillId: $skill, level: 5, note: "yes"}]) {
            skills { skill { id name } level note } } }""",
        {"id": mentor["id"], "skill": skill["id"]},
    )
    assert data["setMentorSkills"]["skills"] == [
        {"skill": {"id": skill["id"], "name": "Brand new"}, "level": 5, "note": "yes"}
    ]


async def test_the_mentors_of_many_sessions_load_their_skills_together(tenant: Tenant) -> None:
    bases = [await bookable(tenant.client) for _ in range(3)]
    for day, base in enumerate(bases, start=11):
        await book_session(tenant.client, base, f"2027-01-{day}T09:00:00Z")
    with count_statements() as statements:
        data = await gql_data(
            tenant.client,
            "{ sessions(first: 10) { edges { node { mentor { id skills { skill { id } } } } } } }",
        )
    edges = data["sessions"]["edges"]
    assert len(edges) == 3
    skill_of = {base["mentor_id"]: base["skill_id"] for base in bases}
    for edge in edges:
        mentor = edge["node"]["mentor"]
        assert [s["skill"]["id"] for s in mentor["skills"]] == [skill_of[mentor["id"]]]
    assert len([s for s in own(statements) if _is_links(s)]) == 1


class _Info:
    """What `selects` reads of strawberry's Info: graphql-core's field nodes and fragments."""

    def __init__(self, document: str) -> None:
        parsed = parse(document)
        operation = parsed.definitions[0]
        fragments = {d.name.value: d for d in parsed.definitions[1:]}  # type: ignore[attr-defined]
        root = operation.selection_set.selections[0]  # type: ignore[attr-defined]
        self._raw_info = type("Raw", (), {"field_nodes": [root], "fragments": fragments})


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{ m { a { b } } }", True),
        ("{ m { x: a { y: b } } }", True),  # aliases are not names
        ("{ m { a { c } } }", False),
        ("{ m { b } }", False),
        ("{ m { a { b @skip(if: true) } } }", True),  # a superset: directives are not read
        ("{ m { ... on T { a { ...F } } } } fragment F on U { ... { b } }", True),
        ("{ m { a { c } a { b } } }", True),  # merged, as execution merges them
        ("{ m { ...F ...F } } fragment F on T { a { c } }", False),
    ],
)
def test_selects_sees_through_aliases_and_fragments(document: str, expected: bool) -> None:
    assert selects(_Info(document), "a", "b") is expected


def test_skills_never_loaded_are_never_read_as_none() -> None:
    with pytest.raises(RuntimeError, match="not loaded"):
        list(SkillsNotLoaded())


SKILL_FIELDS = "id slug name category description version createdAt updatedAt"


async def test_a_skill_offered_by_many_is_read_once_and_whole(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The links statement carries each skill's row once (a row of its own, the links' skill
    columns NULL), and every mentor's nested skill is still the whole skill, as `skill(id:)`
    gives it."""
    skills = [
        await create_skill(tenant.client, name=f"Skill {i}", category=f"c{i}", description="d")
        for i in range(3)
    ]
    skills.append(await create_skill(tenant.client, name="Bare"))  # no category, description
    for i in range(6):
        picks = [
            {"skill_id": s["id"], "level": 1 + (i + j) % 5, "note": f"n{i}{j}" if j % 2 else None}
            for j, s in enumerate(skills)
        ]
        await create_mentor(tenant.client, skills=picks)
    links: list[Any] = []
    original = fast.fetch

    async def capturing(db_session: Any, statement: Any, params: Any) -> Any:
        rows = await original(db_session, statement, params)
        if "mentor_skills" in str(statement):
            links.extend(rows)
        return rows

    monkeypatch.setattr(fast, "fetch", capturing)
    data = await gql_data(
        tenant.client,
        f"{{ mentors(first: 50) {{ edges {{ node {{ skills {{ level note skill {{ {SKILL_FIELDS} }}"
        " } } } } }",
    )
    whole = {
        s["id"]: (
            await gql_data(tenant.client, f'{{ skill(id: "{s["id"]}") {{ {SKILL_FIELDS} }} }}')
        )["skill"]
        for s in skills
    }
    nested = [s for e in data["mentors"]["edges"] for s in e["node"]["skills"]]
    assert len(nested) == 24
    for link in nested:
        assert link["skill"] == whole[link["skill"]["id"]]
    assert len(links) == 24 + len(skills)
    read = [row[3] for row in links if row[0] is None]
    assert sorted(read) == sorted(s["id"] for s in skills)
