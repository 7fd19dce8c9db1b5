"""Subscriptions over graphql-transport-ws against a real server: fed by the committed session
events (the same as the webhooks), scoped by app, authorized like reads."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from mentorapi.apps.caller import Caller
from mentorapi.db.engine import Database
from mentorapi.graphql.feed import mentee_topic, mentor_topic, session_topic
from mentorapi.graphql.pubsub import PubSub
from mentorapi.sessions import service as sessions_service
from mentorapi.sessions.schemas import Decline
from tests.conftest import Tenant
from tests.factories import book_session, bookable, mint_token
from tests.gql.helpers import serve
from tests.test_sessions import MONDAY_9

UPDATED = """subscription($id: ID!) { sessionUpdated(sessionId: $id) {
  eventId type previous session { id status version mentor { id } } } }"""
CHANGED = """subscription($m: ID, $e: ID) { sessionsChanged(mentorId: $m, menteeId: $e) {
  type session { id status } } }"""


@asynccontextmanager
async def websocket(base: str, credential: str) -> AsyncIterator[ClientConnection]:
    url = base.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        payload = {"Authorization": f"Bearer {credential}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        yield ws


async def subscribe(ws: ClientConnection, query: str, variables: dict[str, Any]) -> None:
    message = {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
    await ws.send(json.dumps(message))


async def receive(ws: ClientConnection, wait: float = 10) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait))
    return message


def refusal(message: dict[str, Any]) -> str:
    """The error code of a subscription refused before it started (a `next` with errors and no
    data, then `complete`)."""
    assert message["type"] == "next", message
    assert message["payload"]["data"] is None, message
    return str(message["payload"]["errors"][0]["extensions"]["code"])


async def until_subscribed(pubsub: PubSub, topic: str) -> None:
    """The subscription is live once its queue is on the topic (no sleeping on a guess)."""
    for _ in range(200):
        if pubsub.subscribers(topic):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"nobody subscribed to {topic}")


async def test_session_updated_hears_rest_changes_after_commit(
    app: FastAPI, tenant: Tenant
) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    session = await book_session(tenant.client, base, MONDAY_9)
    async with serve(app) as url, websocket(url, tenant.key) as ws:
        await subscribe(ws, UPDATED, {"id": session["id"]})
        await until_subscribed(app.state.pubsub, session_topic(tenant.id, session["id"]))

        accepted = await tenant.client.post(f"/v1/sessions/{session['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        message = await receive(ws)
        assert message["type"] == "next", message
        change = message["payload"]["data"]["sessionUpdated"]
        assert change["type"] == "session.booked"
        assert change["eventId"].startswith("evt_")
        assert change["previous"]["status"] == "requested"
        assert change["session"]["status"] == "BOOKED"
        assert change["session"]["version"] == accepted.json()["version"]
        assert not message["payload"].get("errors"), message
        assert change["session"]["mentor"] == {"id": base["mentor_id"]}  # nested, per message

        cancelled = await tenant.client.post(
            f"/v1/sessions/{session['id']}/cancel", json={"by": "mentee"}
        )
        assert cancelled.status_code == 200
        change = (await receive(ws))["payload"]["data"]["sessionUpdated"]
        assert (change["type"], change["session"]["status"]) == ("session.cancelled", "CANCELLED")


async def test_every_message_comes_in_a_text_frame(app: FastAPI, tenant: Tenant) -> None:
    # graphql-transport-ws is text: a browser reads a binary frame as a Blob, which graphql-ws
    # (and GraphiQL's page) refuse, closing the socket with 4400.
    base = await bookable(tenant.client, auto_accept=False)
    async with serve(app) as url:
        ws_url = url.replace("http://", "ws://") + "/graphql"
        async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            payload = {"Authorization": f"Bearer {tenant.key}"}
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            ack = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(ack, str), ack
            await subscribe(ws, CHANGED, {"m": base["mentor_id"]})
            await until_subscribed(app.state.pubsub, mentor_topic(tenant.id, base["mentor_id"]))
            await book_session(tenant.client, base, MONDAY_9)
            heard = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(heard, str), heard
            assert json.loads(heard)["type"] == "next", heard


async def test_sessions_changed_by_mentor_and_a_rolled_back_change_publishes_nothing(
    app: FastAPI, tenant: Tenant, db: Database
) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    first = await book_session(tenant.client, base, MONDAY_9)
    async with serve(app) as url, websocket(url, tenant.key) as ws:
        await subscribe(ws, CHANGED, {"m": base["mentor_id"]})
        await until_subscribed(app.state.pubsub, mentor_topic(tenant.id, base["mentor_id"]))

        # A change that rolls back (its event row written, then the transaction undone).
        async with db.sessionmaker() as s:
            await sessions_service.decline(
                db_session=s,
                app_id=tenant.id,
                actor=Caller.api_key(tenant.id),
                session_id=first["id"],
                data=Decline(),
            )
            await s.rollback()
        # A change that fails mid-request (a 409 after nothing was written) is silent too.
        taken = await tenant.client.post("/v1/sessions", json={**base, "starts_at": MONDAY_9})
        assert taken.status_code == 409

        second = await book_session(tenant.client, base, "2027-01-11T10:00:00Z")
        message = await receive(ws)
        change = message["payload"]["data"]["sessionsChanged"]
        # The first thing heard is the second booking: the declined-then-rolled-back one never was.
        assert change == {
            "type": "session.requested",
            "session": {"id": second["id"], "status": "REQUESTED"},
        }
    still = await tenant.client.get(f"/v1/sessions/{first['id']}")
    assert still.json()["status"] == "requested"


async def test_another_apps_subscriber_hears_nothing(
    app: FastAPI, tenant: Tenant, other_tenant: Tenant
) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    theirs = await bookable(other_tenant.client, auto_accept=False)
    session = await book_session(tenant.client, base, MONDAY_9)
    async with serve(app) as url:
        async with websocket(url, other_tenant.key) as ws:
            # Another app's session id does not exist for this app.
            await subscribe(ws, UPDATED, {"id": session["id"]})
            assert refusal(await receive(ws)) == "NOT_FOUND"
            assert (await receive(ws))["type"] == "complete"
        async with websocket(url, other_tenant.key) as ws:
            # Their own mentor's feed stays silent while this app's sessions change.
            await subscribe(ws, CHANGED, {"m": theirs["mentor_id"]})
            topic = mentor_topic(other_tenant.id, theirs["mentor_id"])
            await until_subscribed(app.state.pubsub, topic)
            accepted = await tenant.client.post(f"/v1/sessions/{session['id']}/accept")
            assert accepted.status_code == 200
            with pytest.raises(TimeoutError):
                await receive(ws, wait=0.5)
            mine = await book_session(other_tenant.client, theirs, MONDAY_9)
            heard = (await receive(ws))["payload"]["data"]["sessionsChanged"]
            assert heard["session"]["id"] == mine["id"]


async def test_members_follow_only_their_own_sessions(app: FastAPI, tenant: Tenant) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    session = await book_session(tenant.client, base, MONDAY_9)
    mentee = (await tenant.client.get(f"/v1/mentees/{base['mentee_id']}")).json()
    stranger = await bookable(tenant.client)
    stranger_mentee = (await tenant.client.get(f"/v1/mentees/{stranger['mentee_id']}")).json()
    own = await mint_token(tenant.client, mentee["external_id"], "mentee")
    other = await mint_token(tenant.client, stranger_mentee["external_id"], "mentee")
    async with serve(app) as url:
        async with websocket(url, other) as ws:
            await subscribe(ws, UPDATED, {"id": session["id"]})
            assert refusal(await receive(ws)) == "NOT_FOUND"
        async with websocket(url, other) as ws:
            await subscribe(ws, CHANGED, {"m": base["mentor_id"]})
            assert refusal(await receive(ws)) == "FORBIDDEN"
        async with websocket(url, own) as ws:
            await subscribe(ws, CHANGED, {"e": base["mentee_id"]})
            await until_subscribed(app.state.pubsub, mentee_topic(tenant.id, base["mentee_id"]))
            await tenant.client.post(f"/v1/sessions/{session['id']}/accept")
            heard = (await receive(ws))["payload"]["data"]["sessionsChanged"]
            assert heard == {
                "type": "session.booked",
                "session": {"id": session["id"], "status": "BOOKED"},
            }


async def test_bad_subscription_arguments_are_bad_user_input(app: FastAPI, tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    async with serve(app) as url:
        for variables in ({}, {"m": base["mentor_id"], "e": base["mentee_id"]}, {"m": "nope"}):
            async with websocket(url, tenant.key) as ws:
                await subscribe(ws, CHANGED, variables)
                assert refusal(await receive(ws)) == "BAD_USER_INPUT", variables
        async with websocket(url, tenant.key) as ws:
            await subscribe(ws, UPDATED, {"id": base["mentor_id"]})  # a mentor id, not a session's
            assert refusal(await receive(ws)) == "BAD_USER_INPUT"
