"""Rate limits: a token bucket per API key and per member, in process or in PostgreSQL.

A bucket holds `limit` tokens and refills at `limit / window` tokens a second; a request takes
one token or is refused. The state is kept the way GCRA (the generic cell rate algorithm) keeps
it: one number per key, the "theoretical arrival time" `tat` at which the bucket would be full
again. That is exactly a token bucket (tokens = (window - (tat - now)) / interval), but a single
float is all there is to store, and one conditional UPDATE is all there is to do in SQL.

- `MemoryRateLimiter`: a dict in this process. Right for one process (and for SQLite).
- `PostgresRateLimiter`: a row per key in `rate_limit_buckets`, updated with one atomic
  `INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING` on its own short transaction (never the
  request's, so a bucket row is locked for microseconds, not for the whole request), on a
  small pool of its own (`Database.limiter_engine`): a request may hold a connection of the
  main pool when it is rate-limited, and must never wait for a second one from it.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mentorapi.config import Settings
from mentorapi.db.engine import Database
from mentorapi.kit.errors import TooManyRequests

Clock = Callable[[], float]

# Where the auth dependency leaves the headers for the middleware below (Starlette keeps
# `request.state` in scope["state"], so both sides see the same dict).
STATE_KEY = "rate_limit_headers"


class RateLimitBucket(SQLModel, table=True):
    __tablename__ = "rate_limit_buckets"

    # "k:<hash of an API key>" or "m:<app id>:<external id>".
    key: str = Field(primary_key=True, max_length=200)
    # Seconds since the epoch at which this bucket is full again (GCRA's theoretical arrival).
    tat: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float  # until the bucket is full again
    retry_after_seconds: float  # until the next request is allowed (0 when allowed)

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(_whole_seconds(self.reset_seconds)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, _whole_seconds(self.retry_after_seconds)))
        return headers


def _whole_seconds(seconds: float) -> int:
    # Rounded up (never tell a client to come back too early), but 20.000000001 s is 20 s.
    return max(0, math.ceil(seconds - 1e-6))


def _decide(
    tat: float, now: float, limit: int, window: float, tokens: int = 1
) -> tuple[Decision, float]:
    """GCRA: the decision for a request taking `tokens` at `now`, and the bucket's new `tat`."""
    interval = window / limit
    start = max(tat, now)
    new_tat = start + interval * tokens
    # A millionth of an interval of slack: float rounding never refuses the last token.
    if new_tat - now <= window + interval * 1e-6:
        remaining = int((window - (new_tat - now)) / interval + 1e-6)
        return Decision(True, limit, remaining, new_tat - now, 0.0), new_tat
    return Decision(False, limit, 0, start - now, new_tat - now - window), tat


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window: float, tokens: int = 1) -> Decision: ...


class MemoryRateLimiter:
    """Buckets in a dict; an asyncio process runs `hit` without interleaving, so no lock."""

    MAX_KEYS = 100_000

    def __init__(self, clock: Clock = time.time) -> None:
        self._tat: dict[str, float] = {}
        self._clock = clock
        self._purge_above = self.MAX_KEYS

    async def hit(self, key: str, limit: int, window: float, tokens: int = 1) -> Decision:
        now = self._clock()
        decision, tat = _decide(self._tat.get(key, now), now, limit, window, tokens)
        self._tat[key] = tat
        if len(self._tat) > self._purge_above:
            self._purge(now)
        return decision

    def _purge(self, now: float) -> None:
        # Full buckets carry no state: forget them, so memory stays bounded. What is left is
        # live (each a caller active within its window); the next purge waits until the dict
        # has doubled, so that more live callers than MAX_KEYS cost a purge now and then, not
        # a walk of every bucket at every request.
        self._tat = {k: t for k, t in self._tat.items() if t > now}
        self._purge_above = max(self.MAX_KEYS, 2 * len(self._tat))


# asyncpg needs the parameters' types spelled out (FLOAT8 = double precision).
_PG_HIT = text(
    """
    INSERT INTO rate_limit_buckets AS b (key, tat)
    VALUES (:key, CAST(:now AS FLOAT8) + CAST(:step AS FLOAT8))
    ON CONFLICT (key) DO UPDATE
        SET tat = GREATEST(b.tat, CAST(:now AS FLOAT8)) + CAST(:step AS FLOAT8)
        WHERE GREATEST(b.tat, CAST(:now AS FLOAT8)) + CAST(:step AS FLOAT8)
              - CAST(:now AS FLOAT8) <= CAST(:span AS FLOAT8)
    RETURNING tat
    """
)
_PG_READ = text("SELECT tat FROM rate_limit_buckets WHERE key = :key")


class PostgresRateLimiter:
    """Buckets shared by every process on the database. One statement when the request is
    allowed; a refusal (no row returned) reads the bucket once more for Retry-After."""

    def __init__(self, engine: AsyncEngine, clock: Clock = time.time) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError(
                "MENTORAPI_RATE_LIMIT_BACKEND=postgres needs a PostgreSQL database; "
                "use memory with SQLite"
            )
        self._engine = engine
        self._clock = clock

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def hit(self, key: str, limit: int, window: float, tokens: int = 1) -> Decision:
        now = self._clock()
        interval = window / limit
        params = {
            "key": key,
            "now": now,
            "step": interval * tokens,
            "span": window + interval * 1e-6,
        }
        async with self._engine.begin() as conn:
            stored = (await conn.execute(_PG_HIT, params)).scalar_one_or_none()
            if stored is None:
                stored = (await conn.execute(_PG_READ, {"key": key})).scalar_one()
                decision, _ = _decide(float(stored), now, limit, window, tokens)
                return decision
        # The row now holds the tat after this request: reconstruct the decision from it.
        new_tat = float(stored)
        remaining = int((window - (new_tat - now)) / interval + 1e-6)
        return Decision(True, limit, max(0, remaining), new_tat - now, 0.0)


# A full bucket (tat in the past) is the same as no row: the next hit inserts it afresh at
# `now + interval`, exactly what the update would have computed. Deleted in small batches, each
# its own short transaction. `tat < :now` stands in the outer WHERE too: on PostgreSQL a row a
# concurrent hit just refilled is checked again after its lock and kept (READ COMMITTED
# re-evaluates the outer condition only).
_PURGE_BATCH = text(
    """
    DELETE FROM rate_limit_buckets
    WHERE tat < :now AND key IN (
        SELECT key FROM rate_limit_buckets WHERE tat < :now LIMIT :batch
    )
    """
)
PURGE_BATCH_SIZE = 1000
PURGE_MAX_BATCHES = 20  # per housekeeping round: the next round goes on where this one stopped
# Full for this long already: a housekeeper whose clock runs ahead of the API processes' never
# takes a bucket that still holds a little state for them.
PURGE_MARGIN_SECONDS = 60.0


async def purge_full_buckets(
    engine: AsyncEngine,
    now: float | None = None,
    *,
    batch_size: int = PURGE_BATCH_SIZE,
    max_batches: int = PURGE_MAX_BATCHES,
) -> int:
    """Delete the rows of buckets full since a minute before `now` (the table has a row per key
    or member ever seen, and would otherwise grow for ever); at most `batch_size * max_batches`
    rows per call."""
    at = (time.time() if now is None else now) - PURGE_MARGIN_SECONDS
    purged = 0
    for _ in range(max_batches):
        async with engine.begin() as conn:
            result = await conn.execute(_PURGE_BATCH, {"now": at, "batch": batch_size})
        deleted = int(getattr(result, "rowcount", 0) or 0)
        purged += deleted
        if deleted < batch_size:
            break
    return purged


def create_rate_limiter(settings: Settings, db: Database) -> RateLimiter:
    if settings.rate_limit_store == "postgres":
        # Its own pool: never the one the request's session may hold a connection of.
        return PostgresRateLimiter(db.limiter_engine or db.engine)
    return MemoryRateLimiter()


async def enforce(
    limiter: RateLimiter, key: str, limit: int, window: float, tokens: int = 1
) -> dict[str, str]:
    """Take `tokens` (at most the whole budget) for `key`: the RateLimit-* headers for the
    response, or a 429."""
    decision = await limiter.hit(key, limit, window, max(1, min(tokens, limit)))
    headers = decision.headers()
    if not decision.allowed:
        raise TooManyRequests(
            f"rate limit of {limit} requests per {window:g} seconds reached; "
            f"retry in {headers['Retry-After']} s",
            headers=headers,
        )
    return headers


class RateLimitHeaders:
    """Adds the RateLimit-* headers the auth dependency computed to every response, errors
    included (a dependency's Response object only reaches successful responses)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            values: dict[str, str] | None = state.get(STATE_KEY)
            if message["type"] == "http.response.start" and values:
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.lower().encode(), value.encode())
                    for name, value in values.items()
                    if name.lower().encode() not in present
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
