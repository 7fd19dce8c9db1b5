"""Webhook endpoints and the event log over GraphQL: the same service, API key only."""

from tests.conftest import Tenant
from tests.factories import as_member, create_mentee, mint_token
from tests.gql.helpers import error_codes, gql, gql_data

CREATE = """
mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { id url events enabled secret version }
}"""


async def test_endpoint_lifecycle_and_event_log(tenant: Tenant, other_tenant: Tenant) -> None:
    created = (
        await gql_data(
            tenant.client,
            CREATE,
            {"input": {"url": "https://example.com/hooks", "events": ["session.booked"]}},
        )
    )["createWebhookEndpoint"]
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["session.booked"]

    listed = await gql_data(tenant.client, "{ webhookEndpoints { edges { node { id url } } } }")
    assert [e["node"]["id"] for e in listed["webhookEndpoints"]["edges"]] == [created["id"]]
    # The secret is shown at creation and rotation only.
    single = await gql(tenant.client, f'{{ webhookEndpoint(id: "{created["id"]}") {{ secret }} }}')
    assert single.get("errors")

    update = """mutation($id: ID!, $v: Int) {
      updateWebhookEndpoint(id: $id, input: {description: "partner"}, expectedVersion: $v) {
        description version } }"""
    stale = await gql(tenant.client, update, {"id": created["id"], "v": 9})
    assert error_codes(stale) == ["PRECONDITION_FAILED"]
    done = await gql_data(tenant.client, update, {"id": created["id"], "v": 1})
    assert done["updateWebhookEndpoint"] == {"description": "partner", "version": 2}

    rotated = await gql_data(
        tenant.client,
        f'mutation {{ rotateWebhookEndpointSecret(id: "{created["id"]}") {{ secret }} }}',
    )
    assert rotated["rotateWebhookEndpointSecret"]["secret"] != created["secret"]

    tested = await gql_data(
        tenant.client, f'mutation {{ testWebhookEndpoint(id: "{created["id"]}") {{ id type }} }}'
    )
    event_id = tested["testWebhookEndpoint"]["id"]
    assert tested["testWebhookEndpoint"]["type"] == "webhook.test"
    log = await gql_data(
        tenant.client, '{ events(filter: {type: "webhook.test"}) { edges { node { id data } } } }'
    )
    assert [e["node"]["id"] for e in log["events"]["edges"]] == [event_id]

    # Another app: not found, never forbidden.
    for query in (
        f'{{ webhookEndpoint(id: "{created["id"]}") {{ id }} }}',
        f'{{ event(id: "{event_id}") {{ id }} }}',
        f'mutation {{ deleteWebhookEndpoint(id: "{created["id"]}") }}',
    ):
        assert error_codes(await gql(other_tenant.client, query)) == ["NOT_FOUND"]

    deleted = await gql_data(
        tenant.client, f'mutation {{ deleteWebhookEndpoint(id: "{created["id"]}") }}'
    )
    assert deleted["deleteWebhookEndpoint"] == created["id"]


async def test_bad_input_and_members(tenant: Tenant) -> None:
    for url in ("ftp://example.com/x", "not a url", "https://" + "a" * 3000 + ".com"):
        body = await gql(tenant.client, CREATE, {"input": {"url": url}})
        assert error_codes(body) == ["BAD_USER_INPUT"], body
    bad_type = await gql(
        tenant.client, CREATE, {"input": {"url": "https://example.com", "events": ["nope"]}}
    )
    assert error_codes(bad_type) == ["BAD_USER_INPUT"]
    assert (await gql_data(tenant.client, "{ webhookEndpoints { edges { node { id } } } }"))[
        "webhookEndpoints"
    ]["edges"] == []

    mentee = await create_mentee(tenant.client)
    token = await mint_token(tenant.client, mentee["external_id"], "mentee")
    async with as_member(tenant.client, token) as member:
        for query in (
            "{ events { edges { node { id } } } }",
            "{ webhookEndpoints { edges { node { id } } } }",
        ):
            assert error_codes(await gql(member, query)) == ["FORBIDDEN"]
        created = await gql(member, CREATE, {"input": {"url": "https://example.com"}})
        assert error_codes(created) == ["FORBIDDEN"]
