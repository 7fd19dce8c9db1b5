"""`Idempotency-Key` on every POST: a retry replays the first response instead of acting twice.

An ASGI middleware, so every POST route of the service gets it without opting in. Keys are
scoped by client app and by who holds the credential: the app's API keys share one scope (its
servers, across key rotations), each member (a member token's `sub`) has their own, so two
members of one app never replay each other's responses. Keys are kept 24 hours. The key is
reserved in its own committed transaction *before* the request runs, so a duplicate arriving
while the first is still in flight sees the reservation (409) rather than racing it; the
finished response is then stored and replayed byte for byte with `Idempotent-Replayed: true`. A
repeat with another body or path is a 422. Responses that did not act (401, 422, 429, 5xx) are
not kept, so the client can fix the request and retry with the same key.
"""

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, ForeignKey, String, Text, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mentorapi.db.dropped import is_dropped
from mentorapi.db.engine import Database
from mentorapi.db.tenancy import CrossTenant, across_tenants
from mentorapi.db.types import JSONList, UTCDateTime
from mentorapi.kit.problems import problem_response, unavailable_response
from mentorapi.kit.timezones import utcnow
from mentorapi.limits import MAX_BODY_BYTES

log = logging.getLogger("mentorapi")

HEADER = b"idempotency-key"
KEEP_FOR = timedelta(hours=24)
# A reservation older than this belongs to a request that died mid-way: it may be taken over.
ABANDONED_AFTER = timedelta(minutes=2)
MAX_KEY_LENGTH = 255
NOT_KEPT = {401, 403, 413, 415, 422, 429}
# Set in the request's state by a route whose response is not a completed outcome although its
# status says nothing of it (a GraphQL error answers 200): such a response is not kept either.
NOT_COMPLETED = "idempotency_not_completed"
REPLAYED_HEADERS = {"content-type", "location", "etag"}


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    app_id: str = Field(
        sa_column=Column(String(30), ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    )
    key: str = Field(sa_column=Column(String(MAX_KEY_LENGTH), primary_key=True))
    fingerprint: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    status_code: int | None = Field(default=None)  # None while the first request is in flight
    headers: list[list[str]] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


@dataclass(frozen=True)
class KeyScope:
    """Whose keys these are: an app, and within it the API key (member None) or one member."""

    app_id: str
    member: str | None = None

    def stored_key(self, key: str) -> str:
        """The key as stored. The API key's keys are stored as sent; a member's are hashed with
        the member's external id into their own space: a fixed length that always fits the
        column, and no key the app's server sends can name them by accident."""
        if self.member is None:
            return key
        digest = hashlib.sha256(f"{self.member}\0{key}".encode()).hexdigest()
        return f"member:{digest}"


# Who is calling: the scope for the request's credentials, or None (the route will 401).
ScopeResolver = Callable[[AsyncSession, str], Awaitable[KeyScope | None]]


async def resolve_caller(db_session: AsyncSession, authorization: str) -> KeyScope | None:
    """API key or member token, verified exactly as the routes verify them."""
    from mentorapi.apps import service as apps_service
    from mentorapi.kit.errors import Unauthenticated

    try:
        found = await apps_service.authenticate_caller(
            db_session=db_session, credential=apps_service.parse_bearer(authorization)
        )
    except Unauthenticated:
        return None
    member = found.caller.member
    return KeyScope(found.app.id, member.external_id if member is not None else None)


async def purge_expired(db_session: AsyncSession, now: datetime | None = None) -> int:
    """Delete keys past their 24 hours (the worker calls this now and then)."""
    result = await db_session.exec(
        across_tenants(
            delete(IdempotencyKey).where(col(IdempotencyKey.expires_at) <= (now or utcnow())),
            CrossTenant.housekeeping,
        )
    )
    return int(result.rowcount or 0)


def _problem(status: int, title: str, detail: str, slug: str, **extra: Any) -> Any:
    return problem_response(status, title, detail, slug, extra or None)


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        database: Callable[[], Database],
        resolve_scope: ScopeResolver = resolve_caller,
    ) -> None:
        self.app = app
        self.database = database
        self.resolve_scope = resolve_scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            response = _problem(
                422,
                "Invalid input",
                f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters",
                "invalid-input",
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "invalid", "type": "value"}],
            )
            await response(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            too_large = _problem(
                413,
                "Request too large",
                f"request bodies are limited to {MAX_BODY_BYTES} bytes",
                "too-large",
            )
            await too_large(scope, receive, send)
            return
        fingerprint = hashlib.sha256(
            b"\n".join([scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        database = self.database()
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        try:
            async with database.sessionmaker() as s, s.begin():
                owner = await self.resolve_scope(s, authorization)
                # Not authenticated: nothing to scope by; the route itself answers 401.
                if owner is None:
                    early = None
                else:
                    key = owner.stored_key(key)
                    early = await self._reserve(s, owner.app_id, key, fingerprint)
        except Exception as exc:
            if not is_dropped(exc):
                raise
            # Outside the routes' exception handlers: answer as they would (nothing reserved).
            await unavailable_response()(scope, receive, send)
            return
        if owner is None:
            await self.app(scope, _replay_body(body, receive), send)
            return
        if early is not None:
            await early(scope, receive, send)
            return
        await self._run(scope, _replay_body(body, receive), send, database, owner.app_id, key)

    async def _reserve(
        self, s: AsyncSession, app_id: str, key: str, fingerprint: str
    ) -> Any | None:
        """Reserve the key (None), or the response to give instead of running the request.
        Runs in the caller's short transaction, committed before the request itself starts."""
        now = utcnow()
        row = (
            await s.exec(
                select(IdempotencyKey).where(
                    col(IdempotencyKey.app_id) == app_id, col(IdempotencyKey.key) == key
                )
            )
        ).first()
        if row is not None:
            stale = row.status_code is None and row.created_at < now - ABANDONED_AFTER
            if row.expires_at <= now or stale:
                await s.delete(row)
                await s.flush()
            elif row.fingerprint != fingerprint:
                return _problem(
                    422,
                    "Invalid input",
                    "this Idempotency-Key was used with another request body or path; "
                    "use a new key for a new request",
                    "idempotency-key-reused",
                    errors=[
                        {"loc": ["header", "Idempotency-Key"], "msg": "reused", "type": "value"}
                    ],
                )
            elif row.status_code is None:
                return _problem(
                    409,
                    "Conflict",
                    "a request with this Idempotency-Key is still in flight; retry later",
                    "idempotency-in-flight",
                )
            else:
                return _Replay(row.status_code, row.headers, row.body or "")
        reservation = IdempotencyKey(
            app_id=app_id,
            key=key,
            fingerprint=fingerprint,
            created_at=now,
            expires_at=now + KEEP_FOR,
        )
        try:
            # A savepoint: losing the race below must not poison the outer transaction.
            async with s.begin_nested():
                s.add(reservation)
        except IntegrityError:
            # Another request reserved the same key between our read and our insert.
            return _problem(
                409,
                "Conflict",
                "a request with this Idempotency-Key is still in flight; retry later",
                "idempotency-in-flight",
            )
        return None

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        database: Database,
        app_id: str,
        key: str,
    ) -> None:
        status = 500
        state = scope.setdefault("state", {})
        kept_headers: list[list[str]] = []
        chunks: list[bytes] = []
        start: Message | None = None
        settled = False

        async def settle() -> None:
            """Store (or release) the key: before the client sees the response, so a retry that
            follows it at once finds the stored result rather than an in-flight key."""
            nonlocal settled
            if settled:
                return
            settled = True
            try:
                async with database.sessionmaker() as s, s.begin():
                    row = await s.get(IdempotencyKey, (app_id, key))
                    if row is None:
                        return
                    if status >= 500 or status in NOT_KEPT or state.get(NOT_COMPLETED):
                        await s.delete(row)
                    else:
                        row.status_code = status
                        row.headers = kept_headers
                        row.body = b"".join(chunks).decode("utf-8", errors="replace")
                        s.add(row)
            except Exception:  # the response itself must still go out; the key then lapses
                log.exception("could not store the result of Idempotency-Key %r", key)

        async def capture(message: Message) -> None:
            nonlocal status, start
            if message["type"] == "http.response.start":
                status = message["status"]
                start = message
                for name, value in message.get("headers", []):
                    if name.decode("latin-1").lower() in REPLAYED_HEADERS:
                        kept_headers.append([name.decode("latin-1"), value.decode("latin-1")])
                return
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await settle()
                assert start is not None
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(chunks)})
                return
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            await settle()


class _Replay:
    def __init__(self, status: int, headers: list[list[str]], body: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in self.headers]
        raw += [
            (b"idempotent-replayed", b"true"),
            (b"content-length", str(len(self.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when it is larger than the service accepts (a chunked upload
    carries no Content-Length for BodySizeLimit to refuse up front)."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_BODY_BYTES:
                return None
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            break
    return b"".join(chunks)


def _replay_body(body: bytes, receive: Receive) -> Receive:
    """The body we already read, once; then the real channel (a client disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
