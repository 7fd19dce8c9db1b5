"""POST /graphql through the lean route (graphql/router.LeanGraphQLRoute) answers exactly as
the router's FastAPI route does: every request goes to the usual app and to one built with
`lean_routes=False`, on the same database; status, headers and body must be the same bytes,
errors keep their codes, what GraphQL cannot read is the same problem+json, and the route that
answered is checked too."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from mentorapi.graphql.router import LeanGraphQLRoute
from mentorapi.kit.lean import is_json_type
from tests import conftest
from tests.conftest import Tenant, count_statements, own
from tests.factories import create_mentor, create_skill
from tests.security.test_graphql_http import BODIES
from tests.test_lean_routes import _Recorder, _same, plain_app  # noqa: F401 (a fixture)

PAGE = """query($first: Int!) { mentors(first: $first) { edges { cursor node { id name
    skills { level skill { slug } } stats { averageRating } } } pageInfo { endCursor } } }"""


async def _both(
    app: FastAPI,
    plain_app: FastAPI,  # noqa: F811
    body: bytes,
    headers: dict[str, str],
) -> tuple[httpx.Response, httpx.Response]:
    answers = []
    for application, route in ((app, LeanGraphQLRoute), (plain_app, APIRoute)):
        recorder = _Recorder(application)
        transport = conftest.ServerTransport(app=recorder)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers.append(await client.post("/graphql", content=body, headers=headers))
        assert isinstance(recorder.route, route), body[:80]
    return answers[0], answers[1]


def _json(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return httpx.Request("POST", "/", json={"query": query, "variables": variables}).content


async def _world(tenant: Tenant) -> None:
    skill = await create_skill(tenant.client, name="Python")
    for _ in range(3):
        await create_mentor(tenant.client, skills=[{"skill_id": skill["id"], "level": 3}])


async def test_operations_are_answered_by_the_lean_route_with_the_same_bytes(
    app: FastAPI,
    plain_app: FastAPI,  # noqa: F811
    tenant: Tenant,
) -> None:
    await _world(tenant)
    auth = {"Authorization": f"Bearer {tenant.key}", "Content-Type": "application/json"}
    cases: list[tuple[bytes, list[str]]] = [
        (_json(PAGE, {"first": 2}), []),
        (_json(PAGE, {"first": 2}), []),  # the second time: planned, from the document cache
        (_json("{ __typename }"), []),
        (_json("{ nope }"), ["GRAPHQL_VALIDATION_FAILED"]),
        (_json(PAGE, {"first": 0}), ["BAD_USER_INPUT"]),
        (_json(PAGE, {"first": "x"}), ["BAD_USER_INPUT"]),
        (_json('{ mentor(id: "mtr_00000000000000000000000000") { id } }'), ["NOT_FOUND"]),
        (_json('mutation { deleteMentor(id: "nobody") }'), ["BAD_USER_INPUT"]),
    ]
    for body, codes in cases:
        lean, plain = await _both(app, plain_app, body, auth)
        _same(lean, plain)
        assert lean.status_code == 200
        found = [e["extensions"]["code"] for e in lean.json().get("errors") or []]
        assert found == codes, lean.text
    unauthenticated = {"Content-Type": "application/json"}
    lean, plain = await _both(app, plain_app, _json(PAGE, {"first": 2}), unauthenticated)
    _same(lean, plain)
    assert [e["extensions"]["code"] for e in lean.json()["errors"]] == ["UNAUTHENTICATED"]


async def test_the_page_has_the_same_statements_on_the_lean_route(
    app: FastAPI,
    plain_app: FastAPI,  # noqa: F811
    tenant: Tenant,
) -> None:
    await _world(tenant)
    auth = {"Authorization": f"Bearer {tenant.key}", "Content-Type": "application/json"}
    counts = []
    for application in (app, plain_app, app):
        transport = conftest.ServerTransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            with count_statements() as statements:
                response = await client.post(
                    "/graphql", content=_json(PAGE, {"first": 3}), headers=auth
                )
            assert response.status_code == 200, response.text
            assert "errors" not in response.json()
            counts.append(len(own(statements)))
    assert counts[0] == counts[1] == counts[2]


@pytest.mark.parametrize("name", sorted(BODIES))
async def test_unreadable_bodies_are_the_same_problems(
    app: FastAPI,
    plain_app: FastAPI,  # noqa: F811
    tenant: Tenant,
    name: str,
) -> None:
    auth = {"Authorization": f"Bearer {tenant.key}", "Content-Type": "application/json"}
    lean, plain = await _both(app, plain_app, BODIES[name], auth)
    _same(lean, plain)
    assert lean.status_code == 400
    assert lean.headers["content-type"] == "application/problem+json"


# What REST's rule (kit/lean.is_json_type, FastAPI's) takes and what it does not. strawberry
# looked for "application/json" in the media type as written: it refused the ones marked
# "was refused" and read the ones marked "was JSON" as JSON.
JSON_OR_NOT = [
    "Application/JSON",  # was refused
    'application/JSON; charset="UTF-8"',  # was refused
    "application/json; charset=utf-8",
    "application/graphql-response+json",  # was refused
    "text/plain; x=application/json",
    "application/jsonx",  # was JSON
    "application/json-seq",  # was JSON
    "application/json+x",  # was JSON
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
]


@pytest.mark.parametrize("content_type", JSON_OR_NOT)
async def test_a_body_is_json_by_rests_rule_on_both_routes(
    app: FastAPI,
    plain_app: FastAPI,  # noqa: F811
    tenant: Tenant,
    content_type: str,
) -> None:
    headers = {"Authorization": f"Bearer {tenant.key}", "Content-Type": content_type}
    lean, plain = await _both(app, plain_app, _json("{ __typename }"), headers)
    _same(lean, plain)
    if is_json_type(content_type.encode()):
        assert lean.status_code == 200, lean.text
        assert lean.json() == {"data": {"__typename": "Query"}}
    else:  # as any other type is refused
        assert lean.status_code == 400, lean.text
        assert lean.headers["content-type"] == "application/problem+json"
        assert lean.json()["detail"] == "Unsupported content type"


async def test_an_empty_bucket_is_a_429_on_the_lean_route(
    app: FastAPI,
    plain_app: FastAPI,  # noqa: F811
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The status the context sets on its response (a refused operation) reaches the client."""
    from mentorapi.apps import admission
    from mentorapi.kit.errors import TooManyRequests

    async def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise TooManyRequests("slow down")

    monkeypatch.setattr(admission, "spend", refuse)
    auth = {"Authorization": f"Bearer {tenant.key}", "Content-Type": "application/json"}
    lean, plain = await _both(app, plain_app, _json(PAGE, {"first": 2}), auth)
    _same(lean, plain)
    assert lean.status_code == 429
    assert [e["extensions"]["code"] for e in lean.json()["errors"]] == ["RATE_LIMITED"]


CONTENT_TYPES = [
    "",
    "application/json",
    "application/json; charset=utf-8",
    'application/JSON; charset="UTF-8"',
    "multipart/mixed; boundary=graphql; subscriptionSpec=1.0",
    'multipart/mixed;boundary="-";subscriptionSpec="1.0", application/json',
    "text/plain;;;",
    "nonsense",
]


@pytest.mark.parametrize("value", CONTENT_TYPES)
def test_remembered_content_types_are_strawberrys(value: str) -> None:
    from strawberry.http import async_base_view, streaming
    from strawberry.http.parse_content_type import parse_content_type as strawberrys

    from mentorapi.graphql import router

    for module in (async_base_view, streaming):  # what strawberry's view calls
        assert getattr(module, "parse_content_type") is router.parse_content_type  # noqa: B009
    first = router.parse_content_type(value)
    assert first == strawberrys(value)
    first[1]["changed"] = "by a caller"  # each caller has its own parameters
    assert router.parse_content_type(value) == strawberrys(value)
