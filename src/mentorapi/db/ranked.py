"""The first N rows per group in one query (for DataLoaders: "each mentor's next 5 sessions").

ROW_NUMBER() OVER (PARTITION BY ...) works the same on PostgreSQL and SQLite (3.25+), so a
nested list of fifty parents is still one statement.
"""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

M = TypeVar("M", bound=SQLModel)


async def first_per_group(
    db_session: AsyncSession,
    model: type[M],
    query: SelectOfScalar[M],
    *,
    group: str,
    order_by: Sequence[Any],
    limit: int,
) -> dict[str, list[M]]:
    """The first `limit` rows of `query` (a `select(model).where(...)`) per value of the column
    `group`, in `order_by` order; returns {group value: rows}."""
    group_column = getattr(model, group)
    rank = func.row_number().over(partition_by=group_column, order_by=list(order_by))
    ranked = query.add_columns(rank.label("rank_in_group")).subquery()
    row = aliased(model, ranked)
    outer = (
        select(row)
        .where(ranked.c.rank_in_group <= limit)
        .order_by(ranked.c[group], ranked.c.rank_in_group)
    )
    result: dict[str, list[M]] = defaultdict(list)
    for found in (await db_session.exec(outer)).all():
        result[getattr(found, group)].append(found)
    return result
