"""RFC 9457 problem+json for every error: domain errors, validation, unknown routes, the rest."""

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.exc import DBAPIError, OperationalError, PendingRollbackError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mentorapi.db.busy import PoolTimeout, WritersBusy, is_busy
from mentorapi.db.dropped import DROPPED, RETRY_AFTER_SECONDS, DatabaseUnavailable, is_dropped
from mentorapi.kit.errors import DomainError
from mentorapi.kit.ids import MatchRunIdOut

log = logging.getLogger("mentorapi")

PROBLEM_TYPE_BASE = "https://mentorapi.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(
        description="Where: `body`, `query`, `path` or `header`, then names."
    )
    msg: str
    type: str = Field(description="The kind of error (`missing`, `value_error`, ...).")


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str) -> Any:
    """An optional extension member: present, or absent (never null, no default)."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


# The models below document the bodies `problem_response` writes (kit/openapi.py puts them in
# the OpenAPI document); the handlers write plain dicts. An extension member a problem may
# carry is optional and never null: it is there, or it is absent.
class Problem(BaseModel):
    """An RFC 9457 problem: every error the REST API answers, as application/problem+json."""

    type: str = Field(
        description="A URI naming the kind of problem; stable, safe to branch on.",
        examples=[PROBLEM_TYPE_BASE + "not-found"],
    )
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.", ge=400, le=599)
    detail: str = Field(description="What went wrong with this request, for a human.")


class ValidationProblem(Problem):
    """422: what was invalid, one entry per error."""

    errors: list[ValidationIssue]


class StaleVersionProblem(Problem):
    """412: the `If-Match` version is not the object's current one."""

    current_version: int = Field(description="The object's version now: read it again.")


class SeriesConflict(BaseModel):
    index: int = Field(description="The occurrence (0 is the first).")
    starts_at: datetime
    reason: str


class ConflictProblem(Problem):
    """409: the request conflicts with the current state. Which members are present depends on
    the conflict; a client may branch on `type` and read them."""

    session_status: str | SkipJsonSchema[None] = absent(
        "An illegal move: the session's status now."
    )
    starts_at: datetime | SkipJsonSchema[None] = absent("A slot not free: the start asked for.")
    reason: str | SkipJsonSchema[None] = absent(
        "A slot not free: why (overlap, capacity, notice, ...)."
    )
    conflicts: list[SeriesConflict] | SkipJsonSchema[None] = absent(
        "A series: every occurrence that is not free."
    )
    external_id: str | SkipJsonSchema[None] = absent(
        "A duplicate member: the `external_id` already taken."
    )
    slug: str | SkipJsonSchema[None] = absent("A duplicate skill: the `slug` already taken.")
    active_sessions: int | SkipJsonSchema[None] = absent(
        "A member with requested or booked sessions cannot go."
    )
    sessions: int | SkipJsonSchema[None] = absent("A skill that sessions are about cannot go.")
    mentors: int | SkipJsonSchema[None] = absent("A skill in use: mentors offering it.")
    mentees: int | SkipJsonSchema[None] = absent("A skill in use: mentees seeking it.")
    goals: int | SkipJsonSchema[None] = absent("A skill in use: goals about it.")
    editable_until: datetime | SkipJsonSchema[None] = absent(
        "Feedback past its editing window: when the window closed."
    )
    group_session_status: str | SkipJsonSchema[None] = absent(
        "An illegal move of a group session (or of a seat in it): its status now."
    )
    seat_status: str | SkipJsonSchema[None] = absent("An illegal move of a seat: its status now.")
    seats: int | SkipJsonSchema[None] = absent("A full group session: the seats it offers.")
    seats_taken: int | SkipJsonSchema[None] = absent("A full group session: the seats taken.")
    attendees_elsewhere: int | SkipJsonSchema[None] = absent(
        "A group session not moved: how many attendees are in another session then."
    )
    group_sessions: int | SkipJsonSchema[None] = absent(
        "A mentor with scheduled group sessions, or a skill group sessions are about, cannot go."
    )
    taken_seats: int | SkipJsonSchema[None] = absent(
        "A mentee with seats in group sessions still to come cannot go."
    )
    run_status: str | SkipJsonSchema[None] = absent(
        "A match run not yet succeeded (or failed) cannot be published: its status now."
    )
    published_run_id: MatchRunIdOut | SkipJsonSchema[None] = absent(
        "A cohort is published once: the run it was published from."
    )


# The body of each error status (the schema in the OpenAPI document).
PROBLEM_MODELS: dict[int, type[Problem]] = {
    409: ConflictProblem,
    412: StaleVersionProblem,
    422: ValidationProblem,
}


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


def unavailable_response() -> JSONResponse:
    """The answer to a request whose database connection dropped (db/dropped.py)."""
    return problem_response(
        503,
        "Database unavailable",
        "the connection to the database was lost; nothing was changed, retry in a moment",
        "database-unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def busy_response() -> JSONResponse:
    """The answer to a request that waited too long for the database (db/busy.py): every
    pooled connection in use past MENTORAPI_DB_POOL_TIMEOUT_SECONDS, or SQLite's write lock
    past its busy_timeout. Nothing was written; not retried here (the wait would double)."""
    return problem_response(
        503,
        "Database busy",
        "the database is busy; nothing was changed, retry in a moment",
        "database-busy",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
    if is_dropped(exc):
        # A read is run once more by RetryDroppedReads, which this mark tells to.
        request.scope.setdefault("state", {})[DROPPED] = True
        return unavailable_response()
    if is_busy(exc):
        return busy_response()
    if not isinstance(exc, OperationalError):
        raise exc  # as before: the last-resort handler answers 500 and logs it
    return await _unexpected(request, exc)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, "Internal error", "an unexpected error occurred", "internal")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # The database's errors: busy (SQLite's lock, or no pooled connection free in time: the
    # pool's TimeoutError is not a DBAPIError), and a dropped connection however it shows
    # (SQLAlchemy's DBAPIError, asyncpg's own on the fast path, a socket's, a session's
    # "invalid transaction" after it), no write turn in time (db/writers.py); any other of
    # these still goes on to a 500.
    kinds = (
        DBAPIError,
        PoolTimeout,
        WritersBusy,
        DatabaseUnavailable,
        PendingRollbackError,
        ConnectionError,
    )
    for kind in kinds:
        app.add_exception_handler(kind, _database_busy)
    app.add_exception_handler(Exception, _unexpected)


# What each status means when a route declares it without saying more.
DESCRIPTIONS = {
    400: "The body could not be read (not UTF-8, not parseable)",
    401: "Missing or invalid credentials",
    403: "Not allowed to this caller",
    404: "Unknown id, or an id of another app",
    409: "Conflict (duplicate, slot taken, illegal transition)",
    410: "Gone: pruned by retention (older than the retention window)",
    412: "Stale If-Match version",
    413: "Request body over the size limit",
    422: "Invalid input",
    429: "Too many requests: wait `Retry-After` seconds",
    503: "The database is unavailable or busy: retry after `Retry-After` seconds",
}


def problem_schema_ref(status: int) -> dict[str, str]:
    return {"$ref": "#/components/schemas/" + PROBLEM_MODELS.get(status, Problem).__name__}


def problem_doc(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI response for an error status: problem+json with its schema."""
    return {
        "description": description or DESCRIPTIONS.get(status, "Error"),
        "content": {MEDIA_TYPE: {"schema": problem_schema_ref(status)}},
    }


def problems(*statuses: int, etag: int | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problems a route's own rules may return (403, 404,
    409, ...). What every route may answer (401, 413, 429, 503, 422 for its parameters, 412
    for If-Match, ...) kit/openapi.py adds from the route's dependencies. `etag`: the success
    status whose response carries the object's `ETag` (kit/versioning.set_etag)."""
    responses: dict[int | str, dict[str, Any]] = {s: problem_doc(s) for s in statuses}
    if etag is not None:
        responses[etag] = {"headers": {"ETag": {"$ref": "#/components/headers/ETag"}}}
    return responses
