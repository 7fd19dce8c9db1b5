"""A WebSocket message of the wrong shape closes the socket with 4400 and its reason, as the
graphql-transport-ws protocol asks of an invalid message: never an error out of the handler.

strawberry reads a message's fields without checking their types. `null`, a list or a number
as the message, a subscribe whose `payload` is null, or whose id is not a string, raised a
TypeError out of the socket's handler: no close frame, "Exception in ASGI application" logged.
A subscribe whose `query` is a number raised in the operation's task instead (logged, the
socket left open, the operation `complete` without a word), and `variables` as a list, which
HTTP refuses with a 400, was silently dropped.

What a live operation holds is bounded: an `id` longer than 128 characters closes the socket
with 4400 (it was held, and sent back in every message, however long), and variables the
operation does not declare are dropped before it runs (the transport held them for the
operation's life: twenty subscriptions given 720 kB of `[{}, {}, ...]` each under an unused
name held 350 MB).

A socket that never sends `connection_init` was held for strawberry's default minute: now for
`request_header_timeout_seconds`, as a request's headers are, then closed with 4408.
"""

import asyncio
import contextlib
import gc
import json
import logging
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mentorapi.graphql.feed import mentor_topic
from mentorapi.graphql.sockets import OpenSockets
from mentorapi.main import create_app
from tests import conftest
from tests.conftest import Tenant, make_tenant, running
from tests.factories import bookable
from tests.gql.helpers import serve
from tests.gql.test_subscriptions import CHANGED, receive, websocket

APP = "{ app { id } }"
MALFORMED = {
    "null": ("null", "a message must be a JSON object"),
    "a list": ('[{"type": "ping"}]', "a message must be a JSON object"),
    "a number": ("5", "a message must be a JSON object"),
    "no type": ('{"id": "1"}', "a message needs a `type`"),
    "a number as type": ('{"type": 1}', "a message needs a `type`"),
    "payload null": (
        '{"id": "1", "type": "subscribe", "payload": null}',
        "a subscribe message needs an object `payload`",
    ),
    "payload a string": (
        '{"id": "1", "type": "subscribe", "payload": "{ app { id } }"}',
        "a subscribe message needs an object `payload`",
    ),
    "id a number": (
        json.dumps({"id": 1, "type": "subscribe", "payload": {"query": APP}}),
        "a subscribe message needs a string `id`",
    ),
    "a long id": (
        json.dumps({"id": "x" * 129, "type": "subscribe", "payload": {"query": APP}}),
        "a message's `id` is limited to 128 characters",
    ),
    "a long id to complete": (
        json.dumps({"id": "x" * 129, "type": "complete"}),
        "a message's `id` is limited to 128 characters",
    ),
    "complete without an id": ('{"type": "complete"}', "a complete message needs a string `id`"),
    "query a number": (
        '{"id": "1", "type": "subscribe", "payload": {"query": 5}}',
        "a subscribe payload's `query` must be a string",
    ),
    "no query": (
        '{"id": "1", "type": "subscribe", "payload": {}}',
        "a subscribe payload's `query` must be a string",
    ),
    "variables a list": (
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": APP, "variables": [1]}}),
        "a subscribe payload's `variables` must be an object or null",
    ),
    "operationName a number": (
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": APP, "operationName": 5}}),
        "a subscribe payload's `operationName` must be a string or null",
    ),
    "extensions a string": (
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": APP, "extensions": ""}}),
        "a subscribe payload's `extensions` must be an object or null",
    ),
}


async def test_malformed_messages_close_with_4400_and_give_the_place_back(
    app: FastAPI, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    sockets: OpenSockets = app.state.graphql_sockets
    before = len(sockets)
    failures = []
    async with serve(app) as base:
        for name, (text, reason) in MALFORMED.items():
            async with websocket(base, tenant.key) as ws:
                await ws.send(text)
                try:
                    found = await receive(ws, wait=5)
                    failures.append(f"{name}: answered {found}")
                    continue
                except ConnectionClosed as closed:
                    got = closed.rcvd
                if got is None or (got.code, got.reason) != (4400, reason):
                    failures.append(f"{name}: closed with {got}")
        for _ in range(100):  # every socket's place given back, however it ended
            if len(sockets) == before:
                break
            await asyncio.sleep(0.05)
        # Well-formed, all of them: null where null is allowed, and an operation still runs;
        # an id of 128 characters (graphql-ws sends a UUID) is still one.
        async with websocket(base, tenant.key) as ws:
            payload = {"query": APP, "variables": None, "operationName": None, "extensions": None}
            for id_ in ("1", "x" * 128):
                await ws.send(json.dumps({"id": id_, "type": "subscribe", "payload": payload}))
                assert (await receive(ws))["payload"]["data"]["app"]["id"] == tenant.id
                assert (await receive(ws)) == {"id": id_, "type": "complete"}
    assert failures == []
    assert len(sockets) == before
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def _retained(app: FastAPI, tenant: Tenant, variables: dict[str, object]) -> int:
    """Bytes still allocated while one socket holds LIVE subscriptions given `variables`."""
    base = await bookable(tenant.client)
    variables = {"m": base["mentor_id"], **variables}
    payload = {"query": CHANGED, "variables": variables}
    topic = mentor_topic(tenant.id, base["mentor_id"])
    async with serve(app) as url, websocket(url, tenant.key) as ws:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for n in range(LIVE):
                await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": payload}))
            for _ in range(400):
                if app.state.pubsub.subscribers(topic) == LIVE:
                    break
                await asyncio.sleep(0.05)
            assert app.state.pubsub.subscribers(topic) == LIVE
            gc.collect()
            return int(tracemalloc.get_traced_memory()[0] - before)
        finally:
            tracemalloc.stop()


LIVE = 10


async def test_live_subscriptions_do_not_hold_variables_they_do_not_declare(
    app: FastAPI, tenant: Tenant
) -> None:
    # 300 kB of JSON, 6.4 MB as Python objects: each subscription held it (64 MB in all).
    held = await _retained(app, tenant, {"junk": [{}] * 100_000})
    fixed = await _retained(app, tenant, {})  # the same subscriptions without it
    assert held - fixed < 2**20, (held, fixed)


QUICK = 0.5  # seconds: the header deadline of `quick_app`


@pytest.fixture(scope="module")
async def quick_app(database_url: str) -> AsyncIterator[FastAPI]:
    settings = conftest.test_settings(database_url, request_header_timeout_seconds=QUICK)
    async with running(create_app(settings)) as application:
        yield application


async def test_a_socket_that_never_says_who_it_is_is_closed_at_the_header_deadline(
    quick_app: FastAPI,
) -> None:
    tenancy = contextlib.asynccontextmanager(make_tenant)(quick_app)
    async with tenancy as tenant, serve(quick_app) as base:
        url = base.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), QUICK + 5)  # not strawberry's minute
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4408
        # Acknowledged in time, a socket stays open past the deadline.
        async with websocket(base, tenant.key) as ws:
            await asyncio.sleep(QUICK * 2)
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": APP}}))
            assert (await receive(ws))["payload"]["data"]["app"]["id"] == tenant.id
