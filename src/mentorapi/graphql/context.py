"""The per-request context: one AsyncSession, the calling app, and the request's DataLoaders.

The request owns the transaction, as in REST: the session opens with the request and
`UnitOfWork` commits it once at the end of the operation, only when the result carries no
error at all; any error (a failed mutation, a bad argument, a limit) rolls everything back.

graphql-core resolves sibling fields concurrently, and one AsyncSession must never run two
statements at once, so every use of the session goes through `session()`, which holds a lock.
Never await a DataLoader inside `session()`: the loader needs the lock too.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi.requests import HTTPConnection
from graphql import GraphQLError
from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import BaseContext
from strawberry.types import Info as StrawberryInfo

from mentorapi.apps import service as apps_service
from mentorapi.apps.caller import Caller
from mentorapi.apps.keycache import KeyCache
from mentorapi.apps.models import AppFields
from mentorapi.apps.service import Authenticated
from mentorapi.db.engine import Database
from mentorapi.graphql.loaders import Loaders
from mentorapi.graphql.pubsub import PubSub

log = logging.getLogger("mentorapi.graphql")


class Context(BaseContext):
    def __init__(
        self,
        database: Database,
        authorization: str | None,
        pubsub: PubSub | None = None,
        keys: KeyCache | None = None,
    ) -> None:
        super().__init__()
        self.pubsub = pubsub or PubSub()
        self._keys = keys
        self._db_session: AsyncSession = database.sessionmaker()
        self._lock = asyncio.Lock()
        self._authorization = authorization
        self._found: Authenticated | None = None
        self.loaders = Loaders(self)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """The request's session, for one service call at a time."""
        async with self._lock:
            yield self._db_session

    async def _authenticated(self) -> Authenticated:
        """The caller, from `Authorization: Bearer <api key or member token>`, the same check as
        REST (`apps.service.authenticate_caller`), done once per request and only when a field
        needs it, so GraphiQL's page and introspection load without credentials."""
        if self._found is None:
            # Browsers cannot set headers on a WebSocket: there the credential comes in the
            # graphql-transport-ws connection_init payload, {"Authorization": "Bearer ..."}.
            params = self.connection_params if isinstance(self.connection_params, dict) else {}
            header = (
                self._authorization or params.get("Authorization") or params.get("authorization")
            )
            credential = apps_service.parse_bearer(header)
            async with self.session() as db_session:
                self._found = await apps_service.authenticate_caller(
                    db_session=db_session, credential=credential, keys=self._keys
                )
        return self._found

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
            if commit:
                await self._db_session.commit()
            else:
                await self._db_session.rollback()

    async def close(self) -> None:
        await self._db_session.close()  # rolls back whatever was not committed


Info = StrawberryInfo[Context, None]


async def get_context(connection: HTTPConnection) -> AsyncIterator[Context]:
    """The GraphQLRouter's context_getter (a FastAPI dependency), for HTTP and WebSocket."""
    state = connection.app.state
    context = Context(
        state.db,
        connection.headers.get("authorization"),
        getattr(state, "pubsub", None),
        getattr(state, "key_cache", None),
    )
    try:
        yield context
    finally:
        await context.close()


class UnitOfWork(SchemaExtension):
    """Commit at the end of an operation without errors; roll back otherwise."""

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        if not isinstance(context, Context):
            return
        result = self.execution_context.result
        if result is None or getattr(result, "errors", None):
            await context.finish(commit=False)
            return
        try:
            await context.finish(commit=True)
        except Exception as exc:
            # A failed commit is an error response, never data for a change that did not happen.
            log.exception("commit failed", exc_info=exc)
            await context.finish(commit=False)
            result.data = None
            result.errors = [GraphQLError("the change could not be saved", original_error=exc)]
