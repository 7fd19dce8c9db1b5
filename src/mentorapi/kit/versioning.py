"""Optimistic concurrency: objects carry a `version`; `If-Match: "<version>"` guards a change."""

import re
from typing import Annotated

from fastapi import Header, Response
from pydantic import StringConstraints

from mentorapi.kit.errors import InvalidInput, PreconditionFailed
from mentorapi.kit.fields import shown

IF_MATCH_MAX_LENGTH = 64
# A version as an ETag writes it (`"3"`), weak or bare (`W/"3"`, `3`), or `*`: what
# parse_if_match takes, and what the document states. ASCII digits only: `isdigit` is also true
# of "²" and "¹" (latin-1, as headers are read), which `int` refuses, a 500.
IF_MATCH_PATTERN = r'^(\*|(W/)?"*[0-9]+"*)$'
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
# The pattern is shown, and checked below with its own message.
IfMatch = Annotated[
    str, StringConstraints(max_length=IF_MATCH_MAX_LENGTH), shown(pattern=IF_MATCH_PATTERN)
]


# async, though it awaits nothing: FastAPI runs a plain `def` dependency in a worker thread, a
# thread hop per request for a few string operations.
async def parse_if_match(
    if_match: Annotated[
        IfMatch | None,
        Header(
            alias="If-Match",
            description='The `version` you last read, e.g. `"3"`; a stale one is a 412.',
        ),
    ] = None,
) -> int | None:
    if if_match is None:
        return None
    value = if_match.strip()
    if not _IF_MATCH.match(value):
        raise InvalidInput('If-Match must be a version such as "3"', loc=["header", "If-Match"])
    if value == "*":
        return None
    return int(value.removeprefix("W/").strip('"'))


def check_version(current: int, expected: int | None, what: str) -> None:
    if expected is not None and expected != current:
        raise PreconditionFailed(
            f"{what} is at version {current}, not {expected}: read it again and retry",
            extra={"current_version": current},
        )


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'
