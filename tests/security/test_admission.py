"""One admission policy for both faces (issue #12, findings 2-5 and the idempotency item of 9).

Every test here failed before `apps/admission.py`: GraphQL spent no rate-limit token, answered
CORS for any app allowing the origin, kept subscriptions open after their credential lapsed,
read chunked bodies of any size, and kept its error responses under an `Idempotency-Key`.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mentorapi.apps import repository as apps_repository
from mentorapi.apps import service as apps_service
from mentorapi.apps import tokens
from mentorapi.apps.caller import Role
from mentorapi.db.engine import Database
from mentorapi.graphql.feed import mentor_topic
from mentorapi.kit.timezones import utcnow
from tests.conftest import Tenant
from tests.factories import as_member, bookable, create_mentee, mint_token
from tests.gql.helpers import error_codes, serve
from tests.gql.test_subscriptions import CHANGED, until_subscribed
from tests.test_rate_limits import LIMIT, MEMBER_LIMIT, client_for, new_key
from tests.test_rate_limits import clock as clock
from tests.test_rate_limits import limited_app as limited_app

APP = "{ app { id } }"


# --- 2. one rate-limit bucket, whichever face spends it ---------------------------------------


async def test_graphql_spends_the_rest_bucket_and_is_refused_with_429(
    limited_app: FastAPI,
) -> None:
    async with await client_for(limited_app, await new_key(limited_app)) as client:
        for _ in range(LIMIT - 1):
            assert (await client.get("/v1/skills")).status_code == 200
        last = await client.post("/graphql", json={"query": APP})
        assert last.status_code == 200, last.text
        assert last.json()["data"]["app"]["id"].startswith("app_")
        assert last.headers["RateLimit-Limit"] == str(LIMIT)
        assert last.headers["RateLimit-Remaining"] == "0"

        refused = await client.post("/graphql", json={"query": APP})
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert refused.json()["data"] is None
        assert error_codes(refused.json()) == ["RATE_LIMITED"]
        # GET is the same face.
        by_get = await client.get("/graphql", params={"query": APP})
        assert by_get.status_code == 429
        # And REST sees the same empty bucket.
        assert (await client.get("/v1/skills")).status_code == 429


async def test_a_refused_mutation_changes_nothing(
    limited_app: FastAPI,
) -> None:
    create = """mutation { createSkill(input: {slug: "over-budget", name: "Over budget"}) {
      id } }"""
    async with await client_for(limited_app, await new_key(limited_app)) as client:
        for _ in range(LIMIT):
            assert (await client.get("/v1/skills")).status_code == 200
        refused = await client.post("/graphql", json={"query": create})
        assert refused.status_code == 429
        assert error_codes(refused.json()) == ["RATE_LIMITED"]
        await asyncio.sleep(0)
    async with await client_for(limited_app, await new_key(limited_app)) as other:
        # Another key of another app: its own bucket; the skill was never made anywhere.
        assert (await other.get("/v1/skills")).json()["data"] == []


async def test_an_operation_spends_one_token_per_root_field_however_deep(
    limited_app: FastAPI,
) -> None:
    """Nested fields are free (REST's one request answers them too); each root field is a
    request of its own (tests/test_rate_limits.py has the rest of the rule)."""
    deep = "{ app { id name } skills { edges { node { id name } } pageInfo { hasNextPage } } }"
    async with await client_for(limited_app, await new_key(limited_app)) as client:
        response = await client.post("/graphql", json={"query": deep})
        assert response.status_code == 200, response.text
        assert not response.json().get("errors")
        assert response.headers["RateLimit-Remaining"] == str(LIMIT - 2)


async def test_a_members_bucket_is_shared_by_both_faces(
    limited_app: FastAPI,
) -> None:
    async with await client_for(limited_app, await new_key(limited_app)) as api:
        mentee = await create_mentee(api)
        token = await mint_token(api, mentee["external_id"], "mentee")
    async with as_member(api, token) as member:
        for _ in range(MEMBER_LIMIT):
            assert (await member.post("/graphql", json={"query": APP})).status_code == 200
        refused = await member.get(f"/v1/mentees/{mentee['id']}")
        assert refused.status_code == 429
        assert (await member.post("/graphql", json={"query": APP})).status_code == 429


async def test_websocket_operations_spend_tokens(
    limited_app: FastAPI,
) -> None:
    key = await new_key(limited_app)
    async with serve(limited_app) as url, graphql_socket(url, key) as ws:  # connect: 1 token
        for n in range(1, LIMIT):  # the rest of the bucket, one operation each
            await ws.send(
                json.dumps({"id": str(n), "type": "subscribe", "payload": {"query": APP}})
            )
            message = await receive(ws)
            assert message["type"] == "next", message
            assert message["payload"]["data"]["app"]["id"].startswith("app_")
            assert (await receive(ws))["type"] == "complete"
        await ws.send(json.dumps({"id": "x", "type": "subscribe", "payload": {"query": APP}}))
        message = await receive(ws)
        assert message["payload"]["data"] is None, message
        assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["RATE_LIMITED"]


# --- 3. CORS for the caller's own app ---------------------------------------------------------


async def test_graphql_cors_answers_for_the_callers_app_only(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    mine, theirs = "https://mine.example", "https://theirs.example"
    for t, origin in ((tenant, mine), (other_tenant, theirs)):
        patched = await t.client.patch("/v1/app", json={"cors_origins": [origin]})
        assert patched.status_code == 200, patched.text
    for path, send in (
        ("/graphql", lambda h: tenant.client.post("/graphql", json={"query": APP}, headers=h)),
        ("/v1/app", lambda h: tenant.client.get("/v1/app", headers=h)),
    ):
        allowed = await send({"Origin": mine})
        assert allowed.status_code == 200, (path, allowed.text)
        assert allowed.headers.get("access-control-allow-origin") == mine, path
        foreign = await send({"Origin": theirs})
        assert foreign.status_code == 200, (path, foreign.text)
        assert "access-control-allow-origin" not in foreign.headers, path


# --- 5. the body limit counts what streams ----------------------------------------------------


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


@pytest.mark.parametrize("path", ["/graphql", "/v1/skills", "/v1/sessions"])
async def test_a_chunked_body_past_the_limit_is_413_before_authentication(
    anon: httpx.AsyncClient, tenant: Tenant, path: str
) -> None:
    for client in (anon, tenant.client):
        response = await client.post(
            path, content=_chunks(20_000_000), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413, (path, response.text[:200])
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await tenant.client.get("/v1/skills")).json()["data"] == []


async def test_a_chunked_body_within_the_limit_still_works(tenant: Tenant) -> None:
    body = json.dumps({"slug": "streamed", "name": "Streamed"}).encode()

    async def stream() -> AsyncIterator[bytes]:
        yield body[:5]
        yield body[5:]

    response = await tenant.client.post(
        "/v1/skills", content=stream(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "filler",
    # Over 1 MB either way: in characters, or only in bytes (400,000 three-byte characters).
    [" " * 1_100_000, "€" * 400_000],
    ids=["ascii", "multibyte"],
)
async def test_a_websocket_message_past_the_limit_closes_the_socket(
    app: FastAPI, tenant: Tenant, filler: str
) -> None:
    async with serve(app) as url, graphql_socket(url, tenant.key) as ws:
        payload = {"query": f"# {filler}\n{{ app {{ id }} }}"}
        huge = json.dumps({"id": "1", "type": "subscribe", "payload": payload}, ensure_ascii=False)
        await ws.send(huge)
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009


# --- 4. subscriptions end with their credential -----------------------------------------------


async def _token_secret(db: Database, app_id: str) -> str:
    async with db.sessionmaker() as s:
        app = await apps_repository.get_app(s, app_id)
        assert app is not None
        return app.token_secret


async def _book_and_expect_close(
    app: FastAPI, tenant: Tenant, base: dict[str, Any], ws: ClientConnection
) -> None:
    """A change the subscriber would hear: instead, its socket is closed with 4401."""
    booked = await tenant.client.post(
        "/v1/sessions", json={**base, "starts_at": "2027-01-11T09:00:00Z"}
    )
    assert booked.status_code == 201, booked.text
    with pytest.raises(ConnectionClosed) as closed:
        await receive(ws)  # a message here fails the test: nothing may be heard
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401, closed.value.rcvd


async def _subscribed(app: FastAPI, tenant: Tenant, ws: ClientConnection, mentor_id: str) -> None:
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": CHANGED, "variables": {"m": mentor_id}},
            }
        )
    )
    await until_subscribed(app.state.pubsub, mentor_topic(tenant.id, mentor_id))


async def test_a_subscription_hears_while_its_token_is_valid(app: FastAPI, tenant: Tenant) -> None:
    """The control for the tests below: the same subscription, nothing revoked, hears."""
    base = await bookable(tenant.client)
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    token = await mint_token(tenant.client, mentor["external_id"], "mentor")
    async with serve(app) as url, graphql_socket(url, token) as ws:
        await _subscribed(app, tenant, ws, base["mentor_id"])
        booked = await tenant.client.post(
            "/v1/sessions", json={**base, "starts_at": "2027-01-11T09:00:00Z"}
        )
        assert booked.status_code == 201
        message = await receive(ws)
        assert message["payload"]["data"]["sessionsChanged"]["type"] == "session.booked"


async def test_an_expired_member_token_closes_the_subscription(
    app: FastAPI, tenant: Tenant, db: Database
) -> None:
    base = await bookable(tenant.client)
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    # Valid (with the tolerated clock skew) for two more seconds.
    ttl = timedelta(minutes=1)
    issued = utcnow().replace(microsecond=0) - ttl - timedelta(seconds=tokens.LEEWAY_SECONDS - 2)
    token = tokens.mint(
        secret=await _token_secret(db, tenant.id),
        app_id=tenant.id,
        external_id=mentor["external_id"],
        role=Role.mentor,
        now=issued,
        ttl=ttl,
    )
    async with serve(app) as url, graphql_socket(url, token) as ws:
        await _subscribed(app, tenant, ws, base["mentor_id"])
        await asyncio.sleep(2.5)
        await _book_and_expect_close(app, tenant, base, ws)


async def test_an_idle_socket_is_closed_when_its_token_expires(
    app: FastAPI, tenant: Tenant, db: Database
) -> None:
    """Nothing to send, nothing to check: the socket stayed open, its credential long expired,
    for as long as the client liked (for ever). Now it is closed at the expiry."""
    base = await bookable(tenant.client)
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    ttl = timedelta(minutes=1)
    issued = utcnow().replace(microsecond=0) - ttl - timedelta(seconds=tokens.LEEWAY_SECONDS - 2)
    token = tokens.mint(
        secret=await _token_secret(db, tenant.id),
        app_id=tenant.id,
        external_id=mentor["external_id"],
        role=Role.mentor,
        now=issued,
        ttl=ttl,
    )
    async with serve(app) as url, graphql_socket(url, token) as ws:
        await _subscribed(app, tenant, ws, base["mentor_id"])
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)  # no message: the close, about 2 s in
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401, closed.value.rcvd
    # The control: a valid token's socket stays open.
    long_lived = await mint_token(tenant.client, mentor["external_id"], "mentor")
    async with serve(app) as url, graphql_socket(url, long_lived) as ws:
        await _subscribed(app, tenant, ws, base["mentor_id"])
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 3)


async def test_rotating_the_token_secret_without_grace_closes_the_subscription(
    app: FastAPI, tenant: Tenant
) -> None:
    base = await bookable(tenant.client)
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    token = await mint_token(tenant.client, mentor["external_id"], "mentor")
    async with serve(app) as url, graphql_socket(url, token) as ws:
        await _subscribed(app, tenant, ws, base["mentor_id"])
        rotated = await tenant.client.post("/v1/app/rotate-token-secret", json={"grace_seconds": 0})
        assert rotated.status_code == 200
        await _book_and_expect_close(app, tenant, base, ws)


async def test_deleting_the_members_profile_closes_the_subscription(
    app: FastAPI, tenant: Tenant
) -> None:
    base = await bookable(tenant.client)
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    # One person, mentor and mentee: the token (role both) needs both profiles.
    mentee = await create_mentee(tenant.client, external_id=mentor["external_id"])
    token = await mint_token(tenant.client, mentor["external_id"], "both")
    async with serve(app) as url, graphql_socket(url, token) as ws:
        await _subscribed(app, tenant, ws, base["mentor_id"])
        deleted = await tenant.client.delete(f"/v1/mentees/{mentee['id']}")
        assert deleted.status_code == 204, deleted.text
        await _book_and_expect_close(app, tenant, base, ws)


async def test_changing_the_members_external_id_closes_the_subscription(
    app: FastAPI, tenant: Tenant
) -> None:
    base = await bookable(tenant.client)
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    token = await mint_token(tenant.client, mentor["external_id"], "mentor")
    async with serve(app) as url, graphql_socket(url, token) as ws:
        await _subscribed(app, tenant, ws, base["mentor_id"])
        patched = await tenant.client.patch(
            f"/v1/mentors/{base['mentor_id']}", json={"external_id": "someone-else"}
        )
        assert patched.status_code == 200, patched.text
        await _book_and_expect_close(app, tenant, base, ws)


async def test_revoking_the_api_key_closes_the_subscription(
    app: FastAPI, tenant: Tenant, db: Database
) -> None:
    base = await bookable(tenant.client)
    async with db.sessionmaker() as s, s.begin():
        issued = await apps_service.create_key(db_session=s, app_id=tenant.id)
    async with serve(app) as url, graphql_socket(url, issued.secret) as ws:
        await _subscribed(app, tenant, ws, base["mentor_id"])
        async with db.sessionmaker() as s, s.begin():
            await apps_service.revoke_key(db_session=s, key_id=issued.key.id)
        await _book_and_expect_close(app, tenant, base, ws)


# --- 9. only completed outcomes are replayed ---------------------------------------------------


async def test_a_graphql_error_is_not_kept_under_an_idempotency_key(tenant: Tenant) -> None:
    query = """mutation { createMentor(input: {externalId: "idem-1", name: "Ada",
      timezone: "Europe/Berlin", skills: [{slug: "later-skill", level: 3}]}) { id } }"""
    headers = {"Idempotency-Key": "create-ada"}
    first = await tenant.client.post("/graphql", json={"query": query}, headers=headers)
    assert first.status_code == 200
    assert error_codes(first.json()), first.json()  # no such skill yet
    created = await tenant.client.post("/v1/skills", json={"slug": "later-skill", "name": "Later"})
    assert created.status_code == 201
    again = await tenant.client.post("/graphql", json={"query": query}, headers=headers)
    assert "idempotent-replayed" not in again.headers
    assert not again.json().get("errors"), again.json()
    mentor_id = again.json()["data"]["createMentor"]["id"]
    # The completed outcome is kept and replayed.
    replay = await tenant.client.post("/graphql", json={"query": query}, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["data"]["createMentor"]["id"] == mentor_id


# --- helpers ---------------------------------------------------------------------------------


class graphql_socket:
    """A graphql-transport-ws socket, acknowledged, authenticated with `credential`."""

    def __init__(self, base: str, credential: str) -> None:
        self.url = base.replace("http://", "ws://") + "/graphql"
        self.credential = credential

    async def __aenter__(self) -> ClientConnection:
        self._cm = connect(self.url, subprotocols=["graphql-transport-ws"], max_size=None)  # type: ignore[list-item]
        ws = await self._cm.__aenter__()
        payload = {"Authorization": f"Bearer {self.credential}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = await receive(ws)
        assert ack["type"] == "connection_ack", ack
        return ws

    async def __aexit__(self, *exc: object) -> None:
        await self._cm.__aexit__(None, None, None)


async def receive(ws: ClientConnection, wait: float = 10) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait))
    return message
