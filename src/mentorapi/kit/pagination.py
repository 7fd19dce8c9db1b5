"""Cursor pagination: `limit` (1-100) and an opaque `cursor`; `{"data": [...], "next_cursor"}`.

A cursor is the sort key and id of the last row of the page, so pages stay stable while rows are
added (keyset pagination, no OFFSET scans).
"""

import base64
import json
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from mentorapi.kit.errors import InvalidInput

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, 1-100.")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
]


# async, though it awaits nothing: FastAPI runs a plain `def` dependency in a worker thread.
async def page_request(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)


def encode_cursor(sort: str, values: list[Any]) -> str:
    raw = json.dumps([sort, *values], separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, arity: int) -> list[Any]:
    """The key values of a cursor made for this sort order; a 422 for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not valid", loc=["query", "cursor"]) from exc
    if not isinstance(decoded, list) or len(decoded) != arity + 1 or decoded[0] != sort:
        raise InvalidInput(
            "cursor does not belong to this list or sort order", loc=["query", "cursor"]
        )
    return decoded[1:]
