"""Lean routes: the hottest GETs, served without FastAPI's per-request machinery.

FastAPI spends about as much CPU on a request as a slots page costs to compute: the walk
through the nested routers, the dependency graph (solved anew for every request), a validation
pass per parameter and its response plumbing. A `LeanRoute` answers one documented GET with
the same service code, and leaves FastAPI the rest:

- It sits first in the application's routes and matches only its own path and method, and
  only when every parameter validates (with the very annotations the documented route
  declares). Anything else (a bad parameter, another method) falls through to the documented
  route, which answers with its usual 422 or 405: errors are never written twice.
- Its handler gets a real `Request` and the validated values and calls the same functions the
  documented endpoint calls (the unit of work, authentication, the service), so what a caller
  sees is the same bytes; tests/test_lean_routes.py holds both faces of each route to that.
- Exceptions propagate to the application's exception handlers (problem+json), as from any
  route, and the middlewares (CORS, metrics, rate-limit headers) see a route whose `path` is
  the documented template.

The OpenAPI document ignores it (it is not an `APIRoute`): the documented route describes it.
`MENTORAPI_LEAN_ROUTES=false` leaves every request to FastAPI.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, compile_path
from starlette.types import Receive, Scope, Send

from mentorapi.kit import text

# Where `matches` leaves the validated values for `handle` (a key of the request's scope).
VALUES = "mentorapi.lean.values"

Handler = Callable[[Request, dict[str, Any]], Awaitable[Response]]


@dataclass(frozen=True)
class Param:
    """One query parameter: its validator, its default (PydanticUndefined: required), and
    whether it may repeat (a list of every value, as FastAPI reads a `list[...]` parameter)."""

    adapter: TypeAdapter[Any]
    default: Any = PydanticUndefined
    many: bool = False


def param(annotation: Any, default: Any = PydanticUndefined, *, many: bool = False) -> Param:
    """A parameter validated as `annotation` (e.g. `Annotated[int, Query(ge=5)]`, the alias
    the documented endpoint uses too)."""
    return Param(TypeAdapter(annotation), default, many)


def _route_path(scope: Scope) -> str:
    """The path below the root path the server was given (`--root-path`), as Starlette's
    routes match it."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path


class LeanRoute(BaseRoute):
    def __init__(
        self,
        path: str,
        handler: Handler,
        *,
        path_params: Mapping[str, Param],
        query: Mapping[str, Param],
    ) -> None:
        self.path = path  # the template, as the metrics label requests
        self.handler = handler
        self.path_regex, self.path_format, _ = compile_path(path)
        self.path_params = dict(path_params)
        self.query = dict(query)
        if set(self.path_params) != set(self.path_regex.groupindex):
            raise ValueError(f"{path}: path parameters {sorted(self.path_regex.groupindex)}")

    def _values(self, scope: Scope, found: Mapping[str, str]) -> dict[str, Any] | None:
        """Every parameter validated, or None if any is missing or invalid."""
        values: dict[str, Any] = {}
        # NUL (a URL's only unstorable text, kit/text.py): the documented route answers its 422.
        if text.url_may_hold_nul(scope):
            return None
        query = QueryParams(scope["query_string"])
        try:
            for name, spec in self.path_params.items():
                values[name] = spec.adapter.validate_python(found[name])
            for name, spec in self.query.items():
                # A repeated scalar: the last one, as FastAPI reads it; none of a list: missing.
                raw: Any = (query.getlist(name) or None) if spec.many else query.get(name)
                if raw is None:
                    if spec.default is PydanticUndefined:
                        return None
                    values[name] = list(spec.default) if spec.many else spec.default
                else:
                    values[name] = spec.adapter.validate_python(raw)
        except ValidationError:
            return None
        return values

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "GET":
            return Match.NONE, {}
        found = self.path_regex.match(_route_path(scope))
        if found is None:
            return Match.NONE, {}
        values = self._values(scope, found.groupdict())
        if values is None:
            return Match.NONE, {}
        return Match.FULL, {"route": self, "path_params": found.groupdict(), VALUES: values}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive), scope[VALUES])
        await response(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        # Unnamed: `url_for` finds the documented route, further down the list.
        raise NoMatchFound(name, path_params)


def install(routes: list[BaseRoute], lean: list[LeanRoute]) -> None:
    """Put lean routes ahead of every other route (the router takes the first full match)."""
    routes[:0] = lean
