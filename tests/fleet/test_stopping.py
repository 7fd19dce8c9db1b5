"""Stopping gracefully, as real processes (issue #14, part 5).

`mentorapi serve` on SIGTERM: /readyz answers 503 at once while everything else is served, for
MENTORAPI_SHUTDOWN_DRAIN_SECONDS; then it stops accepting, lets the request in flight finish,
closes its WebSockets with 1012 (service restart), and ends. `mentorapi worker` does the
housekeeping (expiring requests nobody answered) besides delivering, and ends on SIGTERM."""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import update
from sqlmodel import col, select
from websockets.exceptions import ConnectionClosed

import mentorapi
from mentorapi.db.engine import Database
from mentorapi.kit.timezones import utcnow
from mentorapi.sessions.models import Session
from mentorapi.webhooks.models import Event
from tests.conftest import Tenant
from tests.factories import book_session, bookable, create_mentor
from tests.gql.test_subscriptions import subscribe, websocket
from tests.test_sessions import MONDAY_9

DRAIN = 2.0
CHANGES = "subscription($m: ID) { sessionsChanged(mentorId: $m) { eventId } }"


def _env(database_url: str, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTORAPI_")}
    env["PYTHONPATH"] = str(Path(mentorapi.__file__).parents[1])
    env["MENTORAPI_DATABASE_URL"] = database_url
    env["MENTORAPI_WEBHOOK_WORKER_ENABLED"] = "false"
    env["MENTORAPI_HOUSEKEEPING_ENABLED"] = "false"
    env["MENTORAPI_RATE_LIMITS_ENABLED"] = "false"
    env.update(values)
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def _process(env: dict[str, str], *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mentorapi.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def _until_ready(base: str, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as c:
        for _ in range(300):
            assert process.returncode is None, "serve exited"
            try:
                if (await c.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("serve never became ready")


async def test_serve_drains_on_sigterm_then_finishes_what_is_in_flight(
    tenant: Tenant, database_url: str
) -> None:
    mentor = await create_mentor(tenant.client)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(database_url, MENTORAPI_SHUTDOWN_DRAIN_SECONDS=str(DRAIN))
    loop = asyncio.get_running_loop()
    async with (
        _process(env, "serve", "--port", str(port)) as process,
        httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {tenant.key}"}) as c,
    ):
        await _until_ready(base, process)
        async with websocket(base, tenant.key) as ws:
            await subscribe(ws, CHANGES, {"m": mentor["id"]})
            body_sent = asyncio.Event()

            async def slow_body() -> AsyncIterator[bytes]:
                yield b'{"slug": "slow-'
                body_sent.set()
                await asyncio.sleep(DRAIN + 1.5)  # the rest arrives after the drain ended
                yield b'upload", "name": "Slow upload"}'

            in_flight = asyncio.create_task(
                c.post(
                    "/v1/skills", content=slow_body(), headers={"content-type": "application/json"}
                )
            )
            await body_sent.wait()
            await asyncio.sleep(0.2)  # the request has reached the app
            process.send_signal(signal.SIGTERM)
            sigterm = loop.time()

            # Draining: not ready, everything else as before, new connections too.
            await asyncio.sleep(0.3)
            ready = await c.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert "draining" in ready.json()["detail"]
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/v1/skills")).status_code == 200
            async with httpx.AsyncClient(base_url=base) as fresh:  # a new connection
                assert (await fresh.get("/readyz")).status_code == 503

            # Then the WebSocket is told to reconnect elsewhere, at the drain's end.
            try:
                async with asyncio.timeout(DRAIN + 10):
                    async for _ in ws:
                        pass
            except ConnectionClosed:
                pass
            await ws.wait_closed()
            assert ws.close_code == 1012
            assert loop.time() - sigterm >= DRAIN - 0.1

        # No more connections; the request in flight was finished and answered.
        async with httpx.AsyncClient(base_url=base) as fresh:
            for _ in range(100):
                try:
                    await fresh.get("/healthz")
                except httpx.ConnectError:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("still accepting connections after the drain")
        created = await in_flight
        assert created.status_code == 201, created.text
        assert created.json()["slug"] == "slow-upload"
        async with asyncio.timeout(20):
            await process.wait()
        # uvicorn ends by re-raising the SIGTERM it handled.
        assert process.returncode in (0, -signal.SIGTERM), process.returncode
        assert process.stderr is not None
        log = (await process.stderr.read()).decode()
        assert "draining" in log, log
        assert "Finished server process" in log, log


async def test_the_worker_process_expires_unanswered_requests_and_stops_on_sigterm(
    tenant: Tenant, db: Database, database_url: str
) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    asked = await book_session(tenant.client, base, MONDAY_9)
    assert asked["status"] == "requested"
    # Its start time has passed (without waiting for it): due to expire. Nothing reads it here,
    # so only the worker's housekeeping can expire it.
    async with db.sessionmaker() as s, s.begin():
        await s.exec(
            update(Session)
            .where(col(Session.app_id) == tenant.id, col(Session.id) == asked["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    async def status() -> str:
        async with db.sessionmaker() as s:
            query = select(Session.status).where(
                col(Session.app_id) == tenant.id, col(Session.id) == asked["id"]
            )
            return str((await s.exec(query)).one())

    env = _env(
        database_url,
        MENTORAPI_HOUSEKEEPING_ENABLED="true",
        MENTORAPI_HOUSEKEEPING_INTERVAL_SECONDS="0.2",
    )
    async with _process(env, "worker") as process:
        async with asyncio.timeout(30):
            while await status() != "expired":
                assert process.returncode is None, "the worker exited"
                await asyncio.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            await process.wait()
        assert process.returncode == 0
    async with db.sessionmaker() as s:
        events = (
            await s.exec(
                select(Event.type).where(
                    col(Event.app_id) == tenant.id, col(Event.object_id) == asked["id"]
                )
            )
        ).all()
    assert sorted(events) == ["session.expired", "session.requested"]
