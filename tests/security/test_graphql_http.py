"""What GraphQL cannot even read is a 400 problem+json, as in REST: never a 500, never text.

`null` as the body was a 500 (strawberry called `.get` on it), and JSON nested deeper than the
standard library's recursion limit was a 500 (RecursionError) on /graphql; so were bytes that are
not UTF-8 (UnicodeDecodeError) and an integer of more than 4,300 digits (ValueError: the
interpreter's int_max_str_digits), in the body or in GET's `variables`.
"""

import httpx
import pytest

from tests.conftest import Tenant

DEEP = b"[" * 100_000 + b"]" * 100_000
BODIES = {
    "null": b"null",
    "a number": b"42",
    "a string": b'"{ app { id } }"',
    "deep json": DEEP,
    "deep variables": b'{"query": "{ app { id } }", "variables": {"x": ' + DEEP + b"}}",
    "a batch": b'[{"query": "{ app { id } }"}]',
    "not json": b"{query",
    "query not a string": b'{"query": 5}',
    "not utf-8": b'{"query": "{ app { id } }", "variables": {"x": "\xff\xfe"}}',
    "not utf-8 in the query": b'{"query": "{ app { id \xc3 } }"}',
    "a 5,000-digit number": b'{"query": "query($x: Int) { app { id } }", "variables": {"x": '
    + b"9" * 5000
    + b"}}",
}


@pytest.mark.parametrize("name", sorted(BODIES))
async def test_unreadable_graphql_bodies_are_400_problems(tenant: Tenant, name: str) -> None:
    for client in (tenant.client, httpx.AsyncClient(transport=tenant.client._transport)):
        response = await client.post(
            "http://test/graphql",
            content=BODIES[name],
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, (name, response.text[:200])
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 400


@pytest.mark.parametrize(
    "variables", ["null", "[1]", "{bad", "[" * 5000 + "]" * 5000, '{"x": ' + "9" * 5000 + "}"]
)
async def test_unreadable_get_variables_are_400_problems(tenant: Tenant, variables: str) -> None:
    response = await tenant.client.get(
        "/graphql", params={"query": "query($x: Int) { app { id } }", "variables": variables}
    )
    assert response.status_code in (200, 400), response.text[:200]
    if response.status_code == 400:
        assert response.headers["content-type"].startswith("application/problem+json")
    else:  # `null` variables are no variables
        assert response.json()["data"]["app"]["id"] == tenant.id


async def test_deep_json_to_rest_is_400(tenant: Tenant) -> None:
    response = await tenant.client.post(
        "/v1/skills", content=DEEP, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text[:200]
    assert response.headers["content-type"].startswith("application/problem+json")
