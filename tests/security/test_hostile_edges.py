"""Small hostile inputs that were a 500, an INTERNAL GraphQL error, or a request held for ever.

- `If-Match: "²"`: `str.isdigit` is true of superscript digits (latin-1, as header values are
  read), `int` refuses them: a 500 on every route that takes If-Match.
- A number literal of more than 4,300 digits in a GraphQL document: the cost limiter and
  graphql-core's Int coercion call `int` on it, which raises: INTERNAL, not the client's error.
- A request line and headers without end: uvicorn and httptools kept all of it until the
  header deadline (one connection held 750 MB within four seconds, a URL cost quadratic
  time); past 256 KiB it is a 431 at once.
- A request body that never finishes arriving (sent slowly, or stopped halfway): uvicorn
  waits as long as the client keeps the connection open; now it is a 408 past the deadline.
  Nothing holds a database connection meanwhile (checked here while the body is stalled).

- JSON nested a few hundred levels deep, that the standard library still parses: the walk for
  unstorable text (kit/text.py) recursed, deeper in the stack than the parse, and ran out of
  it (a 500 on REST bodies, a GraphQL error without a code for variables); deeper still, the
  recommendations' lean route let the parser's RecursionError out (a 500; FastAPI: 400).

GraphQL bodies that are not UTF-8, or hold a 4,300-digit number, are in test_graphql_http.py.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed

from mentorapi.cli import _http_protocol
from mentorapi.http_protocol import MAX_HEADER_BYTES, HeaderDeadlineProtocol
from mentorapi.kit import text
from mentorapi.main import create_app
from tests import conftest
from tests.conftest import Tenant, make_tenant, running
from tests.gql.helpers import error_codes, gql, serve
from tests.gql.test_subscriptions import websocket
from tests.security.test_nul_and_text import fill, sample

SUPERSCRIPTS = ['"\xb2"', "\xb9", 'W/"\xb3"', '"1\xb2"']
HUGE = "9" * 5000


def if_match_routes(spec: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(method, path, body) of every operation that reads If-Match, with sample values."""
    found = []
    for template, operations in spec["paths"].items():
        for method, op in operations.items():
            params = op.get("parameters", [])
            if not any(p["in"] == "header" and p["name"] == "If-Match" for p in params):
                continue
            path = fill(template, {p["name"]: sample(spec, p["schema"]) for p in params})
            body_schema = op.get("requestBody", {}).get("content", {}).get("application/json")
            found.append(
                (method, path, sample(spec, body_schema["schema"]) if body_schema else None)
            )
    return found


async def test_if_match_with_digits_int_cannot_read_is_a_422_everywhere(
    app: FastAPI, tenant: Tenant
) -> None:
    routes = if_match_routes(app.openapi())
    assert len(routes) >= 10, routes  # every change of a versioned object
    failures = []
    for method, path, body in routes:
        for value in SUPERSCRIPTS:
            response = await tenant.client.request(
                method.upper(),
                path,
                content=None if body is None else json.dumps(body),
                headers={"Content-Type": "application/json", "If-Match": value.encode("latin-1")},
            )
            problem = response.headers["content-type"].startswith("application/problem+json")
            if response.status_code != 422 or not problem:
                failures.append(f"{method} {path} {value!r}: {response.status_code}")
    assert failures == []


@pytest.mark.parametrize(
    "document",
    [
        "{ skills(first: NUMBER) { edges { cursor } } }",
        "query($f: Int = NUMBER) { skills(first: $f) { edges { cursor } } }",
        "{ mentors(first: 1, filter: { sessionLength: NUMBER }) { edges { cursor } } }",
        "{ skills(first: NUMBER.5) { edges { cursor } } }",
    ],
)
async def test_a_number_literal_past_4300_digits_is_the_clients_error(
    tenant: Tenant, document: str
) -> None:
    body = await gql(tenant.client, document.replace("NUMBER", HUGE))
    assert body["data"] is None
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body["errors"][0]["message"][:300]


# --- bodies that never finish arriving (real HTTP) ---------------------------------------------

TIMEOUT = 0.5


@pytest.fixture(scope="module")
async def slow_app(database_url: str) -> AsyncIterator[FastAPI]:
    settings = conftest.test_settings(database_url, request_body_timeout_seconds=TIMEOUT)
    async with running(create_app(settings)) as application:
        yield application


@contextlib.asynccontextmanager
async def connection(base: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@pytest.fixture
async def slow_tenant(slow_app: FastAPI) -> AsyncIterator[Tenant]:
    async with contextlib.asynccontextmanager(make_tenant)(slow_app) as tenant:
        yield tenant


def checked_out(application: FastAPI) -> int:
    count: int = application.state.db.engine.pool.checkedout()
    return count


@pytest.mark.parametrize("path", ["/v1/skills", "/v1/skills idempotent", "/graphql"])
@pytest.mark.parametrize("how", ["stalled", "trickled", "chunked"])
async def test_a_body_that_does_not_arrive_in_time_is_a_408(
    slow_app: FastAPI, slow_tenant: Tenant, path: str, how: str
) -> None:
    tenant = slow_tenant
    body = b'{"slug": "slow", "name": "Slow", "query": "{ app { id } }"}'
    length = b"Transfer-Encoding: chunked" if how == "chunked" else b"Content-Length: 200"
    path, _, idempotent = path.partition(" ")
    head = b"\r\n".join(
        [
            f"POST {path} HTTP/1.1".encode(),
            *([b"Idempotency-Key: slow-1"] if idempotent else []),
            b"Host: test",
            f"Authorization: Bearer {tenant.key}".encode(),
            b"Content-Type: application/json",
            length,
            b"",
            b"",
        ]
    )
    async with serve(slow_app) as base, connection(base) as (reader, writer):
        idle = checked_out(slow_app)
        writer.write(head)
        if how == "chunked":
            writer.write(b"%x\r\n%s\r\n" % (len(body), body))  # and never the last chunk
        else:
            writer.write(body[:10])
        await writer.drain()

        async def trickle() -> None:
            for byte in body[10:] * 10:
                await asyncio.sleep(0.05)
                writer.write(bytes([byte]))
                await writer.drain()

        trickling = asyncio.create_task(trickle()) if how == "trickled" else None
        await asyncio.sleep(TIMEOUT / 2)
        # Waiting for its body, the request holds no connection of the pool.
        assert checked_out(slow_app) == idle
        try:
            async with asyncio.timeout(TIMEOUT + 5):
                status = await reader.readline()
                head_lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        finally:
            if trickling is not None:
                trickling.cancel()
        assert status.startswith(b"HTTP/1.1 408"), status
        assert "application/problem+json" in head_lines.lower()
    assert checked_out(slow_app) == idle


async def test_a_body_that_arrives_in_time_is_not_hurried(slow_tenant: Tenant) -> None:
    response = await slow_tenant.client.post("/v1/skills", json={"slug": "quick", "name": "Q"})
    assert response.status_code == 201, response.text


# --- headers that never finish arriving (uvicorn, as `serve` runs it) -------------------------


class QuickDeadline(HeaderDeadlineProtocol):
    def header_timeout_seconds(self) -> float:
        return TIMEOUT


@contextlib.asynccontextmanager
async def serve_with_deadline(application: FastAPI) -> AsyncIterator[str]:
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
        http=QuickDeadline,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def test_serve_runs_uvicorn_with_the_header_deadline() -> None:
    assert _http_protocol() is HeaderDeadlineProtocol


@pytest.mark.parametrize("kept_alive", [False, True], ids=["first-request", "kept-alive"])
async def test_headers_that_do_not_arrive_in_time_close_the_connection(
    app: FastAPI, tenant: Tenant, kept_alive: bool
) -> None:
    request = f"GET /v1/skills HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {tenant.key}\r\n\r\n"
    async with serve_with_deadline(app) as base, connection(base) as (reader, writer):
        if kept_alive:  # a request answered first: the deadline is each request's
            writer.write(request.encode())
            await writer.drain()
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            await reader.readexactly(length)
        writer.write(b"GET /v1/skills HTTP/1.1\r\nHost: test\r\n")
        await writer.drain()

        async def trickle() -> None:
            for _ in range(200):
                await asyncio.sleep(0.05)
                writer.write(b"X")
                await writer.drain()

        trickling = asyncio.create_task(trickle())
        try:
            async with asyncio.timeout(TIMEOUT + 5):
                rest = await reader.read()  # the connection closed: nothing more, ever
        finally:
            trickling.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await trickling
        assert b"HTTP/1.1" not in rest


async def answered(reader: asyncio.StreamReader, status: bytes = b"200") -> None:
    """Read one response of a kept-alive connection to its end."""
    assert (await reader.readline()).startswith(b"HTTP/1.1 " + status)
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
    await reader.readexactly(int(head.split("content-length:")[1].split("\r\n")[0]))


@pytest.mark.parametrize("trickled", [False, True], ids=["once", "trickled"])
async def test_empty_lines_between_requests_do_not_hold_a_connection(
    app: FastAPI, tenant: Tenant, trickled: bool
) -> None:
    """The parser skips empty lines between requests without beginning one; uvicorn stopped
    its keep-alive timer at them, and nothing timed the connection any more (held for ever)."""
    request = f"GET /v1/skills HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {tenant.key}\r\n\r\n"
    async with serve_with_deadline(app) as base, connection(base) as (reader, writer):
        writer.write(request.encode())
        await writer.drain()
        await answered(reader)
        writer.write(b"\r\n")
        await writer.drain()

        async def trickle() -> None:
            for _ in range(200):
                await asyncio.sleep(0.05)
                writer.write(b"\r\n")
                await writer.drain()

        trickling = asyncio.create_task(trickle()) if trickled else None
        try:
            async with asyncio.timeout(TIMEOUT + 5):
                assert await reader.read() == b""  # closed, nothing sent
        finally:
            if trickling is not None:
                trickling.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await trickling


async def test_pipelined_and_kept_alive_requests_are_still_answered(
    app: FastAPI, tenant: Tenant
) -> None:
    """Requests sent back to back (pipelined, with empty lines between) and a request sent on a
    connection idle for less than the deadline are answered; the deadline is each request's."""
    request = f"GET /v1/skills HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {tenant.key}\r\n\r\n"
    async with serve_with_deadline(app) as base, connection(base) as (reader, writer):
        writer.write(((request + "\r\n") * 3 + request).encode())
        await writer.drain()
        for _ in range(4):
            await answered(reader)
        for _ in range(3):  # idle, but past a deadline in all: each request starts its own
            await asyncio.sleep(TIMEOUT * 0.6)
            writer.write(request.encode())
            await writer.drain()
            await answered(reader)


# --- request lines and headers without end -------------------------------------------------


def endless(kind: str) -> tuple[bytes, bytes]:
    """What begins the request, and a chunk that continues it for as long as it is sent."""
    if kind == "url":
        return b"GET /v1/skills?q=", b"a" * 65536
    begin = b"GET /v1/skills HTTP/1.1\r\nHost: test\r\n"
    if kind == "one header":
        return begin + b"X-Long: ", b"b" * 65536
    return begin, b"".join(b"X-%d: %s\r\n" % (n, b"c" * 100) for n in range(600))


@pytest.mark.parametrize("kind", ["headers", "one header", "url", "kept-alive"])
async def test_headers_past_their_bound_are_a_431_at_once(
    app: FastAPI, tenant: Tenant, kind: str
) -> None:
    request = f"GET /v1/skills HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {tenant.key}\r\n\r\n"
    begin, chunk = endless("headers" if kind == "kept-alive" else kind)
    async with serve_with_deadline(app) as base, connection(base) as (reader, writer):
        if kind == "kept-alive":  # the bound is each request's
            writer.write(request.encode())
            await answered(reader)
        # One byte past the bound in all: what the server leaves unread when it closes would
        # have the client's kernel reset the connection, and drop the answer.
        endless_bytes = begin + chunk * (MAX_HEADER_BYTES // len(chunk) + 1)
        writer.write(endless_bytes[: MAX_HEADER_BYTES + 1])
        await writer.drain()
        # Answered before the header deadline would have closed the connection in silence.
        async with asyncio.timeout(TIMEOUT):
            await answered(reader, b"431")
            assert await reader.read() == b""  # and closed


async def test_requests_within_the_bound_are_answered(app: FastAPI, tenant: Tenant) -> None:
    """Headers of 200 KB with a body, in one write; two such requests pipelined (together past
    the bound, each within it)."""
    padding = "".join(f"X-{n}: {'p' * 100}\r\n" for n in range(1900))
    assert 200_000 < len(padding) < MAX_HEADER_BYTES - 1000
    body = b'{"slug": "padded", "name": "Padded"}'
    post = (
        f"POST /v1/skills HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {tenant.key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{padding}\r\n"
    ).encode() + body
    get = f"GET /v1/skills HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {tenant.key}\r\n"
    async with serve_with_deadline(app) as base, connection(base) as (reader, writer):
        writer.write(post)
        await answered(reader, b"201")
        writer.write((get + padding + "\r\n").encode() * 2)
        await answered(reader)
        await answered(reader)


async def test_a_websocket_message_with_a_4300_digit_number_is_invalid_json(
    app: FastAPI, tenant: Tenant
) -> None:
    """The socket's messages are read by the same decode_json: 4400, as for any non-JSON."""
    message = '{"id": "1", "type": "subscribe", "payload": {"query": "{ app { id } }", '
    message += '"variables": {"x": ' + HUGE + "}}}"
    async with serve(app) as url, websocket(url, tenant.key) as ws:
        await ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400, closed.value.rcvd


# --- JSON nested as deep as the parser goes ----------------------------------------------------


def nested(depth: int, inner: bytes) -> bytes:
    return b"[" * depth + inner + b"]" * depth


def test_the_unstorable_text_walk_needs_no_stack() -> None:
    value: Any = "a\x00"
    for _ in range(50_000):
        value = [value]
    assert list(text.unstorable_at({"x": value}, ("body",))) == [("body", "x", *[0] * 50_000)]
    # Keys count, ahead of their value, in order.
    found = text.issues({"\ud800": ["\x00", "ok", {"k\x00": "v\x00"}]}, ("variables",))
    assert [issue["loc"] for issue in found] == [
        ["variables", "\ud800"],
        ["variables", "\ud800", 0],
        ["variables", "\ud800", 2, "k\x00"],
        ["variables", "\ud800", 2, "k\x00"],
    ]


async def test_json_nested_as_deep_as_it_parses_is_never_a_server_error(
    app: FastAPI, tenant: Tenant
) -> None:
    """Every depth around the interpreter's limit (where the parse just succeeds, the walk is
    deeper still), through a real server: REST bodies with an escape (walked for unstorable
    text), GraphQL variables (always walked), and the recommendations' lean route."""
    bodies = {
        "/v1/skills": lambda d: b'{"slug": "\\u0041", "x": ' + nested(d, b"1") + b"}",
        "/graphql": lambda d: (
            b'{"query": "{ app { id } }", "variables": {"x": ' + nested(d, b"1") + b"}}"
        ),
        "/v1/matching/recommendations": lambda d: nested(d, b"1"),
    }
    failures = []
    async with (
        serve(app) as base,
        httpx.AsyncClient(base_url=base, headers=tenant.client.headers) as client,
    ):
        for path, body in bodies.items():
            for depth in [*range(850, 1000), 100_000]:
                response = await client.post(
                    path, content=body(depth), headers={"Content-Type": "application/json"}
                )
                if path == "/graphql" and response.status_code == 200:
                    errors = response.json().get("errors") or []
                    if any("code" not in e.get("extensions", {}) for e in errors):
                        failures.append((path, depth, response.text[:200]))
                elif response.status_code not in (400, 422):
                    failures.append((path, depth, response.status_code, response.text[:200]))
    assert failures == []
