"""Map what resolvers raise to GraphQL errors with `extensions.code`, as REST maps to problems.

DomainError -> its code (NOT_FOUND, CONFLICT, BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN, ...);
pydantic ValidationError -> BAD_USER_INPUT with the same `errors` list REST gives in a 422;
a query the schema rejects (syntax, unknown field, a limit) -> GRAPHQL_VALIDATION_FAILED;
a dropped database connection -> SERVICE_UNAVAILABLE, and the result carries no data at all
(part of an answer, or of a change whose commit may not have happened, is worse than none);
a busy database (no pooled connection free in time, SQLite's lock: db/busy.py) -> the same
SERVICE_UNAVAILABLE with `retryAfter` and no data, with its own message: the client does what
it does for a dropped connection (waits `retryAfter` seconds and retries), and nothing was
written either way;
anything else -> INTERNAL with a fixed message: the exception is logged, never sent.
"""

import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import GraphQLError
from pydantic import ValidationError
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import SchemaExtension

from mentorapi.db.busy import is_busy
from mentorapi.db.dropped import RETRY_AFTER_SECONDS, is_dropped
from mentorapi.kit.errors import DomainError

log = logging.getLogger("mentorapi.graphql")

INTERNAL_MESSAGE = "an unexpected error occurred"
UNAVAILABLE = "SERVICE_UNAVAILABLE"
UNAVAILABLE_MESSAGE = "the connection to the database was lost; nothing was changed, retry"
BUSY_MESSAGE = "the database is busy; nothing was changed, retry"


def _camel(name: str | int) -> str | int:
    if isinstance(name, int):
        return name
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def validation_issues(exc: ValidationError, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    """pydantic's errors as `{loc, msg, type}`, with locations in GraphQL's camelCase names."""
    issues = []
    for error in exc.errors():
        msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        loc = [*prefix, *(_camel(p) for p in error.get("loc", ()))]
        issues.append({"loc": loc, "msg": msg, "type": error.get("type", "")})
    return issues


class InvalidScalar(ValueError):
    """A custom scalar's input (a literal or a variable) that does not parse."""


class InputInvalid(Exception):
    """A pydantic ValidationError for a named GraphQL argument (so `loc` starts with it)."""

    def __init__(self, exc: ValidationError, argument: str | None) -> None:
        super().__init__(str(exc))
        self.issues = validation_issues(exc, (argument,) if argument else ())


def is_expected(error: GraphQLError) -> bool:
    """True for errors a client caused (logged by nobody); False for bugs (logged)."""
    original = error.original_error
    return (
        original is None
        or isinstance(
            original,
            DomainError | ValidationError | InputInvalid | InvalidScalar | GraphQLError,
        )
        or is_dropped(original)  # the database's outage, not our bug (db/dropped.py)
        or is_busy(original)  # nor is its overload (db/busy.py)
    )


def _issues_detail(issues: list[dict[str, Any]]) -> str:
    first = issues[0] if issues else {"loc": [], "msg": "invalid input"}
    where = ".".join(str(p) for p in first["loc"])
    detail = f"{where}: {first['msg']}" if where else str(first["msg"])
    return detail + (f" (and {len(issues) - 1} more)" if len(issues) > 1 else "")


def _with(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,  # keeps the original out of any serialiser that looks for it
        extensions=extensions,
    )


# graphql-core reports a variable that fails its type (an Int that is a string, a missing
# required argument) as a plain GraphQLError during coercion; those are the client's input too,
# and so is a literal that fails its type (`first: "x"`, a built-in scalar's own message).
_INPUT_ERROR = re.compile(
    r"^(Variable '\$|Argument '|Field '.*' argument '"
    r"|(Int|Float|String|Boolean|ID) cannot represent|Expected value of type '"
    r"|Value cannot represent a )"
)


def to_graphql_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, DomainError):
        return _with(error, original.detail, {"code": original.code, **original.extra})
    if isinstance(original, InputInvalid):
        issues = original.issues
        return _with(error, _issues_detail(issues), {"code": "BAD_USER_INPUT", "errors": issues})
    if isinstance(original, InvalidScalar | StrawberryInputCoercionError) or isinstance(
        error, StrawberryInputCoercionError
    ):
        # A scalar's literal comes here with graphql-core's message, which names the type and
        # the value; a variable comes as "Variable '$x' has invalid value ...".
        return _with(error, error.message, {**(error.extensions or {}), "code": "BAD_USER_INPUT"})
    if isinstance(original, ValidationError):
        issues = validation_issues(original, ())
        return _with(error, _issues_detail(issues), {"code": "BAD_USER_INPUT", "errors": issues})
    if original is not None and is_dropped(original):
        extensions = {"code": UNAVAILABLE, "retryAfter": RETRY_AFTER_SECONDS}
        return _with(error, UNAVAILABLE_MESSAGE, extensions)
    if original is not None and is_busy(original):
        extensions = {"code": UNAVAILABLE, "retryAfter": RETRY_AFTER_SECONDS}
        return _with(error, BUSY_MESSAGE, extensions)
    if original is None or isinstance(original, GraphQLError):
        if error.extensions and "code" in error.extensions:
            return error
        bad_input = _INPUT_ERROR.match(error.message)
        code = "BAD_USER_INPUT" if bad_input else "GRAPHQL_VALIDATION_FAILED"
        return _with(error, error.message, {**(error.extensions or {}), "code": code})
    return _with(error, INTERNAL_MESSAGE, {"code": "INTERNAL"})


class ErrorCodes(SchemaExtension):
    """Rewrites every error of the result last, after the unit of work has committed or not."""

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = _mapped(errors)
            if _unavailable(result.errors):
                result.data = None

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # Subscriptions (and operations over WebSocket) send each result through here, not
        # through on_operation's end: give their errors the same codes. Mapping is idempotent.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = _mapped(errors)
            if _unavailable(result.errors):
                result.data = None
        yield


def _mapped(errors: list[GraphQLError]) -> list[GraphQLError]:
    mapped = [to_graphql_error(e) for e in errors]
    if not _unavailable(mapped):
        return mapped
    # Sibling fields that failed for the same lost connection say nothing more: one error.
    return [e for e in mapped if (e.extensions or {}).get("code") == UNAVAILABLE][:1]


def _unavailable(errors: list[GraphQLError]) -> bool:
    return any((e.extensions or {}).get("code") == UNAVAILABLE for e in errors)
