"""Safety limits: depth, aliases, tokens, cost, page size, introspection switch."""

from dataclasses import replace

import httpx
import pytest

from mentorapi.graphql import limits
from mentorapi.graphql import schema as schema_module
from mentorapi.graphql.limits import LIST_ESTIMATE, MAX_COST, query_cost
from mentorapi.graphql.schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS, build_schema
from mentorapi.main import create_app
from tests import conftest
from tests.conftest import Tenant, make_tenant
from tests.gql.helpers import error_codes, gql, gql_data

DEEPEST = "{ mentors(first: 1) { edges { node { skills { skill { name } } } } } }"  # 6 levels


async def test_depth_limit(
    tenant: Tenant, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert MAX_DEPTH >= 5
    assert (await gql(tenant.client, DEEPEST)).get("errors") is None
    # Nothing in today's schema nests deeper than 5 (the root field is 0),
    # so prove the wiring with a lower limit.
    monkeypatch.setattr(schema_module, "LIMITS", replace(schema_module.LIMITS, max_depth=4))
    application = create_app(conftest.test_settings(database_url))
    async with application.router.lifespan_context(application):
        async for shallow in make_tenant(application):
            body = await gql(shallow.client, DEEPEST)
            assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
            assert "exceeds maximum operation depth of 4" in body["errors"][0]["message"]
            # through fragments too
            fragment = "fragment F on Mentor { skills { skill { name } } }"
            body = await gql(shallow.client, "{ mentors { edges { node { ...F } } } } " + fragment)
            assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_alias_limit(tenant: Tenant) -> None:
    ok = " ".join(f"a{i}: app {{ id }}" for i in range(MAX_ALIASES))
    assert (await gql(tenant.client, "{ " + ok + " }")).get("errors") is None
    too_many = " ".join(f"a{i}: app {{ id }}" for i in range(MAX_ALIASES + 1))
    body = await gql(tenant.client, "{ " + too_many + " }")
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "aliases" in body["errors"][0]["message"]


async def test_token_limit(tenant: Tenant) -> None:
    fields = " ".join(["id"] * (MAX_TOKENS + 1))
    body = await gql(tenant.client, "{ app { " + fields + " } }")
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "token" in body["errors"][0]["message"].lower()


NESTED_PAGE = (
    "mentors(first: $n) { edges { node { skills { skill { id slug name category description "
    "version createdAt updatedAt } level note } } } }"
)


async def test_cost_limit_multiplies_first_along_nested_lists(tenant: Tenant) -> None:
    query = "query ($n: Int!) { a: " + NESTED_PAGE + " b: " + NESTED_PAGE + " }"
    ok = await gql(tenant.client, query, {"n": 20})
    assert ok.get("errors") is None
    body = await gql(tenant.client, query, {"n": 100})
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert body["errors"][0]["extensions"]["cost"] > MAX_COST
    assert body["data"] is None


def test_cost_formula() -> None:
    from graphql import parse

    schema = build_schema()._schema
    document = parse("{ mentors(first: 7) { edges { node { id skills { level } } } } }")
    operation = document.definitions[0]
    # mentors 1 + 7 * (edges 1 + node 1 + id 1 + skills (1 + LIST_ESTIMATE * level 1))
    expected = 1 + 7 * (1 + 1 + 1 + 1 + LIST_ESTIMATE * 1)
    assert query_cost(schema, operation, {}, {}) == expected  # type: ignore[arg-type]
    default = parse("{ mentors { edges { node { id } } } }").definitions[0]
    assert query_cost(schema, default, {}, {}) == 1 + 20 * 3  # type: ignore[arg-type]


def test_a_cost_is_walked_once_per_operation_and_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An operation met again (the document cache hands over the same one) with the same
    values of the variables its cost read is not walked again; other values are, and get
    their own cost; a variable the cost never read changes nothing."""
    from graphql import parse

    schema = build_schema()._schema
    text = "query ($n: Int!, $x: Boolean) { mentors(first: $n) { edges { node { id } } } }"
    operation = parse(text).definitions[0]
    walks: list[object] = []
    original = limits.Coster.__init__

    def counting(self: limits.Coster, *args: object) -> None:
        walks.append(args[-1])
        original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(limits.Coster, "__init__", counting)
    costs = [
        query_cost(schema, operation, {}, variables)  # type: ignore[arg-type]
        for variables in ({"n": 50}, {"n": 50, "x": True}, {"n": 7}, {"n": 50}, {"n": 7.0}, {})
    ]
    assert costs == [1 + 50 * 3, 1 + 50 * 3, 1 + 7 * 3, 1 + 50 * 3, 1 + 20 * 3, 1 + 20 * 3]
    assert len(walks) == 4  # 50, 7, 7.0 (not an Int: the default) and none given
    fresh = parse(text).definitions[0]  # another document: walked anew
    assert query_cost(schema, fresh, {}, {"n": 50}) == 1 + 50 * 3  # type: ignore[arg-type]
    assert len(walks) == 5


async def test_page_size_is_capped(tenant: Tenant) -> None:
    body = await gql(tenant.client, "{ skills(first: 1000) { edges { cursor } } }")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert (await gql(tenant.client, "{ skills(first: 100) { edges { cursor } } }")).get(
        "errors"
    ) is None


async def test_introspection_is_on_by_default(tenant: Tenant) -> None:
    data = await gql_data(tenant.client, "{ __schema { queryType { name } } }")
    assert data["__schema"]["queryType"]["name"] == "Query"


@pytest.fixture
async def closed_app(database_url: str):  # type: ignore[no-untyped-def]
    application = create_app(conftest.test_settings(database_url, graphql_introspection=False))
    async with application.router.lifespan_context(application):
        yield application


async def test_introspection_can_be_turned_off(closed_app) -> None:  # type: ignore[no-untyped-def]
    async for tenant in make_tenant(closed_app):
        body = await gql(tenant.client, "{ __schema { queryType { name } } }")
        assert set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
        assert body["data"] is None
        assert "introspection" in body["errors"][0]["message"].lower()
        assert (await gql(tenant.client, "{ app { id } }"))["data"]["app"]["id"] == tenant.id


async def test_queries_over_get_cannot_mutate(tenant: Tenant, anon: httpx.AsyncClient) -> None:
    response = await tenant.client.get(
        "/graphql",
        params={"query": 'mutation { createSkill(input: {slug: "x", name: "x"}) { id } }'},
    )
    assert response.status_code in (400, 405)


async def test_syntax_errors_have_a_code_every_time(tenant: Tenant) -> None:
    # Twice: the second answer comes through the parse and validation caches.
    for _ in range(2):
        body = await gql(tenant.client, "{ mentors { edges ")
        assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "Syntax Error" in body["errors"][0]["message"]
        body = await gql(tenant.client, "{ mentors { nope } }")
        assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
