"""How a request is admitted: one step, the same whichever face it comes through.

REST routes (the `CurrentCaller` and `CurrentApp` dependencies), lean routes, GraphQL over HTTP
and GraphQL over WebSocket (at `connection_init`, for every operation, and again before every
subscription message) all come here; no face authenticates or rate-limits on its own.
The body limit is counted before any of this, for every route (`limits.BodySizeLimit`).

1. `identify`: the credential (`Authorization: Bearer <api key | member token>`) to the caller,
   a member token's signature checked before anything it claims is trusted; the CORS middleware
   learns the caller's own app's origins.
2. `spend`: one token from the caller's rate-limit bucket (one per API key, one per member,
   shared by both faces; a GraphQL operation takes one per root field, the REST requests it
   stands for), with the `RateLimit-*` headers for the response, or a 429 with
   `Retry-After`.
3. `Standing`: a response that lasts (a live stream) checks again, before each message, that
   its credential still holds.
"""

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection

from mentorapi.apps import cors, service
from mentorapi.apps.keycache import KeyCache
from mentorapi.apps.service import Authenticated
from mentorapi.config import Settings
from mentorapi.db.engine import Database, write_intent
from mentorapi.kit import ratelimit
from mentorapi.kit.errors import TooManyRequests, Unauthenticated
from mentorapi.kit.timezones import utcnow


async def identify(
    connection: HTTPConnection, db_session: AsyncSession, authorization: str | None
) -> Authenticated:
    """The caller of an `Authorization` header value (a 401 `Unauthenticated` otherwise)."""
    found = await service.authenticate_caller(
        db_session=db_session,
        credential=service.parse_bearer(authorization),
        keys=getattr(connection.app.state, "key_cache", None),
    )
    connection.state.app_id = found.app.id
    setattr(connection.state, cors.STATE_KEY, list(found.app.cors_origins))
    return found


async def spend(connection: HTTPConnection, found: Authenticated, tokens: int = 1) -> None:
    """Take a token from the caller's bucket (a GraphQL operation: one per root field, as
    many as the REST requests it stands for); the headers go on the response either way."""
    settings: Settings = connection.app.state.settings
    if not settings.rate_limits_enabled:
        return
    limit = (
        settings.rate_limit_per_window
        if found.caller.is_api_key
        else settings.rate_limit_member_per_window
    )
    try:
        headers = await ratelimit.enforce(
            connection.app.state.rate_limiter,
            found.rate_key,
            limit,
            settings.rate_limit_window_seconds,
            tokens,
        )
    except TooManyRequests as refused:
        # GraphQL answers with a body of its own: the headers reach it through the state.
        setattr(connection.state, ratelimit.STATE_KEY, refused.headers)
        raise
    setattr(connection.state, ratelimit.STATE_KEY, headers)


async def admit(
    connection: HTTPConnection, db_session: AsyncSession, authorization: str | None
) -> Authenticated:
    """`identify`, then `spend`: a request, or a GraphQL operation."""
    found = await identify(connection, db_session, authorization)
    await spend(connection, found)
    return found


class Standing:
    """A long-lived response's admission (a live stream over HTTP), checked again before each
    message it sends, as a GraphQL subscription's is over its WebSocket (graphql/context.py):
    the credential must not have expired, and must still be found after anything about apps,
    keys or members changed. Cheap when nothing changed (the expiry, and the key cache's
    generation, which every process bumps on PostgreSQL's notice of such a change); without
    that notice (SQLite, or the key cache not listening) the caller is identified again."""

    def __init__(
        self,
        connection: HTTPConnection,
        database: Database,
        authorization: str | None,
        found: Authenticated,
    ) -> None:
        self._connection = connection
        self._database = database
        self._authorization = authorization
        self._found = found
        self._keys: KeyCache | None = getattr(connection.app.state, "key_cache", None)
        # Unknown: the first check identifies the caller again (the generation read now could
        # be newer than the identification the request's dependency made).
        self._generation = -1

    @property
    def caller(self) -> Authenticated:
        return self._found

    async def check(self) -> None:
        """Raise `Unauthenticated` when the credential no longer holds."""
        found = self._found
        if found.expires_at is not None and found.expires_at <= utcnow():
            raise Unauthenticated("the credential has expired: connect again with a fresh one")
        keys = self._keys
        if keys is not None and keys.listening and keys.generation() == self._generation:
            return
        generation = keys.generation() if keys is not None else -1
        token = write_intent.set(False)
        try:
            async with self._database.read_sessionmaker() as db_session:
                self._found = await identify(self._connection, db_session, self._authorization)
        finally:
            write_intent.reset(token)
        self._generation = generation
