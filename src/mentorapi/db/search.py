"""Case-insensitive substring search over a few text columns, the same on both databases."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, bindparam, exists, func, literal, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def text_match(columns: Sequence[Any], q: str) -> ColumnElement[bool]:
    """Any column contains `q` (ILIKE on PostgreSQL; LIKE, ASCII case-insensitive, on SQLite)."""
    pattern = f"%{_escape_like(q.strip())}%"
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))


def json_array_contains(column: Any, value: str | int, dialect: str) -> ColumnElement[bool]:
    """A JSON array column holds `value`: JSONB containment (`@>`, GIN-indexable) on
    PostgreSQL, `json_each` on SQLite."""
    if dialect == "postgresql":
        return type_coerce(column, JSONB).contains([value])
    each = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == value))


# --- parameterised forms, for statements built once and run with parameters (db/paging.py) ---


def like_pattern(q: str) -> str:
    """The value for a `text_match_param` parameter."""
    return f"%{_escape_like(q.strip())}%"


def text_match_param(columns: Sequence[Any], name: str) -> ColumnElement[bool]:
    """text_match with the pattern in parameter `name` (its value from like_pattern)."""
    return or_(*(column.ilike(bindparam(name), escape="\\") for column in columns))


def json_array_contains_param(column: Any, name: str, dialect: str) -> ColumnElement[bool]:
    """json_array_contains with the value in parameter `name` (its value from json_array_value)."""
    if dialect == "postgresql":
        return type_coerce(column, JSONB).contains(bindparam(name, type_=JSONB))
    each = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == bindparam(name)))


def json_array_value(value: str | int, dialect: str) -> object:
    # JSONB containment compares with an array; SQLite's json_each yields the elements.
    return [value] if dialect == "postgresql" else value
