"""A GraphQL WebSocket refused at `connection_init` says why.

It is closed with 4403 (the documented code), and strawberry's close reason was "Forbidden"
whatever the refusal: a browser app or GraphiQL could not tell a wrong key from an expired
token, an empty bucket or a busy database. The reason is now "CODE: detail" (the code and
detail GraphQL and REST give over HTTP), cut to the 123 bytes a close frame carries, and it
never holds the credential.
"""

import asyncio
import json

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mentorapi.graphql.sockets import MAX_CLOSE_REASON_BYTES, close_reason
from tests.conftest import Tenant
from tests.gql.helpers import serve
from tests.security.test_member_token_order import token
from tests.test_rate_limits import LIMIT, client_for, new_key
from tests.test_rate_limits import clock as clock
from tests.test_rate_limits import limited_app as limited_app

UNKNOWN_KEY = "mk_not_a_key_but_a_secret_all_the_same"


async def refused(url: str, payload: dict[str, str]) -> tuple[int, str]:
    """The close code and reason of a socket whose connection_init sends `payload`."""
    async with connect(
        url.replace("http://", "ws://") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def test_a_refused_credential_is_closed_with_4403_and_why(
    app: FastAPI, tenant: Tenant
) -> None:
    forged = token("app_" + "0" * 26, "mentor-1")  # an unknown app: its detail is long
    async with serve(app) as url:
        assert await refused(url, bearer(UNKNOWN_KEY)) == (
            4403,
            "UNAUTHENTICATED: the API key is unknown, revoked or expired",
        )
        code, reason = await refused(url, {})
        assert code == 4403
        assert reason.startswith("UNAUTHENTICATED: missing Authorization header"), reason
        code, reason = await refused(url, bearer(forged))
    assert code == 4403
    assert reason.startswith("UNAUTHENTICATED: the token's signature does not verify"), reason
    # Cut to what a close frame carries (the client received it: the frame was valid).
    assert len(reason.encode()) == MAX_CLOSE_REASON_BYTES, reason
    assert reason.endswith("\u2026"), reason
    for credential in (UNKNOWN_KEY, forged):  # never the credential, not even part of it
        assert credential[:12] not in reason


async def test_an_empty_bucket_is_closed_with_4403_and_when_to_retry(
    limited_app: FastAPI,
) -> None:
    key = await new_key(limited_app)
    async with await client_for(limited_app, key) as client:
        for _ in range(LIMIT):
            assert (await client.get("/v1/skills")).status_code == 200
    async with serve(limited_app) as url:
        code, reason = await refused(url, bearer(key))
    assert code == 4403
    assert reason.startswith(f"RATE_LIMITED: rate limit of {LIMIT} requests per "), reason
    assert "retry in " in reason, reason


def test_a_close_reason_fits_a_close_frame() -> None:
    assert close_reason("short") == "short"
    fits = "x" * MAX_CLOSE_REASON_BYTES
    assert close_reason(fits) == fits
    # Cut at a character, never inside one (é is 2 bytes: 61 of them are 122 bytes).
    cut = close_reason("é" * 70)
    assert cut == "é" * 60 + "\u2026"
    assert len(cut.encode()) <= MAX_CLOSE_REASON_BYTES
    # A lone surrogate (text quoted from the client) is no UTF-8: replaced, not raised.
    assert close_reason("alg '\ud800'") == "alg '?'"
