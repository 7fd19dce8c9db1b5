"""GraphQL WebSockets: how many one credential holds, and how fast a revoked one is closed.

- A caller with one valid credential held as many sockets as it liked (`connection_init`
  spent a token, nothing counted what stayed open): now MENTORAPI_GRAPHQL_SOCKETS_PER_KEY and
  _PER_MEMBER per process, `connection_init` past it closed with 4429, and the place given back
  however the socket ends (a close, or a connection dropped without one).
- A revoked API key (or a token secret rotated without grace) closed an idle socket only at
  its next message, which may never come: now every open socket's credential is checked again
  when apps, keys or members change (PostgreSQL: the notice any process's change sends;
  SQLite: this process's commit), and the socket is closed with 4401 at once.
"""

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mentorapi.apps import service as apps_service
from mentorapi.db.engine import Database
from mentorapi.graphql.feed import mentor_topic
from mentorapi.graphql.sockets import OpenSockets
from tests.conftest import Tenant
from tests.factories import bookable, mint_token
from tests.gql.helpers import serve
from tests.gql.test_subscriptions import CHANGED, until_subscribed
from tests.security.test_admission import graphql_socket


async def _refused(url: str, credential: str) -> int:
    """The close code of a socket whose connection_init is not acknowledged."""
    async with connect(
        url.replace("http://", "ws://") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    ) as ws:
        payload = {"Authorization": f"Bearer {credential}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not {what} within 10 s")


@pytest.fixture
def sockets(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> OpenSockets:
    found: OpenSockets = app.state.graphql_sockets
    monkeypatch.setattr(found, "per_key", 2)
    monkeypatch.setattr(found, "per_member", 1)
    return found


async def test_a_key_holds_at_most_its_sockets_and_every_close_gives_one_back(
    app: FastAPI, tenant: Tenant, sockets: OpenSockets
) -> None:
    before = len(sockets)
    async with serve(app) as url:
        async with graphql_socket(url, tenant.key), graphql_socket(url, tenant.key) as second:
            assert len(sockets) == before + 2
            assert await _refused(url, tenant.key) == 4429
            await second.close()  # a clean close gives its place back
            await _until(lambda: len(sockets) == before + 1, "given back")
            async with graphql_socket(url, tenant.key) as third:
                # A connection dropped without a close frame (a phone losing its network).
                third.transport.abort()
                await _until(lambda: len(sockets) == before + 1, "given back after an abort")
                async with graphql_socket(url, tenant.key):
                    assert await _refused(url, tenant.key) == 4429
        await _until(lambda: len(sockets) == before, "all given back")
        assert len(sockets._held) == len({*sockets._sockets.values()})  # no counter left over


async def test_a_member_holds_fewer_and_others_are_not_counted_with_it(
    app: FastAPI, tenant: Tenant, sockets: OpenSockets
) -> None:
    base = await bookable(tenant.client)
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    token = await mint_token(tenant.client, mentor["external_id"], "mentor")
    async with serve(app) as url, graphql_socket(url, token):
        assert await _refused(url, token) == 4429
        async with graphql_socket(url, tenant.key):  # the app's key: a bucket of its own
            pass


async def _subscribed(app: FastAPI, tenant_id: str, ws: ClientConnection, mentor_id: str) -> None:
    message: dict[str, Any] = {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": CHANGED, "variables": {"m": mentor_id}},
    }
    await ws.send(json.dumps(message))
    await until_subscribed(app.state.pubsub, mentor_topic(tenant_id, mentor_id))


async def _closed_4401(ws: ClientConnection) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)  # idle: nothing else would close it
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401, closed.value.rcvd


async def _still_open(ws: ClientConnection) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), 1)


async def test_revoking_a_key_closes_its_idle_socket_at_once(
    app: FastAPI, tenant: Tenant, db: Database
) -> None:
    base = await bookable(tenant.client)
    async with db.sessionmaker() as s, s.begin():
        issued = await apps_service.create_key(db_session=s, app_id=tenant.id)
    async with (
        serve(app) as url,
        graphql_socket(url, issued.secret) as revoked,
        graphql_socket(url, tenant.key) as control,
    ):
        await _subscribed(app, tenant.id, revoked, base["mentor_id"])
        await _subscribed(app, tenant.id, control, base["mentor_id"])
        if db.dialect == "postgresql":
            # Another process's change (the CLI's `apps revoke-key`): heard through NOTIFY.
            engine = create_async_engine(app.state.settings.database_url)
            try:
                async with AsyncSession(engine) as s, s.begin():
                    await apps_service.revoke_key(db_session=s, key_id=issued.key.id)
            finally:
                await engine.dispose()
        else:  # one process: its own commit
            async with db.sessionmaker() as s, s.begin():
                await apps_service.revoke_key(db_session=s, key_id=issued.key.id)
        await _closed_4401(revoked)
        await _still_open(control)


async def test_rotating_the_token_secret_without_grace_closes_idle_member_sockets(
    app: FastAPI, tenant: Tenant
) -> None:
    base = await bookable(tenant.client)
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    token = await mint_token(tenant.client, mentor["external_id"], "mentor")
    async with (
        serve(app) as url,
        graphql_socket(url, token) as member,
        graphql_socket(url, tenant.key) as control,
    ):
        await _subscribed(app, tenant.id, member, base["mentor_id"])
        rotated = await tenant.client.post("/v1/app/rotate-token-secret", json={"grace_seconds": 0})
        assert rotated.status_code == 200, rotated.text
        await _closed_4401(member)
        await _still_open(control)


async def test_an_acknowledged_socket_holds_no_database_connection(
    app: FastAPI, tenant: Tenant, db: Database
) -> None:
    """connection_init identified the caller in the socket's session and left its transaction
    open until a subscription began: each idle socket held a pooled connection (on SQLite the
    only one, and the next socket's connection_init waited for it)."""
    pool = db.engine.pool
    before = pool.checkedout()  # type: ignore[attr-defined]
    async with serve(app) as url, graphql_socket(url, tenant.key):
        assert pool.checkedout() == before  # type: ignore[attr-defined]
        async with graphql_socket(url, tenant.key):  # acknowledged, not left waiting
            assert pool.checkedout() == before  # type: ignore[attr-defined]
