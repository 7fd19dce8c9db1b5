"""Index builds for migrations that leave a table open for writes while they run.

On PostgreSQL a plain CREATE INDEX holds a SHARE lock on its table for the whole build: every
INSERT, UPDATE and DELETE waits, on a large table for minutes. CREATE INDEX CONCURRENTLY takes
only a SHARE UPDATE EXCLUSIVE lock (writers go on) but cannot run in a transaction, so it runs
in Alembic's autocommit block (the migrations before it are committed first). SQLite builds
plainly: a SQLite writer locks the whole file anyway.

Both are safe to run again: a build the migration already made is left alone (IF NOT EXISTS);
a concurrent build that failed half-way (cancelled, a deadlock, a lost connection) leaves an
INVALID index under its name, which IF NOT EXISTS would keep for good, so that one is dropped
and built again. Dropping is IF EXISTS (and CONCURRENTLY on PostgreSQL).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


def _is_postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _invalid(name: str) -> bool:
    found = op.get_bind().execute(
        sa.text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
        {"name": name},
    )
    return bool(found.scalar())


def create_index(
    name: str,
    table: str,
    columns: Sequence[str],
    *,
    where: str | None = None,
    unique: bool = False,
    postgresql_using: str | None = None,
    postgresql_ops: dict[str, str] | None = None,
    postgresql_only: bool = False,
) -> None:
    """CREATE INDEX (CONCURRENTLY on PostgreSQL) IF NOT EXISTS, partial when `where` is
    given (the same text on both databases). `postgresql_using` and `postgresql_ops` choose
    PostgreSQL's access method and operator classes (GIN, jsonb_path_ops); an index only
    PostgreSQL can use is `postgresql_only` (SQLite builds nothing)."""
    predicate = sa.text(where) if where is not None else None
    if not _is_postgresql():
        if postgresql_only:
            return
        op.create_index(
            name, table, list(columns), unique=unique, sqlite_where=predicate, if_not_exists=True
        )
        return
    with op.get_context().autocommit_block():
        if _invalid(name):
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        op.create_index(
            name,
            table,
            list(columns),
            unique=unique,
            postgresql_where=predicate,
            postgresql_concurrently=True,
            postgresql_using=postgresql_using,
            postgresql_ops=postgresql_ops or {},
            if_not_exists=True,
        )


def drop_index(name: str, table: str, *, postgresql_only: bool = False) -> None:
    """DROP INDEX (CONCURRENTLY on PostgreSQL) IF EXISTS."""
    if not _is_postgresql():
        if postgresql_only:
            return
        op.drop_index(name, table_name=table, if_exists=True)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
