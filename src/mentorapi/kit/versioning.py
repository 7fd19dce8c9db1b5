"""Optimistic concurrency: objects carry a `version`; `If-Match: "<version>"` guards a change."""

from typing import Annotated

from fastapi import Header, Response

from mentorapi.kit.errors import InvalidInput, PreconditionFailed


# async, though it awaits nothing: FastAPI runs a plain `def` dependency in a worker thread, a
# thread hop per request for a few string operations.
async def parse_if_match(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            max_length=64,
            description='The `version` you last read, e.g. `"3"`; a stale one is a 412.',
        ),
    ] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    # ASCII digits only: `isdigit` is also true of "²" and "¹" (latin-1, as headers are
    # read), which `int` refuses, a 500.
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidInput('If-Match must be a version such as "3"', loc=["header", "If-Match"])
    return int(raw)


def check_version(current: int, expected: int | None, what: str) -> None:
    if expected is not None and expected != current:
        raise PreconditionFailed(
            f"{what} is at version {current}, not {expected}: read it again and retry",
            extra={"current_version": current},
        )


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'
