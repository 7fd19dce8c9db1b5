"""Webhook endpoints over REST: validation, secrets, versions, tenancy, the event log."""

import base64

import pytest

from mentorapi.kit.ids import new_id
from tests.conftest import Tenant
from tests.webhooks.conftest import create_endpoint, event, send_test

# Deliveries these tests leave pending may be tried by a later test's worker: point them at a
# closed loopback port (refused at once) rather than at a host on the internet.
URL = "http://127.0.0.1:9/hooks/mentorapi"


async def test_create_shows_the_secret_once(tenant: Tenant) -> None:
    created = await create_endpoint(
        tenant, URL, events=["session.booked", "session.booked"], description="ours"
    )
    assert created["id"].startswith("whe_")
    assert created["events"] == ["session.booked"]
    assert created["enabled"] is True
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24

    read = await tenant.client.get(f"/v1/webhook-endpoints/{created['id']}")
    assert read.status_code == 200
    assert "secret" not in read.json()
    listed = await tenant.client.get("/v1/webhook-endpoints")
    assert [e["id"] for e in listed.json()["data"]] == [created["id"]]
    assert "secret" not in listed.json()["data"][0]


async def test_unreachable_url_is_accepted(tenant: Tenant) -> None:
    created = await create_endpoint(tenant, "http://127.0.0.1:1/nothing-listens-here")
    assert created["url"] == "http://127.0.0.1:1/nothing-listens-here"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https://user:pw@example.com/x"}, "url"),
        ({"url": "https://example.com/" + "a" * 2048}, "url"),
        ({"url": URL, "events": ["session.exploded"]}, "events"),
        ({"url": URL, "description": "d" * 501}, "description"),
        ({"url": URL, "secret": "whsec_mine"}, "secret"),
    ],
)
async def test_bad_input_is_a_422_and_creates_nothing(
    tenant: Tenant, body: dict[str, object], where: str
) -> None:
    response = await tenant.client.post("/v1/webhook-endpoints", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert where in response.json()["errors"][0]["loc"]
    listed = await tenant.client.get("/v1/webhook-endpoints")
    assert listed.json()["data"] == []


async def test_patch_with_versions_and_delete(tenant: Tenant) -> None:
    created = await create_endpoint(tenant, URL)
    path = f"/v1/webhook-endpoints/{created['id']}"
    changed = await tenant.client.patch(
        path, json={"events": ["session.cancelled"], "enabled": False}, headers={"If-Match": '"1"'}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"] == ["session.cancelled"]
    assert changed.json()["enabled"] is False
    assert changed.json()["version"] == 2
    stale = await tenant.client.patch(path, json={"enabled": True}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    bad = await tenant.client.patch(path, json={"url": "javascript:alert(1)"})
    assert bad.status_code == 422
    assert (await tenant.client.get(path)).json()["url"] == URL
    assert (await tenant.client.delete(path)).status_code == 204
    assert (await tenant.client.get(path)).status_code == 404


async def test_rotation_returns_a_new_secret(tenant: Tenant) -> None:
    created = await create_endpoint(tenant, URL)
    rotated = await tenant.client.post(f"/v1/webhook-endpoints/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != created["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None


async def test_test_event_goes_to_that_endpoint_only(tenant: Tenant) -> None:
    first = await create_endpoint(tenant, URL)
    await create_endpoint(tenant, URL + "/second")
    sent = await send_test(tenant, first["id"])
    assert sent["type"] == "webhook.test"
    logged = await event(tenant, sent["id"])
    assert [d["endpoint_id"] for d in logged["deliveries"]] == [first["id"]]
    assert logged["deliveries"][0]["status"] == "pending"
    listed = await tenant.client.get("/v1/events", params={"type": "webhook.test"})
    assert [e["id"] for e in listed.json()["data"]] == [sent["id"]]
    bad_type = await tenant.client.get("/v1/events", params={"type": "nope"})
    assert bad_type.status_code == 422


async def test_disabled_endpoint_gets_no_test_and_no_recovery(tenant: Tenant) -> None:
    created = await create_endpoint(tenant, URL, enabled=False)
    path = f"/v1/webhook-endpoints/{created['id']}"
    assert (await tenant.client.post(f"{path}/test")).status_code == 409
    recover = await tenant.client.post(f"{path}/recover", json={"since": "2026-01-01T00:00:00Z"})
    assert recover.status_code == 409
    naive = await tenant.client.post(f"{path}/recover", json={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422


async def test_another_apps_ids_are_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    created = await create_endpoint(tenant, URL)
    sent = await send_test(tenant, created["id"])
    path = f"/v1/webhook-endpoints/{created['id']}"
    client = other_tenant.client
    assert (await client.get(path)).status_code == 404
    assert (await client.patch(path, json={"enabled": False})).status_code == 404
    assert (await client.delete(path)).status_code == 404
    assert (await client.post(f"{path}/rotate-secret")).status_code == 404
    assert (await client.post(f"{path}/test")).status_code == 404
    assert (await client.get(f"{path}/deliveries")).status_code == 404
    since = {"since": "2026-01-01T00:00:00Z"}
    assert (await client.post(f"{path}/recover", json=since)).status_code == 404
    assert (await client.get(f"/v1/events/{sent['id']}")).status_code == 404
    assert (await client.post(f"/v1/events/{sent['id']}/redeliver")).status_code == 404
    assert (await client.get("/v1/events")).json()["data"] == []
    assert (await client.get("/v1/webhook-endpoints")).json()["data"] == []
    # A well-formed id of the wrong kind is a 422, not a 404.
    assert (await client.get(f"/v1/webhook-endpoints/{sent['id']}")).status_code == 422
    # Nothing changed for the owner.
    assert (await tenant.client.get(path)).json()["version"] == 1


@pytest.mark.parametrize(
    "url",
    ["http://[::1", "https://exa mple.com/x", "http://", "//example.com/x", "https:example", 42],
)
async def test_odd_urls_are_422s(tenant: Tenant, url: object) -> None:
    response = await tenant.client.post("/v1/webhook-endpoints", json={"url": url})
    assert response.status_code == 422, response.text


async def test_odd_requests_are_4xx(tenant: Tenant) -> None:
    idn = await create_endpoint(tenant, "https://bücher.example/hook")
    assert idn["url"] == "https://bücher.example/hook"
    created = await create_endpoint(tenant, URL)
    sent = await send_test(tenant, created["id"])
    client = tenant.client
    cases = [
        await client.get("/v1/events", params={"cursor": "garbage"}),
        await client.get("/v1/events", params={"object_id": "x" * 41}),
        await client.post(f"/v1/events/{sent['id']}/redeliver", json={"endpoint_id": "evt_x"}),
        await client.post(f"/v1/events/{sent['id']}/redeliver", content=b"{not json"),
        await client.patch(f"/v1/webhook-endpoints/{created['id']}", json={"enabled": "maybe"}),
        await client.get(f"/v1/webhook-endpoints/{created['id']}/deliveries?event_id=whe_1"),
    ]
    assert [r.status_code for r in cases] == [422] * len(cases)
    unknown = new_id("whe")
    redeliver_elsewhere = await client.post(
        f"/v1/events/{sent['id']}/redeliver", json={"endpoint_id": unknown}
    )
    assert redeliver_elsewhere.status_code == 404
