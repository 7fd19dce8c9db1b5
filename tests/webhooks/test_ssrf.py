"""SSRF: with private URLs not allowed, internal addresses are refused after resolution and
before any connection is attempted."""

from typing import Any

import httpcore
import pytest

from mentorapi.webhooks.transport import BlockedAddress, GuardedBackend
from tests.conftest import Tenant
from tests.webhooks.conftest import StartWorker, attempts, create_endpoint, eventually, send_test
from tests.webhooks.receiver import Receiver


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Stands in for the network: records every connection the guard lets through."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.connects.append((host, port))
        raise httpcore.ConnectError("recorded, not connected")


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "192.168.0.10",
        "172.16.5.4",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "::ffff:127.0.0.1",
        "fd00::1",
        "localhost",  # a name: refused for what it resolves to
    ],
)
async def test_guard_refuses_internal_addresses_without_connecting(host: str) -> None:
    backend = GuardedBackend(allow_private=False)
    recorder = RecordingBackend()
    backend.inner = recorder  # type: ignore[assignment]
    with pytest.raises(BlockedAddress, match="refused to connect"):
        await backend.connect_tcp(host, 80)
    assert recorder.connects == []


async def test_guard_connects_to_the_resolved_public_address() -> None:
    backend = GuardedBackend(allow_private=False)
    recorder = RecordingBackend()
    backend.inner = recorder  # type: ignore[assignment]
    with pytest.raises(httpcore.ConnectError, match="recorded"):
        await backend.connect_tcp("93.184.215.14", 443)
    assert recorder.connects == [("93.184.215.14", 443)]


async def test_worker_refuses_private_urls_when_not_allowed(
    tenant: Tenant, start_worker: StartWorker
) -> None:
    async with Receiver() as receiver:
        urls = [
            receiver.url(),  # a real receiver on 127.0.0.1: it must see no connection at all
            f"http://localhost:{receiver.port}{receiver.prefix}",
            "http://10.0.0.7/hook",
            "http://169.254.169.254/latest/meta-data/",
        ]
        endpoints = [await create_endpoint(tenant, url) for url in urls]
        # A refusal costs no network time, but resolving `localhost` waits for a thread of the
        # loop's executor: on a loaded machine that outlasted the suite's 2 s deadline and the
        # attempt said "timed out", not the refusal this test is about.
        await start_worker(
            webhook_allow_private_urls=False,
            webhook_retry_schedule="60",
            webhook_timeout_seconds=10.0,
        )
        for endpoint in endpoints:
            await send_test(tenant, endpoint["id"])
        for endpoint in endpoints:
            await eventually(lambda e=endpoint: _attempted(tenant, e["id"]))
            [attempt] = await attempts(tenant, endpoint["id"])
            assert attempt["status_code"] is None
            assert "refused to connect" in attempt["error"], attempt["error"]
        assert receiver.connections == 0
        assert receiver.requests == []
        for endpoint in endpoints:  # no later test's worker (private URLs allowed) retries them
            disabled = await tenant.client.patch(
                f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": False}
            )
            assert disabled.status_code == 200


async def _attempted(tenant: Tenant, endpoint_id: str) -> bool:
    return len(await attempts(tenant, endpoint_id)) > 0
