"""Hot reads straight on the driver, for the few statements that run on nearly every request.

SQLAlchemy's execution path (execution context, cursor adaptation, result metadata, the async
bridge) costs about 0.1 ms of CPU per statement, three times what asyncpg itself needs to run
a prepared statement. For the API-key lookup (every request) and the mentor list (the hottest
page), `fetch` runs the same SQLAlchemy statement, compiled once per dialect, on the asyncpg
connection of the session. On SQLite (aiosqlite) it runs the statement on the sqlite3
connection of the session, in its transaction, in one hop to aiosqlite's thread
(`execute_fetchall`: SQLAlchemy's cursor takes four: cursor, execute, fetchall, close) and
turns the columns into Python values with SQLAlchemy's own result processors for their types
(JSON, UTC timestamps), looked up once per statement. Everywhere else (other drivers, a
statement with an expanding IN list) it is an ordinary `connection.execute`: one statement,
two ways of sending it, the same rows. A list parameter that both drivers take as one value:
`in_list` (an array on PostgreSQL, a JSON array read by json_each on SQLite).

SELECTs (`fetch`), and the INSERTs a booking writes as rows (`insert`: the session, its event,
delivery, reminders and idempotency key, each about 0.25M instructions through SQLAlchemy's
Core execution; a broken constraint raises the `IntegrityError` SQLAlchemy would). In a session
that writes, the statement runs in the session's transaction, on its
connection: the driver's BEGIN is sent first if SQLAlchemy has not sent it yet (its asyncpg
adapter sends it lazily, before its first statement), so a locking read (`FOR KEY SHARE`)
holds its lock until the commit. A read-only session that holds no connection yet (a GET that
has run nothing through the ORM) borrows one from the pool for the statement instead of
opening its own (reads on PostgreSQL run in autocommit anyway): no locking reads there. Rows
are sequences of the selected columns, in order, on both paths (callers unpack them into
dataclasses). Statements are still counted (`X-SQL-Statements`, the tests' statement counts)
like any other, and shown to `observers` (the tests' tenancy check): the engine's
`before_cursor_execute` listeners never see a statement sent straight to the driver.

Behind PgBouncer in transaction mode with the statement cache off (db/engine.py), asyncpg runs
these as its unnamed statement, parsed again in the round trip that runs it: one server
connection sees the whole statement, even outside a transaction (tests/fleet). Left to itself,
asyncpg describes the statement first, every time (Parse, Describe, Sync: a round trip of its
own, the SQL parsed twice); here what it learnt (parameter and column types, their codecs) is
kept per connection, so each later run is one round trip: Parse, Bind, Execute, Sync. Measured
through PgBouncer 1.18 on the mentor search: 0.99 -> 0.76 ms of CPU per statement (client,
PgBouncer and PostgreSQL together). Nothing is left on the server either way.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    CompoundSelect,
    Dialect,
    Insert,
    Select,
    String,
    TextClause,
    any_,
    bindparam,
    func,
)
from sqlalchemy import column as sa_column
from sqlalchemy import exc as sa_exc
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Compiled
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.db import rows as db_rows
from mentorapi.db.dropped import DatabaseUnavailable, is_dropped
from mentorapi.db.engine import UNNAMED_STATEMENTS, WRITER, statement_counter
from mentorapi.kit.bounded import BoundedLRU

# A SELECT built with SQLAlchemy (a UNION of them), or one written as text (matching's
# retrieval): either is compiled once per dialect and kept while the statement object lives.
Query = Select[Any] | CompoundSelect[Any] | TextClause


@dataclass(frozen=True)
class _Prepared:
    compiled: Compiled
    sql: str
    names: tuple[str, ...]  # parameter names in $1, $2, ... order
    processors: Mapping[str, Callable[[Any], Any]]  # bind processors (JSON, UTC timestamps)
    # SQLite: whether the driver can run it (no expanding IN list), and the result processors
    # of its columns, in order (None: the driver's value as it is); None if none has one.
    direct: bool
    results: tuple[Callable[[Any], Any] | None, ...] | None


# Called with each statement's SQL, its dialect's name and its execution options before it is
# sent to the driver (the engine's cursor events never see it). Empty in production; the tests
# add their tenancy check.
observers: list[Callable[[str, str, Mapping[str, Any]], None]] = []

# About the bytes a statement and its compiled form hold, per character of its SQL (measured
# with tracemalloc on the mentor search: 25 to 110; tests/security/test_memory_bounds.py).
BYTES_PER_SQL_CHAR = 128


def statement_weight(sql: str) -> int:
    return BYTES_PER_SQL_CHAR * len(sql)


# Statements are module-level or built once per shape (mentors/repository.py): a set bounded by
# the shapes a caller can ask for, which is large (sorts x filters x page sizes). Each compiled
# form holds its statement, so this cache, not the statement builder's, decides how many
# statements live: bounded by entries and by bytes, least recently used out first. Keyed by
# identity: a statement dropped here and freed may see its id reused by another one, which
# the `is` check below tells apart.
MAX_STATEMENTS = 1_024
MAX_BYTES = 32 * 2**20
_prepared: BoundedLRU[tuple[Any, ...], _Prepared] = BoundedLRU(
    max_entries=MAX_STATEMENTS,
    max_weight=MAX_BYTES,
    weigh=lambda key, prepared: statement_weight(prepared.sql),
)


def _prepare(statement: Query, dialect: Dialect) -> _Prepared:
    key = (id(statement), dialect.name)
    found = _prepared.get(key)
    if found is None or found.compiled.statement is not statement:
        compiled = statement.compile(dialect=dialect)
        direct = not (compiled.post_compile_params or compiled.literal_execute_params)
        if not direct and _uses_asyncpg(dialect):
            raise ValueError("db.fast does not render expanding (IN) parameters")
        names = tuple(compiled.positiontup or ())
        processors = {
            n: p for n, p in compiled._bind_processors.items() if n in names and callable(p)
        }
        found = _Prepared(
            compiled, compiled.string, names, processors, direct, _result_processors(compiled)
        )
        _prepared.put(key, found)
    return found


def _result_processors(compiled: Compiled) -> tuple[Callable[[Any], Any] | None, ...] | None:
    """What SQLAlchemy's result would call on each column's value (its type's processor for
    this dialect: UTC timestamps and JSON on SQLite), or None if no column has one. asyncpg
    rows are returned as the driver decodes them (never through these)."""
    dialect = compiled.dialect
    if not _uses_aiosqlite(dialect):
        return None
    found = tuple(
        column.type._cached_result_processor(dialect, None)
        for column in getattr(compiled, "_result_columns", ())
    )
    return found if any(p is not None for p in found) else None


def in_list(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """`column IN (the strings bound as name)`, the list sent as one value whatever its length:
    one statement for every length, which the drivers take as they are (no expanding IN
    list): `= ANY(array)` on PostgreSQL, `IN (SELECT value FROM json_each(json array))` on
    SQLite (its planner reads this as an IN list: the same index lookups)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(String())))
    values: Select[Any] = sa_select(sa_column("value")).select_from(
        func.json_each(bindparam(name, type_=JSON()))
    )
    return column.in_(values.scalar_subquery())


# Per pooled connection (its record's `info`, which lives and dies with the driver connection):
# the statements described on it, by SQL. Bounded like every per-process cache; a described
# statement is its SQL, types and codecs (a few kB).
_DESCRIBED = "mentorapi_described"
DESCRIBED_PER_CONNECTION = 64
DESCRIBED_BYTES = 2**20


def _described(info: dict[Any, Any]) -> BoundedLRU[str, Any]:
    found: BoundedLRU[str, Any] | None = info.get(_DESCRIBED)
    if found is None:
        found = BoundedLRU(
            max_entries=DESCRIBED_PER_CONNECTION,
            max_weight=DESCRIBED_BYTES,
            weigh=lambda sql, _statement: 16 * len(sql),
        )
        info[_DESCRIBED] = found
    return found


async def _driver_fetch(
    raw: Any, dialect: Dialect, sql: str, args: Sequence[Any]
) -> list[Sequence[Any]]:
    """`driver.fetch(sql, *args)`; with the statement cache off, on a statement described once
    per connection (see the module's docstring)."""
    driver: Any = raw.driver_connection
    if dialect not in UNNAMED_STATEMENTS:
        rows: list[Sequence[Any]] = await driver.fetch(sql, *args)
        return rows
    described, statement = await _described_statement(raw, sql)
    try:
        rows = await statement.fetch(*args)
    except Exception:
        described.pop(sql)  # whatever went wrong, describe it afresh next time
        raise
    return rows


async def _described_statement(raw: Any, sql: str) -> tuple[BoundedLRU[str, Any], Any]:
    """The connection's described statements and `sql`'s among them, prepared if new."""
    described = _described(raw.info)
    statement = described.get(sql)
    if statement is None:
        # Unnamed (the cache is off), and marked to be parsed again in every run.
        statement = await raw.driver_connection.prepare(sql)
        described.put(sql, statement)
    return described, statement


def _uses_asyncpg(dialect: Dialect) -> bool:
    return dialect.name == "postgresql" and dialect.driver == "asyncpg"


def _uses_aiosqlite(dialect: Dialect) -> bool:
    return dialect.name == "sqlite" and dialect.driver == "aiosqlite"


async def _sqlite_fetch(
    connection: Any, raw: Any, statement: Query, params: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """The rows on the sqlite3 connection of the session (its transaction, begun by
    `db_session.connection()`), in one hop to aiosqlite's thread."""
    dialect = connection.dialect
    prepared = _prepare(statement, dialect)
    if not prepared.direct:
        return list((await connection.execute(statement, params)).all())
    args, sql = _arguments(statement, dialect, params)
    try:
        rows: list[Sequence[Any]] = await raw.driver_connection.execute_fetchall(sql, args)
    except Exception as exc:
        # As SQLAlchemy would raise it (OperationalError for "database is locked", ...).
        raise sa_exc.DBAPIError.instance(
            sql, args, exc, dialect.loaded_dbapi.Error, dialect=dialect
        ) from exc
    results = prepared.results
    if results is None:
        return rows
    convert = [(i, p) for i, p in enumerate(results) if p is not None]
    processed = []
    for row in rows:
        values = list(row)
        for i, process in convert:
            value = values[i]
            if value is not None:
                values[i] = process(value)
        processed.append(values)
    return processed


async def fetch(
    db_session: AsyncSession, statement: Query, params: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    """The rows of a SELECT, each a sequence of its columns, on the session's connection (or,
    for a read-only session on PostgreSQL that holds none yet, on a pooled one)."""
    engine = db_session.bind
    if (
        isinstance(engine, AsyncEngine)
        and _uses_asyncpg(engine.dialect)
        and db_session.info.get(WRITER) is not None  # read-only: every statement on its own
        and not db_session.in_transaction()
    ):
        # Reads on PostgreSQL run in autocommit, each statement seeing its own snapshot: on any
        # pooled connection it is the same read. Borrowing one from the pool for the statement
        # costs a tenth of what opening the session's connection (and closing it) does.
        args, sql = _arguments(statement, engine.dialect, params)
        borrowed = await engine.raw_connection()
        driver: Any = borrowed.driver_connection
        try:
            rows = await _driver_fetch(borrowed, engine.dialect, sql, args)
        except Exception as exc:
            if _dropped(driver, exc):
                # SQLAlchemy never saw this statement: tell the pool ourselves, as it would
                # (invalidated, the connection is closed and checked in, never handed out).
                borrowed.invalidate(exc)
                raise DatabaseUnavailable("the database connection was lost") from exc
            raise
        finally:
            if borrowed.is_valid:
                borrowed.close()  # back to the pool (no transaction was begun: nothing to reset)
        return rows
    connection, raw = await _held(db_session)
    dialect = connection.dialect
    if _uses_aiosqlite(dialect):
        return await _sqlite_fetch(connection, raw, statement, params)
    if not _uses_asyncpg(dialect):
        return list((await connection.execute(statement, params)).all())
    args, sql = _arguments(statement, dialect, params)
    driver = raw.driver_connection
    try:
        await _begun(raw.dbapi_connection)
        rows = await _driver_fetch(raw, dialect, sql, args)
    except Exception as exc:
        if _dropped(driver, exc):
            await connection.invalidate(exc)
            raise DatabaseUnavailable("the database connection was lost") from exc
        raise
    return rows


# In a session's `info`: its transaction when last asked, that transaction's connection and the
# pooled connection under it. Each `db_session.connection()` and `get_raw_connection()` is a
# trip through SQLAlchemy's greenlet bridge (about 40K instructions each); a booking's eleven
# statements on the driver asked for both every time.
_HELD = "mentorapi_fast_held"


async def _held(db_session: AsyncSession) -> tuple[AsyncConnection, Any]:
    """The session's connection (its transaction begun, as `db_session.connection()` begins
    it) and the pooled connection under it, asked of SQLAlchemy once per transaction."""
    transaction = db_session.sync_session.get_transaction()
    found = db_session.info.get(_HELD)
    if (
        found is not None
        and transaction is not None
        and found[0] is transaction
        and transaction.is_active
        and found[2].is_valid
    ):
        return found[1], found[2]
    connection = await db_session.connection()
    raw = await connection.get_raw_connection()
    db_session.info[_HELD] = (db_session.sync_session.get_transaction(), connection, raw)
    return connection, raw


async def _begun(adapted: Any) -> None:
    """The transaction SQLAlchemy began on this connection, begun on the driver too: what its
    asyncpg adapter does before running a statement of its own (nothing in autocommit)."""
    if adapted._transaction is None:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()


def _dropped(driver: Any, exc: Exception) -> bool:
    # What SQLAlchemy's asyncpg dialect asks (is_disconnect), and the driver's own errors.
    return bool(driver is not None and driver.is_closed()) or is_dropped(exc)


def _arguments(
    statement: Query, dialect: Dialect, params: Mapping[str, Any]
) -> tuple[list[Any], str]:
    """The positional arguments of a compiled statement (counted as it is about to run)."""
    prepared = _prepare(statement, dialect)
    values: Mapping[str, Any] = prepared.compiled.construct_params(params) or {}
    args = []
    for name in prepared.names:
        value = values[name]
        processor = prepared.processors.get(name)
        args.append(processor(value) if processor is not None and value is not None else value)
    _observed(prepared.sql, dialect.name, statement.get_execution_options())
    return args, prepared.sql


def _observed(sql: str, dialect: str, options: Mapping[str, Any]) -> None:
    """A statement about to be sent to the driver, shown to the observers and counted."""
    for observe in observers:
        observe(sql, dialect, options)
    counted = statement_counter.get()
    if counted is not None:
        counted.append(sql)


# --- INSERTs ------------------------------------------------------------------------------------


def _prepare_insert(statement: Insert, dialect: Dialect, keys: tuple[str, ...]) -> _Prepared:
    """`statement` compiled for rows with these columns, as SQLAlchemy compiles it for them
    (`column_keys`: the keys of the first row), once per dialect and set of columns. Not
    `direct` when the table has a column default SQLAlchemy computes at execution time."""
    key = (id(statement), dialect.name, keys)
    found = _prepared.get(key)
    if found is None or found.compiled.statement is not statement:
        compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))
        names = tuple(compiled.positiontup or ())
        processors = {
            n: p for n, p in compiled._bind_processors.items() if n in names and callable(p)
        }
        direct = not (compiled.insert_prefetch or compiled.postfetch or compiled.returning)
        found = _Prepared(compiled, compiled.string, names, processors, direct, None)
        _prepared.put(key, found)
    return found


async def insert(
    db_session: AsyncSession,
    statement: Insert,
    rows: Sequence[Mapping[str, Any]],
    *,
    orm: bool = False,
    one_statement: bool = False,
) -> None:
    """`INSERT` the rows (each with the same columns) in the session's transaction: one
    statement, or one executemany for several rows, as `connection.execute(statement, rows)`
    runs them. On asyncpg it goes straight to the driver, and a constraint the rows break
    raises the `IntegrityError` SQLAlchemy would raise (db.integrity.or_conflict maps it to
    its 409 as before); elsewhere through SQLAlchemy: on the session's connection, or with
    `orm`, through the session itself, so its `do_orm_execute` listeners see the rows (the
    SQLite subscription feed hears new events that way, graphql/feed.py)."""
    if not rows:
        return
    connection, raw = await _held(db_session)
    dialect = connection.dialect
    if one_statement and len(rows) > 1 and dialect.name == "postgresql" and not orm:
        # Several rows as one statement, not an execution each (db/rows.py): for the tables
        # whose rows every booking writes several of (reminders, deliveries).
        one = db_rows.as_one(statement, rows)
        if one is not None:
            statement, rows = one[0], [one[1]]
    keys = tuple(rows[0])
    prepared = _prepare_insert(statement, dialect, keys) if _uses_asyncpg(dialect) else None
    if prepared is None or not prepared.direct or any(tuple(row) != keys for row in rows):
        if orm:
            await db_session.exec(statement, params=list(rows))
        else:
            await connection.execute(statement, list(rows))
        return
    compiled = prepared.compiled
    arguments = []
    for row in rows:
        values: Mapping[str, Any] = compiled.construct_params(row) or {}
        args = []
        for name in prepared.names:
            value = values[name]
            processor = prepared.processors.get(name)
            args.append(processor(value) if processor is not None and value is not None else value)
        arguments.append(args)
    _observed(prepared.sql, dialect.name, statement.get_execution_options())
    driver = raw.driver_connection
    try:
        await _begun(raw.dbapi_connection)
        if len(arguments) == 1:
            await _driver_fetch(raw, dialect, prepared.sql, arguments[0])
        else:
            await _driver_executemany(raw, dialect, prepared.sql, arguments)
    except Exception as exc:
        if _dropped(driver, exc):
            await connection.invalidate(exc)
            raise DatabaseUnavailable("the database connection was lost") from exc
        _raise_as_sqlalchemy(exc, prepared.sql, arguments, dialect)
        raise


async def _driver_executemany(
    raw: Any, dialect: Dialect, sql: str, arguments: Sequence[Sequence[Any]]
) -> None:
    """`driver.executemany(sql, arguments)`; on a described statement as `_driver_fetch`."""
    driver: Any = raw.driver_connection
    if dialect not in UNNAMED_STATEMENTS:
        await driver.executemany(sql, arguments)
        return
    described, statement = await _described_statement(raw, sql)
    try:
        await statement.executemany(arguments)
    except Exception:
        described.pop(sql)
        raise


def _raise_as_sqlalchemy(
    exc: Exception, sql: str, arguments: Sequence[Any], dialect: Dialect
) -> None:
    """The driver's error as SQLAlchemy's asyncpg dialect raises it (an asyncpg
    `UniqueViolationError`, `ExclusionViolationError`, ... is an `IntegrityError`); nothing
    for an error it does not translate."""
    dbapi: Any = dialect.loaded_dbapi
    translate: Mapping[type, Any] = dbapi._asyncpg_error_translate
    for cls in type(exc).__mro__:
        adapted = translate.get(cls)
        if adapted is not None:
            error = adapted(exc.args[0] if exc.args else str(exc), exc)
            raise sa_exc.DBAPIError.instance(
                sql, arguments, error, dbapi.Error, dialect=dialect
            ) from exc
