"""The in-process pub/sub, and GraphQL over WebSocket (graphql-transport-ws) with the API key
in connection_init, against a real server."""

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mentorapi.graphql.pubsub import Gap, GapReason, PubSub, topic_for
from tests.conftest import Tenant
from tests.gql.helpers import serve


async def test_publish_reaches_each_subscriber_of_the_topic_only() -> None:
    pubsub = PubSub()
    mine, theirs = topic_for("app_a", "session.booked"), topic_for("app_b", "session.booked")
    async with (
        pubsub.subscribe(mine) as first,
        pubsub.subscribe(mine) as second,
        pubsub.subscribe(theirs) as other,
    ):
        assert pubsub.publish(mine, {"n": 1}) == 2
        assert await anext(first) == {"n": 1}
        assert await anext(second) == {"n": 1}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(other), 0.05)
    assert pubsub.subscribers(mine) == 0
    assert pubsub.publish(mine, {"n": 2}) == 0


async def test_a_slow_subscriber_loses_the_oldest_not_the_publisher_and_is_told() -> None:
    pubsub = PubSub(queue_size=3)
    async with pubsub.subscribe("t") as messages:
        for n in range(5):
            pubsub.publish("t", n)  # never blocks
        lost = Gap(GapReason.slow_subscriber, 2)
        assert [await anext(messages) for _ in range(4)] == [lost, 2, 3, 4]


async def _init(ws: ClientConnection, payload: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return reply


async def test_graphql_over_websocket_authenticates_at_connection_init(
    app: FastAPI, tenant: Tenant
) -> None:
    async with serve(app) as base:
        url = base.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            ack = await _init(ws, {"Authorization": f"Bearer {tenant.key}"})
            assert ack["type"] == "connection_ack"
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ app { id } }"}})
            )
            result = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert result["type"] == "next"
            assert result["payload"]["data"]["app"]["id"] == tenant.id
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "complete"

        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4403
