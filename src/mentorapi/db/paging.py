"""Keyset pagination for any query: order by a few columns (the id last), fetch limit+1 rows."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from mentorapi.kit.pagination import PageRequest, decode_cursor, encode_cursor

T = TypeVar("T")


@dataclass(frozen=True)
class SortKey:
    column: Any  # an InstrumentedAttribute or a SQL expression
    attr: str  # where to read the value back from a row
    descending: bool = False


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
    if page.cursor:
        query = query.where(_after(keys, decode_cursor(page.cursor, sort, len(keys))))
    order = [k.column.desc() if k.descending else k.column.asc() for k in keys]
    rows = list((await db_session.exec(query.order_by(*order).limit(page.limit + 1))).all())
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    last = rows[-1]
    return rows, encode_cursor(sort, [getattr(last, k.attr) for k in keys])
