"""What GraphQL cannot even read is a 400 problem+json, as in REST: never a 500, never text.

`null` as the body was a 500 (strawberry called `.get` on it), and JSON nested deeper than the
standard library's recursion limit was a 500 (RecursionError) on /graphql; so were bytes that are
not UTF-8 (UnicodeDecodeError) and an integer of more than 4,300 digits (ValueError: the
interpreter's int_max_str_digits), in the body or in GET's `variables`.

A subscription sent over HTTP (POST, or GET) ran its resolver as a plain field: an INTERNAL
error, logged as a bug. It is a 400 problem now, as a mutation over GET is: subscriptions take
the WebSocket.
"""

import json

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


SUBSCRIPTIONS = [
    'subscription { sessionUpdated(sessionId: "ses_01M94YVRP37B6T9JQ3BSF7X1Q3") { eventId } }',
    'subscription { sessionsChanged(mentorId: "mtr_01M94YVRP37B6T9JQ3BSF7X1Q3") { eventId } }',
    'subscription { eventLive(eventId: "mev_01M94YVRP37B6T9JQ3BSF7X1Q3") { __typename } }',
    "subscription S($id: ID!) { sessionUpdated(sessionId: $id) { eventId } }",
]


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("accept", ["application/json", "multipart/mixed;subscriptionSpec=1.0"])
@pytest.mark.parametrize("query", SUBSCRIPTIONS)
async def test_a_subscription_over_http_is_a_400_problem(
    tenant: Tenant, method: str, accept: str, query: str
) -> None:
    operation = {"query": query, "variables": {"id": "ses_01M94YVRP37B6T9JQ3BSF7X1Q3"}}
    if method == "POST":
        response = await tenant.client.post("/graphql", json=operation, headers={"Accept": accept})
    else:
        params = {"query": query, "variables": json.dumps(operation["variables"])}
        response = await tenant.client.get("/graphql", params=params, headers={"Accept": accept})
    assert response.status_code == 400, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == f"subscriptions are not allowed when using {method}"
