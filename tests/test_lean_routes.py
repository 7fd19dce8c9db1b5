"""Lean routes (kit/lean.py) answer exactly as the FastAPI routes they stand beside.

Every request goes to two applications on the same database: the usual one, and one built with
`lean_routes=False`. Status, headers and body must be the same bytes, and the route that
answered is checked too: the lean one for every request whose parameters validate (errors the
service raises included), the documented one for the rest.
"""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from mentorapi.kit import lean
from mentorapi.kit.lean import LeanBodyRoute, LeanRoute
from mentorapi.kit.pagination import MAX_CURSOR_LENGTH
from mentorapi.main import create_app
from mentorapi.matching.schemas import RecommendationRequest
from mentorapi.mentors.schemas import MAX_SKILL_FILTERS
from tests import conftest
from tests.conftest import Tenant, count_statements, own
from tests.factories import (
    as_member,
    book_session,
    bookable,
    create_mentee,
    create_mentor,
    create_skill,
    mint_token,
)
from tests.matching.conftest import mentor as create_matching_mentor

WEEK = {"start": "2027-03-22T00:00:00Z", "end": "2027-04-05T00:00:00Z"}  # Berlin's DST switch


class _Recorder:
    """An ASGI app around another that remembers which route served the last request."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.route: object = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.route = scope.get("route")


@dataclass
class Faces:
    lean: _Recorder
    plain: _Recorder
    key: str

    async def both(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[httpx.Response, httpx.Response]:
        sent = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        answers = []
        for recorder in (self.lean, self.plain):
            transport = conftest.ServerTransport(app=recorder)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                answers.append(await client.request(method, path, headers=sent))
        return answers[0], answers[1]


@pytest.fixture(scope="module")
async def plain_app(database_url: str) -> AsyncIterator[FastAPI]:
    settings = conftest.test_settings(database_url, lean_routes=False)
    async with conftest.running(create_app(settings)) as application:
        yield application


@pytest.fixture
def faces(app: FastAPI, plain_app: FastAPI, tenant: Tenant) -> Faces:
    return Faces(_Recorder(app), _Recorder(plain_app), tenant.key)


def _same(lean: httpx.Response, plain: httpx.Response) -> None:
    assert lean.status_code == plain.status_code, (lean.text, plain.text)
    assert lean.headers.multi_items() == plain.headers.multi_items()
    assert lean.content == plain.content


async def _mentor(tenant: Tenant) -> dict[str, Any]:
    base = await bookable(tenant.client, weekly_capacity=3, buffer_minutes=10)
    await book_session(tenant.client, base, "2027-03-23T08:00:00Z")
    await book_session(tenant.client, base, "2027-03-29T09:30:00Z")
    return base


def _query(**params: str) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items())


async def test_valid_requests_are_answered_by_the_lean_route_with_the_same_bytes(
    faces: Faces, tenant: Tenant
) -> None:
    base = await _mentor(tenant)
    slots = f"/v1/mentors/{base['mentor_id']}/slots"
    queries = [
        _query(**WEEK, duration="30"),
        _query(**WEEK, duration="15", timezone="America/New_York"),
        _query(**WEEK, duration="30", timezone="Asia/Kolkata"),
        # Offsets, percent-encoded as they must be ('+' alone is a space in a query string).
        _query(start="2027-03-22T01:00:00%2B01:00", end="2027-03-29T00:00:00-04:00", duration="30"),
        # Repeated (the last one counts) and unknown parameters (ignored).
        _query(**WEEK, duration="15") + "&duration=30&page=2",
        _query(start=WEEK["start"], end="2027-03-22T00:00:00Z", duration="30"),  # end = start
        _query(start=WEEK["start"], end="2027-05-01T00:00:00Z", duration="30"),  # > 31 days
        _query(**WEEK, duration="45"),  # valid, but not a length the mentor offers
        _query(**WEEK, duration="30", timezone="Mars/Olympus_Mons"),  # not a zone
    ]
    for query in queries:
        lean, plain = await faces.both("GET", f"{slots}?{query}")
        _same(lean, plain)
        assert isinstance(faces.lean.route, LeanRoute), query
        assert isinstance(faces.plain.route, APIRoute), query
    lean, plain = await faces.both("GET", f"{slots}?{queries[0]}")
    assert lean.status_code == 200
    assert len(lean.json()["data"]) > 50


async def test_invalid_parameters_fall_through_to_the_documented_route(
    faces: Faces, tenant: Tenant
) -> None:
    base = await _mentor(tenant)
    mentor = base["mentor_id"]
    queries = [
        _query(end=WEEK["end"], duration="30"),  # no start
        _query(start="yesterday", end=WEEK["end"], duration="30"),
        _query(start="2027-03-22T00:00:00", end=WEEK["end"], duration="30"),  # naive
        _query(start="2027-03-22T00:00:00+01:00", end=WEEK["end"], duration="30"),  # '+' = ' '
        _query(**WEEK, duration="4"),
        _query(**WEEK, duration="thirty"),
        _query(**WEEK),
        _query(**WEEK, duration="30", timezone="x" * 65),
        _query(start="9999-01-01T00:00:00Z", end="9999-01-02T00:00:00Z", duration="30"),
    ]
    for path in [f"/v1/mentors/{mentor}/slots?{q}" for q in queries] + [
        f"/v1/mentors/{base['skill_id']}/slots?{_query(**WEEK, duration='30')}",  # a skill id
        f"/v1/mentors/not-an-id/slots?{_query(**WEEK, duration='30')}",
        f"/v1/mentors/{'m' * 5000}/slots?{_query(**WEEK, duration='30')}",
    ]:
        lean, plain = await faces.both("GET", path)
        _same(lean, plain)
        assert lean.status_code == 422, (path, lean.text)
        assert not isinstance(faces.lean.route, LeanRoute), path


async def test_errors_the_service_raises_are_the_same_problems(
    faces: Faces, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await _mentor(other_tenant)
    query = _query(**WEEK, duration="30")
    for path in (
        f"/v1/mentors/mtr_01JD0000000000000000000000/slots?{query}",  # unknown
        f"/v1/mentors/{theirs['mentor_id']}/slots?{query}",  # another app's
    ):
        lean, plain = await faces.both("GET", path)
        _same(lean, plain)
        assert lean.status_code == 404
        assert lean.headers["content-type"] == "application/problem+json"
        assert isinstance(faces.lean.route, LeanRoute)


async def test_credentials_methods_and_cors_are_handled_alike(faces: Faces, tenant: Tenant) -> None:
    base = await _mentor(tenant)
    path = f"/v1/mentors/{base['mentor_id']}/slots?{_query(**WEEK, duration='30')}"
    for headers, status in (
        ({"Authorization": ""}, 401),
        ({"Authorization": "Bearer mk_not-a-key"}, 401),
        ({"Authorization": "Basic abc"}, 401),
    ):
        lean, plain = await faces.both("GET", path, headers)
        _same(lean, plain)
        assert lean.status_code == status, lean.text

    for method in ("HEAD", "POST", "DELETE"):
        lean, plain = await faces.both(method, path)
        _same(lean, plain)
        assert lean.status_code == 405

    origin = "https://mentoring.example"
    response = await tenant.client.patch("/v1/app", json={"cors_origins": [origin]})
    assert response.status_code == 200, response.text
    for sent in (origin, "https://elsewhere.example"):
        lean, plain = await faces.both("GET", path, {"Origin": sent})
        _same(lean, plain)
        assert isinstance(faces.lean.route, LeanRoute)
    assert lean.status_code == 200

    mentee = (await tenant.client.get(f"/v1/mentees/{base['mentee_id']}")).json()
    token = await mint_token(tenant.client, mentee["external_id"], "mentee")
    member = {"Authorization": f"Bearer {token}"}
    lean, plain = await faces.both("GET", path, member)
    _same(lean, plain)
    assert lean.status_code == 200, lean.text
    async with as_member(tenant.client, token) as client:
        assert (await client.get(path)).content == lean.content


async def test_the_lean_route_runs_the_same_statements(faces: Faces, tenant: Tenant) -> None:
    base = await _mentor(tenant)
    path = f"/v1/mentors/{base['mentor_id']}/slots?{_query(**WEEK, duration='30')}"
    counted = []
    for recorder in (faces.lean, faces.plain):
        transport = conftest.ServerTransport(app=recorder)
        headers = {"Authorization": f"Bearer {faces.key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            with count_statements() as statements:
                assert (await client.get(path, headers=headers)).status_code == 200
        counted.append(statements)
    assert own(counted[0]) == own(counted[1])
    assert len(own(counted[0])) == 1  # mentor + availability + sessions (and the key, maybe)


async def test_metrics_label_lean_requests_with_the_route_template(
    app: FastAPI, tenant: Tenant
) -> None:
    base = await _mentor(tenant)
    path = f"/v1/mentors/{base['mentor_id']}/slots?{_query(**WEEK, duration='30')}"
    assert (await tenant.client.get(path)).status_code == 200
    metrics = (await tenant.client.get("/metrics")).text
    assert 'route="/v1/mentors/{mentor_id}/slots",status="200"' in metrics
    assert base["mentor_id"] not in metrics


# --- the mentor list ------------------------------------------------------------------------------


async def _directory(tenant: Tenant) -> dict[str, str]:
    first = await create_skill(tenant.client)
    second = await create_skill(tenant.client)
    for n in range(5):
        skills = [{"skill_id": first["id"], "level": 1 + n % 5}]
        if n % 2:
            skills.append({"skill_id": second["id"], "level": 3})
        await create_mentor(
            tenant.client,
            name=f"Mentor {n}",
            skills=skills,
            languages=["en", "de"] if n % 2 else ["en"],
            formats=["video"] if n % 3 else ["chat"],
        )
    return {"first": first["slug"], "second": second["slug"]}


async def test_the_mentor_list_answers_alike_on_both_faces(faces: Faces, tenant: Tenant) -> None:
    slugs = await _directory(tenant)
    a, b = slugs["first"], slugs["second"]
    page = (await tenant.client.get("/v1/mentors", params={"limit": 2})).json()
    cursor = page["next_cursor"]
    assert cursor
    queries = [
        "",
        f"skill={a}",
        f"skill={a}&skill={b}",
        f"skill={a},{b}",
        f"skill={a}&limit=1",
        f"limit=2&cursor={cursor}",
        "q=Mentor",
        "language=de",
        "format=chat",
        "session_length=30",
        "sort=name",
        f"sort=name&skill={b}&limit=3",
        "limit=100&page=7",  # an unknown parameter is ignored
        "limit=5&limit=1",  # the last one counts
        # Valid parameters the service refuses: the same problems.
        "cursor=not-a-cursor",
        f"cursor={cursor}&sort=name",  # a cursor of another sort order
        "skill=" + ",".join(f"s{n}" for n in range(11)),  # more than 10 skills
        "language=not a tag",
    ]
    for query in queries:
        lean, plain = await faces.both("GET", f"/v1/mentors?{query}")
        _same(lean, plain)
        assert isinstance(faces.lean.route, LeanRoute), query
    lean, _ = await faces.both("GET", f"/v1/mentors?skill={a}")
    assert lean.status_code == 200
    assert len(lean.json()["data"]) == 5


async def test_the_mentor_list_falls_through_on_invalid_parameters(
    faces: Faces, tenant: Tenant
) -> None:
    await _directory(tenant)
    for query in (
        "limit=0",
        "limit=101",
        "limit=many",
        "sort=rating-ish",
        "format=carrier-pigeon",
        "session_length=half",
        "session_length=90",  # out of 5-60, as the documented parameter declares
        "q=" + "x" * 101,
        "cursor=" + "x" * (MAX_CURSOR_LENGTH + 1),
        "&".join(["skill=a"] * (MAX_SKILL_FILTERS + 1)),  # past its maxItems, as declared
    ):
        lean, plain = await faces.both("GET", f"/v1/mentors?{query}")
        _same(lean, plain)
        assert lean.status_code == 422, (query, lean.text)
        assert not isinstance(faces.lean.route, LeanRoute), query
    for method in ("HEAD", "PUT"):
        lean, plain = await faces.both(method, "/v1/mentors")
        _same(lean, plain)
    lean, plain = await faces.both("GET", "/v1/mentors/")  # a trailing slash: FastAPI's answer
    _same(lean, plain)
    assert not isinstance(faces.lean.route, LeanRoute)


# --- a lean route takes exactly the documented endpoint's parameters ---------------------------


def test_a_lean_route_reads_its_parameters_off_the_documented_endpoint() -> None:
    """A filter added to the documented endpoint (or to a dependency of it) is validated by
    the lean route too: nothing is listed twice, so nothing can be skipped silently."""

    def paging(limit: Annotated[int, Query(ge=1, le=100)] = 20, cursor: str | None = None) -> int:
        return limit

    async def documented(
        thing_id: Annotated[str, Path(max_length=5)],
        page: Annotated[int, Depends(paging)],
        tag: Annotated[list[str], Query()] = [],  # noqa: B006
        new_filter: Annotated[int | None, Query(ge=3)] = None,
    ) -> None:
        return None

    async def handler(_request: Request, _values: dict[str, Any]) -> Response:
        return Response()

    route = lean.LeanRoute("/things/{thing_id}", handler, documented=documented)
    assert set(route.path_params) == {"thing_id"}
    assert set(route.query) == {"limit", "cursor", "tag", "new_filter"}
    assert route.query["tag"].many
    assert route.query["tag"].default == []

    def match(query: str, thing: str = "abc") -> Match:
        scope = {
            "type": "http",
            "method": "GET",
            "path": f"/things/{thing}",
            "root_path": "",
            "query_string": query.encode(),
        }
        return route.matches(scope)[0]

    assert match("limit=5&tag=a&tag=b&new_filter=4") is Match.FULL
    # Each constraint the documented route declares makes the lean route fall through.
    assert match("new_filter=2") is Match.NONE
    assert match("limit=0") is Match.NONE
    assert match("", thing="toolong") is Match.NONE


def test_a_lean_route_refuses_an_endpoint_that_reads_headers() -> None:
    async def documented(if_none_match: Annotated[str | None, Header()] = None) -> None:
        return None

    async def handler(_request: Request, _values: dict[str, Any]) -> Response:
        return Response()

    with pytest.raises(ValueError, match="Header"):
        lean.LeanRoute("/things", handler, documented=documented)


# --- recommendations: a POST with a JSON body -------------------------------------------------

RECOMMENDATIONS = "/v1/matching/recommendations"
UNKNOWN_SKILL = "skl_01JD8X4K8Y3N6Q2W5E7R9T1V3V"
HUGE_INT = b"9" * 5000  # past the interpreter's 4,300 digits: a ValueError that is no JSON error
ASK_WEEK = {"from": "2027-03-22T00:00:00Z", "to": "2027-03-29T00:00:00Z"}


async def _post_both(
    faces: Faces, content: bytes, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, httpx.Response]:
    sent = {
        "Authorization": f"Bearer {faces.key}",
        "Content-Type": "application/json",
        **(headers or {}),
    }
    answers = []
    for recorder in (faces.lean, faces.plain):
        transport = conftest.ServerTransport(app=recorder)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers.append(await client.post(RECOMMENDATIONS, content=content, headers=sent))
    return answers[0], answers[1]


async def _askers(tenant: Tenant) -> dict[str, str]:
    skill = await create_skill(tenant.client, name="Pivot tables")
    for bio in ("Pivot tables for sales reports", "Tablas dinámicas, ça va"):
        await create_matching_mentor(tenant.client, skill["id"], headline="Excel analyst", bio=bio)
    mentee = await create_mentee(tenant.client)
    return {"skill": skill["id"], "mentee": mentee["id"]}


def _body(**fields: Any) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode()


async def test_recommendations_are_answered_by_the_lean_route_with_the_same_bytes(
    faces: Faces, tenant: Tenant
) -> None:
    ids = await _askers(tenant)
    mentee = ids["mentee"]
    bodies = [
        _body(mentee_id=mentee, ask="pivot tables for sales", window=ASK_WEEK),
        _body(mentee_id=mentee, ask="tablas dinámicas", window=ASK_WEEK, duration_minutes=30),
        _body(
            mentee_id=mentee,
            ask="pivot",
            skills=[{"skill_id": ids["skill"], "min_level": 1}],
            languages=["en"],
            format="video",
            limit=1,
            window=ASK_WEEK,
        ),
        # Errors the service raises: the lean route answers them (problem+json).
        _body(mentee_id="mte_01JD8X9E3F4G5H6J7K8M9N0P1Q", ask="pivot tables"),
        _body(
            mentee_id=mentee, ask="pivot", skills=[{"skill_id": "skl_01JD8X4K8Y3N6Q2W5E7R9T1V3V"}]
        ),
    ]
    statuses = []
    for content in bodies:
        with count_statements() as on_lean:
            lean, plain = await _post_both(faces, content)
        _same(lean, plain)
        assert isinstance(faces.lean.route, LeanBodyRoute), content
        assert isinstance(faces.plain.route, APIRoute), content
        statuses.append(lean.status_code)
        if lean.status_code == 200:
            # Each face ran the same statements (none written: a read-only unit of work).
            half = len(own(on_lean)) // 2
            assert own(on_lean)[:half] == own(on_lean)[half:]
            assert not any(s.lstrip().upper().startswith("BEGIN") for s in own(on_lean))
    assert statuses == [200, 200, 200, 404, 404]


async def test_invalid_bodies_fall_through_to_the_documented_route(
    faces: Faces, tenant: Tenant
) -> None:
    ids = await _askers(tenant)
    mentee = ids["mentee"]
    cases: list[tuple[bytes, dict[str, str], int]] = [
        (b"", {}, 422),
        (b"not json", {}, 422),
        (b"[]", {}, 422),
        # Deeper than the parser's stack (a RecursionError, not a ValueError): FastAPI's 400.
        (b"[" * 100_000, {}, 400),
        (_body(mentee_id=mentee, ask="pivot").replace(b"}", b', "limit": %s}' % HUGE_INT), {}, 400),
        (b'"pivot tables"', {}, 422),
        (_body(mentee_id=12, ask="pivot tables"), {}, 422),
        (_body(mentee_id=mentee, ask="pivot tables", limit=0), {}, 422),
        (_body(mentee_id=mentee, ask="pivot tables", extra="not a field"), {}, 422),
        (_body(mentee_id=mentee, ask="  "), {}, 422),
        (_body(mentee_id=mentee, ask="pivot\x00tables"), {}, 422),  # JSON's \u0000
        (b'{"mentee_id": "%s", "ask": "pivot \\ud800 tables"}' % mentee.encode(), {}, 422),
        (_body(mentee_id=mentee, ask="pivot tables", languages=["de\x00"]), {}, 422),
        # A content type FastAPI does not read as JSON: its 422.
        (_body(mentee_id=mentee, ask="pivot tables"), {"Content-Type": "text/plain"}, 422),
        # On the documented route a body that is not JSON is refused first (422), then a bad
        # credential (401), before a body that does not validate.
        (b"not json", {"Authorization": "Bearer mk_not-a-key"}, 422),
        (_body(mentee_id=12, ask="pivot"), {"Authorization": "Bearer mk_not-a-key"}, 401),
    ]
    for content, headers, status in cases:
        lean, plain = await _post_both(faces, content, headers)
        _same(lean, plain)
        assert lean.status_code == status, (content, lean.text)
        assert isinstance(faces.lean.route, APIRoute), content
    # A valid body with a bad credential: the lean route, the same 401.
    lean, plain = await _post_both(
        faces, _body(mentee_id=mentee, ask="pivot"), {"Authorization": "Bearer mk_not-a-key"}
    )
    _same(lean, plain)
    assert lean.status_code == 401
    assert isinstance(faces.lean.route, LeanBodyRoute)


# Content types FastAPI reads as JSON (application/json or application/*+json, any case, any
# parameters), and ones it does not: the body is then not JSON to it, its 422.
JSON_TYPES = [
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    'application/json; charset="utf-8"',
    "Application/JSON",
    "APPLICATION/JSON; CHARSET=UTF-8",
    "application/json;",
    "application/vnd.api+json",
    "application/merge-patch+json; charset=utf-8",
    "APPLICATION/PROBLEM+JSON",
]
NOT_JSON_TYPES = [
    "text/json",
    "text/plain; charset=utf-8",
    "application/jsonx",
    "application/json-seq",
    "application/x-json",
    "application/ json",
    "application/json, text/plain",
    "application",
    "json",
    "*/*",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
]


async def test_every_json_content_type_fastapi_reads_takes_the_lean_route(
    faces: Faces, tenant: Tenant
) -> None:
    """The lean route takes exactly the bodies FastAPI would read as JSON, with the same bytes
    for the answer; anything else goes to the documented route."""
    ids = await _askers(tenant)
    content = _body(mentee_id=ids["mentee"], ask="pivot tables", window=ASK_WEEK)
    for content_type in [*JSON_TYPES, *NOT_JSON_TYPES]:
        lean, plain = await _post_both(faces, content, {"Content-Type": content_type})
        _same(lean, plain)
        is_json = content_type in JSON_TYPES
        assert plain.status_code == (200 if is_json else 422), (content_type, plain.text)
        served = LeanBodyRoute if is_json else APIRoute
        assert isinstance(faces.lean.route, served), content_type
    # Two Content-Type headers: left to FastAPI (which reads the first).
    for types in (["application/json", "application/json"], ["text/plain", "application/json"]):
        headers = [("Authorization", f"Bearer {faces.key}"), *(("Content-Type", t) for t in types)]
        answers = []
        for recorder in (faces.lean, faces.plain):
            transport = conftest.ServerTransport(app=recorder)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                answers.append(await client.post(RECOMMENDATIONS, content=content, headers=headers))
        _same(answers[0], answers[1])
        assert isinstance(faces.lean.route, APIRoute), types


def test_a_lean_body_route_takes_the_documented_endpoints_body() -> None:
    class Other(BaseModel):
        x: int

    async def documented(body: Other) -> None:
        return None

    async def with_query(body: Other, q: str | None = None) -> None:
        return None

    async def handler(_request: Request, _body: Any) -> Response:
        return Response()

    assert lean.LeanBodyRoute("/things", handler, documented=documented, body=Other).body is Other
    with pytest.raises(ValueError, match="body is not"):
        lean.LeanBodyRoute("/things", handler, documented=documented, body=RecommendationRequest)
    with pytest.raises(ValueError, match="its body only"):
        lean.LeanBodyRoute("/things", handler, documented=with_query, body=Other)


# --- bookings: POST /v1/sessions, the busiest write -----------------------------------------

SESSIONS = "/v1/sessions"
# What differs between two bookings made alike (new ids, the clock, the slot asked for).
_OWN_VALUES = ("id", "starts_at", "ends_at", "expires_at", "created_at", "updated_at")


async def _book_both(
    faces: Faces, contents: tuple[bytes, bytes], headers: tuple[dict[str, str], dict[str, str]]
) -> tuple[httpx.Response, httpx.Response]:
    answers = []
    for recorder, content, extra in zip((faces.lean, faces.plain), contents, headers, strict=True):
        sent = {
            "Authorization": f"Bearer {faces.key}",
            "Content-Type": "application/json",
            **extra,
        }
        transport = httpx.ASGITransport(app=recorder)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers.append(await client.post(SESSIONS, content=content, headers=sent))
    return answers[0], answers[1]


def _as_lean_booked(lean: httpx.Response, plain: httpx.Response) -> bytes:
    """The plain face's body with the values that must differ between two bookings (ids,
    times) written as the lean face's: the bytes must then be the same."""
    mine, theirs = lean.json(), plain.json()
    content = plain.content
    for name in _OWN_VALUES:
        if theirs[name] is not None:
            content = content.replace(
                json.dumps(theirs[name]).encode(), json.dumps(mine[name]).encode(), 1
            )
    return content


async def test_bookings_are_answered_by_the_lean_route_with_the_same_bytes(
    faces: Faces, tenant: Tenant
) -> None:
    base = await bookable(tenant.client)
    requested = await bookable(tenant.client, auto_accept=False)
    slots = iter(f"2027-03-{day}T{hour:02d}:00:00Z" for day in (23, 24) for hour in range(9, 14))
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        (base, {}),
        (base, {"Idempotency-Key": "first"}),  # each face its own key (kept per face below)
        ({**base, "questions": [], "topic": "  Pivot tables, once more please  "}, {}),
        (requested, {}),  # requested: it expires unanswered at its start
        ({**base, "format": "chat", "duration_minutes": 15}, {}),
    ]
    for fields, headers in cases:
        bodies = []
        for _ in range(2):
            bodies.append(_body(**fields, starts_at=next(slots)))
        keyed = [{k: f"{v}-{face}" for k, v in headers.items()} for face in ("lean", "plain")]
        with count_statements() as statements:
            lean, plain = await _book_both(faces, (bodies[0], bodies[1]), (keyed[0], keyed[1]))
        assert lean.status_code == 201, lean.text
        assert isinstance(faces.lean.route, LeanBodyRoute)
        assert isinstance(faces.plain.route, APIRoute)
        assert lean.headers.multi_items() == plain.headers.multi_items()
        assert lean.content == _as_lean_booked(lean, plain)
        # Each face ran the same statements, in the same order.
        half = len(own(statements)) // 2
        assert own(statements)[:half] == own(statements)[half:]
        if headers:
            # The key kept the lean face's answer: a retry replays its bytes.
            transport = httpx.ASGITransport(app=faces.lean)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                again = await client.post(
                    SESSIONS,
                    content=bodies[0],
                    headers={
                        "Authorization": f"Bearer {faces.key}",
                        "Content-Type": "application/json",
                        **keyed[0],
                    },
                )
            assert again.status_code == 201
            assert again.content == lean.content
            assert again.headers["idempotent-replayed"] == "true"


async def test_booking_refusals_are_the_same_problems_on_both_faces(
    faces: Faces, tenant: Tenant
) -> None:
    base = await bookable(tenant.client)
    await book_session(tenant.client, base, "2027-03-23T09:00:00Z")
    other = await create_skill(tenant.client, name="Macros")
    cases: list[tuple[bytes, dict[str, str], int]] = [
        (_body(**base, starts_at="2027-03-23T09:00:00Z"), {}, 409),  # taken
        (_body(**base, starts_at="2027-03-23T09:15:00Z"), {}, 409),  # overlaps it
        (_body(**base, starts_at="2027-03-23T03:00:00Z"), {}, 409),  # outside the hours
        (_body(**{**base, "skill_id": other["id"]}, starts_at="2027-03-24T09:00:00Z"), {}, 422),
        (_body(**base, starts_at="2027-03-24T09:00:30Z"), {}, 422),  # not a whole minute
        (_body(**{**base, "format": "async"}, starts_at="2027-03-24T09:00:00Z"), {}, 422),
        (_body(**base), {}, 422),  # no start
        (_body(**{**base, "mentor_id": "mtr_01JD8X4K8Y3N6Q2W5E7R9T1V3V"}), {}, 404),
        (_body(**{**base, "mentee_id": "mte_01JD8X9E3F4G5H6J7K8M9N0P1Q"}), {}, 404),
        # A refusal with a key is kept, and the same on both faces.
        (_body(**base, starts_at="2027-03-23T09:00:00Z"), {"Idempotency-Key": "taken"}, 409),
        (_body(**base, starts_at="2027-03-23T09:00:00Z"), {"Authorization": "Bearer mk_no"}, 401),
    ]
    for content, headers, status in cases:
        keyed = [{k: f"{v}-{face}" for k, v in headers.items()} for face in ("lean", "plain")]
        if "Authorization" in headers:
            keyed = [headers, headers]
        with count_statements() as statements:
            lean, plain = await _book_both(faces, (content, content), (keyed[0], keyed[1]))
        _same(lean, plain)
        assert lean.status_code == status, (content, lean.text)
        assert isinstance(faces.lean.route, LeanBodyRoute), content
        half = len(own(statements)) // 2
        assert own(statements)[:half] == own(statements)[half:], content


async def test_invalid_booking_bodies_fall_through_to_the_documented_route(
    faces: Faces, tenant: Tenant
) -> None:
    base = await bookable(tenant.client)
    start = {"starts_at": "2027-03-23T09:00:00Z"}
    cases: list[tuple[bytes, dict[str, str], int]] = [
        (b"", {}, 422),
        (b"not json", {}, 422),
        (b"[]", {}, 422),
        (_body(**{**base, "duration_minutes": 61}, **start), {}, 422),
        (_body(**{**base, "topic": "short"}, **start), {}, 422),
        (_body(**base, **start, extra="not a field"), {}, 422),
        (_body(**base, starts_at="2027-03-23T09:00:00"), {}, 422),  # no offset
        (_body(**{**base, "topic": "Pivot tables\x00 and more"}, **start), {}, 422),
        (_body(**base, **start), {"Content-Type": "text/plain"}, 422),
        (_body(**base, **start), {"Idempotency-Key": "x" * 256}, 422),
        (_body(**{**base, "mentor_id": 12}, **start), {"Authorization": "Bearer mk_no"}, 401),
        (b"not json", {"Idempotency-Key": "bad-body"}, 422),
    ]
    for content, headers, status in cases:
        with count_statements() as statements:
            lean, plain = await _book_both(faces, (content, content), (headers, headers))
        _same(lean, plain)
        assert lean.status_code == status, (content, lean.text)
        # The documented route (or the middleware, for a bad key) answered.
        assert not isinstance(faces.lean.route, LeanBodyRoute), content
        half = len(own(statements)) // 2
        assert own(statements)[:half] == own(statements)[half:], content
    # A valid body in another content type FastAPI reads as JSON: the lean route books it too.
    lean, plain = await _book_both(
        faces,
        (_body(**base, **start), _body(**base, starts_at="2027-03-23T10:00:00Z")),
        ({"Content-Type": "application/json; charset=utf-8"},) * 2,
    )
    assert (lean.status_code, plain.status_code) == (201, 201)
    assert isinstance(faces.lean.route, LeanBodyRoute)
