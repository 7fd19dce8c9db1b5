"""Queries: the same data and rules as REST, as Relay connections."""

from typing import Any

import httpx
import pytest

from mentorapi.graphql import relay
from mentorapi.kit.pagination import encode_cursor
from tests.conftest import Tenant
from tests.factories import create_mentee, create_mentor, create_skill
from tests.gql.helpers import error_codes, gql, gql_data

MENTOR = """
query ($id: ID!) {
  mentor(id: $id) {
    id externalId name timezone languages formats sessionLengths version createdAt
    skills { skill { id slug name } level note }
    stats { sessionsCompleted minutesMentored averageRating ratingsCount }
  }
}
"""


PAGE = "{ mentors(first: 2) { edges { EDGE } pageInfo { hasNextPage endCursor } } }"


async def test_app_is_the_caller(tenant: Tenant) -> None:
    data = await gql_data(tenant.client, "{ app { id name createdAt } }")
    assert data["app"]["id"] == tenant.id
    assert data["app"]["createdAt"].endswith("Z")


async def test_no_key_is_unauthenticated(anon: httpx.AsyncClient) -> None:
    body = await gql(anon, "{ app { id } }")
    assert error_codes(body) == ["UNAUTHENTICATED"]
    bad = await anon.post(
        "/graphql", json={"query": "{ app { id } }"}, headers={"Authorization": "Bearer mk_nope"}
    )
    assert error_codes(bad.json()) == ["UNAUTHENTICATED"]


async def test_mentor_matches_rest(tenant: Tenant) -> None:
    skill = await create_skill(tenant.client, name="Pivot tables")
    mentor = await create_mentor(
        tenant.client, skills=[{"skill_id": skill["id"], "level": 4, "note": "daily"}]
    )
    data = await gql_data(tenant.client, MENTOR, {"id": mentor["id"]})
    node = data["mentor"]
    assert node["id"] == mentor["id"]
    assert node["externalId"] == mentor["external_id"]
    assert node["formats"] == [f.upper() for f in mentor["formats"]]
    assert node["sessionLengths"] == mentor["session_lengths"]
    assert node["createdAt"] == mentor["created_at"]
    assert node["skills"] == [
        {
            "skill": {"id": skill["id"], "slug": skill["slug"], "name": "Pivot tables"},
            "level": 4,
            "note": "daily",
        }
    ]
    assert node["stats"] == {
        "sessionsCompleted": 0,
        "minutesMentored": 0,
        "averageRating": None,
        "ratingsCount": 0,
    }


async def test_unknown_wrong_kind_and_other_apps_ids(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = await create_mentor(other_tenant.client)
    body = await gql(tenant.client, MENTOR, {"id": theirs["id"]})
    assert error_codes(body) == ["NOT_FOUND"]
    assert body["data"] is None
    skill = await create_skill(tenant.client)
    body = await gql(tenant.client, MENTOR, {"id": skill["id"]})
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_skills_connection_pages_like_rest(tenant: Tenant) -> None:
    for slug in ("a-skill", "b-skill", "c-skill"):
        await create_skill(tenant.client, slug=slug)
    query = """query ($after: String) { skills(first: 2, after: $after) {
        edges { cursor node { slug } } pageInfo { hasNextPage endCursor } } }"""
    first = (await gql_data(tenant.client, query))["skills"]
    assert [e["node"]["slug"] for e in first["edges"]] == ["a-skill", "b-skill"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await tenant.client.get("/v1/skills", params={"limit": 2})).json()
    # The same cursor on both faces, so a client can switch mid-list.
    assert first["pageInfo"]["endCursor"] == rest["next_cursor"]
    assert first["edges"][-1]["cursor"] == rest["next_cursor"]
    second = (await gql_data(tenant.client, query, {"after": rest["next_cursor"]}))["skills"]
    assert [e["node"]["slug"] for e in second["edges"]] == ["c-skill"]
    assert second["pageInfo"]["hasNextPage"] is False
    # An edge's cursor resumes right after that edge.
    middle = first["edges"][0]["cursor"]
    third = (await gql_data(tenant.client, query, {"after": middle}))["skills"]
    assert [e["node"]["slug"] for e in third["edges"]] == ["b-skill", "c-skill"]


async def test_edge_cursors_are_made_when_asked_for(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page whose selection has no `edges.cursor` makes one cursor, `pageInfo.endCursor`
    (the same as REST's); asked for directly, by alias or through a fragment, every edge has
    its cursor, the one REST gives had the page ended there. Before: one per edge, always."""
    for _ in range(3):
        await create_mentor(tenant.client)
    made: list[str] = []

    def counted(sort: str, values: list[Any]) -> str:
        made.append(sort)
        return encode_cursor(sort, values)

    monkeypatch.setattr(relay, "encode_cursor", counted)
    page = (await gql_data(tenant.client, PAGE.replace("EDGE", "node { id }")))["mentors"]
    assert len(made) == 1
    one = (await tenant.client.get("/v1/mentors", params={"limit": 1})).json()
    two = (await tenant.client.get("/v1/mentors", params={"limit": 2})).json()
    assert page["pageInfo"]["endCursor"] == two["next_cursor"]
    asked = [
        ("cursor", "cursor", ""),
        ("at: cursor", "at", ""),
        ("... on MentorEdge { cursor }", "cursor", ""),
        ("...E", "cursor", " fragment E on MentorEdge { cursor }"),
    ]
    for selection, name, fragment in asked:
        made.clear()
        query = PAGE.replace("EDGE", selection) + fragment
        found = (await gql_data(tenant.client, query))["mentors"]
        assert [e[name] for e in found["edges"]] == [one["next_cursor"], two["next_cursor"]]
        assert found["pageInfo"]["endCursor"] == two["next_cursor"]
        assert len(made) == 2


async def test_bad_cursor_and_page_size(tenant: Tenant) -> None:
    body = await gql(tenant.client, '{ skills(after: "nonsense") { edges { cursor } } }')
    assert error_codes(body) == ["BAD_USER_INPUT"]
    for first in (0, 101):
        body = await gql(tenant.client, f"{{ mentors(first: {first}) {{ edges {{ cursor }} }} }}")
        assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_mentors_filter_and_sort(tenant: Tenant) -> None:
    excel = await create_skill(tenant.client)
    talks = await create_skill(tenant.client)
    a = await create_mentor(
        tenant.client,
        name="Zoe",
        languages=["de"],
        formats=["phone"],
        session_lengths=[10],
        skills=[{"skill_id": excel["id"]}, {"skill_id": talks["id"]}],
    )
    b = await create_mentor(tenant.client, name="Al", skills=[{"skill_id": excel["id"]}])
    query = """query ($filter: MentorFilter, $sort: MentorSort!) {
        mentors(filter: $filter, sort: $sort) { edges { node { id } } } }"""

    async def ids(filter: dict[str, object], sort: str = "CREATED") -> list[str]:
        data = await gql_data(tenant.client, query, {"filter": filter, "sort": sort})
        return [e["node"]["id"] for e in data["mentors"]["edges"]]

    assert await ids({"skills": [excel["slug"]]}) == [a["id"], b["id"]]
    assert await ids({"skills": [excel["slug"]]}, "NAME") == [b["id"], a["id"]]
    assert await ids({"skills": [excel["slug"], talks["slug"]]}) == [a["id"]]
    assert await ids({"language": "DE", "format": "PHONE", "sessionLength": 10}) == [a["id"]]
    assert await ids({"q": "zoe"}) == [a["id"]]
    body = await gql(tenant.client, query, {"filter": {"sessionLength": 90}, "sort": "CREATED"})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = await gql(tenant.client, query, {"filter": {"language": "!!"}, "sort": "CREATED"})
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_mentees_with_seeking(tenant: Tenant) -> None:
    skill = await create_skill(tenant.client)
    mentee = await create_mentee(
        tenant.client, seeking=[{"slug": skill["slug"], "level": 2, "note": "from zero"}]
    )
    await create_mentee(tenant.client)
    query = """query ($skill: String) { mentees(filter: {skill: $skill}, first: 10) {
        edges { node { id name seeking { skill { slug } level note } } }
        pageInfo { hasNextPage } } }"""
    data = await gql_data(tenant.client, query, {"skill": skill["slug"]})
    edges = data["mentees"]["edges"]
    assert [e["node"]["id"] for e in edges] == [mentee["id"]]
    assert edges[0]["node"]["seeking"] == [
        {"skill": {"slug": skill["slug"]}, "level": 2, "note": "from zero"}
    ]
    one = await gql_data(
        tenant.client, "query ($id: ID!) { mentee(id: $id) { name } }", {"id": mentee["id"]}
    )
    assert one["mentee"]["name"] == mentee["name"]


async def test_mentor_and_mentee_cursors_are_the_rest_cursors(tenant: Tenant) -> None:
    for name in ("Bea", "Abe", "Cy"):
        await create_mentor(tenant.client, name=name)
        await create_mentee(tenant.client, name=name)
    sorts = (
        ("CREATED", "created"),
        ("NEWEST", "-created"),
        ("NAME", "name"),
        ("NAME_DESC", "-name"),
        ("RATING", "rating"),
        ("SESSIONS", "sessions"),
    )
    for sort, rest_sort in sorts:
        data = await gql_data(
            tenant.client,
            f"{{ mentors(first: 2, sort: {sort}) {{ pageInfo {{ endCursor }} }} }}",
        )
        rest = await tenant.client.get("/v1/mentors", params={"limit": 2, "sort": rest_sort})
        end_cursor = data["mentors"]["pageInfo"]["endCursor"]
        assert end_cursor == rest.json()["next_cursor"], sort
        # The edge cursor works as `after`: the second page holds the third mentor.
        after = await gql_data(
            tenant.client,
            f'{{ mentors(first: 2, sort: {sort}, after: "{end_cursor}") '
            "{ edges { node { id } } } }",
        )
        assert len(after["mentors"]["edges"]) == 1, sort
    data = await gql_data(tenant.client, "{ mentees(first: 2) { pageInfo { endCursor } } }")
    rest = await tenant.client.get("/v1/mentees", params={"limit": 2})
    assert data["mentees"]["pageInfo"]["endCursor"] == rest.json()["next_cursor"]
