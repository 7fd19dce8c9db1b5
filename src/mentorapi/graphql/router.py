"""Mount GraphQL at /graphql, with an offline GraphiQL: every asset is served from here."""

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NoReturn, cast

import orjson
from cross_web import HTTPException as StrawberryHTTPException
from cross_web import StarletteRequestAdapter
from fastapi import BackgroundTasks, FastAPI, Request, Response, WebSocket
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute, Match, NoMatchFound, compile_path
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.fastapi import GraphQLRouter
from strawberry.http import async_base_view, streaming
from strawberry.http import parse_content_type as strawberry_content_type
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message
from strawberry.types.unset import UNSET

from mentorapi.apps.keycache import KeyCache, watch_auth_writes
from mentorapi.config import Settings
from mentorapi.db.busy import is_busy
from mentorapi.db.dropped import is_dropped
from mentorapi.graphql.context import Context, get_context
from mentorapi.graphql.errors import BUSY_MESSAGE, UNAVAILABLE, UNAVAILABLE_MESSAGE
from mentorapi.graphql.fanout import Fanout
from mentorapi.graphql.feed import install_feed
from mentorapi.graphql.pubsub import PubSub
from mentorapi.graphql.schema import build_schema
from mentorapi.graphql.sockets import CLOSE_REFUSED, CLOSE_TOO_MANY, OpenSockets, close_reason
from mentorapi.kit.errors import TooManyRequests, Unauthenticated
from mentorapi.kit.lean import is_json_type, route_path
from mentorapi.kit.problems import problem_response

PATH = "/graphql"
MAX_OPERATIONS_PER_SOCKET = 20
# An operation's id is held for its life and sent back in each of its messages: graphql-ws
# clients send a UUID (36 characters) or a counter; a megabyte of id was held as sent.
MAX_OPERATION_ID_LENGTH = 128
ASSETS_PATH = "/graphql/assets"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "graphiql"
PAGE = STATIC_DIR.parent / "graphiql.html"  # a template, so not among the served files

# Only our own origin: the page cannot load or send anything elsewhere even if a bundle tried.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


# strawberry parses each request's Content-Type (as `JsonTypedRequestAdapter` shows it) and,
# for its streaming transports, Accept with `email.message`, about a tenth of the view's own
# work on a cached document. It is a pure function of the header's text, and clients send the
# same few values: the same function, remembered for 64 of them (bounded: the values are the
# clients'), each caller given its own copy of the parameters. tests/gql/test_lean_graphql.py
# holds it to strawberry's.
_parse_content_type = lru_cache(maxsize=64)(strawberry_content_type.parse_content_type)


def parse_content_type(content_type: str) -> tuple[str, dict[str, str]]:
    mime, params = _parse_content_type(content_type)
    return mime, dict(params)


async_base_view.parse_content_type = parse_content_type  # type: ignore[attr-defined]
streaming.parse_content_type = parse_content_type  # type: ignore[attr-defined]


@cache
def graphiql_html(assets: str) -> str:
    return PAGE.read_text().replace("{{ASSETS}}", assets)


# graphql-transport-ws: what each message type must carry, besides `type` (a string). An id is
# a string; a subscribe's payload an object whose `query` is a string and whose
# `operationName`, `variables` and `extensions` are a string, objects, or null when given.
_WITH_ID = frozenset({"subscribe", "complete"})
_PAYLOAD_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "query": ((str,), "a string"),
    "operationName": ((str, type(None)), "a string or null"),
    "variables": ((dict, type(None)), "an object or null"),
    "extensions": ((dict, type(None)), "an object or null"),
}


def malformed(message: object) -> str | None:
    """Why a WebSocket message does not have the protocol's shape, or None when it does."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message needs a `type`"
    if kind in _WITH_ID:
        found = message.get("id")
        if not isinstance(found, str):
            return f"a {kind} message needs a string `id`"
        if len(found) > MAX_OPERATION_ID_LENGTH:
            return f"a message's `id` is limited to {MAX_OPERATION_ID_LENGTH} characters"
    if kind == "subscribe":
        payload = message.get("payload")
        if not isinstance(payload, dict):
            return "a subscribe message needs an object `payload`"
        for name, (kinds, described) in _PAYLOAD_FIELDS.items():
            if (name in payload or name == "query") and not isinstance(payload.get(name), kinds):
                return f"a subscribe payload's `{name}` must be {described}"
    return None


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_message(self, message: Message) -> None:
        # strawberry reads a message's fields without checking their types: `null`, a list, a
        # subscribe whose payload is null or whose query is a number raised out of the socket's
        # handler (no close frame, an ASGI error logged) or out of an operation's task. Such a
        # message closes the socket with 4400, as the protocol asks of an invalid message,
        # and as a missing field already did.
        reason = malformed(message)
        if reason is not None:
            await self.handle_invalid_message(reason)
            return
        await super().handle_message(message)


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Each graphql-transport-ws message in a text frame. strawberry sends what `encode_json`
    gives as bytes in a binary frame, and browser clients (graphql-ws, GraphiQL's page) read a
    binary frame as a Blob, not a message: they closed the socket with 4400."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        try:
            await self.ws.send_text(encoded.decode() if isinstance(encoded, bytes) else encoded)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class JsonTypedRequestAdapter(StarletteRequestAdapter):
    """The request as strawberry's view reads it, its Content-Type judged by REST's rule.

    strawberry reads a POST body as JSON when "application/json" is *in* the media type as
    written: `Application/JSON` (media types ignore case, and REST takes it) was refused, and
    `application/jsonx` or `application/json-seq` were read as JSON. What `is_json_type` takes
    (FastAPI's test: application/json or application/*+json, any case, any parameters) is shown
    to strawberry as application/json; anything else as no type, which strawberry refuses as it
    refused every other type (400 "Unsupported content type", problem+json from `run`):
    multipart uploads are off. The view reads `content_type` nowhere else.
    """

    @property
    def content_type(self) -> str | None:
        found = self.headers.get("content-type")
        if found is not None and is_json_type(found.encode("latin-1")):  # as Starlette decoded it
            return "application/json"
        return None


class MentorapiGraphQLRouter(GraphQLRouter[Context, None]):
    request_adapter_class = JsonTypedRequestAdapter
    graphql_transport_ws_handler_class = TransportWSHandler
    websocket_adapter_class = TextWebSocketAdapter

    temporal_response: Response  # strawberry's: the sub-response of the request being run

    async def run(  # type: ignore[override]
        self,
        request: Request | WebSocket,
        context: Context = UNSET,
        root_value: None = UNSET,
    ) -> Response | WebSocket:
        # A request GraphQL cannot even read (bad JSON, a wrong content type, a query that is
        # not a string) is answered as REST answers one: problem+json, not plain text.
        try:
            return await super().run(request, context, root_value)
        except StrawberryHTTPException as exc:
            return problem_response(
                exc.status_code,
                "Bad request" if exc.status_code == 400 else "Error",
                exc.reason,
                "bad-request" if exc.status_code == 400 else "error",
            )

    def parse_json(self, data: str | bytes) -> Any:
        found = super().parse_json(data)
        # The body (an operation, or a list of them), `variables` and `extensions` are all
        # objects; `null` or a number would otherwise reach code that expects one.
        if not isinstance(found, dict | list):
            raise StrawberryHTTPException(400, "expected a JSON object")
        return found

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        assets = request.scope.get("root_path", "").rstrip("/") + ASSETS_PATH
        return HTMLResponse(
            graphiql_html(assets),
            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
        )

    def encode_json(self, data: object) -> str | bytes:
        # orjson: a page of 50 mentors is about 1,600 values, and json.dumps was a tenth of
        # the request's CPU. What orjson refuses (a lone surrogate quoted from the input in an
        # error message) json.dumps escapes.
        try:
            return orjson.dumps(data)
        except TypeError:
            return super().encode_json(data)

    def decode_json(self, data: str | bytes) -> object:
        # What the standard library's reader raises besides JSONDecodeError is still JSON we
        # cannot read, so strawberry's 400 (over WebSocket, 4400), never a 500: nested deeper
        # than the interpreter's stack (`[[[[...]]]]` in the variables, a RecursionError),
        # bytes that are not UTF-8 (a UnicodeDecodeError), an integer of more than 4,300
        # digits (the interpreter's int_max_str_digits, a ValueError).
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply", "", 0) from None
        except ValueError as exc:  # UnicodeDecodeError is one
            raise json.JSONDecodeError(str(exc)[:200], "", 0) from None

    async def on_ws_connect(self, context: Context) -> None:
        # Admit the socket at connection_init, as a request: a bad credential, or an empty
        # bucket, closes it with 4403. Each operation is admitted again (graphql/context.py).
        # Closed here, not by raising strawberry's ConnectionRejectionError: strawberry closes
        # with the reason "Forbidden" whatever the error says, and the client (GraphiQL, a
        # browser app) could not tell a wrong key from a rate limit or a busy database.
        try:
            found = await context.admitted()
        except (Unauthenticated, TooManyRequests) as exc:
            # The detail REST's 401 or 429 gives: it names what is wrong, never the credential.
            await _close(context, CLOSE_REFUSED, f"{exc.code}: {exc.detail}")
        except Exception as exc:
            if not (is_busy(exc) or is_dropped(exc)):
                raise
            # The database busy (no pooled connection free in time) or unreachable: refused
            # as an empty bucket is, never a crashed socket; the client connects again later.
            message = UNAVAILABLE_MESSAGE if is_dropped(exc) else BUSY_MESSAGE
            await _close(context, CLOSE_REFUSED, f"{UNAVAILABLE}: {message}")
        finally:
            # End the identifying read: an acknowledged socket with no operation held its
            # pooled connection (idle in transaction) until its first subscription began; a
            # few such sockets took the whole pool (on SQLite, the one connection).
            await context.finish(commit=False)
        # At most so many sockets per credential in this process (graphql/sockets.py); the
        # place is given back when the socket ends, however it ends (Context.close).
        sockets: OpenSockets = context.connection.app.state.graphql_sockets
        if not sockets.take(context, found.rate_key, member=not found.caller.is_api_key):
            reason = "too many open sockets for this credential: close one first"
            await _close(context, CLOSE_TOO_MANY, reason)
        context.sockets = sockets
        context.close_at_expiry()


async def _close(context: Context, code: int, reason: str) -> NoReturn:
    """Close the socket at connection_init, saying why, and end strawberry's handler of it."""
    await cast(WebSocket, context.connection).close(code=code, reason=close_reason(reason))
    raise WebSocketDisconnected  # strawberry ends the socket's handler quietly


class LeanGraphQLRoute(BaseRoute):
    """POST /graphql without FastAPI's per-request machinery (kit/lean.py says why): the
    router's own `run` (strawberry's view: the body read and parsed, the operation executed,
    an unreadable request answered as problem+json) with the context `get_context` makes, as
    the documented route's dependency makes it, closed after the response is sent, as FastAPI
    closes it. GET (GraphiQL, queries in the URL) and WebSocket stay with the router.
    tests/gql/test_lean_graphql.py holds both to the same bytes."""

    def __init__(self, router: MentorapiGraphQLRouter, path: str) -> None:
        self.router = router
        self.path = path  # as the metrics label requests
        self.path_regex, self.path_format, _ = compile_path(path)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "POST":
            return Match.NONE, {}
        if self.path_regex.match(route_path(scope)) is None:
            return Match.NONE, {}
        return Match.FULL, {"route": self, "path_params": {}}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        # What FastAPI hands the endpoint and strawberry's context dependency: a response to
        # set the status and headers on (status None until set), and the background tasks.
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        tasks = BackgroundTasks()
        async with _context(request) as context:
            context.request = request
            context.background_tasks = tasks
            context.response = sub_response
            self.router.temporal_response = sub_response  # strawberry's `get_sub_response`
            response = cast(Response, await self.router.run(request, context, None))
            if response.background is None:
                response.background = tasks
            await response(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)


# The documented route's context dependency, as FastAPI runs one with `yield`.
_context = asynccontextmanager(get_context)


def _with_feed(app: FastAPI, settings: Settings) -> None:
    """Once the lifespan has made the database, feed committed session events to the pub/sub:
    on PostgreSQL every process's (graphql/fanout.py), on SQLite this one's (graphql/feed.py)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            # Open sockets are checked again when apps, keys or members change: on every
            # process's notice of it (PostgreSQL, through the key cache), else on this
            # process's own commits of such a change.
            sockets: OpenSockets = app.state.graphql_sockets
            key_cache: KeyCache | None = getattr(app.state, "key_cache", None)
            if key_cache is not None:
                key_cache.on_forget.append(sockets.changed)
            else:
                watch_auth_writes(app.state.db.engine, sockets.changed)
            try:
                async with _feed(app, settings):
                    yield state
            finally:
                await sockets.stop()

    app.router.lifespan_context = lifespan


@asynccontextmanager
async def _feed(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    if app.state.db.dialect == "postgresql":
        app.state.fanout = Fanout(app.state.db, app.state.pubsub, settings.session_database_url)
        await app.state.fanout.start()
        try:
            yield
        finally:
            await app.state.fanout.stop()
    else:
        app.state.fanout = None
        install_feed(app.state.db, app.state.pubsub)
        yield


def install_graphql(app: FastAPI, settings: Settings) -> "LeanGraphQLRoute":
    """GraphQL on `app`; returns the lean POST route, for the app to put first when lean
    routes are on."""
    # Subscriptions read from here; graphql/feed.py publishes committed session events to it.
    app.state.pubsub = PubSub()
    app.state.graphql_sockets = OpenSockets(
        settings.graphql_sockets_per_key, settings.graphql_sockets_per_member
    )
    _with_feed(app, settings)
    app.state.graphql_schema = build_schema(settings)
    router = MentorapiGraphQLRouter(
        app.state.graphql_schema,
        path=PATH,
        # A yield dependency (FastAPI closes the session after the response); strawberry's
        # annotation only knows plain and awaitable getters.
        context_getter=cast(Callable[..., Context], get_context),
        include_in_schema=False,  # documented by openapi/schema.graphql, not the REST spec
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),  # the maintained protocol
        # What one socket may hold open at once: each is a task and a queue in this process.
        max_subscriptions_per_connection=MAX_OPERATIONS_PER_SOCKET,
        # A socket says who it is (connection_init) within the time a request has for its
        # headers, or is closed with 4408: strawberry's default minute let a caller without
        # credentials hold six times as many sockets as slowloris can hold requests, none of
        # them counted by the per-credential caps.
        connection_init_wait_timeout=timedelta(seconds=settings.request_header_timeout_seconds),
    )
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="graphiql-assets")
    return LeanGraphQLRoute(router, PATH)
