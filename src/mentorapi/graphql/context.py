"""The per-request context: one AsyncSession, the calling app, and the request's DataLoaders.

The request owns the transaction, as in REST: the session opens with the request and
`UnitOfWork` commits it once at the end of the operation, only when the result carries no
error at all; any error (a failed mutation, a bad argument, a limit) rolls everything back.

graphql-core resolves sibling fields concurrently, and one AsyncSession must never run two
statements at once, so every use of the session goes through `session()`, which holds a lock.
Never await a DataLoader inside `session()`: the loader needs the lock too.

The caller is admitted as REST admits a request (`apps/admission.py`), lazily (GraphiQL's page
and introspection need no credentials): identified once per connection, one rate-limit token per
root field of an operation (HTTP request, or WebSocket `subscribe`; 15 aliases of
`recommendMentors` cost what 15 REST requests do), and over a WebSocket checked again before
every operation and every subscription message (`still_admitted`), the socket closed with 4401
when the credential no longer holds.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field

from fastapi.requests import HTTPConnection
from graphql import GraphQLError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import BaseContext
from strawberry.types import ExecutionContext
from strawberry.types import Info as StrawberryInfo
from strawberry.types.graphql import OperationType

from mentorapi.apps import admission
from mentorapi.apps.caller import Caller
from mentorapi.apps.keycache import KeyCache
from mentorapi.apps.models import AppFields
from mentorapi.apps.service import Authenticated
from mentorapi.db.engine import Database, write_intent
from mentorapi.graphql.documents import chosen_operation
from mentorapi.graphql.limits import root_fields
from mentorapi.graphql.loaders import Loaders
from mentorapi.graphql.pubsub import PubSub
from mentorapi.graphql.sockets import OpenSockets, close_reason
from mentorapi.kit import idempotency
from mentorapi.kit.errors import TooManyRequests, Unauthenticated
from mentorapi.kit.timezones import utcnow

log = logging.getLogger("mentorapi.graphql")

# graphql-transport-ws: the credential no longer holds (expired, revoked, member deleted).
CLOSE_UNAUTHORIZED = 4401


@dataclass
class _Operation:
    """One operation's admission: a rate-limit token is spent once per operation, however many
    of its fields (resolved concurrently, in tasks of their own) ask who the caller is."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    spent: bool = False
    refused: TooManyRequests | None = None
    execution: ExecutionContext | None = None

    def tokens(self) -> int:
        """One per root field (limits.root_fields): what REST would charge for the requests
        the operation stands for; one when the operation cannot be told (it will not run)."""
        execution = self.execution
        document = execution.graphql_document if execution is not None else None
        if execution is None or document is None:
            return 1
        requested = getattr(execution, "requested_operation_name", execution.operation_name)
        chosen = chosen_operation(document, requested)
        return 1 if chosen is None else max(1, root_fields(document, chosen))


# Set by `Admission` as each operation starts, in the task that runs it: over a WebSocket many
# operations share one Context, each in its own task; field tasks copy their parent's value.
_OPERATION: ContextVar[_Operation | None] = ContextVar("mentorapi_graphql_operation", default=None)


class Admission(SchemaExtension):
    """Marks the start of an operation, for `Context` to admit it once (see `_Operation`)."""

    def on_operation(self) -> Iterator[None]:
        _OPERATION.set(_Operation(execution=self.execution_context))
        yield


class SocketClosed(Exception):
    """The WebSocket was closed because its credential no longer holds."""

    # How long an operation waits, after the close, to be cancelled by the socket's handler.
    WAIT_SECONDS = 30.0


class Context(BaseContext):
    def __init__(
        self,
        database: Database,
        connection: HTTPConnection,
        pubsub: PubSub | None = None,
        keys: KeyCache | None = None,
    ) -> None:
        super().__init__()
        self.pubsub = pubsub or PubSub()
        self._connection = connection
        self._keys = keys
        self._database = database
        # Opened at first use, read-only for a query over HTTP (see `reads_only`).
        self._db_session: AsyncSession | None = None
        self._read_only = False
        self._owned = False  # the session is the Idempotency-Key middleware's
        self._give_turn_back: Callable[[], None] | None = None  # a write's turn (db/writers.py)
        self._lock = asyncio.Lock()
        self._identifying = asyncio.Lock()
        self._found: Authenticated | None = None
        self._generation = -1  # the key cache's, when the caller was last identified
        self._connect_spent = False
        self._expiry: asyncio.TimerHandle | None = None  # see `close_at_expiry`
        self._expiry_check: asyncio.Task[None] | None = None
        self.sockets: OpenSockets | None = None  # where the socket holds a place, once admitted
        self.loaders = Loaders(self)

    @property
    def database(self) -> Database:
        """For a subscription's own short reads (mentoring_events/live.py), outside the
        connection's session."""
        return self._database

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """The request's session, for one service call at a time."""
        async with self._lock:
            if self._db_session is None and self._writes_over_http():
                # A write's turn before its session opens, as for a REST write (db/writers.py),
                # held until the unit of work ends (`finish`, `close`).
                self._give_turn_back = await self._database.writers.take()
            yield self._opened()

    def _writes_over_http(self) -> bool:
        """The session about to open is a write transaction of a request: not a query's
        read-only one, not a socket's (kept for its life), not the Idempotency-Key
        middleware's (which took its turn)."""
        return (
            not self._read_only
            and not isinstance(self._connection, WebSocket)
            and idempotency.unit_of_work(self._connection) is None
        )

    def _turn_given_back(self) -> None:
        give_back, self._give_turn_back = self._give_turn_back, None
        if give_back is not None:
            give_back()

    def _opened(self) -> AsyncSession:
        if self._db_session is None:
            owned = idempotency.unit_of_work(self._connection)
            if owned is not None:  # a POST with an Idempotency-Key: the middleware commits
                self._owned = True
                self._db_session = owned
                return owned
            database = self._database
            maker = database.read_sessionmaker if self._read_only else database.sessionmaker
            self._db_session = maker()
        return self._db_session

    def reads_only(self) -> Token[bool] | None:
        """The operation is a query over HTTP: its unit of work is read-only, as a REST GET's
        (db/uow.py): on PostgreSQL no BEGIN and COMMIT, and reads may borrow a pooled
        connection (db/fast.py); on SQLite a deferred BEGIN that never waits behind writers.
        A read that must repair state still writes, through `db.uow.writable()`. Over a
        WebSocket every operation shares the socket's session, which stays writable. Returns
        the token that puts `write_intent` back, for the caller to reset when the operation
        ends, or None when nothing changed."""
        if (
            self._db_session is None
            and not isinstance(self._connection, WebSocket)
            and idempotency.unit_of_work(self._connection) is None
        ):
            self._read_only = True
            return write_intent.set(False)
        return None

    def _authorization(self) -> str | None:
        # Browsers cannot set headers on a WebSocket: there the credential comes in the
        # graphql-transport-ws connection_init payload, {"Authorization": "Bearer ..."}.
        header = self._connection.headers.get("authorization")
        params = self.connection_params if isinstance(self.connection_params, dict) else {}
        found = header or params.get("Authorization") or params.get("authorization")
        return found if isinstance(found, str) else None

    async def _identified(self) -> Authenticated:
        """The caller: identified once per connection, and again whenever it may have changed
        (see `still_admitted`)."""
        async with self._identifying:
            if self._found is None:
                generation = self._keys.generation() if self._keys is not None else -1
                async with self.session() as db_session:
                    self._found = await admission.identify(
                        self._connection, db_session, self._authorization()
                    )
                self._generation = generation
            return self._found

    async def _authenticated(self) -> Authenticated:
        """The caller, admitted as REST admits a request (`apps/admission.py`): only when a
        field needs it, so GraphiQL's page and introspection load without credentials; once
        per operation (one rate-limit token each), and re-checked for every operation of a
        long-lived WebSocket."""
        operation = _OPERATION.get()
        if operation is None:  # connection_init: the socket's own admission
            found = await self._identified()
            if not self._connect_spent:
                self._connect_spent = True
                await admission.spend(self._connection, found)
            return found
        async with operation.lock:
            if operation.refused is not None:
                raise operation.refused
            if operation.spent:
                assert self._found is not None
                return self._found
            if isinstance(self._connection, WebSocket):
                await self.still_admitted()
            found = await self._identified()
            try:
                await admission.spend(self._connection, found, operation.tokens())
            except TooManyRequests as refused:
                operation.refused = refused
                if self.response is not None:  # over HTTP the whole request is refused
                    self.response.status_code = refused.status
                raise
            operation.spent = True
            return found

    async def still_admitted(self) -> None:
        """Raise `Unauthenticated` when the connection's credential no longer holds: expired,
        or no longer found after something about apps, keys or members changed. Cheap when
        nothing changed: the expiry, and the key cache's generation, which every process bumps
        on PostgreSQL's notice of such a change. Without that notice (SQLite, or PostgreSQL
        while the key cache is not listening) the caller is identified again."""
        found = self._found
        if found is None:
            return
        if found.expires_at is not None and found.expires_at <= utcnow():
            raise Unauthenticated("the credential has expired: connect again with a fresh one")
        keys = self._keys
        if keys is not None and keys.listening and keys.generation() == self._generation:
            return
        async with self._identifying:
            self._found = None
            generation = keys.generation() if keys is not None else -1
            # In a short read of its own, not the socket's session: a subscription checks
            # before each message, and that session would keep the connection (on SQLite, the
            # write lock) while the feed waits and its own reads ask the pool for another; N
            # subscriptions on a pool of N held every connection (503s until they ended).
            self._found = await self._identify_apart()
            self._generation = generation

    async def _identify_apart(self) -> Authenticated:
        """The caller identified again in a short read of its own, never in the socket's
        session (which may be in an operation's unit of work, or idle while a feed waits)."""
        token = write_intent.set(False)
        try:
            async with self._database.read_sessionmaker() as db_session:
                return await admission.identify(self._connection, db_session, self._authorization())
        finally:
            write_intent.reset(token)

    async def close_unless_admitted(self) -> None:
        """Before a subscription sends a message: when the credential no longer holds, close
        the WebSocket (4401) and raise `SocketClosed`; over HTTP, end the stream with the
        `Unauthenticated` error."""
        try:
            await self.still_admitted()
        except Unauthenticated as exc:
            if not isinstance(self._connection, WebSocket):
                raise
            await _close_unauthorized(self._connection, exc)
            raise SocketClosed from exc

    def credential(self) -> str | None:
        """The socket's `Authorization` value (graphql/sockets.py checks each one once)."""
        return self._authorization()

    async def recheck(self) -> bool:
        """Something about apps, keys or members changed (graphql/sockets.py): identify the
        caller again, in a short read of its own (the socket's session may be in an operation's
        unit of work), and close the socket (4401) when the credential no longer holds, idle
        or not. False when it was closed."""
        if self._found is None or not isinstance(self._connection, WebSocket):
            return True
        try:
            if self._found.expires_at is not None and self._found.expires_at <= utcnow():
                raise Unauthenticated("the credential has expired: connect again with a fresh one")
            await self._identify_apart()
        except Unauthenticated as exc:
            # RuntimeError: the client closed it meanwhile, nothing left to close.
            with contextlib.suppress(RuntimeError):
                await _close_unauthorized(self._connection, exc)
            return False
        return True

    @property
    def connection(self) -> HTTPConnection:
        return self._connection

    async def admitted(self) -> Authenticated:
        """The caller, admitted (`connection_init`: the socket's own token)."""
        return await self._authenticated()

    async def app(self) -> AppFields:
        return (await self._authenticated()).app

    async def caller(self) -> Caller:
        """Who acts: the app's API key or one member; services take it as `actor`."""
        return (await self._authenticated()).caller

    async def app_id(self) -> str:
        # From the caller, a plain value: the App row expires when a subscription ends its
        # read transaction, and reading it again there would be IO outside SQLAlchemy's greenlet.
        return (await self._authenticated()).caller.app_id

    async def finish(self, *, commit: bool) -> None:
        async with self._lock:
            if self._db_session is None:
                return
            if commit and self._owned:
                await self._db_session.flush()  # committed with its Idempotency-Key
            elif commit and not self._read_only:
                await self._db_session.commit()
            else:  # a read-only session has nothing to commit: this ends its read
                await self._db_session.rollback()
            self._turn_given_back()

    def not_completed(self) -> None:
        """The operation changed nothing: its response is not an outcome an `Idempotency-Key`
        may replay (the client fixes the request and retries with the same key)."""
        setattr(self._connection.state, idempotency.NOT_COMPLETED, True)

    def close_at_expiry(self) -> None:
        """Over a WebSocket, once admitted: close it (4401) when its credential expires, even
        if no message is due then. Checked only before messages, a socket whose token had
        expired stayed open for as long as nothing happened to what it follows (for ever)."""
        found = self._found
        if found is None or found.expires_at is None or not isinstance(self._connection, WebSocket):
            return
        loop = asyncio.get_running_loop()
        # Just past the instant `still_admitted` refuses it.
        delay = (found.expires_at - utcnow()).total_seconds() + 0.01
        self._expiry = loop.call_later(max(0.0, delay), self._expired)

    def _expired(self) -> None:
        self._expiry = None
        self._expiry_check = asyncio.get_running_loop().create_task(self._close_if_expired())

    async def _close_if_expired(self) -> None:
        try:
            await self.close_unless_admitted()
        except SocketClosed:
            return
        except RuntimeError:  # the client closed it meanwhile: nothing left to close
            return
        # Still admitted: the credential is another by now (identified again); its expiry.
        self.close_at_expiry()

    async def close(self) -> None:
        if self.sockets is not None:  # every way a socket ends comes here (get_context)
            self.sockets.give_back(self)
            self.sockets = None
        if self._expiry is not None:  # the socket is done: nothing to close at expiry
            self._expiry.cancel()
            self._expiry = None
        try:
            if self._db_session is not None and not self._owned:
                await self._db_session.close()  # rolls back whatever was not committed
        finally:
            self._turn_given_back()
            self.loaders.close()  # its reference cycles (Loaders.close)


async def _close_unauthorized(websocket: WebSocket, exc: Unauthenticated) -> None:
    await websocket.close(code=CLOSE_UNAUTHORIZED, reason=close_reason(exc.detail))


Info = StrawberryInfo[Context, None]


async def get_context(connection: HTTPConnection) -> AsyncIterator[Context]:
    """The GraphQLRouter's context_getter (a FastAPI dependency), for HTTP and WebSocket."""
    state = connection.app.state
    context = Context(
        state.db,
        connection,
        getattr(state, "pubsub", None),
        getattr(state, "key_cache", None),
    )
    try:
        yield context
    finally:
        await context.close()


class UnitOfWork(SchemaExtension):
    """Commit at the end of an operation without errors; roll back otherwise. A query over
    HTTP reads in a read-only unit of work (`Context.reads_only`)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if (
            isinstance(context, Context)
            and self.execution_context.operation_type is OperationType.QUERY
        ):
            token = context.reads_only()
            if token is not None:
                # The read-only intent ends with the execution: it must not reach what runs
                # next in the same task (the commit, or the caller of the app).
                try:
                    yield
                finally:
                    write_intent.reset(token)
                return
        yield

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        if not isinstance(context, Context):
            return
        result = self.execution_context.result
        if result is None or getattr(result, "errors", None):
            await context.finish(commit=False)
            context.not_completed()
            return
        try:
            await context.finish(commit=True)
        except Exception as exc:
            # A failed commit is an error response, never data for a change that did not happen.
            log.exception("commit failed", exc_info=exc)
            await context.finish(commit=False)
            context.not_completed()
            result.data = None
            result.errors = [GraphQLError("the change could not be saved", original_error=exc)]
