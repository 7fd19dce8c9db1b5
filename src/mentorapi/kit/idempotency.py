"""`Idempotency-Key` on every POST: a retry replays the first response instead of acting twice.

An ASGI middleware, so every POST route of the service gets it without opting in. Keys are
scoped by client app and by who holds the credential: the app's API keys share one scope (its
servers, across key rotations), each member (a member token's `sub`) has their own, so two
members of one app never replay each other's responses. Keys are kept 24 hours.

A request with a key runs in one transaction with its key: the middleware opens the request's
unit of work (the routes' `DbSession` and GraphQL's context use it, db/uow.py), claims the key
in it, lets the route act, then writes the key with the finished response and commits, all
before the response is sent. So the change, its webhook events and the record that replays it
commit together or not at all: a process that dies mid-way leaves nothing to take over, and a
retry never runs a request that acted. While one request holds a key, a duplicate gets a 409
(PostgreSQL: a transaction-scoped advisory lock on the key; on SQLite writers take turns, so
the duplicate waits for the first and replays it). The stored response is replayed byte for
byte with `Idempotent-Replayed: true`. A repeat with another body or path is a 422. Responses
that did not act (401, 422, 429, 5xx, a GraphQL error) are not kept, so the client can fix the
request and retry with the same key. A refusal that did act in its way (a 404, a 409 conflict)
rolls back whatever the route wrote and is kept, in a transaction of its own.
"""

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Column,
    ForeignKey,
    Select,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    tuple_,
)
from sqlalchemy import select as sa_select
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mentorapi.db import fast
from mentorapi.db.busy import is_busy
from mentorapi.db.dropped import is_dropped
from mentorapi.db.engine import Database
from mentorapi.db.tenancy import CrossTenant, across_tenants
from mentorapi.db.types import JSONList, UTCDateTime
from mentorapi.kit.problems import busy_response, problem_response, unavailable_response
from mentorapi.kit.timezones import utcnow
from mentorapi.limits import MAX_BODY_BYTES

log = logging.getLogger("mentorapi")

HEADER = b"idempotency-key"
KEEP_FOR = timedelta(hours=24)
# A key stored without a response (a reservation, as an earlier version wrote them before the
# request ran) older than this belonged to a request that died mid-way: it may be taken over.
ABANDONED_AFTER = timedelta(minutes=2)
MAX_KEY_LENGTH = 255
# Printable ASCII with no space at either end (the server strips them, as HTTP does): the rule
# the middleware checks and the document states (kit/openapi.py). Wider (latin-1 "é" was taken)
# and a generated client refused keys the server took.
KEY_PATTERN = "^[!-~]([ -~]*[!-~])?$"
_KEY = re.compile(KEY_PATTERN)
NOT_KEPT = {401, 403, 413, 415, 422, 429}
# Set in the request's state by a route whose response is not a completed outcome although its
# status says nothing of it (a GraphQL error answers 200): such a response is not kept either.
NOT_COMPLETED = "idempotency_not_completed"
REPLAYED_HEADERS = {"content-type", "location", "etag"}
# In the request's state: the session of a POST with a key, which the middleware commits.
UNIT_OF_WORK = "idempotency_unit_of_work"


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


_INSERT_KEY = insert(cast(Table, IdempotencyKey.__table__))  # type: ignore[attr-defined]
# Every POST with a key runs these: built once, their compiled forms found by cache key.
_TRY_LOCK = sa_select(
    func.pg_try_advisory_xact_lock(func.hashtextextended(bindparam("lock", type_=String), 0))
)
_THE_KEY = (
    col(IdempotencyKey.app_id) == bindparam("app_id"),
    col(IdempotencyKey.key) == bindparam("key"),
)
# The columns, not an object: usually there is no row, and the ORM's loading costs even then.
_KEPT = cast(
    Select[Any],
    sa_select(
        col(IdempotencyKey.fingerprint),
        col(IdempotencyKey.created_at),
        col(IdempotencyKey.expires_at),
        col(IdempotencyKey.status_code),
        col(IdempotencyKey.headers),
        col(IdempotencyKey.body),
    ).where(*_THE_KEY),
)
_FORGET = delete(IdempotencyKey).where(*_THE_KEY)


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
ScopeResolver = Callable[[HTTPConnection, AsyncSession, str], Awaitable[KeyScope | None]]


async def resolve_caller(
    connection: HTTPConnection, db_session: AsyncSession, authorization: str
) -> KeyScope | None:
    """API key or member token, verified exactly as the routes verify them (the API key from
    the process's key cache when it has it, apps/keycache.py)."""
    from mentorapi.apps import service as apps_service
    from mentorapi.kit.errors import Unauthenticated

    try:
        found = await apps_service.authenticate_caller(
            db_session=db_session,
            credential=apps_service.parse_bearer(authorization),
            keys=getattr(connection.app.state, "key_cache", None),
        )
    except Unauthenticated:
        return None
    member = found.caller.member
    return KeyScope(found.app.id, member.external_id if member is not None else None)


def unit_of_work(connection: HTTPConnection) -> AsyncSession | None:
    """The request's session when the middleware owns it (a POST with a key): the route uses
    it and neither commits nor closes it; on an error it rolls it back."""
    found: AsyncSession | None = connection.scope.get("state", {}).get(UNIT_OF_WORK)
    return found


async def purge_expired(
    db_session: AsyncSession, now: datetime | None = None, *, limit: int | None = None
) -> int:
    """Delete keys past their 24 hours (housekeeping calls this now and then): at most `limit`
    of them, the oldest first, so that a batch is short (housekeeping runs batches in
    transactions of their own). Rows another pruner holds are skipped (SKIP LOCKED), and the
    outer WHERE checks the time again under the lock."""
    expired = col(IdempotencyKey.expires_at) <= (now or utcnow())
    statement = delete(IdempotencyKey).where(expired)
    if limit is not None:
        picked = (
            sa_select(col(IdempotencyKey.app_id), col(IdempotencyKey.key))
            .where(expired)
            .order_by(col(IdempotencyKey.expires_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        key = tuple_(col(IdempotencyKey.app_id), col(IdempotencyKey.key))
        statement = statement.where(key.in_(picked))
    result = await db_session.exec(across_tenants(statement, CrossTenant.housekeeping))
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
        if len(key) > MAX_KEY_LENGTH or not _KEY.match(key):
            response = _problem(
                422,
                "Invalid input",
                f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable ASCII characters",
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
        # The unit of work is a write: its turn first (db/writers.py), held until it ends.
        async with AsyncExitStack() as held:
            try:
                await held.enter_async_context(database.writers.turn())
                s = await held.enter_async_context(database.sessionmaker())
                owner = await self.resolve_scope(HTTPConnection(scope), s, authorization)
                # Not authenticated: nothing to scope by; the route itself answers 401.
                early = None
                if owner is not None:
                    key = owner.stored_key(key)
                    early = await self._claim(s, owner.app_id, key, fingerprint)
            except Exception as exc:
                if not (is_dropped(exc) or is_busy(exc)):
                    raise
                # Outside the routes' exception handlers: answer as they would (nothing kept).
                answer = unavailable_response() if is_dropped(exc) else busy_response()
                await answer(scope, receive, send)
                return
            if owner is None or early is not None:
                await s.rollback()
            if owner is None:
                await self.app(scope, replay_body(body, receive), send)
            elif early is not None:
                await early(scope, receive, send)
            else:
                await self._run(
                    scope, replay_body(body, receive), send, s, owner.app_id, key, fingerprint
                )

    async def _claim(self, s: AsyncSession, app_id: str, key: str, fingerprint: str) -> Any | None:
        """Take the key for this request (None), or the response to give instead of running
        it. In the request's transaction: what it claims is released if it rolls back."""
        # PostgreSQL: held until the transaction ends, a duplicate running meanwhile is refused.
        # Both on the driver (db/fast.py), in the request's transaction (which it begins).
        postgresql = s.bind is not None and s.bind.dialect.name == "postgresql"
        if postgresql and not (await fast.fetch(s, _TRY_LOCK, {"lock": f"{app_id} {key}"}))[0][0]:
            return _in_flight()
        now = utcnow()
        the_key = {"app_id": app_id, "key": key}
        rows = await fast.fetch(s, _KEPT, the_key)
        if not rows:
            return None
        kept_fingerprint, created_at, expires_at, status_code, headers, body = rows[0]
        stale = status_code is None and created_at < now - ABANDONED_AFTER
        if expires_at <= now or stale:
            await (await s.connection()).execute(_FORGET, the_key)
            return None
        if kept_fingerprint != fingerprint:
            return _problem(
                422,
                "Invalid input",
                "this Idempotency-Key was used with another request body or path; "
                "use a new key for a new request",
                "idempotency-key-reused",
                errors=[{"loc": ["header", "Idempotency-Key"], "msg": "reused", "type": "value"}],
            )
        if status_code is None:
            return _in_flight()
        return _Replay(status_code, headers, body or "")

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        s: AsyncSession,
        app_id: str,
        key: str,
        fingerprint: str,
    ) -> None:
        status = 500
        state = scope.setdefault("state", {})
        state[UNIT_OF_WORK] = s
        kept_headers: list[list[str]] = []
        chunks: list[bytes] = []
        start: Message | None = None
        settled = False

        async def settle() -> Any | None:
            """Keep the response with the key and commit, before the client sees it (so a
            retry that follows at once finds it); or the response to send instead when the
            commit fails: never a 2xx for a change that did not happen."""
            nonlocal settled
            if settled:
                return None
            settled = True
            if status >= 500 or status in NOT_KEPT or state.get(NOT_COMPLETED):
                await s.rollback()
                return None
            now = utcnow()
            # A row, not an IdempotencyKey object: nothing reads it back before the commit.
            row = {
                "app_id": app_id,
                "key": key,
                "fingerprint": fingerprint,
                "created_at": now,
                "expires_at": now + KEEP_FOR,
                "status_code": status,
                "headers": kept_headers,
                "body": b"".join(chunks).decode("utf-8", errors="replace"),
            }
            # The route rolled back (it raised: a 404, a 409): its answer is kept on its own.
            acted = s.in_transaction()
            try:
                await fast.insert(s, _INSERT_KEY, [row])
                await s.commit()
            except Exception as exc:
                await s.rollback()
                if acted:
                    log.exception("could not commit the request with Idempotency-Key %r", key)
                    return unavailable_response() if is_dropped(exc) else _not_saved()
                # Another request with this key ran after our rollback: its answer stands.
                log.warning("could not keep the answer of Idempotency-Key %r", key, exc_info=exc)
            return None

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
                instead = await settle()
                if instead is not None:
                    await instead(scope, receive, send)
                    return
                assert start is not None
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(chunks)})
                return
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            state.pop(UNIT_OF_WORK, None)
            if not settled:  # no response at all (an error escaped): nothing is kept
                settled = True
                await s.rollback()


def _in_flight() -> Any:
    return _problem(
        409,
        "Conflict",
        "a request with this Idempotency-Key is still in flight; retry later",
        "idempotency-in-flight",
    )


def _not_saved() -> Any:
    return _problem(
        500,
        "Not saved",
        "the change could not be saved; nothing was changed, retry with the same key",
        "not-saved",
    )


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


def replay_body(body: bytes, receive: Receive) -> Receive:
    """The body we already read, once; then the real channel (a client disconnect). Also used
    by the lean routes (kit/lean.py), which hand a body they read back to the router."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
