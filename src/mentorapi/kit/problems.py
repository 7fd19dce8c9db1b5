"""RFC 9457 problem+json for every error: domain errors, validation, unknown routes, the rest."""

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError, PendingRollbackError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mentorapi.db.dropped import DROPPED, RETRY_AFTER_SECONDS, DatabaseUnavailable, is_dropped
from mentorapi.kit.errors import DomainError

log = logging.getLogger("mentorapi")

PROBLEM_TYPE_BASE = "https://mentorapi.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[ValidationIssue] | None = None


def problem_response(
    status: int,
    title: str,
    detail: str,
    slug: str,
    extra: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    # Extension members never replace the standard ones (`status` is the HTTP status).
    body.update({k: v for k, v in (extra or {}).items() if k not in body})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _clean_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    cleaned = []
    for error in errors:
        msg = str(error.get("msg", "invalid"))
        # pydantic prefixes messages of custom validators; the prefix says nothing to a client.
        msg = msg.removeprefix("Value error, ")
        cleaned.append(
            {"loc": list(error.get("loc", ())), "msg": msg, "type": error.get("type", "")}
        )
    return cleaned


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem_response(exc.status, exc.title, exc.detail, exc.slug, exc.extra, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_errors(exc.errors())
    first = errors[0] if errors else {"loc": [], "msg": "invalid input"}
    where = ".".join(str(p) for p in first["loc"])
    detail = f"{where}: {first['msg']}" if where else str(first["msg"])
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problem_response(422, "Invalid input", detail, "invalid-input", {"errors": errors})


_HTTP_TITLES = {
    400: ("Bad request", "bad-request"),
    401: ("Unauthenticated", "unauthenticated"),
    404: ("Not found", "not-found"),
    405: ("Method not allowed", "method-not-allowed"),
    413: ("Request too large", "too-large"),
    415: ("Unsupported media type", "unsupported-media-type"),
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title, slug = _HTTP_TITLES.get(exc.status_code, ("Error", "error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}"
    return problem_response(exc.status_code, title, detail, slug, headers=exc.headers)


def _is_sqlite_busy(exc: Exception) -> bool:
    return isinstance(exc, DBAPIError) and "database is locked" in str(exc.orig)


def unavailable_response() -> JSONResponse:
    """The answer to a request whose database connection dropped (db/dropped.py)."""
    return problem_response(
        503,
        "Database unavailable",
        "the connection to the database was lost; nothing was changed, retry in a moment",
        "database-unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
    if is_dropped(exc):
        # A read is run once more by RetryDroppedReads, which this mark tells to.
        request.scope.setdefault("state", {})[DROPPED] = True
        return unavailable_response()
    if not isinstance(exc, OperationalError):
        raise exc  # as before: the last-resort handler answers 500 and logs it
    if not _is_sqlite_busy(exc):
        return await _unexpected(request, exc)
    # SQLite has one writer; under a burst a request can wait past busy_timeout. Tell the client
    # to retry rather than answer 500 (PostgreSQL has no such lock).
    return problem_response(
        503,
        "Database busy",
        "the embedded database is busy; retry in a moment",
        "database-busy",
        headers={"Retry-After": "1"},
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, "Internal error", "an unexpected error occurred", "internal")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # The database's errors: SQLite's busy lock, and a dropped connection however it shows
    # (SQLAlchemy's DBAPIError, asyncpg's own on the fast path, a socket's, a session's
    # "invalid transaction" after it); any other of these still goes on to a 500.
    for kind in (DBAPIError, DatabaseUnavailable, PendingRollbackError, ConnectionError):
        app.add_exception_handler(kind, _database_busy)
    app.add_exception_handler(Exception, _unexpected)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting the problem+json a route may return."""
    descriptions = {
        401: "Missing or invalid credentials",
        403: "Not allowed to this caller (a member token acting outside its own side)",
        404: "Unknown id, or an id of another app",
        409: "Conflict (duplicate, slot taken, illegal transition)",
        412: "Stale If-Match version",
        422: "Invalid input",
        429: "Too many requests",
    }
    return {
        s: {
            "model": Problem,
            "description": descriptions.get(s, "Error"),
            "content": {MEDIA_TYPE: {}},
        }
        for s in (401, 429, *statuses)
    }
