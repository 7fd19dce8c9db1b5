"""The drain before a stop (drain.py): /readyz turns 503 while the process still serves, and
under uvicorn SIGTERM drains first and only then reaches uvicorn's own handler."""

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest
import uvicorn

from mentorapi.drain import Drain
from mentorapi.main import create_app
from tests.conftest import make_tenant, running
from tests.conftest import test_settings as settings_for


async def test_readiness_answers_503_while_draining_and_the_rest_is_served(
    database_url: str,
) -> None:
    application = create_app(settings_for(database_url))
    async with running(application):
        async for tenant in make_tenant(application, "draining"):
            assert (await tenant.client.get("/readyz")).status_code == 200
            application.state.drain.begin()
            ready = await tenant.client.get("/readyz")
            assert ready.status_code == 503
            assert ready.headers["content-type"] == "application/problem+json"
            assert ready.json()["detail"] == "draining: the process is stopping"
            assert (await tenant.client.get("/healthz")).status_code == 200
            assert (await tenant.client.get("/v1/skills")).status_code == 200
            created = await tenant.client.post("/v1/skills", json={"slug": "x", "name": "X"})
            assert created.status_code == 201


@pytest.fixture
def uvicorn_server() -> Iterator[uvicorn.Server]:
    """A uvicorn server's SIGTERM handler in place, as `serve` has it (never started)."""
    server = uvicorn.Server(uvicorn.Config(app=create_app, factory=True))
    before = signal.signal(signal.SIGTERM, server.handle_exit)
    try:
        yield server
    finally:
        signal.signal(signal.SIGTERM, before)


async def _sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.sleep(0.05)  # the handler hands over to the loop


async def test_sigterm_drains_first_then_reaches_uvicorn(uvicorn_server: uvicorn.Server) -> None:
    drain = Drain()
    assert drain.install(0.5)
    await _sigterm()
    assert drain.draining
    assert not uvicorn_server.should_exit  # still serving, for the drain
    await asyncio.sleep(0.6)
    assert uvicorn_server.should_exit
    drain.uninstall()
    assert signal.getsignal(signal.SIGTERM) == uvicorn_server.handle_exit


async def test_a_second_sigterm_ends_the_drain_at_once(uvicorn_server: uvicorn.Server) -> None:
    drain = Drain()
    assert drain.install(60)
    await _sigterm()
    assert drain.draining
    assert not uvicorn_server.should_exit
    await _sigterm()
    assert uvicorn_server.should_exit
    drain.uninstall()


async def test_nothing_is_wrapped_but_uvicorns_handler() -> None:
    drain = Drain()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert not drain.install(5)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    drain.uninstall()


async def test_no_drain_when_it_is_set_to_zero(uvicorn_server: uvicorn.Server) -> None:
    assert not Drain().install(0)
    assert signal.getsignal(signal.SIGTERM) == uvicorn_server.handle_exit
