"""One async engine and session factory per process, for PostgreSQL (asyncpg) or SQLite."""

import weakref
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Dialect, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.config import Settings
from mentorapi.db.dropped import watch_pool
from mentorapi.db.writers import Writers

# Statements run on behalf of the current request, when something is counting (tests, benchmarks).
statement_counter: ContextVar[list[str] | None] = ContextVar("statement_counter", default=None)
# Whether the current unit of work may write (SQLite only: see _sqlite_begin). Code that is not
# a request (CLI, workers, housekeeping) keeps the safe default.
write_intent: ContextVar[bool] = ContextVar("write_intent", default=True)
# The execution option that marks a read-only unit of work (see Database.read_sessionmaker).
READ_ONLY = "mentorapi_read_only"
# In a read-only session's `info`: the sessionmaker for the rare write a read must make, and
# the process's turns for it (db/writers.py).
WRITER = "mentorapi_writer"
WRITERS = "mentorapi_writers"
# Engines whose connections keep no prepared statement (MENTORAPI_DATABASE_STATEMENT_CACHE=false):
# db/fast.py reuses what the driver learnt describing a statement, and re-sends the SQL.
# Keyed by dialect: an engine's execution_options() copies (the read-only sessions') share it.
UNNAMED_STATEMENTS: "weakref.WeakSet[Dialect]" = weakref.WeakSet()


@dataclass
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # For read-only requests (GET): refuses to write; on PostgreSQL it runs without BEGIN and
    # COMMIT (autocommit), two round trips fewer per read. At READ COMMITTED, the default, every
    # statement sees its own snapshot either way, so a transaction around reads adds nothing.
    read_sessionmaker: async_sessionmaker[AsyncSession]
    # Turns for requests' write transactions in this process (db/writers.py): a request's
    # write unit of work takes one before it opens its session.
    writers: Writers
    # PostgreSQL: a small pool of its own for the rate limiter's bucket statement
    # (kit/ratelimit.py), which a request runs while its session may hold a connection of the
    # main pool (its key lookup, its Idempotency-Key claim). From the same pool, N such
    # requests on a pool of N would each hold one connection and wait for another: a
    # deadlock every one of them would leave only by the pool timeout (503). A bucket
    # statement holds its connection for one round trip and waits for nothing else.
    limiter_engine: AsyncEngine | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.limiter_engine is not None:
            await self.limiter_engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINTs and transactional DDL; turn it off
    # and emit BEGIN ourselves (the recipe from SQLAlchemy's SQLite dialect documentation).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # A writer takes SQLite's single write lock up front (IMMEDIATE): writers queue on
    # busy_timeout, and a check-then-insert (a booking) is serialized. Reads (GET) begin
    # DEFERRED so that, in WAL mode, they never wait behind writers.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_WRITES = ("INSERT", "UPDATE", "DELETE")


class ReadOnlyViolation(RuntimeError):
    """A read-only unit of work (a GET request) tried to write: a bug in the route, never
    something a client can cause. Raised before the statement runs, so nothing is written."""


def _guard_and_count(
    _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
) -> None:
    # Under autocommit a write would stick at once, with no rollback to undo it.
    read_only = context is not None and context.execution_options.get(READ_ONLY)
    if read_only and statement.lstrip()[:6].upper().startswith(_WRITES):
        raise ReadOnlyViolation(f"a read-only unit of work tried to write: {statement[:80]}")
    counted = statement_counter.get()
    # Queries only: transaction control is not a round trip we can design away.
    if counted is not None and not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
        counted.append(statement)


def _json_serializer(value: Any) -> str:
    # Text, as SQLAlchemy's JSON types expect from a serializer (orjson writes bytes).
    return orjson.dumps(value).decode()


def _no_statement_cache() -> dict[str, Any]:
    """asyncpg connect arguments for MENTORAPI_DATABASE_STATEMENT_CACHE=false (PgBouncer < 1.21
    in transaction mode). Nothing prepared is kept to be used again: a named statement lives on
    one server connection, and PgBouncer hands the next transaction to any of them. With its
    cache off, asyncpg prepares every statement (SQLAlchemy's too: they ask for no name) as
    the unnamed one, and parses it again in the round trip that runs it, so each runs whole on
    one server connection, even outside a transaction (the autocommit reads), and nothing is
    left behind on the server. (Giving statements unique names instead, as SQLAlchemy's docs
    suggest for PgBouncer, leaves prepared statements on server connections, closed on
    another (measured: 170 left on one of 4 after 1,000 queries), and needs every read in a
    transaction: prepared and run in two round trips, they may land on two servers.)"""
    return {"statement_cache_size": 0, "prepared_statement_cache_size": 0}


def _sqlite_in_memory(database_url: str) -> bool:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return False
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def create_database(settings: Settings) -> Database:
    engine = _create_engine(settings, settings.db_pool_size)
    sessionmaker = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    read_options: dict[str, Any] = {READ_ONLY: True}
    limiter_engine = None
    if engine.dialect.name == "postgresql":
        read_options["isolation_level"] = "AUTOCOMMIT"
        if settings.rate_limit_store == "postgres":
            limiter_engine = _create_engine(settings, settings.rate_limit_pool_size)
    writers = Writers(
        settings.db_write_concurrency,
        settings.db_write_queue,
        # Waiting for a turn ends as waiting for a pooled connection does (db/busy.py).
        settings.db_pool_timeout_seconds,
    )
    read_sessionmaker = async_sessionmaker(
        engine.execution_options(**read_options),
        class_=AsyncSession,
        expire_on_commit=False,
        info={WRITER: sessionmaker, WRITERS: writers},
    )
    return Database(
        engine=engine,
        sessionmaker=sessionmaker,
        read_sessionmaker=read_sessionmaker,
        writers=writers,
        limiter_engine=limiter_engine,
    )


def _create_engine(settings: Settings, pool_size: int) -> AsyncEngine:
    kwargs: dict[str, Any] = {
        "echo": settings.db_echo,
        # JSON columns (languages, formats, lengths, a page's skills...) are small documents
        # read many per request: orjson is one C call each where json.loads is several frames.
        "json_deserializer": orjson.loads,
        "json_serializer": _json_serializer,
    }
    # Both databases pool (SQLite's file database too: AsyncAdaptedQueuePool, 5 + 10 overflow):
    # a checkout that waits this long raises the pool's TimeoutError, a 503 (db/busy.py).
    # SQLite in memory has one shared connection (StaticPool), no queue to time out.
    if not _sqlite_in_memory(settings.database_url):
        kwargs["pool_timeout"] = settings.db_pool_timeout_seconds
    if settings.is_sqlite:
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(
            pool_size=pool_size,
            max_overflow=settings.db_max_overflow,
            # No SELECT 1 per checkout: db/dropped.py asks the driver whether the connection
            # is closed (free), and a read whose connection drops anyway is run again.
            pool_pre_ping=False,
            pool_use_lifo=True,
        )
        if not settings.database_statement_cache and settings.database_url.startswith(
            "postgresql+asyncpg"
        ):
            kwargs["connect_args"] = _no_statement_cache()
    engine = create_async_engine(settings.database_url, **kwargs)
    if kwargs.get("connect_args", {}).get("statement_cache_size") == 0:
        UNNAMED_STATEMENTS.add(engine.dialect)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    event.listen(engine.sync_engine, "before_cursor_execute", _guard_and_count)
    watch_pool(engine)
    return engine
