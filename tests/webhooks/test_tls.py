"""HTTPS through the guarded transport: it connects to the checked IP, yet TLS still uses the
URL's host name (SNI and certificate verification) and so does the Host header."""

import ssl

import trustme

from tests.conftest import Tenant
from tests.webhooks.conftest import StartWorker, attempts, create_endpoint, eventually, send_test
from tests.webhooks.receiver import Receiver


def _tls(ca: trustme.CA, seen_names: list[str | None]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    context.sni_callback = lambda _sock, name, _ctx: seen_names.append(name)  # type: ignore[assignment,misc]
    return context


async def test_https_keeps_sni_host_header_and_verification(
    tenant: Tenant, start_worker: StartWorker
) -> None:
    ca = trustme.CA()
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    seen_names: list[str | None] = []
    async with Receiver(tls=_tls(ca, seen_names)) as receiver:
        by_name = await create_endpoint(tenant, receiver.url(host="localhost"))
        by_ip = await create_endpoint(tenant, receiver.url("/ip"))  # the cert names localhost
        await start_worker(ssl_context=client_context, webhook_retry_schedule="60")
        await send_test(tenant, by_name["id"])
        [request] = await receiver.wait_count(1)
        assert request.headers["host"] == f"localhost:{receiver.port}"
        assert "localhost" in seen_names

        await send_test(tenant, by_ip["id"])
        await eventually(lambda: _attempted(tenant, by_ip["id"]))
        [attempt] = await attempts(tenant, by_ip["id"])
        assert attempt["status_code"] is None
        assert "certificate" in attempt["error"].lower(), attempt["error"]
        assert len(receiver.requests) == 1


async def _attempted(tenant: Tenant, endpoint_id: str) -> bool:
    return len(await attempts(tenant, endpoint_id)) > 0
