"""A live feed holds no pooled connection while it waits, nor while its reads wait for one.

A subscription's check before each message (`Context.still_admitted`) identifies the caller
again after anything about apps, keys or members changed (on SQLite: every time). It did so in
the socket's own session, which then kept that connection, in a transaction, for as long as
the feed waited: on a pool of N, N such subscriptions held every connection, and the next
write (and each feed's own read of the changed schedule) waited for the pool timeout (503); on
SQLite the socket's session is a writer's, so it held the write lock. The check now reads in a
short session of its own, as the HTTP stream's `Standing.check` does.
"""

import contextlib
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from mentorapi.main import create_app
from tests import conftest
from tests.conftest import make_tenant, running
from tests.factories import mint_token
from tests.gql.helpers import serve
from tests.gql.test_subscriptions import receive, subscribe, websocket
from tests.mentoring_events.conftest import ManualClock, post, published_event
from tests.mentoring_events.test_live import LIVE, stream

TIMEOUT = 0.5
POOL = 3


@pytest.fixture(params=[1, POOL], ids=["pool-1", f"pool-{POOL}"])
async def small_app(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[FastAPI]:
    settings = conftest.test_settings(
        database_url, db_pool_size=request.param, db_pool_timeout_seconds=TIMEOUT
    )
    async with running(create_app(settings)) as application:
        yield application


async def test_rechecked_subscriptions_hold_no_connection(
    small_app: FastAPI, clock: ManualClock
) -> None:
    size = small_app.state.settings.db_pool_size
    maker = make_tenant(small_app, "live pool")
    tenant = await anext(maker)
    try:
        ready = await published_event(tenant, 3, 6)
        absent = next(a["mentee_id"] for a in ready.schedule["assignments"] if a["round"] == 1)
        # As many subscribers as connections, none of them the one who will not come.
        mentees = [m for m in ready.crowd.mentees if m["id"] != absent][:size]
        tokens = [await mint_token(tenant.client, m["external_id"], "mentee") for m in mentees]
        clock.set("2031-03-04T16:55:00Z")
        async with serve(small_app) as url, contextlib.AsyncExitStack() as stack:
            sockets = [await stack.enter_async_context(websocket(url, t)) for t in tokens]
            for ws in sockets:
                await subscribe(ws, LIVE, {"e": ready.id})
                first = await receive(ws)
                assert first["type"] == "next", first
                assert first["payload"]["data"]["eventLive"]["cause"] == "connected", first
            # Something about apps, keys or members changed (PostgreSQL's notice does this):
            # each feed's next check identifies its caller again.
            keys = small_app.state.key_cache
            if keys is not None:
                keys.forget_all()
            clock.set("2031-03-04T17:00:00Z")
            for ws in sockets:
                moved = await receive(ws)
                assert moved["type"] == "next", moved
                assert moved["payload"]["data"]["eventLive"]["phase"] == "in_round", moved
            # A schedule change: a write, then each feed's read of the new schedule.
            await post(
                tenant.client, f"/v1/mentoring-events/{ready.id}/no-shows", {"member_id": absent}
            )
            for ws in sockets:
                changed = await receive(ws)
                assert changed["type"] == "next", changed
                live = changed["payload"]["data"]["eventLive"]
                assert (live["cause"], live["scheduleVersion"]) == ("schedule", 2), changed
    finally:
        await maker.aclose()


async def test_rechecked_streams_hold_no_connection(small_app: FastAPI, clock: ManualClock) -> None:
    # The HTTP face: `Standing.check` reads in a short session of its own (passes before the
    # fix too; here so that both faces are held to it).
    size = small_app.state.settings.db_pool_size
    maker = make_tenant(small_app, "live pool")
    tenant = await anext(maker)
    try:
        ready = await published_event(tenant, 3, 6)
        absent = next(a["mentee_id"] for a in ready.schedule["assignments"] if a["round"] == 1)
        mentees = [m for m in ready.crowd.mentees if m["id"] != absent][:size]
        tokens = [await mint_token(tenant.client, m["external_id"], "mentee") for m in mentees]
        clock.set("2031-03-04T16:55:00Z")
        path = f"/v1/mentoring-events/{ready.id}/live"
        async with serve(small_app) as url, contextlib.AsyncExitStack() as stack:
            streams = [await stack.enter_async_context(stream(url, t, path)) for t in tokens]
            for s in streams:
                assert (await s.update())["cause"] == "connected"
            keys = small_app.state.key_cache
            if keys is not None:
                keys.forget_all()
            clock.set("2031-03-04T17:00:00Z")
            for s in streams:
                assert (await s.update())["phase"] == "in_round"
            await post(
                tenant.client, f"/v1/mentoring-events/{ready.id}/no-shows", {"member_id": absent}
            )
            for s in streams:
                update = await s.update()
                assert (update["cause"], update["schedule_version"]) == ("schedule", 2)
    finally:
        await maker.aclose()
