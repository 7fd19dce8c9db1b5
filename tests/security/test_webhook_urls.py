"""Webhook endpoint URLs: a host only one URL parser understands is refused when the endpoint is
created or changed, and an IPv6 address that embeds an internal IPv4 (6to4, NAT64, Teredo,
IPv4-mapped or -compatible) is as internal as that IPv4, at creation (a literal address) and at
delivery (every resolved address). Issue #12."""

import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mentorapi.main import create_app
from mentorapi.webhooks.transport import BlockedAddress, GuardedBackend, blocked_reason
from tests import conftest
from tests.conftest import Tenant, make_tenant, running
from tests.gql.helpers import gql
from tests.webhooks.test_ssrf import RecordingBackend

NON_CANONICAL = [
    "http://0177.0.0.1/hook",  # octal
    "http://0x7f.1/hook",  # hex, and a short form
    "http://2130706433/hook",  # one integer
    "http://127.1/hook",
    "http://1.2.3.04/hook",  # a leading zero
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/hook",  # fullwidth digits: 127.0.0.1
    "http://\uff45xample.com/hook",  # a fullwidth letter
    "http://%31%32%37.0.0.1/hook",  # percent-encoded
    "http://ex%41mple.com/hook",
    "http://127.0.0.1./hook",  # an address with a trailing dot
    "http://0x5db8d70e/hook",  # a public address, still not written canonically
]
CANONICAL = [
    "https://example.com/hook",
    "https://hooks.example.com:8443/a?b=1",
    "https://b\u00fccher.example/hook",  # an internationalised name is fine: it is a name
    "https://xn--bcher-kva.example/hook",
    "http://93.184.215.14/hook",
    "http://[2606:4700::1111]/hook",
    "https://example.com./hook",
]
# IPv6 addresses that stand for an internal IPv4 address.
EMBEDDING = [
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "2001:0:a00:1::1",  # Teredo, server 10.0.0.1
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::127.0.0.1",  # IPv4-compatible
    "::a9fe:a9fe",
]


@pytest.mark.parametrize("url", NON_CANONICAL)
async def test_a_non_canonical_host_is_refused_at_creation(tenant: Tenant, url: str) -> None:
    response = await tenant.client.post("/v1/webhook-endpoints", json={"url": url})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["loc"] == ["body", "url"]
    assert "canonically" in response.text
    listed = await tenant.client.get("/v1/webhook-endpoints")
    assert listed.json()["data"] == []


@pytest.mark.parametrize("url", NON_CANONICAL)
async def test_a_non_canonical_host_is_refused_on_patch(tenant: Tenant, url: str) -> None:
    created = await tenant.client.post(
        "/v1/webhook-endpoints", json={"url": "https://example.com/hook"}
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    response = await tenant.client.patch(
        f"/v1/webhook-endpoints/{endpoint['id']}", json={"url": url}
    )
    assert response.status_code == 422, response.text
    again = await tenant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}")
    assert again.json()["url"] == "https://example.com/hook"


async def test_graphql_refuses_a_non_canonical_host(tenant: Tenant) -> None:
    body = await gql(
        tenant.client,
        "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input)"
        " { id } }",
        {"input": {"url": "http://0x7f.1/hook"}},
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body


@pytest.mark.parametrize("url", CANONICAL)
async def test_canonical_hosts_are_accepted(tenant: Tenant, url: str) -> None:
    response = await tenant.client.post("/v1/webhook-endpoints", json={"url": url})
    assert response.status_code == 201, response.text
    assert response.json()["url"] == url


# --- internal addresses inside IPv6 ---------------------------------------------------------------


@pytest.mark.parametrize("address", EMBEDDING)
def test_an_embedded_internal_ipv4_is_blocked(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize(
    "address", ["2002:5db8:d70e::1", "::ffff:93.184.215.14", "2606:4700::1111", "93.184.215.14"]
)
def test_public_addresses_stay_allowed(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", EMBEDDING)
async def test_delivery_refuses_a_resolved_embedding_address(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that resolves to such an address: refused at connection time, never connected."""

    async def resolves_inward(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address(address)]

    monkeypatch.setattr("mentorapi.webhooks.transport.resolve", resolves_inward)
    backend = GuardedBackend(allow_private=False)
    recorder = RecordingBackend()
    backend.inner = recorder  # type: ignore[assignment]
    with pytest.raises(BlockedAddress, match="refused to connect"):
        await backend.connect_tcp("hooks.example.com", 443)
    assert recorder.connects == []


@pytest.fixture
async def strict(database_url: str) -> AsyncIterator[Tenant]:
    """A tenant of an app that does not deliver to private addresses (production's default)."""
    settings = conftest.test_settings(database_url, webhook_allow_private_urls=False)
    async with running(create_app(settings)) as application:
        async for tenant in make_tenant(application, "strict"):
            yield tenant


@pytest.mark.parametrize(
    "host", [f"[{a}]" for a in EMBEDDING] + ["127.0.0.1", "10.0.0.7", "169.254.169.254"]
)
async def test_a_literal_internal_address_is_refused_at_creation(strict: Tenant, host: str) -> None:
    url = f"http://{host}/hook"
    response = await strict.client.post("/v1/webhook-endpoints", json={"url": url})
    assert response.status_code == 422, response.text
    assert "internal addresses" in response.json()["detail"]
    created = await strict.client.post(
        "/v1/webhook-endpoints", json={"url": "https://example.com/hook"}
    )
    patched = await strict.client.patch(
        f"/v1/webhook-endpoints/{created.json()['id']}", json={"url": url}
    )
    assert patched.status_code == 422, patched.text
    body = await gql(
        strict.client,
        "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input)"
        " { id } }",
        {"input": {"url": url}},
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    listed = await strict.client.get("/v1/webhook-endpoints")
    assert [e["url"] for e in listed.json()["data"]] == ["https://example.com/hook"]


async def test_a_strict_app_still_accepts_public_and_named_hosts(strict: Tenant) -> None:
    for url in CANONICAL:
        response = await strict.client.post("/v1/webhook-endpoints", json={"url": url})
        assert response.status_code == 201, (url, response.text)


def test_httpx_reads_the_hosts_we_accept() -> None:
    """What is stored is what the worker's client can send to."""
    for url in CANONICAL:
        httpx.URL(url)
