"""The suite-wide tenancy check: every SELECT, UPDATE and DELETE that reads or writes a tenant
table (any table with an `app_id` column, from the SQLModel metadata) must say which app it is
for. conftest.py installs it on every engine (a class-level `before_cursor_execute` listener)
and on the driver paths (db/fast.py `observers`); a statement that breaks the rule raises
`TenancyViolation` where it runs and is recorded, so the test fails even if the code that ran it
swallowed the error (a background worker).

What counts as scoped, for each reference to a tenant table in a SELECT, UPDATE or DELETE
(subqueries and CTEs are checked as statements of their own):
1. Directly: `t.app_id = <a bound parameter or a literal>` (possibly cast) as a conjunct of the
   WHERE clause, or of the ON clause of an inner join, or of the ON clause of the outer join
   that brings `t` in (an outer join's ON never limits the table on the other side). Only a
   top-level AND counts: a predicate under OR, NOT or a CASE limits nothing for sure, and
   `app_id IN (...)`, `app_id <> x` or `app_id = other_column` (not a tenant table) do not count.
2. Through another reference that is itself scoped (in this statement or, for a correlated
   subquery, an enclosing one), by an equality conjunct (same places as in 1) of their app ids:
   `t.app_id = u.app_id`. The apps table is such a `u` when `apps.id = <value>`:
   `t.app_id = apps.id` scopes t (apps itself is never reported). A join on a foreign key alone
   (`skills.id = mentor_skills.skill_id`) does not scope the other table, although the
   composite keys make it the same app: the statement would not use the other table's
   (app_id, id) key, and a distributed database (Citus, docs/scaling.md) runs a join of two
   tenant tables on one node only when it names the app on both sides.
3. The ORM's unit of work: an UPDATE or DELETE emitted by Session.flush whose WHERE holds the
   whole primary key as equalities. The ORM writes back a row it holds, which was either loaded
   by a SELECT this check passed or inserted with its app_id. (Every tenant table's primary key
   starts with app_id, so this matters only for api_keys, a global table that has one.)
4. A statement marked with `mentorapi.db.tenancy.across_tenants(statement, why)`, with `why`
   one of the named, reasoned exceptions in mentorapi.db.tenancy (webhook claim, purges, key
   lookups). A mark with an unknown name is itself a violation.
Unqualified columns are read as belonging to the statement's only tenant table (when it has
exactly one). INSERTs are not checked (a row inserted carries its app_id by construction);
neither are DDL or transaction control.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlalchemy import Table, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlglot import exp

from mentorapi.db import fast
from mentorapi.db.models import metadata
from mentorapi.db.tenancy import CROSS_TENANT, CrossTenant


class TenancyViolation(AssertionError):
    """A statement read or wrote a tenant table without saying which app it was for."""


def _tenant_tables() -> dict[str, Table]:
    return {t.name: t for t in metadata.sorted_tables if "app_id" in t.c}


TENANT_TABLES = _tenant_tables()
# The tenants themselves (what app_id references): not checked, but `apps.id = :x` scopes it,
# and through it `t.app_id = apps.id`.
_ROOT = TENANT_TABLES["mentors"].c.app_id.foreign_keys.copy().pop().column.table
_SCOPABLE = {**TENANT_TABLES, _ROOT.name: _ROOT}
# (table, column, referenced table, referenced column), in both directions of every foreign key
# from a tenant table to the apps.
_LINKS: frozenset[tuple[str, str, str, str]] = frozenset(
    link
    for table in TENANT_TABLES.values()
    for fk in table.foreign_keys
    if fk.column.table is _ROOT
    for link in (
        (table.name, fk.parent.name, fk.column.table.name, fk.column.name),
        (fk.column.table.name, fk.column.name, table.name, fk.parent.name),
    )
)
_PRIMARY_KEYS = {name: {c.name for c in t.primary_key.columns} for name, t in TENANT_TABLES.items()}

_STATEMENTS = (exp.Select, exp.Update, exp.Delete)
_VALUES = (exp.Placeholder, exp.Parameter, exp.Literal)


@dataclass
class _Frame:
    """One SELECT/UPDATE/DELETE: the tenant tables it brings in (alias -> table name) and the
    conjuncts that may scope each (None: any of them)."""

    sources: dict[str, str] = field(default_factory=dict)
    # (conjunct, the alias it may scope, or None for a WHERE or inner-join conjunct)
    conjuncts: list[tuple[exp.Expression, str | None]] = field(default_factory=list)
    scoped: set[str] = field(default_factory=set)
    kind: str = ""
    where: list[exp.Expression] = field(default_factory=list)


def _conjuncts(condition: exp.Expression | None) -> Iterator[exp.Expression]:
    if condition is None:
        return
    while isinstance(condition, exp.Paren):
        condition = condition.this
    if isinstance(condition, exp.And):
        yield from _conjuncts(condition.left)
        yield from _conjuncts(condition.right)
    else:
        yield condition


def _is_value(node: exp.Expression) -> bool:
    while isinstance(node, exp.Cast | exp.Paren):
        node = node.this
    return isinstance(node, _VALUES)


def _table_sources(node: exp.Expression | None) -> Iterator[exp.Table]:
    if isinstance(node, exp.Table) and node.name in _SCOPABLE:
        yield node


def _frame(statement: exp.Expression) -> _Frame:
    frame = _Frame(kind=type(statement).__name__.upper())
    tables: list[exp.Table] = []
    if isinstance(statement, exp.Select):
        from_ = statement.args.get("from_") or statement.args.get("from")
        tables.extend(_table_sources(from_.this if from_ is not None else None))
    else:
        tables.extend(_table_sources(statement.this))
        extra = statement.args.get("from_") or statement.args.get("from")
        if extra is not None:
            tables.extend(_table_sources(extra.this))
        for using in statement.args.get("using") or []:
            tables.extend(_table_sources(using))
    for table in tables:
        frame.sources[table.alias_or_name] = table.name
    for join in statement.args.get("joins") or []:
        joined = list(_table_sources(join.this))
        for table in joined:
            frame.sources[table.alias_or_name] = table.name
        outer = join.side in ("LEFT", "RIGHT", "FULL")
        # An outer join's ON limits only the table it brings in (none, for a subquery).
        target = joined[0].alias_or_name if outer and joined else None
        if outer and not joined:
            continue
        frame.conjuncts.extend((c, target) for c in _conjuncts(join.args.get("on")))
    where = statement.args.get("where")
    frame.where = list(_conjuncts(where.this if where is not None else None))
    frame.conjuncts.extend((c, None) for c in frame.where)
    return frame


def _column(node: exp.Expression, frames: list[_Frame]) -> tuple[_Frame, str, str] | None:
    """(frame, alias, column) of a column reference to a tenant table, innermost frame first."""
    if not isinstance(node, exp.Column):
        return None
    qualifier = node.table
    if not qualifier:
        innermost = frames[-1]
        if len(innermost.sources) == 1:
            (alias,) = innermost.sources
            return innermost, alias, node.name
        return None  # ambiguous, or not a tenant table's
    for frame in reversed(frames):
        if qualifier in frame.sources:
            return frame, qualifier, node.name
    return None


def _scope(frames: list[_Frame]) -> None:
    """Fill frames[-1].scoped (the enclosing frames are already done)."""
    frame = frames[-1]
    changed = True
    while changed:
        changed = False
        for conjunct, target in frame.conjuncts:
            if not isinstance(conjunct, exp.EQ):
                continue
            left, right = conjunct.this, conjunct.expression
            for a, b in ((left, right), (right, left)):
                here = _column(a, frames)
                if here is None or here[0] is not frame or here[1] in frame.scoped:
                    continue
                _, alias, column = here
                if target is not None and alias != target:
                    continue
                key = "id" if frame.sources[alias] == _ROOT.name else "app_id"
                if column == key and _is_value(b):
                    frame.scoped.add(alias)
                    changed = True
                    continue
                there = _column(b, frames)
                if there is None:
                    continue
                other_frame, other, other_column = there
                if other not in other_frame.scoped:
                    continue
                table, other_table = frame.sources[alias], other_frame.sources[other]
                same_app = column == other_column == "app_id"
                if same_app or (table, column, other_table, other_column) in _LINKS:
                    frame.scoped.add(alias)
                    changed = True


def _by_primary_key(frame: _Frame) -> bool:
    if len(frame.sources) != 1 or _ROOT.name in frame.sources.values():
        return False
    ((alias, table),) = frame.sources.items()
    keyed = set()
    for conjunct in frame.where:
        if isinstance(conjunct, exp.EQ):
            for a, b in (
                (conjunct.this, conjunct.expression),
                (conjunct.expression, conjunct.this),
            ):
                if isinstance(a, exp.Column) and a.table in ("", alias) and _is_value(b):
                    keyed.add(a.name)
    return _PRIMARY_KEYS[table] <= keyed


def _walk(node: exp.Expression, frames: list[_Frame], flushing: bool) -> Iterator[str]:
    if isinstance(node, _STATEMENTS):
        frame = _frame(node)
        frames = [*frames, frame]
        _scope(frames)
        unscoped = {a for a, t in frame.sources.items() if t in TENANT_TABLES} - frame.scoped
        unit_of_work = flushing and isinstance(node, exp.Update | exp.Delete)
        if unscoped and not (unit_of_work and _by_primary_key(frame)):
            for alias in sorted(unscoped):
                yield f"{frame.kind} of {frame.sources[alias]} (as {alias}) without app_id"
    for child in node.iter_expressions():
        yield from _walk(child, frames, flushing)


@functools.lru_cache(maxsize=4096)
def problems(sql: str, dialect: str, flushing: bool = False) -> tuple[str, ...]:
    """What is unscoped in a statement (cached: the suite runs the same few hundred texts)."""
    head = sql.lstrip()[:10].upper()
    if not head.startswith(("SELECT", "UPDATE", "DELETE", "WITH", "(")):
        return ()
    read = "postgres" if dialect == "postgresql" else "sqlite"
    found: list[str] = []
    for tree in sqlglot.parse(sql, read=read):
        if tree is not None:
            found.extend(_walk(tree, [], flushing))
    return tuple(dict.fromkeys(found))


# Every violation seen in the process (conftest fails the running test on any new one).
violations: list[str] = []


def check(sql: str, dialect: str, options: Mapping[str, Any], *, flushing: bool = False) -> None:
    marked = options.get(CROSS_TENANT)
    if marked is not None:
        if marked in CrossTenant.__members__.values():
            return
        found: Iterable[str] = [f"unknown cross-tenant reason {marked!r}"]
    else:
        found = problems(sql, dialect, flushing)
    if found:
        message = "; ".join(found) + f":\n{sql}"
        violations.append(message)
        raise TenancyViolation(message)


# The session that owns each connection, to tell the unit of work's writes from any other.
_owners: weakref.WeakKeyDictionary[Connection, weakref.ref[Session]] = weakref.WeakKeyDictionary()


def _remember_owner(session: Session, _transaction: SessionTransaction, conn: Connection) -> None:
    _owners[conn] = weakref.ref(session)


def _before_cursor_execute(
    conn: Connection, _cursor: Any, sql: str, _params: Any, context: Any, _many: bool
) -> None:
    owner = _owners.get(conn)
    session = owner() if owner is not None else None
    options = context.execution_options if context is not None else {}
    flushing = session is not None and session._flushing
    check(sql, conn.dialect.name, options, flushing=flushing)


def _fast(sql: str, dialect: str, options: Mapping[str, Any]) -> None:
    check(sql, dialect, options)


def install() -> None:
    """On every engine (present and future) and on the driver paths (db/fast.py)."""
    if not event.contains(Engine, "before_cursor_execute", _before_cursor_execute):
        event.listen(Engine, "before_cursor_execute", _before_cursor_execute)
        event.listen(Session, "after_begin", _remember_owner)
        fast.observers.append(_fast)
