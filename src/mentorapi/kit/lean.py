"""Lean routes: the hottest GETs (and two POSTs), served without FastAPI's per-request machinery.

FastAPI spends about as much CPU on a request as a slots page costs to compute: the walk
through the nested routers, the dependency graph (solved anew for every request), a validation
pass per parameter and its response plumbing. A `LeanRoute` answers one documented GET with
the same service code, and leaves FastAPI the rest:

- It sits first in the application's routes and matches only its own path and method, and
  only when every parameter validates. Its parameters are read off the documented endpoint
  itself (its signature and dependencies, as FastAPI reads them: `documented_params`), so a
  filter added there is validated here too and cannot be skipped silently. Anything else (a bad
  parameter, another method) falls through to the documented route, which answers with its
  usual 422 or 405: errors are never written twice.
- Its handler gets a real `Request` and the validated values and calls the same functions the
  documented endpoint calls (the unit of work, authentication, the service), so what a caller
  sees is the same bytes; tests/test_lean_routes.py holds both faces of each route to that.
- Exceptions propagate to the application's exception handlers (problem+json), as from any
  route, and the middlewares (CORS, metrics, rate-limit headers) see a route whose `path` is
  the documented template.

The OpenAPI document ignores it (it is not an `APIRoute`): the documented route describes it.
`MENTORAPI_LEAN_ROUTES=false` leaves every request to FastAPI.

A `LeanBodyRoute` does the same for a POST whose only parameter is a JSON body (the
recommendations' ask, a booking): it matches its path and method when the request says its
body is JSON as FastAPI tells (`application/json` or `application/*+json`, any case, any
parameters), reads the body, and parses and validates it as FastAPI does (`json.loads`, then the
documented endpoint's body model in Python mode). A body that does not parse or validate, or
that holds text no database stores (kit/text.py), is handed back, as it came, to the router
with this route declined, so the documented route answers (its 422, or whatever comes first
there: a bad credential's 401). With an `Idempotency-Key` the middleware has read the body
already and hands it on (kit/idempotency.replay_body).
"""

import email.message
import functools
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import params
from fastapi._compat import ModelField, field_annotation_is_sequence
from fastapi.dependencies.utils import get_dependant, get_flat_params
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, compile_path
from starlette.types import Receive, Scope, Send

from mentorapi.kit import text
from mentorapi.kit.idempotency import replay_body

# Where `matches` leaves the validated values for `handle` (a key of the request's scope).
VALUES = "mentorapi.lean.values"

Handler = Callable[[Request, dict[str, Any]], Awaitable[Response]]
BodyHandler = Callable[[Request, Any], Awaitable[Response]]
# Set on a request's scope when a lean body route hands it back to the router.
DECLINED = "mentorapi.lean.declined"


@dataclass(frozen=True)
class Param:
    """One query parameter: its validator, its default (PydanticUndefined: required), and
    whether it may repeat (a list of every value, as FastAPI reads a `list[...]` parameter)."""

    adapter: TypeAdapter[Any]
    default: Any = PydanticUndefined
    many: bool = False


def _param(field: ModelField) -> Param:
    info = field.field_info
    # The annotation with the constraints FastAPI validates it with (Query(ge=...), ...).
    annotation: Any = info.annotation
    for constraint in info.metadata:
        annotation = Annotated[annotation, constraint]
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    required = info.is_required()
    default = PydanticUndefined if required else info.get_default(call_default_factory=True)
    return Param(adapter, default, field_annotation_is_sequence(info.annotation))


def documented_params(
    path: str, endpoint: Callable[..., Any]
) -> tuple[dict[str, Param], dict[str, Param]]:
    """The path and query parameters of a documented endpoint, its dependencies' included,
    each validated with the annotation and constraints FastAPI validates it with."""
    path_params: dict[str, Param] = {}
    query: dict[str, Param] = {}
    for field in get_flat_params(get_dependant(path=path, call=endpoint)):
        if isinstance(field.field_info, params.Path):
            path_params[field.alias] = _param(field)
        elif isinstance(field.field_info, params.Query):
            query[field.alias] = _param(field)
        else:  # a header or a cookie: the lean route would not see it
            raise ValueError(f"{path}: a lean route reads no {type(field.field_info).__name__}")
    return path_params, query


def route_path(scope: Scope) -> str:
    """The path below the root path the server was given (`--root-path`), as Starlette's
    routes match it."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path


class LeanRoute(BaseRoute):
    def __init__(self, path: str, handler: Handler, *, documented: Callable[..., Any]) -> None:
        """`handler` answers GET `path` for the documented endpoint `documented`, whose
        parameters it takes."""
        self.path = path  # the template, as the metrics label requests
        self.handler = handler
        self.path_regex, self.path_format, _ = compile_path(path)
        self.path_params, self.query = documented_params(path, documented)
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
        found = self.path_regex.match(route_path(scope))
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


# Bounded: the values are the callers', and a client sends the same one every time.
@functools.lru_cache(maxsize=64)
def is_json_type(value: bytes) -> bool:
    """Whether FastAPI parses a body sent with this Content-Type as JSON: its media type is
    application/json or application/*+json, in any case, with any parameters (charset). The
    test FastAPI makes (fastapi/routing.py, `get_request_handler`), through the same parser,
    so that a type it would not read as JSON never takes the lean route."""
    if value == b"application/json":  # nearly every request: no parse
        return True
    message = email.message.Message()
    message["content-type"] = value.decode("latin-1")  # as Starlette decodes headers
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


class LeanBodyRoute(BaseRoute):
    def __init__(
        self,
        path: str,
        handler: BodyHandler,
        *,
        documented: Callable[..., Any],
        body: type[BaseModel],
    ) -> None:
        """`handler(request, body)` answers POST `path` (no path or query parameters) for the
        documented endpoint `documented`, whose one body parameter must be a `body`."""
        self.path = path
        self.handler = handler
        self.body = body
        self.path_regex, self.path_format, _ = compile_path(path)
        path_params, query = documented_params(path, documented)
        if path_params or query or self.path_regex.groupindex:
            raise ValueError(f"{path}: a lean body route reads its body only")
        bodies = get_dependant(path=path, call=documented).body_params
        if [field.field_info.annotation for field in bodies] != [body]:
            raise ValueError(f"{path}: the documented endpoint's body is not {body.__name__}")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get(DECLINED):
            return Match.NONE, {}
        if text.url_may_hold_nul(scope):  # the documented route answers its 422
            return Match.NONE, {}
        if self.path_regex.match(route_path(scope)) is None:
            return Match.NONE, {}
        types = [value for name, value in scope["headers"] if name == b"content-type"]
        if len(types) != 1 or not is_json_type(types[0]):  # FastAPI reads it its own way
            return Match.NONE, {}
        return Match.FULL, {"route": self, "path_params": {}}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        raw = await request.body()
        try:
            # What FastAPI does with a JSON body: json.loads, then the model in Python mode.
            parsed = json.loads(raw)
            # Text no database stores: the documented route's routers answer its 422
            # (kit/text.py, which walks only a body that may hold some, as here).
            if text.body_may_hold_unstorable(raw) and any(True for _ in text.unstorable_at(parsed)):
                body = None
            else:
                body = self.body.model_validate(parsed)
        # Not JSON (JSONDecodeError, an int past 4,300 digits), invalid (ValidationError), or
        # nested deeper than the interpreter's stack (`[[[[...`: FastAPI's 400).
        except (ValueError, RecursionError):
            body = None
        if body is None:
            scope[DECLINED] = True
            await scope["router"](scope, replay_body(raw, receive), send)
            return
        response = await self.handler(request, body)
        await response(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)


def install(routes: list[BaseRoute], lean: Sequence[BaseRoute]) -> None:
    """Put lean routes ahead of every other route (the router takes the first full match)."""
    routes[:0] = lean
