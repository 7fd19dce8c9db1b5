"""Text no database can store (NUL, unpaired surrogates) is a 422 everywhere, on both databases.

PostgreSQL refused it with a 500 (17 REST routes, 2 GraphQL fields); SQLite stored it. Now every
string a client sends is checked once, by kit/text.py, before anything runs: these tests sweep
every REST route of the OpenAPI document and every GraphQL field with an argument, putting NUL
into one string at a time, and check the answer names that string and nothing was written.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
    is_composite_type,
)
from sqlalchemy import func
from sqlmodel import select

import mentorapi.db.models  # noqa: F401  (every table in the metadata)
from mentorapi.db.base import metadata
from mentorapi.db.engine import Database
from mentorapi.graphql.schema import build_schema
from mentorapi.kit.text import ERROR_TYPE
from tests.conftest import Tenant
from tests.factories import create_mentee, create_mentor, create_skill, set_availability

NUL = "x\x00y"
SURROGATE = "x\ud800y"
SKIPPED_PATHS = {"/healthz", "/readyz"}  # take nothing from a client


async def row_counts(db: Database, app_id: str) -> dict[str, int]:
    """The rows of every table: the app's own where a table has an `app_id` (every statement
    is scoped by app, tests/tenancy_hook.py), all of them elsewhere."""
    async with db.sessionmaker() as s:
        counts = {}
        for t in metadata.sorted_tables:
            query = select(func.count()).select_from(t)
            if "app_id" in t.c:
                query = query.where(t.c.app_id == app_id)
            counts[t.name] = (await s.exec(query)).one()
        return counts


# --- sample requests from the OpenAPI document -------------------------------------------------


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"]
            return _resolve(spec, options[0])
    return schema


def sample(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A value of the schema's shape: every property present, so every string can carry NUL."""
    schema = _resolve(spec, schema)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        if "properties" in schema:
            return {k: sample(spec, v) for k, v in schema["properties"].items()}
        extra = schema.get("additionalProperties")
        return {"k": sample(spec, extra)} if isinstance(extra, dict) else {"k": "v"}
    if kind == "array":
        return [sample(spec, schema.get("items", {"type": "string"}))]
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    pattern = schema.get("pattern", "")
    if match := re.match(r"\^\(?([a-z]{3})[_|]", pattern):  # `^mtr_` or `^(mtr|mte)_`
        return f"{match.group(1)}_{'0' * 26}"
    if schema.get("format") == "date-time":
        return "2030-01-07T10:00:00Z"
    if schema.get("format") == "date":
        return "2030-01-07"
    return "text"


def string_leaves(value: Any, loc: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where each string of a sample is (dict keys too, marked with a trailing `...`)."""
    if isinstance(value, str):
        yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "k":  # a free-form mapping: its keys are stored too
                yield (*loc, key, ...)
            yield from string_leaves(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, (*loc, index))


def with_text(value: Any, loc: tuple[Any, ...], bad: str) -> tuple[Any, tuple[Any, ...]]:
    """The sample with `bad` at loc; and the loc the error names (a bad key names itself)."""
    if not loc:
        return bad, loc
    copy = json.loads(json.dumps(value))
    *parents, last = loc
    if last is ...:
        *parents, key = parents
        holder = copy
        for part in parents:
            holder = holder[part]
        holder[bad] = holder.pop(key)
        return copy, (*parents, bad)
    holder = copy
    for part in parents:
        holder = holder[part]
    holder[last] = bad
    return copy, loc


def fill(template: str, values: dict[str, Any]) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", quote(str(value), safe=""))
    return template


def in_url(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    query: dict[str, Any]
    body: Any
    loc: list[Any]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.loc}"


def cases(spec: dict[str, Any], bad: str) -> Iterator[Case]:
    for template, operations in spec["paths"].items():
        if template in SKIPPED_PATHS:
            continue
        for method, op in operations.items():
            params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
            path_values = {
                p["name"]: sample(spec, p["schema"]) for p in params if p["in"] == "path"
            }
            queries = {
                p["name"]: sample(spec, p["schema"])
                for p in params
                if p["in"] == "query" and p.get("required")
            }
            body_schema = op.get("requestBody", {}).get("content", {}).get("application/json")
            body = sample(spec, body_schema["schema"]) if body_schema else None

            url = partial(fill, template)
            # A URL carries UTF-8, which has no unpaired surrogates (a server decodes their
            # bytes to U+FFFD): only a JSON body can send one.
            for p in params if in_url(bad) else []:
                name = p["name"]
                if p["in"] == "path":
                    yield Case(
                        method, url({**path_values, name: bad}), queries, body, ["path", name]
                    )
                    continue
                value = sample(spec, p["schema"])
                for loc in string_leaves(value):
                    changed, _ = with_text(value, loc, bad)
                    # One value of a list parameter reads like a scalar in a query string.
                    where = ["query", name] if isinstance(value, list) else ["query", name, *loc]
                    yield Case(method, url(path_values), {**queries, name: changed}, body, where)
            for loc in string_leaves(body):
                changed, named = with_text(body, loc, bad)
                yield Case(method, url(path_values), queries, changed, ["body", *named])


def test_the_sweep_covers_every_route(app: FastAPI) -> None:
    """So that a route added later is swept too, and the sweep cannot shrink to nothing."""
    spec = app.openapi()
    swept = {(c.method, c.path.split("?")[0]) for c in cases(spec, "\x00")}
    routes = sum(len(ops) for p, ops in spec["paths"].items() if p not in SKIPPED_PATHS)
    assert routes >= 60
    # Every route takes at least one string: a path id, a query parameter or a body field.
    assert len({m for m, _ in swept}) >= 4
    assert len(swept) >= routes - 3, routes  # a few routes share a path template per method


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_every_rest_route_refuses_unstorable_text(
    app: FastAPI, db: Database, tenant: Tenant, bad: str
) -> None:
    spec = app.openapi()
    before = await row_counts(db, tenant.id)
    failures = []
    count = 0
    for case in cases(spec, bad):
        count += 1
        response = await tenant.client.request(
            case.method.upper(),
            case.path,
            params=case.query,
            content=None if case.body is None else json.dumps(case.body),
            headers={"Content-Type": "application/json"} if case.body is not None else {},
        )
        problem = response.headers.get("content-type", "").startswith("application/problem+json")
        errors = response.json().get("errors", []) if problem else []
        named = any(e["type"] == ERROR_TYPE and e["loc"] == case.loc for e in errors)
        if response.status_code != 422 or not problem or not named:
            failures.append(f"{case}: {response.status_code} {response.text[:200]}")
    assert count > (150 if in_url(bad) else 100), count
    assert failures == [], "\n".join(failures)
    assert await row_counts(db, tenant.id) == before


# --- realistic requests: valid but for one string ----------------------------------------------


@pytest.fixture
async def world(tenant: Tenant) -> dict[str, Any]:
    skill = await create_skill(tenant.client)
    mentor = await create_mentor(tenant.client)
    mentee = await create_mentee(tenant.client)
    await set_availability(tenant.client, mentor["id"])
    return {"skill": skill, "mentor": mentor, "mentee": mentee}


def realistic(world: dict[str, Any], bad: str) -> list[tuple[str, str, dict[str, Any], Any]]:
    mentor, mentee, skill = world["mentor"], world["mentee"], world["skill"]
    booking = {
        "mentor_id": mentor["id"],
        "mentee_id": mentee["id"],
        "topic": "pivot tables",
        "questions": ["how?"],
        "skill_id": skill["id"],
        "format": "video",
        "duration_minutes": 30,
        "starts_at": "2031-03-04T10:00:00Z",
    }
    return [
        ("POST", "/v1/skills", {}, {"slug": "fine-slug", "name": bad}),
        ("POST", "/v1/skills", {}, {"slug": "fine-slug", "name": "n", "description": bad}),
        ("PATCH", f"/v1/skills/{skill['id']}", {}, {"category": bad}),
        ("POST", "/v1/mentors", {}, {"external_id": bad, "name": "n", "timezone": "UTC"}),
        ("POST", "/v1/mentors", {}, {"external_id": "ok-1", "name": "n", "bio": bad}),
        ("PATCH", f"/v1/mentors/{mentor['id']}", {}, {"headline": bad}),
        ("POST", "/v1/mentees", {}, {"external_id": "ok-2", "name": bad}),
        ("PATCH", f"/v1/mentees/{mentee['id']}", {}, {"name": bad}),
        ("POST", "/v1/sessions", {}, {**booking, "topic": bad}),
        ("POST", "/v1/sessions", {}, {**booking, "questions": ["fine", bad]}),
        ("POST", "/v1/member-tokens", {}, {"external_id": bad, "role": "mentor"}),
        ("POST", "/v1/webhook-endpoints", {}, {"url": "https://example.com/h", "description": bad}),
        ("GET", "/v1/mentors", {"q": bad}, None),
        ("GET", "/v1/mentees", {"q": bad}, None),
        ("GET", "/v1/skills", {"category": bad}, None),
        ("GET", "/v1/skills", {"q": bad}, None),
        ("GET", "/v1/mentors", {"language": bad}, None),
    ]


@pytest.mark.parametrize("bad", [NUL, SURROGATE, "\x00"], ids=["nul", "surrogate", "only-nul"])
async def test_valid_requests_but_for_one_string_are_refused(
    db: Database, tenant: Tenant, world: dict[str, Any], bad: str
) -> None:
    before = await row_counts(db, tenant.id)
    for method, path, query, body in realistic(world, bad):
        if query and not in_url(bad):
            continue
        response = await tenant.client.request(
            method,
            path,
            params=query,
            content=None if body is None else json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["type"] == ERROR_TYPE, response.text
    assert await row_counts(db, tenant.id) == before


async def test_a_lean_route_refuses_like_the_documented_one(tenant: Tenant) -> None:
    mentor = await create_mentor(tenant.client)
    response = await tenant.client.get(
        f"/v1/mentors/{mentor['id']}/slots",
        params={"start": "2031-03-03T00:00:00Z", "end": "2031-03-04T00:00:00Z", "timezone": NUL},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "timezone"]
    mentors = await tenant.client.get("/v1/mentors", params={"q": NUL})
    assert mentors.status_code == 422, mentors.text


# --- GraphQL --------------------------------------------------------------------------------------


def gql_sample(kind: GraphQLInputType) -> Any:
    if isinstance(kind, GraphQLNonNull):
        return gql_sample(kind.of_type)
    if isinstance(kind, GraphQLList):
        return [gql_sample(kind.of_type)]
    if isinstance(kind, GraphQLInputObjectType):
        return {name: gql_sample(field.type) for name, field in kind.fields.items()}
    if isinstance(kind, GraphQLEnumType):
        return next(iter(kind.values))
    assert isinstance(kind, GraphQLScalarType)
    return {
        "Int": 1,
        "Float": 1.0,
        "Boolean": True,
        "DateTime": "2030-01-07T10:00:00Z",
        "ID": "ses_" + "0" * 26,
    }.get(kind.name, "text")


async def gql(client: Any, query: str, variables: dict[str, Any] | None = None) -> Any:
    """tests/gql/helpers.gql, but with the JSON ASCII-escaped, as a surrogate can only travel."""
    body = json.dumps({"query": query, "variables": variables or {}})
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    return response.json()


@dataclass(frozen=True)
class GqlCase:
    document: str
    variables: dict[str, Any]
    loc: list[Any]


def gql_operation(kind: str, name: str, field: GraphQLField, values: dict[str, Any]) -> str:
    declared = ", ".join(f"${a}: {field.args[a].type}" for a in values)
    passed = ", ".join(f"{a}: ${a}" for a in values)
    selection = " { __typename }" if is_composite_type(get_named_type(field.type)) else ""
    return f"{kind}({declared}) {{ {name}({passed}){selection} }}"


def gql_cases(bad: str) -> Iterator[GqlCase]:
    schema = build_schema()._schema
    for kind, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        assert root is not None
        for name, field in root.fields.items():
            values = {a: gql_sample(arg.type) for a, arg in field.args.items()}
            document = gql_operation(kind, name, field, values)
            for arg, value in values.items():
                for loc in string_leaves(value):
                    changed, named = with_text(value, loc, bad)
                    yield GqlCase(document, {**values, arg: changed}, ["variables", arg, *named])


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
async def test_every_graphql_argument_refuses_unstorable_text(
    db: Database, tenant: Tenant, bad: str
) -> None:
    before = await row_counts(db, tenant.id)
    failures, count = [], 0
    for case in gql_cases(bad):
        count += 1
        body = await gql(tenant.client, case.document, case.variables)
        errors = body.get("errors") or []
        codes = [e.get("extensions", {}).get("code") for e in errors]
        issues = [i for e in errors for i in e.get("extensions", {}).get("errors", [])]
        named = any(i["type"] == ERROR_TYPE and i["loc"] == case.loc for i in issues)
        if codes != ["BAD_USER_INPUT"] or not named or body.get("data"):
            failures.append(f"{case.document} {case.loc}: {json.dumps(body)[:300]}")
    assert count > 100, count
    assert failures == [], "\n".join(failures)
    assert await row_counts(db, tenant.id) == before


async def test_graphql_literals_are_checked_too(db: Database, tenant: Tenant) -> None:
    before = await row_counts(db, tenant.id)
    for document, loc in [
        (
            'mutation { createSkill(input: {slug: "a-slug", name: "a\\u0000b"}) { id } }',
            ["input", "name"],
        ),
        ('query { mentors(filter: {q: "\\u0000"}) { edges { node { id } } } }', ["filter", "q"]),
    ]:
        body = await gql(tenant.client, document)
        errors = body.get("errors") or []
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], body
        assert errors[0]["extensions"]["errors"][0]["loc"] == loc, body
    assert await row_counts(db, tenant.id) == before


async def test_valid_graphql_writes_but_for_one_string_are_refused(
    db: Database, tenant: Tenant
) -> None:
    before = await row_counts(db, tenant.id)
    body = await gql(
        tenant.client,
        "mutation($input: CreateSkillInput!) { createSkill(input: $input) { id } }",
        {"input": {"slug": "fine-slug", "name": NUL}},
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert await row_counts(db, tenant.id) == before


@pytest.mark.parametrize(
    "raw",
    [
        # Raw UTF-8 bytes of a surrogate: Python's JSON reader decodes them (surrogatepass).
        b'{"slug": "fine-slug", "name": "x\xed\xa0\x80y"}',
        # UTF-16, which the JSON reader accepts too: its escapes are not `\u` as bytes.
        '{"slug": "fine-slug", "name": "x\\u0000y"}'.encode("utf-16"),
        '{"slug": "fine-slug", "name": "x\\ud800y"}'.encode("utf-32"),
    ],
    ids=["utf8-surrogate-bytes", "utf16-escape", "utf32-escape"],
)
async def test_bodies_in_any_encoding_json_reads_are_checked(
    db: Database, tenant: Tenant, raw: bytes
) -> None:
    before = await row_counts(db, tenant.id)
    response = await tenant.client.post(
        "/v1/skills", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["type"] == ERROR_TYPE, response.text
    body = await tenant.client.post(
        "/graphql",
        content=b'{"query": "mutation($i: CreateSkillInput!) { createSkill(input: $i) { id } }", '
        b'"variables": {"i": {"slug": "fine-slug", "name": "x\xed\xa0\x80y"}}}',
        headers={"Content-Type": "application/json"},
    )
    errors = body.json().get("errors") or []
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], body.text
    assert await row_counts(db, tenant.id) == before
