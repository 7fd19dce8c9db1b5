"""Text a database cannot store: the one definition, checked wherever a client's strings come in.

PostgreSQL refuses NUL (U+0000) in `text` and `jsonb`, and cannot encode a lone UTF-16
surrogate (U+D800-U+DFFF: JSON lets `"\\ud800"` through, Python keeps it, UTF-8 cannot write
it). SQLite stores both. So that the two databases agree, and a client gets a 422 rather than
a 500, every string a client sends is checked here before anything reaches a query:
REST path, query and JSON body (`refuse_unstorable_text` below, a dependency of every router
in main.py; kit/lean.py), GraphQL arguments and variables (graphql/text.py), a member token's
claims (apps/tokens.py).
"""

import re
from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

# One pass of the regex engine; `isascii` first, since nearly every string is plain ASCII.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

ERROR_TYPE = "string_unstorable"
MESSAGE = "must not contain NUL (U+0000) or unpaired surrogates (U+D800-U+DFFF)"

Loc = tuple[str | int, ...]


def storable(value: str) -> bool:
    if value.isascii():
        return "\x00" not in value
    return _UNSTORABLE.search(value) is None


def unstorable_at(value: Any, loc: Loc = ()) -> Iterator[Loc]:
    """The location of every unstorable string in `value` (a str, or JSON-like lists and dicts;
    dict keys count too: they are stored as well), depth first, in order.

    A walk with a stack of its own, not a recursive one: JSON nested a few hundred levels
    deep parses near the top of the interpreter's stack, while this walk runs deep inside a
    request (FastAPI's dependencies, GraphQL's validation), where a recursive walk ran out of
    stack (a RecursionError: a 500, or GraphQL's error without a code). A location is made
    only for what is found."""
    if isinstance(value, str):
        if not storable(value):
            yield loc
        return
    keys: list[str | int] = []  # from `value` to the container pending[-1] walks
    pending = [_children(value)]
    while pending:
        step = next(pending[-1], None)
        if step is None:
            pending.pop()
            if keys:
                keys.pop()
            continue
        key, item = step
        if isinstance(item, str):
            if not storable(item):
                yield (*loc, *keys, key)
        elif isinstance(item, Mapping | list | tuple):
            keys.append(key)
            pending.append(_children(item))


def _children(value: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield key, key  # a key is checked as text of its own, ahead of its value
            yield key, item
    elif isinstance(value, list | tuple):
        yield from enumerate(value)


def issues(value: Any, loc: Loc = ()) -> list[dict[str, Any]]:
    """`{loc, msg, type}` for each unstorable string, as a 422 lists its errors."""
    return [
        {"loc": list(where), "msg": MESSAGE, "type": ERROR_TYPE}
        for where in unstorable_at(value, loc)
    ]


def check(value: str) -> str:
    """For pydantic's AfterValidator and plain callers: the value, or a ValueError."""
    if not storable(value):
        raise ValueError(MESSAGE)
    return value


async def refuse_unstorable_text(request: Request) -> None:
    """A dependency of every REST router (main.py): a 422 for an unstorable string anywhere in
    the path, the query or the JSON body, before authentication or any other query runs.

    Cheap for nearly every request: in a URL, NUL can only come as `%00` (a query) or a decoded
    NUL (a path), and no URL decodes to a lone surrogate (a server reads invalid UTF-8 as
    U+FFFD). A JSON body is walked unless it is plain ASCII without a `\\u` escape and without
    a zero byte: a raw control character is invalid JSON, but Python's JSON reader decodes
    UTF-8 with `surrogatepass` (raw surrogate bytes become one) and reads UTF-16 and UTF-32
    (zero bytes everywhere, escapes that are not `\\u` in bytes). The body walked is the one
    FastAPI has already parsed for the endpoint (Starlette keeps it on the request)."""
    found: list[dict[str, Any]] = []
    if url_may_hold_nul(request.scope):
        found += issues(dict(request.path_params), ("path",))
        found += issues(dict(_grouped(request.query_params.multi_items())), ("query",))
    if request.method in _WITH_BODY and body_may_hold_unstorable(await request.body()):
        try:
            body = await request.json()
        except ValueError:  # not JSON: the endpoint reads no JSON from it either
            body = None
        found += issues(body, ("body",))
    if found:
        raise RequestValidationError(found)


def url_may_hold_nul(scope: Mapping[str, Any]) -> bool:
    return "\x00" in scope["path"] or b"%00" in scope["query_string"]


_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def body_may_hold_unstorable(body: bytes) -> bool:
    return bool(body) and (not body.isascii() or b"\\u" in body or b"\x00" in body)


def _grouped(items: list[tuple[str, str]]) -> Iterator[tuple[str, str | list[str]]]:
    """Query parameters by name (a repeated one as its list), so a bad value's loc is its name,
    or its name and position, as FastAPI's own errors say."""
    names: dict[str, list[str]] = {}
    for name, value in items:
        names.setdefault(name, []).append(value)
    for name, values in names.items():
        yield name, values[0] if len(values) == 1 else values
