"""CORS for browser clients that call with member tokens.

Each app lists its allowed origins (`PATCH /v1/app {"cors_origins": [...]}`);
`MENTORAPI_CORS_ORIGINS` adds origins allowed for every app.

The app is only known once the request is authenticated, and a preflight (OPTIONS) carries no
credentials. So:
- a preflight is allowed when the origin is in the global list or in ANY app's list (it only
  asks "may I send Authorization and JSON?", it reads nothing);
- an actual request gets `Access-Control-Allow-Origin` only when the origin is in the global
  list or in the list of the app that authenticated it. A request that failed authentication
  (no app known) is treated like a preflight, so a browser can read the 401 that tells it to
  fetch a fresh member token.
CORS only decides what a browser lets a page read; the bearer token remains the access control.
"""

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mentorapi.apps import repository
from mentorapi.db import busy, dropped
from mentorapi.db.engine import Database
from mentorapi.kit.problems import problem_response

# Where the auth dependency leaves the authenticated app's origins (scope["state"]).
STATE_KEY = "cors_origins"
MAX_ORIGINS = 50

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = "Authorization, Content-Type, If-Match, Idempotency-Key"
EXPOSE_HEADERS = (
    "ETag, Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
    "Idempotent-Replayed"
)
MAX_AGE = "600"  # browsers cache a preflight answer for 10 minutes


def normalize_origin(value: str) -> str:
    """`scheme://host[:port]`, lower case, default port dropped; anything else is a ValueError."""
    raw = value.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{raw[:100]!r} is not an origin: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{raw[:100]!r} is not an origin: expected http(s)://host[:port]")
    if (
        parts.username
        or parts.password
        or parts.query
        or parts.fragment
        or parts.path
        not in (
            "",
            "/",
        )
    ):
        raise ValueError(
            f"{raw[:100]!r} is not an origin: no path, query, fragment or user, "
            "only scheme://host[:port]"
        )
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def normalize_origins(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(normalize_origin(v) for v in values))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


class CorsMiddleware:
    def __init__(self, app: ASGIApp, global_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.global_origins = frozenset(normalize_origins(global_origins))

    async def _any_app_allows(self, scope: Scope, origin: str) -> bool:
        if origin in self.global_origins:
            return True
        db: Database = scope["app"].state.db
        try:
            async with db.sessionmaker() as db_session:
                return await repository.any_app_allows_origin(db_session, origin)
        except Exception as exc:
            # Outside every route's error handling: a connection dropped here, or no pooled
            # connection free in time, answers as a refusal (the browser retries the
            # preflight), never a 500.
            if dropped.is_dropped(exc) or busy.is_busy(exc):
                return False
            raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_origin = _header(scope, b"origin") if scope["type"] == "http" else None
        if raw_origin is None:
            await self.app(scope, receive, send)
            return
        try:
            origin: str | None = normalize_origin(raw_origin)
        except ValueError:
            origin = None  # "null" (sandboxed pages, file://) and junk: never allowed

        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await self._preflight(scope, receive, send, origin, raw_origin)
            return

        state = scope.setdefault("state", {})

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"vary", b"Origin"))
                if origin is not None and await self._allowed_for_response(scope, state, origin):
                    headers += [
                        (b"access-control-allow-origin", raw_origin.encode("latin-1")),
                        (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
                    ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _allowed_for_response(
        self, scope: Scope, state: dict[str, object], origin: str
    ) -> bool:
        if origin in self.global_origins:
            return True
        app_origins = state.get(STATE_KEY)
        if isinstance(app_origins, list):
            return origin in app_origins
        return await self._any_app_allows(scope, origin)

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, origin: str | None, raw_origin: str
    ) -> None:
        response: Response
        if origin is None or not await self._any_app_allows(scope, origin):
            response = problem_response(
                403,
                "Origin not allowed",
                f"no app allows browser calls from {raw_origin[:200]!r}: add it with "
                'PATCH /v1/app {"cors_origins": [...]} or MENTORAPI_CORS_ORIGINS',
                "cors-origin-not-allowed",
                headers={"Vary": "Origin"},
            )
        else:
            response = Response(
                status_code=204,
                headers={
                    "Access-Control-Allow-Origin": raw_origin,
                    "Access-Control-Allow-Methods": ALLOW_METHODS,
                    "Access-Control-Allow-Headers": ALLOW_HEADERS,
                    "Access-Control-Max-Age": MAX_AGE,
                    "Vary": "Origin",
                },
            )
        await response(scope, receive, send)
