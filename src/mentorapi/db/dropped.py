"""A database connection dropped under the service: never a 500.

A server restart, a failover behind PgBouncer, or an admin's `pg_terminate_backend` closes the
connections the pool holds. Three defences, cheapest first:

- `watch_pool`: a connection the driver already knows is closed (asyncpg saw the server's
  goodbye while it sat in the pool) is replaced at checkout, with no round trip: the free part
  of `pool_pre_ping` (which would cost a `SELECT 1` per checkout on the hottest reads).
- `RetryDroppedReads`: a read-only request (GET, HEAD, OPTIONS) whose connection dropped before
  it produced its answer runs once more, on a fresh connection (SQLAlchemy invalidates the pool
  on a disconnect, so the retry never gets another connection from before the drop).
- Everything else (a write, whose commit may or may not have happened; a second failure) is a
  503 problem+json with Retry-After (`kit/problems.py`), its transaction rolled back, or a
  GraphQL error SERVICE_UNAVAILABLE with no data (`graphql/errors.py`).

SQLite's "database is locked" is not a dropped connection: it stays the 503 "Database busy" it
was, never retried (the writer it waited for is still there).
"""

from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError, PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

RETRY_AFTER_SECONDS = 1
# In the request's `state` (scope["state"]): the problem handler answered 503 for a dropped
# connection, so the response may be discarded and the request run once more.
DROPPED = "mentorapi.dropped_connection"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Errors that mean the connection is gone: asyncpg's class 08 (connection exception) and
# 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now), and a socket's own.
_GONE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    ConnectionError,
)
# SQLAlchemy's code for "Can't reconnect until invalid transaction is rolled back": a session
# used again after its connection was invalidated, i.e. after a drop.
_INVALIDATED_CODE = "8s2b"


class DatabaseUnavailable(Exception):
    """The connection dropped under a statement run straight on the driver (db/fast.py)."""


def is_dropped(exc: BaseException) -> bool:
    """True when `exc` says the connection to the database was lost (or could not be made)."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    if isinstance(exc, PendingRollbackError):
        return exc.code == _INVALIDATED_CODE
    if isinstance(exc, DBAPIError):
        # SQLAlchemy asked the dialect (is_disconnect) and invalidated the connection.
        if exc.connection_invalidated:
            return True
        return exc.orig is not None and is_dropped(exc.orig)
    if isinstance(exc, _GONE):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        return "connection is closed" in str(exc) or "connection was closed" in str(exc)
    cause = exc.__cause__
    return cause is not None and cause is not exc and is_dropped(cause)


def _alive_on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    driver = record.driver_connection
    is_closed = getattr(driver, "is_closed", None)  # asyncpg; aiosqlite has nothing to ask
    if is_closed is not None and is_closed():
        # The pool replaces this connection and checks out again. Only this one: the others
        # are checked the same way when their turn comes, for free.
        raise DisconnectionError("the connection was closed while it sat in the pool")


def watch_pool(engine: AsyncEngine) -> None:
    event.listen(engine.sync_engine.pool, "checkout", _alive_on_checkout)


class RetryDroppedReads:
    """Runs a read-only request once more when its first run was answered 503 for a dropped
    connection (the problem handler sets DROPPED), before anything of it was sent. Innermost
    of the middlewares: the retry is the same request to everything outside (metrics, CORS)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in READ_METHODS:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        # The router adds to the scope (and the middlewares outside read what it added, the
        # metrics their route label): the retry starts from the scope as it came in.
        as_received = dict(scope)
        received: list[Message] = []
        held = False

        async def recording() -> Message:
            got = await receive()
            received.append(got)
            return got

        async def holding(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and state.pop(DROPPED, False):
                held = True  # discard this answer (and its body): the request runs again
            if not held:
                await send(message)

        await self.app(scope, recording, holding)
        if not held:
            return
        replay = list(received)

        async def replaying() -> Message:
            return replay.pop(0) if replay else await receive()

        # A second drop is answered (503 with Retry-After): the client retries, not us.
        scope.clear()
        scope.update(as_received)
        try:
            await self.app(scope, replaying, send)
        finally:
            state.pop(DROPPED, None)
