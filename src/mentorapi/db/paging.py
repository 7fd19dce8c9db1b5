"""Keyset pagination for any query: order by a few columns (the id last), fetch limit+1 rows."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Integer, Select, and_, bindparam, literal_column, or_
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from mentorapi.kit.pagination import (
    KeyType,
    PageRequest,
    decode_cursor,
    encode_cursor,
    text_key,
)

T = TypeVar("T")


@dataclass(frozen=True)
class SortKey:
    column: Any  # an InstrumentedAttribute or a SQL expression
    attr: str  # where to read the value back from a row
    descending: bool = False
    # What a cursor may hold for this key (checked before it becomes a parameter): required, so
    # that no list can forget to say.
    kind: KeyType = field(kw_only=True)


def cursor_values(page: PageRequest, sort: str, keys: Sequence[SortKey]) -> list[Any] | None:
    """The checked key values of the page's cursor (None without one); a 422 for a cursor of
    another list or sort, or holding anything its keys cannot (kit/pagination.py)."""
    if not page.cursor:
        return None
    return decode_cursor(page.cursor, sort, [key.kind for key in keys], page.cursor_loc)


def text_kind(column: Any) -> KeyType:
    """The key type of a text column: as many characters as it holds (a column without a
    length is taken as 512 long, which `text_key` refuses: a cursor could not carry it)."""
    return text_key(getattr(column.type, "length", None) or 512)


def _after(keys: Sequence[SortKey], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order `keys`: (a > x) OR (a = x AND b > y) ..."""
    clauses = []
    for i, key in enumerate(keys):
        prefix = [keys[j].column == values[j] for j in range(i)]
        step = key.column < values[i] if key.descending else key.column > values[i]
        clauses.append(and_(*prefix, step))
    return or_(*clauses)


async def paginate(
    db_session: AsyncSession,
    query: SelectOfScalar[T],
    *,
    sort: str,
    keys: Sequence[SortKey],
    page: PageRequest,
) -> tuple[list[T], str | None]:
    after = cursor_values(page, sort, keys)
    if after is not None:
        query = query.where(_after(keys, after))
    order = [k.column.desc() if k.descending else k.column.asc() for k in keys]
    rows = list((await db_session.exec(query.order_by(*order).limit(page.limit + 1))).all())
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    last = rows[-1]
    return rows, encode_cursor(sort, [getattr(last, k.attr) for k in keys])


# --- the same, for statements built once per shape and run with parameters --------------------
# Building a SQLAlchemy expression costs more than running it on an indexed page; a hot list
# builds its statement once per combination of filters (a "shape") and passes values as
# parameters. The cursor values are `after_0`, `after_1`, ...; the row limit is written into
# the SQL: PostgreSQL plans `LIMIT $n` for an unknown 10% of the rows, finds that generic plan
# dearer than a custom one and so plans the statement again on every execution (~0.3 ms of
# server CPU for the mentor list), where `LIMIT 21` lets it keep one plan per prepared statement.


def keyset_statement(
    query: Select[Any], keys: Sequence[SortKey], *, after: bool, limit: int
) -> Select[Any]:
    """`query` in `keys` order, `limit` rows of it (a page and one more: `fetch_limit`),
    after the cursor parameters when `after`."""
    if after:
        query = query.where(_after(keys, [bindparam(f"after_{i}") for i in range(len(keys))]))
    order = [k.column.desc() if k.descending else k.column.asc() for k in keys]
    return query.order_by(*order).limit(literal_column(str(int(limit)), Integer))


def keyset_params(page: PageRequest, sort: str, keys: Sequence[SortKey]) -> dict[str, Any]:
    """The parameters of a keyset_statement for this page (a 422 for a foreign or forged
    cursor)."""
    after = cursor_values(page, sort, keys) or []
    return {f"after_{i}": value for i, value in enumerate(after)}


def fetch_limit(page: PageRequest) -> int:
    """Rows to fetch for a page: one more than it holds tells whether there is a next one."""
    return page.limit + 1


def keyset_page(
    rows: Sequence[T], page: PageRequest, sort: str, keys: Sequence[SortKey]
) -> tuple[list[T], str | None]:
    """The page (limit + 1 rows were fetched) and the cursor after it, if there is more."""
    if len(rows) <= page.limit:
        return list(rows), None
    kept = list(rows[: page.limit])
    return kept, encode_cursor(sort, [getattr(kept[-1], k.attr) for k in keys])
