"""GET/PUT /v1/matching/policy and GraphQL matchingPolicy / setMatchingPolicy: versioned."""

from tests.conftest import Tenant
from tests.gql.helpers import gql, gql_data

DEFAULTS = {
    "skill": 0.2,
    "text": 0.35,
    "availability": 0.1,
    "feedback": 0.1,
    "language": 0.05,
    "timezone": 0.05,
    "load": 0.1,
    "continuity": 0.05,
}


async def test_defaults_then_versions(tenant: Tenant) -> None:
    client = tenant.client
    response = await client.get("/v1/matching/policy")
    assert response.status_code == 200
    assert response.json() == {"weights": DEFAULTS, "version": 0, "updated_at": None}
    assert response.headers["ETag"] == '"0"'
    response = await client.put("/v1/matching/policy", json={"weights": {"load": 0.5}})
    assert response.status_code == 200, response.text
    assert response.json()["weights"] == {**DEFAULTS, "load": 0.5}
    assert response.json()["version"] == 1
    assert response.headers["ETag"] == '"1"'
    stale = await client.put(
        "/v1/matching/policy", json={"weights": {"load": 0.1}}, headers={"If-Match": '"0"'}
    )
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 1
    # A PUT replaces: what it leaves out goes back to its default.
    response = await client.put("/v1/matching/policy", json={}, headers={"If-Match": '"1"'})
    assert response.json() == {
        "weights": DEFAULTS,
        "version": 2,
        "updated_at": response.json()["updated_at"],
    }


async def test_graphql_parity(tenant: Tenant, other_tenant: Tenant) -> None:
    client = tenant.client
    query = "{ matchingPolicy { version weights { skill text load } } }"
    data = await gql_data(client, query)
    assert data["matchingPolicy"] == {
        "version": 0,
        "weights": {"skill": 0.2, "text": 0.35, "load": 0.1},
    }
    mutation = """
      mutation($input: MatchingPolicyInput!, $v: Int) {
        setMatchingPolicy(input: $input, expectedVersion: $v) { version weights { text load } }
      }"""
    data = await gql_data(client, mutation, {"input": {"weights": {"text": 0.9}}, "v": 0})
    assert data["setMatchingPolicy"] == {"version": 1, "weights": {"text": 0.9, "load": 0.1}}
    assert (await client.get("/v1/matching/policy")).json()["weights"]["text"] == 0.9
    body = await gql(client, mutation, {"input": {"weights": {"text": 0.5}}, "v": 0})
    assert body["errors"][0]["extensions"]["code"] == "PRECONDITION_FAILED"
    body = await gql(client, mutation, {"input": {"weights": {"text": 2}}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # Another app's policy is its own.
    assert (await other_tenant.client.get("/v1/matching/policy")).json()["version"] == 0
