"""One async engine and session factory per process, for PostgreSQL (asyncpg) or SQLite."""

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.config import Settings

# Statements run on behalf of the current request, when something is counting (tests, benchmarks).
statement_counter: ContextVar[list[str] | None] = ContextVar("statement_counter", default=None)
# Whether the current unit of work may write (SQLite only: see _sqlite_begin). Code that is not
# a request (CLI, workers, housekeeping) keeps the safe default.
write_intent: ContextVar[bool] = ContextVar("write_intent", default=True)


@dataclass
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()


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


def _count_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    counted = statement_counter.get()
    # Queries only: transaction control is not a round trip we can design away.
    if counted is not None and not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
        counted.append(statement)


def create_database(settings: Settings) -> Database:
    kwargs: dict[str, Any] = {"echo": settings.db_echo}
    if settings.is_sqlite:
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_pre_ping=False,
        )
    engine = create_async_engine(settings.database_url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    sessionmaker = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    return Database(engine=engine, sessionmaker=sessionmaker)
