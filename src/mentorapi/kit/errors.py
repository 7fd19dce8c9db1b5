"""Domain errors: raised by services; mapped once to problem+json (REST) or to GraphQL codes."""

from typing import Any


class DomainError(Exception):
    status: int = 400
    code: str = "BAD_REQUEST"  # GraphQL extensions.code
    title: str = "Bad request"
    slug: str = "bad-request"  # the problem `type` is /problems/<slug>

    def __init__(
        self,
        detail: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers


class NotFound(DomainError):
    status, code, title, slug = 404, "NOT_FOUND", "Not found", "not-found"


class Conflict(DomainError):
    status, code, title, slug = 409, "CONFLICT", "Conflict", "conflict"


class Gone(DomainError):
    """What was asked for existed and was removed for good (pruned by retention)."""

    status, code, title, slug = 410, "GONE", "Gone", "gone"


class PreconditionFailed(DomainError):
    status, code, title, slug = 412, "PRECONDITION_FAILED", "Precondition failed", "stale-version"


class InvalidInput(DomainError):
    """A 422 raised by a service rule (a rule pydantic cannot see: an unknown skill slug, …)."""

    status, code, title, slug = 422, "BAD_USER_INPUT", "Invalid input", "invalid-input"

    def __init__(self, detail: str, *, loc: list[str | int] | None = None) -> None:
        errors = [{"loc": loc or [], "msg": detail, "type": "value_error"}]
        super().__init__(detail, extra={"errors": errors})


class Unauthenticated(DomainError):
    status, code, title, slug = 401, "UNAUTHENTICATED", "Unauthenticated", "unauthenticated"


class Forbidden(DomainError):
    status, code, title, slug = 403, "FORBIDDEN", "Forbidden", "forbidden"


class TooManyRequests(DomainError):
    status, code, title, slug = 429, "RATE_LIMITED", "Too many requests", "rate-limited"
