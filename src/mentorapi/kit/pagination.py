"""Cursor pagination: `limit` (1-100) and an opaque `cursor`; `{"data": [...], "next_cursor"}`.

A cursor is the sort key and id of the last row of the page, so pages stay stable while rows are
added (keyset pagination, no OFFSET scans).

A cursor is opaque to clients but not sealed: anyone can write base64url of a JSON array. What a
decoded cursor holds becomes query parameters, so every value is checked against the kind its
sort key declares (`KeyType`) before any query is built: a list, a 25-digit integer, NaN, a
lone surrogate, a NUL or an id of another kind is a 422 here, rather than a driver error (a 500)
later. Every list of both faces decodes through `decode_cursor`: the rule is written once.
"""

import base64
import binascii
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import Field

from mentorapi.kit.bodies import ResponseBody
from mentorapi.kit.errors import InvalidInput
from mentorapi.kit.ids import MAX_ID_LENGTH, id_kind

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(ResponseBody, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )


# Where a request's cursor came from, for the 422's `errors[].loc` (GraphQL: the `after` argument).
REST_CURSOR_LOC: tuple[str, ...] = ("query", "cursor")


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    cursor_loc: tuple[str, ...] = REST_CURSOR_LOC


# The longest cursor taken (REST's `cursor`, GraphQL's `after`): room for the widest one the
# server writes, a text sort key at its longest (`text_key` holds every key to it). At 512 a
# mentor list sorted by a name of 200 Chinese characters wrote a `next_cursor` of 1,652 that
# the next request refused.
MAX_CURSOR_LENGTH = 2048

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, 1-100.")]
Cursor = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page."),
]


# async, though it awaits nothing: FastAPI runs a plain `def` dependency in a worker thread.
async def page_request(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)


# The integer range of the sort columns (INTEGER is 32 bits on PostgreSQL: a wider value is a
# driver error, not an empty page), and the integers a float key takes exactly.
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_EXACT_FLOAT = 2**53


@dataclass(frozen=True, slots=True)
class KeyType:
    """What a cursor may carry for one sort key: an `id` of one kind (`prefix`), a `text` of at
    most `max_length` characters, an `int` (32-bit) or a finite `float`. Nothing is nullable:
    no sort column is."""

    kind: Literal["id", "text", "int", "float"]
    prefix: str = ""
    max_length: int = 0

    def check(self, value: Any) -> Any:
        """The value as the query takes it; ValueError for anything this key cannot hold."""
        if self.kind == "id":
            if isinstance(value, str) and id_kind(value) == self.prefix:
                return value
            raise ValueError(f"expected a {self.prefix}_ id")
        if self.kind == "text":
            if (
                isinstance(value, str)
                and len(value) <= self.max_length
                and "\x00" not in value  # PostgreSQL text cannot hold one
                and _encodable(value)
            ):
                return value
            raise ValueError(f"expected text of at most {self.max_length} characters")
        # bool is an int to Python, never to a sort key
        if self.kind == "int":
            if type(value) is int and _INT_MIN <= value <= _INT_MAX:
                return value
            raise ValueError("expected a 32-bit integer")
        if (type(value) is int and abs(value) <= _EXACT_FLOAT) or (
            type(value) is float and math.isfinite(value)
        ):
            return float(value)
        raise ValueError("expected a finite number")


def _encodable(value: str) -> bool:
    """False for a lone surrogate (JSON's "\\ud800"), which no driver can send."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def id_key(prefix: str) -> KeyType:
    return KeyType("id", prefix=prefix)


def text_key(max_length: int) -> KeyType:
    """A text sort key of at most `max_length` characters, whose cursor (with the id after it)
    must fit MAX_CURSOR_LENGTH even at its widest: every character a control character, which
    JSON writes as `\u0001` (6 bytes)."""
    widest = encode_cursor("-" * 16, ["\x01" * max_length, "x" * MAX_ID_LENGTH])
    if len(widest) > MAX_CURSOR_LENGTH:
        raise ValueError(f"a text key of {max_length} characters outgrows a cursor")
    return KeyType("text", max_length=max_length)


INT_KEY = KeyType("int")
FLOAT_KEY = KeyType("float")


def encode_cursor(sort: str, values: list[Any]) -> str:
    # UTF-8 rather than `\u` escapes: a name in Chinese takes 3 bytes a character, not 6.
    raw = json.dumps(
        [sort, *values], separators=(",", ":"), default=str, ensure_ascii=False
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str,
    sort: str,
    kinds: Sequence[KeyType],
    loc: Sequence[str] = REST_CURSOR_LOC,
) -> list[Any]:
    """The key values of a cursor made for this sort order, each checked against its key's
    kind; a 422 (at `loc`) for anything else."""
    where: list[str | int] = list(loc)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    # binascii.Error and JSONDecodeError are ValueErrors; RecursionError: "[[[[...".
    except (ValueError, UnicodeError, binascii.Error, RecursionError) as exc:
        raise InvalidInput("cursor is not valid", loc=where) from exc
    if (
        not isinstance(decoded, list)
        or len(decoded) != len(kinds) + 1
        or not isinstance(decoded[0], str)
        or decoded[0] != sort
    ):
        raise InvalidInput("cursor does not belong to this list or sort order", loc=where)
    try:
        return [kind.check(value) for kind, value in zip(kinds, decoded[1:], strict=True)]
    except ValueError as exc:
        raise InvalidInput(f"cursor is not valid: {exc}", loc=where) from exc
