"""Every bound the document states on a parameter is the server's, and the other way round.

Generated from the document the application serves (the committed openapi/openapi.json is the
same bytes: tests/gql/test_schema_export.py): for every path, query and header parameter of
every operation that carries a bound (`maxItems`, `maxLength`, `minLength`, `minimum`,
`maximum`, `pattern`, `enum`, on the parameter or on its items), one request with a value just
past each bound must be refused (400 or 422 `application/problem+json`; a 422 names the
parameter in `errors[].loc`), and one with a value just within it must not be refused for that
parameter (any other answer: a 404 for an unknown id, a 422 about a missing body, is the rest
of the request speaking). A bound written on one side only fails here: the server refusing
what the document allows (a client generated from it gets a 422 it could not foresee), or the
server taking what the document forbids (a bound that is not one).

The static walk of the document is test_openapi_document.py; the statuses and headers of the
booking flow, test_openapi_operations_live.py.
"""

import re
import re._parser as re_parser  # type: ignore[import-not-found]  # no stub; sre_parse: deprecated
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import Tenant
from tests.contract.test_openapi_document import document, operations, resolve
from tests.factories import create_mentor
from tests.gql.helpers import gql_data

BOUNDS = ("maxItems", "maxLength", "minLength", "minimum", "maximum", "pattern", "enum")
PROBLEM = "application/problem+json"
# Valid values the document cannot spell out: parameters whose rule is more than syntax (a
# zone of the tz database, a BCP 47 tag), and the required parameters of an operation that are
# not the one under test. The longest of them that fits is the "just
# within" value of a `maxLength` (a zone name of 64 characters does not exist: the zone's
# bound is shown for its syntax, and the longest zone stands in for it).
KNOWN: dict[str, list[Any]] = {
    "timezone": ["America/Argentina/ComodRivadavia", "Europe/Berlin"],
    "language": ["en-Latn-US-x-aaaaaaaa-bbbbbbbb-cccc", "pt-BR"],
    "start": ["2031-03-03T00:00:00Z"],
    "end": ["2031-03-10T00:00:00Z"],
    "duration": [30],
}
# Parameters whose valid values are these only (not any string of their pattern).
SEMANTIC = {"timezone", "language"}
# Parameters whose longest valid value is shorter than their `maxLength` (see KNOWN).
SEMANTIC_LENGTH = {"timezone"}
# A cursor is the server's own token (kit/pagination.py): only the bound on its length is the
# document's to check (test_a_cursor_the_server_writes_fits_its_bound checks that real ones fit).
OPAQUE = {"cursor"}
# A 422 about the state of the request, not its syntax: an Idempotency-Key sent before with
# another request (the walk sends each key to many routes).
STATE = {"reused"}
# A value that breaks a pattern: its first character replaced by the first of these that the
# pattern refuses (not a space: HTTP strips it from a header's value). `é` before DEL: the
# server took a key of printable latin-1 that the document's printable ASCII refused.
BREAKERS = ("-", "~", "é", "\x7f")


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # the template
    location: str  # path, query or header
    name: str
    value: Any  # a list for a repeated query parameter
    refused: bool
    why: str

    def __str__(self) -> str:
        shown = repr(self.value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        verdict = "refused" if self.refused else "accepted"
        return (
            f"{self.method} {self.path} {self.location} {self.name}={shown}: {self.why}, {verdict}"
        )


def _schema(parameter: dict[str, Any]) -> dict[str, Any]:
    """The parameter's schema without its `null` branch, `$ref`s resolved."""
    schema = resolve(parameter.get("schema", {}))
    branches = [resolve(b) for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]
    assert len(branches) == 1, f"{parameter['name']}: {schema}"
    return branches[0]


def _fits(schema: dict[str, Any], value: str) -> bool:
    return (
        len(value) <= schema.get("maxLength", len(value))
        and len(value) >= schema.get("minLength", 0)
        and ("pattern" not in schema or re.search(schema["pattern"], value) is not None)
    )


def _simplest(parsed: Any) -> str:
    out = []
    for op, arg in parsed:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "IN":
            out.append(_first_of(arg))
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            low, _, sub = arg
            out.append(_simplest(sub) * low)
        elif name == "SUBPATTERN":
            out.append(_simplest(arg[-1]))
        elif name == "BRANCH":
            out.append(_simplest(arg[1][0]))
        elif name == "ANY":
            out.append("a")
        elif name != "AT":
            raise AssertionError(f"no simplest string for {name}")
    return "".join(out)


def _first_of(items: Any) -> str:
    op, arg = items[0]
    if str(op) == "LITERAL":
        return chr(arg)
    if str(op) == "RANGE":
        return chr(arg[0])
    if str(op) == "CATEGORY":
        return {"CATEGORY_DIGIT": "0", "CATEGORY_SPACE": " "}.get(str(arg), "a")
    raise AssertionError(f"no simplest character of {op}")


@cache
def simplest(pattern: str) -> str:
    """The simplest string of a pattern: each repetition its fewest times, each class its
    first character, each alternation its first branch (`aaa_000...` for an id of any kind,
    which a server that takes fewer kinds refuses)."""
    return _simplest(re_parser.parse(pattern))


def _valid_strings(name: str, schema: dict[str, Any]) -> list[str]:
    """Strings the document allows here, longest first."""
    if name in SEMANTIC:
        return sorted((v for v in KNOWN[name] if _fits(schema, v)), key=len, reverse=True)
    longest = schema.get("maxLength", 8)
    candidates = [
        *[str(v) for v in KNOWN.get(name, [])],
        *[str(v) for v in schema.get("examples", [])],
        "a" * longest,
        "0" * longest,
        "a" * max(schema.get("minLength", 1), 1),
    ]
    if "pattern" in schema:
        longest_allowed = schema.get("maxLength", 1000)
        candidates.append(simplest(schema["pattern"]))
        # The longest: the pattern's own repetition of its last character, where it has one.
        for filler in "a01":
            for start in candidates[:]:
                if start and _fits(schema, start):
                    padded = start[:-1] + filler * (longest_allowed - len(start)) + start[-1:]
                    candidates.append(padded)
    # Longest first; of one length, in the order above (`a...` before `0...`: any string of a
    # pattern-less parameter must do, not only one that happens to be a number).
    fitting = [c for c in dict.fromkeys(candidates) if _fits(schema, c)]
    return sorted(fitting, key=len, reverse=True)


def good_value(name: str, schema: dict[str, Any]) -> Any:
    """One value of this parameter the server takes."""
    if name in KNOWN:
        return KNOWN[name][0]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") == "integer":
        return schema.get("minimum", 1)
    if schema.get("type") == "array":
        return [good_value(name, resolve(schema["items"]))]
    return _valid_strings(name, schema)[0]


def _scalar_cases(name: str, schema: dict[str, Any]) -> Iterator[tuple[Any, bool, str]]:
    """(value, refused, why) for each bound of a scalar schema."""
    if "enum" in schema:
        for value in dict.fromkeys((schema["enum"][0], schema["enum"][-1])):
            yield value, False, "in the enum"
        yield "not-listed", True, "not in the enum"
        return
    if schema.get("type") == "integer":
        if "minimum" in schema:
            yield schema["minimum"], False, "the minimum"
            yield schema["minimum"] - 1, True, "below the minimum"
        if "maximum" in schema:
            yield schema["maximum"], False, "the maximum"
            yield schema["maximum"] + 1, True, "above the maximum"
        return
    if schema.get("type") != "string" or not ({"maxLength", "minLength", "pattern"} & set(schema)):
        return
    valid = _valid_strings(name, schema)
    assert valid, f"{name}: no value of {schema} is known to be valid: add one to KNOWN"
    if "maxLength" in schema:
        at_most = valid[0]
        if name not in SEMANTIC_LENGTH:
            assert len(at_most) == schema["maxLength"], (
                f"{name}: no valid value of maxLength {schema['maxLength']} (the longest known "
                f"is {len(at_most)}): is the bound the server's?"
            )
        yield at_most, False, f"{len(at_most)} characters"
        longer = at_most + at_most[-1] * (schema["maxLength"] + 1 - len(at_most))
        yield longer, True, f"{len(longer)} characters, past maxLength"
    if schema.get("minLength", 0) > 0:
        shortest = min(valid, key=len)
        assert len(shortest) == schema["minLength"], f"{name}: no valid value of minLength"
        yield shortest, False, f"{len(shortest)} characters"
        yield shortest[:-1], True, f"{len(shortest) - 1} characters, under minLength"
    if "pattern" in schema:
        if name not in SEMANTIC:
            simple = simplest(schema["pattern"])
            if _fits(schema, simple):
                yield simple, False, "the simplest string of the pattern"
        value = valid[-1]
        for breaker in BREAKERS:
            broken = breaker + value[1:]
            if not re.search(schema["pattern"], broken):
                yield broken, True, "against the pattern"
                break
        else:
            raise AssertionError(f"{name}: nothing breaks {schema['pattern']}")
        yield value, False, "the pattern"


def parameter_cases(name: str, schema: dict[str, Any]) -> Iterator[tuple[Any, bool, str]]:
    """(value, refused, why) for each bound of a parameter: its own, its items'."""
    if schema.get("type") != "array":
        yield from _scalar_cases(name, schema)
        return
    items = resolve(schema["items"])
    for value, refused, why in _scalar_cases(name, items):
        yield [value], refused, f"an item {why}"
    if "maxItems" in schema:
        many = schema["maxItems"]
        distinct = items.get("enum") or [good_value(name, items)]
        within = [distinct[i % len(distinct)] for i in range(many)]
        yield within, False, f"{many} items"
        yield [*within, distinct[0]], True, f"{many + 1} items, past maxItems"


def _bounded(schema: dict[str, Any]) -> bool:
    return any(k in schema for k in BOUNDS) or (
        schema.get("type") == "array" and _bounded(resolve(schema["items"]))
    )


@cache
def cases() -> tuple[Case, ...]:
    found = []
    for method, path, operation in operations():
        for parameter in operation.get("parameters", []):
            parameter = resolve(parameter)
            schema = _schema(parameter)
            if not _bounded(schema):
                continue
            for value, refused, why in parameter_cases(parameter["name"], schema):
                if parameter["in"] == "path" and value == "":
                    continue  # an empty segment is another route
                found.append(
                    Case(method, path, parameter["in"], parameter["name"], value, refused, why)
                )
    return tuple(found)


Sent = tuple[str, httpx.QueryParams, dict[bytes, bytes]]


def request(case: Case) -> Sent:
    """The case's request: every other path parameter and every other required parameter of
    the operation with a valid value."""
    operation = document()["paths"][case.path][case.method.lower()]
    values: dict[tuple[str, str], Any] = {}
    for parameter in map(resolve, operation.get("parameters", [])):
        if parameter["in"] == "path" or parameter.get("required"):
            values[parameter["in"], parameter["name"]] = good_value(
                parameter["name"], _schema(parameter)
            )
    values[case.location, case.name] = case.value
    url = case.path
    params: list[tuple[str, str | int | float | bool | None]] = []
    headers: dict[bytes, bytes] = {}
    for (location, name), value in values.items():
        if location == "path":
            url = url.replace("{" + name + "}", quote(str(value), safe=""))
        elif location == "query":
            params += [(name, str(v)) for v in (value if isinstance(value, list) else [value])]
        else:
            headers[name.encode()] = str(value).encode()  # UTF-8, as a client sends `é`
    return url, httpx.QueryParams(params), headers


def verdict(case: Case, response: httpx.Response) -> str | None:
    """What is wrong with the answer to the case, or None."""
    media = response.headers.get("content-type", "").split(";")[0]
    body = response.json() if media == PROBLEM else {}
    loc = [case.location, case.name.lower()]
    errors = [e for e in body.get("errors", []) if e.get("msg") not in STATE]
    named = any([str(p).lower() for p in error.get("loc", [])[:2]] == loc for error in errors)
    if response.status_code >= 500:
        return f"{response.status_code}"
    if case.refused:
        if response.status_code not in (400, 422) or media != PROBLEM:
            return f"{response.status_code} {media}"
        if response.status_code == 422 and not named:
            return f"422 naming another parameter: {errors}"
        return None
    if case.name in OPAQUE:
        return None
    if named or response.status_code == 400:
        return f"{response.status_code}: {body.get('detail')} {errors}"
    return None


def test_the_bounds_are_walked() -> None:
    """The walk sees the parameters it is for (so that it cannot pass on nothing)."""
    seen = {(c.method, c.path, c.name, c.why) for c in cases()}
    assert ("GET", "/v1/mentors", "skill", "11 items, past maxItems") in seen
    assert ("GET", "/v1/sessions", "status", "8 items, past maxItems") in seen
    assert ("GET", "/v1/mentors", "limit", "above the maximum") in seen
    assert ("POST", "/v1/sessions", "Idempotency-Key", "256 characters, past maxLength") in seen
    assert len(seen) >= 800


async def test_each_bound_is_the_servers(tenant: Tenant) -> None:
    wrong = []
    for case in cases():
        url, params, headers = request(case)
        response = await tenant.client.request(case.method, url, params=params, headers=headers)
        problem = verdict(case, response)
        if problem is not None:
            wrong.append(f"{case} -> {problem}")
    assert not wrong, f"{len(wrong)} mismatches:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    ("value", "refused"),
    [(["a"] * 10, False), (["a"] * 11, True), (["a,b"] * 6, True), (["a" * 65], True)],
)
async def test_the_comma_form_of_skill_counts_toward_the_same_bound(
    tenant: Tenant, value: list[str], refused: bool
) -> None:
    """`skill` may also be comma-separated (`skill=a,b`): every slug counts toward its 10."""
    response = await tenant.client.get("/v1/mentors", params=[("skill", v) for v in value])
    assert (response.status_code == 422) is refused, response.text


async def test_a_cursor_the_server_writes_fits_its_bound(tenant: Tenant) -> None:
    """Mentors sorted by the longest names, in the widest characters: the `next_cursor` (and
    GraphQL's `endCursor`) fits the documented `maxLength` of `cursor`, and the next page
    takes it. At 512 such a cursor (1,652 characters) was refused by the next request."""
    cursor = _schema(
        next(
            p
            for p in document()["paths"]["/v1/mentors"]["get"]["parameters"]
            if p["name"] == "cursor"
        )
    )
    for name in ("名" * 200, "\x01" * 199 + "z", "😀" * 200):
        await create_mentor(tenant.client, name=name)
    for sort in ("name", "-name"):
        page = await tenant.client.get("/v1/mentors", params={"sort": sort, "limit": 1})
        following = page.json()["next_cursor"]
        assert len(following) > 512  # the old bound
        assert len(following) <= cursor["maxLength"]
        more = await tenant.client.get(
            "/v1/mentors", params={"sort": sort, "limit": 1, "cursor": following}
        )
        assert more.status_code == 200, more.text
        assert more.json()["data"][0]["id"] != page.json()["data"][0]["id"]
    query = """query($after: String) {
      mentors(sort: NAME, first: 1, after: $after) { pageInfo { endCursor } }
    }"""
    end = (await gql_data(tenant.client, query, {"after": None}))["mentors"]["pageInfo"]
    assert len(end["endCursor"]) > 512
    assert (await gql_data(tenant.client, query, {"after": end["endCursor"]}))["mentors"]
