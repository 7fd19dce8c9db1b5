"""Several new rows of one table in one INSERT on PostgreSQL.

An executemany (`connection.execute(insert(table), rows)`) reaches PostgreSQL as one execution
per row: asyncpg pipelines them in one round trip, but each is a statement of its own to the
server (Bind, Execute, executor start and end, its after-row triggers' queue). A booking
writes about six reminder rows: as one statement they cost its PostgreSQL backend 0.28-0.29
ms instead of 0.31-0.33 (measured alone; the rows' own work, seven index entries and six
foreign-key triggers each, is most of it: bench/README.md, "Bookings in PostgreSQL"), and
the server's Python is the same. Here the rows go as columns, one array each,
to `INSERT INTO t (a, b) SELECT * FROM unnest($1::a_type[], $2::b_type[])`: one execution
and one statement text per table and set of columns, however many rows (a multi-row VALUES
would be a statement per row count, and costs SQLAlchemy ~0.2 ms to build and key for six
rows). Every row, constraint, trigger and foreign key check is as before.

Elsewhere (SQLite, where an executemany is one prepared statement stepped per row anyway;
one row; rows whose keys differ; a column left out that has a Python-side default only an
executemany fills in) it is the executemany.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Insert, Select, Table, bindparam, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY

# (table, columns) -> the statement, built once so that SQLAlchemy's compiled cache finds it.
# Bounded by the code: the callers' tables and the column sets their rows are built with.
_statements: dict[tuple[str, tuple[str, ...]], Insert] = {}


def _unnest_insert(table: Table, columns: tuple[str, ...]) -> Insert:
    key = (table.fullname, columns)
    found = _statements.get(key)
    if found is None:
        arrays = [
            cast(bindparam(f"c{i}", type_=ARRAY(table.c[name].type)), ARRAY(table.c[name].type))
            for i, name in enumerate(columns)
        ]
        unnested: Select[Any] = select(literal_column("*")).select_from(func.unnest(*arrays))
        found = Insert(table).from_select(
            [table.c[name] for name in columns], unnested, include_defaults=False
        )
        _statements[key] = found
    return found


def _one_statement(table: Table, rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...] | None:
    """The columns of `rows` if they can go as one unnest INSERT, else None."""
    if len(rows) < 2:
        return None
    columns = tuple(rows[0])
    if any(len(row) != len(columns) or row.keys() != rows[0].keys() for row in rows[1:]):
        return None
    named = set(columns)
    if any(c.default is not None and c.name not in named for c in table.c):
        return None
    return columns


def as_one(
    statement: Insert, rows: Sequence[Mapping[str, Any]]
) -> tuple[Insert, dict[str, Any]] | None:
    """`statement` (a plain `insert(table)`) for `rows` as one unnest INSERT and its parameters
    (one array per column), or None where an executemany is the way (`_one_statement`).
    PostgreSQL only: the caller (db.fast.insert) asks there alone."""
    table = statement.table
    if not isinstance(table, Table):
        return None
    columns = _one_statement(table, rows)
    if columns is None:
        return None
    params = {f"c{i}": [row[name] for row in rows] for i, name in enumerate(columns)}
    return _unnest_insert(table, columns), params
