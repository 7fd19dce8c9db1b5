"""The OpenAPI document: operation ids, and what every operation reads, writes and may answer.

FastAPI documents a route from its signature and decorator: its parameters and body, the
success response, the problems the route's own rules raise and its `ETag` (`problems()` in the
decorator). What the service does around every route, outside the route's code, is declared
here, once, from the same facts the code acts on (the route's dependencies, method and body),
so that no route can forget it and no route claims what it does not do:

- the body limit (limits.BodySizeLimit): 413 on every operation, 400 where a body is parsed;
- admission (apps/admission.py): bearer security, 401, 429 with `Retry-After`, the
  `RateLimit-*` headers; `security: []` on the routes that take no credentials;
- API-key-only routes (`CurrentApp`): 403 for a member token;
- `If-Match` (kit/versioning.py): 412 with `current_version`;
- the unit of work (db/uow.py): 503 with `Retry-After` when the database is lost or busy;
- `Idempotency-Key` on every POST (kit/idempotency.py): the header, 409 while the first request
  is in flight, 422 for a key reused with another body, `Idempotent-Replayed` on a replay;
- every error as application/problem+json with its schema (kit/problems.py), never FastAPI's
  default `HTTPValidationError` (the service never sends it);
- links between operations (create → get, book → accept → complete → feedback), for clients
  and for schemathesis' stateful phase to follow.
"""

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.routing import BaseRoute

from mentorapi.apps.auth import authenticate_request, current_app
from mentorapi.db.uow import _session as unit_of_work_session
from mentorapi.kit.bodies import restore_examples
from mentorapi.kit.idempotency import KEY_PATTERN, MAX_KEY_LENGTH
from mentorapi.kit.problems import (
    MEDIA_TYPE,
    ConflictProblem,
    Problem,
    StaleVersionProblem,
    ValidationProblem,
    problem_doc,
    problem_schema_ref,
)
from mentorapi.kit.versioning import parse_if_match

SECURITY_SCHEME = "bearer"
_HEADER_REF = "#/components/headers/"


def operation_id(route: APIRoute) -> str:
    """`listMentors` for the endpoint `list_mentors`: the method name generated clients show.
    A route whose function name reads poorly as a method names its operation itself
    (`operation_id=` in its decorator)."""
    head, *rest = route.name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _integer_header(description: str, minimum: int, required: bool = False) -> dict[str, Any]:
    header: dict[str, Any] = {
        "description": description,
        "schema": {"type": "integer", "minimum": minimum},
    }
    if required:
        header["required"] = True
    return header


_RATE_LIMIT = {
    "RateLimit-Limit": ("Requests the caller's bucket holds (per API key, per member).", 1),
    "RateLimit-Remaining": ("Requests left in the bucket after this one.", 0),
    "RateLimit-Reset": ("Seconds until the bucket is full again.", 0),
}
_RATE_LIMIT_NOTE = (
    " Sent on every response to an authenticated request while rate limits are on, but not on "
    "a replayed response (`Idempotent-Replayed`)."
)

HEADERS: dict[str, dict[str, Any]] = {
    **{
        name: _integer_header(text + _RATE_LIMIT_NOTE, minimum)
        for name, (text, minimum) in _RATE_LIMIT.items()
    },
    "Retry-After": _integer_header("Seconds to wait before trying again.", 1, required=True),
    "ETag": {
        "description": 'The object\'s `version`, quoted (`"3"`): send it back as `If-Match`.',
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response to an earlier request with "
        "the same `Idempotency-Key` (nothing was done again).",
        "schema": {"type": "string", "enum": ["true"]},
    },
}

# On a 429 the bucket's headers are always there (apps/admission.py hands them to the problem).
_REFUSED_HEADERS = {
    **{
        name: _integer_header(text, minimum, required=True)
        for name, (text, minimum) in _RATE_LIMIT.items()
    },
    "Retry-After": {"$ref": _HEADER_REF + "Retry-After"},
}

IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes the POST safe to retry: a repeat with the same key and body within "
    "24 hours returns the first response again (with `Idempotent-Replayed: true`); a repeat "
    "with another body is a 422, one while the first is still running a 409. A UUID is a good "
    "key.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": KEY_PATTERN,
    },
}

BEARER: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "description": "`Authorization: Bearer <api key>` (the client app's servers: everything "
    "of that app) or `Bearer <member token>` (one member, from a phone or a browser; minted by "
    "`POST /v1/member-tokens`).",
}

# What a POST's Idempotency-Key adds to the meaning of a status (kit/idempotency.py).
_IDEMPOTENCY_ERRORS = {
    "409": "; or a request with this Idempotency-Key is still in flight",
    "422": "; or this Idempotency-Key was used with another body",
}

# Statuses a POST may replay from a stored first response (kit/idempotency.NOT_KEPT aside).
_REPLAYABLE = {400, 404, 409, 412}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _takes_input(route: Any) -> bool:
    return route.body_field is not None or bool(get_flat_params(route.dependant))


def _errors(route: Any, method: str) -> dict[int, str | None]:
    """Every error status the service's machinery may answer for this route (None: the
    status's usual description)."""
    calls = set(_calls(route.dependant))
    errors: dict[int, str | None] = {413: None}
    if route.body_field is not None:
        errors[400] = None
    if _takes_input(route) or method == "POST":
        errors[422] = None
    if authenticate_request in calls:
        errors[401] = None
        errors[429] = None
    if current_app in calls:
        errors[403] = "API key only: a member token is refused"
    if parse_if_match in calls:
        errors[412] = None
    if unit_of_work_session in calls:
        errors[503] = None
    if method == "POST":
        errors[409] = None
    return errors


def _complete_operation(operation: dict[str, Any], route: Any, method: str) -> None:
    responses: dict[str, dict[str, Any]] = operation.setdefault("responses", {})
    for status, description in _errors(route, method).items():
        responses.setdefault(str(status), problem_doc(status, description))
    authenticated = authenticate_request in set(_calls(route.dependant))
    if not authenticated:
        operation["security"] = []
    for key, response in responses.items():
        status = int(key)
        headers: dict[str, Any] = response.setdefault("headers", {})
        if status >= 400:
            # Every error is a problem; FastAPI's own 422 (HTTPValidationError as
            # application/json) is never sent, and an `application/json` twin never either.
            response["content"] = {MEDIA_TYPE: {"schema": problem_schema_ref(status)}}
        if authenticated and status not in (401, 413):
            refs = {name: {"$ref": _HEADER_REF + name} for name in _RATE_LIMIT}
            headers.update(_REFUSED_HEADERS if status == 429 else refs)
        if status == 503 and authenticated:
            headers["Retry-After"] = {"$ref": _HEADER_REF + "Retry-After"}
        if method == "POST" and (status < 300 or status in _REPLAYABLE):
            headers["Idempotent-Replayed"] = {"$ref": _HEADER_REF + "Idempotent-Replayed"}
        if not headers:
            del response["headers"]
    if method == "POST":
        for code, also in _IDEMPOTENCY_ERRORS.items():
            responses[code]["description"] += also
        parameters = operation.setdefault("parameters", [])
        if not any(p.get("name") == IDEMPOTENCY_KEY["name"] for p in parameters):
            parameters.append(dict(IDEMPOTENCY_KEY))


# Links from an operation's success response to the operations a client (or schemathesis'
# stateful phase) can call next with what it returned: {source: {target: {parameter: value}}}.
_ID = "$response.body#/id"
LINKS: dict[str, dict[str, dict[str, str]]] = {
    "createSkill": {op: {"skill_id": _ID} for op in ("getSkill", "updateSkill", "deleteSkill")},
    "createMentor": {
        op: {"mentor_id": _ID}
        for op in (
            "getMentor",
            "updateMentor",
            "deleteMentor",
            "setMentorSkills",
            "getMentorAvailability",
            "setAvailability",
            "listMentorSlots",
            "listMentorFeedback",
        )
    },
    "createMentee": {
        op: {"mentee_id": _ID}
        for op in ("getMentee", "updateMentee", "deleteMentee", "listGoals", "createGoal")
    },
    "bookSession": {
        op: {"session_id": _ID}
        for op in (
            "getSession",
            "getSessionCalendar",
            "acceptSession",
            "declineSession",
            "rescheduleSession",
            "cancelSession",
            "getSessionNotes",
            "putSessionNotes",
            "listActionItems",
            "addActionItem",
        )
    },
    "acceptSession": {
        op: {"session_id": _ID}
        for op in ("getSession", "completeSession", "markNoShow", "cancelSession")
    },
    "completeSession": {
        op: {"session_id": _ID} for op in ("getSession", "submitFeedback", "listSessionFeedback")
    },
    "createSeries": {op: {"series_id": _ID} for op in ("getSeries", "cancelSeries")},
    "createGoal": {
        op: {"goal_id": _ID} for op in ("getGoal", "updateGoal", "deleteGoal", "addMilestone")
    },
    "submitFeedback": {
        op: {"feedback_id": _ID} for op in ("getFeedback", "updateFeedback", "addImpactUpdate")
    },
    "createWebhookEndpoint": {
        op: {"endpoint_id": _ID}
        for op in (
            "getWebhookEndpoint",
            "updateWebhookEndpoint",
            "deleteWebhookEndpoint",
            "rotateWebhookEndpointSecret",
            "testWebhookEndpoint",
            "recoverWebhookEndpoint",
            "listWebhookDeliveries",
        )
    },
    "testWebhookEndpoint": {op: {"event_id": _ID} for op in ("getEvent", "redeliverEvent")},
}


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            yield path, method, operation


def _add_links(schema: dict[str, Any]) -> None:
    by_id = {op["operationId"]: op for _, _, op in _operations(schema)}
    for source, targets in LINKS.items():
        operation = by_id[source]
        success = min(k for k in operation["responses"] if k.startswith("2"))
        links = operation["responses"][success].setdefault("links", {})
        for target, parameters in targets.items():
            assert target in by_id, f"link {source} -> {target}: no such operation"
            links[target] = {"operationId": target, "parameters": parameters}


def _problem_schemas() -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        Problem,
        ValidationProblem,
        StaleVersionProblem,
        ConflictProblem,
    ]
    # Validation mode: an extension member with a default is optional, as it is on the wire.
    mode: JsonSchemaMode = "validation"
    _, top = models_json_schema(
        [(model, mode) for model in models], ref_template="#/components/schemas/{model}"
    )
    found: dict[str, Any] = top.get("$defs", {})
    return found


def _drop_unused_schemas(schema: dict[str, Any], names: Iterable[str]) -> None:
    """Remove schemas nothing refers to any more (in order: a schema another one refers to
    comes after it)."""
    schemas = schema.get("components", {}).get("schemas", {})
    for name in names:
        if name not in schemas:
            continue
        removed = schemas.pop(name)
        if f'"#/components/schemas/{name}"' in json.dumps(schema):
            schemas[name] = removed


def complete(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    """Add to FastAPI's document what the service does around every route (see above)."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(_problem_schemas())
    components["headers"] = HEADERS
    components["securitySchemes"] = {SECURITY_SCHEME: BEARER}
    schema["security"] = [{SECURITY_SCHEME: []}]
    # The routes as FastAPI documents them: each with its routers' prefixes and dependencies.
    for context in iter_route_contexts(list(routes)):
        if not isinstance(context.original_route, APIRoute):
            continue
        route: Any = context  # an APIRoute-like view (fastapi.routing._APIRouteLike)
        if not route.include_in_schema:
            continue
        for method in route.methods:
            operation = schema["paths"][route.path_format][method.lower()]
            _complete_operation(operation, route, method)
    _add_links(schema)
    _drop_unused_schemas(schema, ["HTTPValidationError", "ValidationError"])
    # The bodies' examples with their nulls (FastAPI's document drops every null).
    restore_examples(schema)


def install(app: FastAPI) -> None:
    """Serve (and export) the completed document."""
    generate = app.openapi  # FastAPI's: builds the document once and caches it

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete(generate(), app.routes)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
