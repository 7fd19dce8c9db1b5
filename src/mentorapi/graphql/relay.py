"""Relay connections for every list: `edges { cursor node }` and `pageInfo`.

`after` takes the same opaque cursor as REST's `cursor`, and an edge's cursor is the one REST
would give as `next_cursor` had the page ended on that row (`encode_cursor` of the sort key),
so a client can switch faces mid-list.
"""

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, cast

import strawberry

from mentorapi.graphql.lookahead import selects
from mentorapi.kit.errors import InvalidInput
from mentorapi.kit.pagination import (
    DEFAULT_LIMIT,
    MAX_CURSOR_LENGTH,
    MAX_LIMIT,
    PageRequest,
    encode_cursor,
)

T = TypeVar("T")
R = TypeVar("R")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @classmethod
    def build(
        cls,
        rows: Sequence[R],
        next_cursor: str | None,
        *,
        node: Callable[[R], T],
        sort: str,
        key: Callable[[R], list[Any]],
        info: Any,
    ) -> "Connection[T]":
        """`rows` as returned by a service list call; `key` gives a row's sort-key values;
        `info` the connection field's. Edges get their cursors only when the selection asks
        for them (graphql/lookahead.py): a page of 50 made 50 cursors (sort keys, JSON,
        base64) for a client that reads `pageInfo.endCursor`, if anything."""
        # Edges are plain data (graphql/execution.read_field): a dict each, not an object.
        if selects(info, "edges", "cursor"):
            cursors = [encode_cursor(sort, key(row)) for row in rows]
            edges = [{"cursor": c, "node": node(row)} for c, row in zip(cursors, rows, strict=True)]
            end = cursors[-1] if cursors else None
        else:
            edges = [{"cursor": NOT_SELECTED, "node": node(row)} for row in rows]
            end = encode_cursor(sort, key(rows[-1])) if rows else None
        return cls(
            edges=cast("list[Edge[T]]", edges),
            page_info=PageInfo(has_next_page=next_cursor is not None, end_cursor=end),
        )


class _NotSelected:
    """The cursor of an edge built for a selection without `cursor`: never read; if a
    selection were missed, reading it is an error (not a String), never a wrong cursor."""


NOT_SELECTED: Any = _NotSelected()


def page_args(first: int, after: str | None) -> PageRequest:
    """`first` (1-100) and `after`, checked as REST checks `limit` and `cursor`."""
    if not 1 <= first <= MAX_LIMIT:
        raise InvalidInput(f"first must be between 1 and {MAX_LIMIT}", loc=["first"])
    if after is not None and len(after) > MAX_CURSOR_LENGTH:
        raise InvalidInput("after is not a valid cursor", loc=["after"])
    # A cursor that is not one is reported at the `after` argument (kit/pagination.py).
    return PageRequest(limit=first, cursor=after or None, cursor_loc=("after",))


FIRST_DESCRIPTION = f"Page size, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT})."
AFTER_DESCRIPTION = "`pageInfo.endCursor` of the previous page (or a REST `next_cursor`)."
