"""Hand-made cursors: a 422 (REST) or BAD_USER_INPUT (GraphQL), never a 500 or a dropped
connection, on every list of both faces (lean routes and documented ones alike).

A cursor is opaque to clients but trivially forged (base64url of a JSON array). Before the
values it holds reach a query as parameters, each is checked against the kind its sort key
expects (kit/pagination.py): a list, a 25-digit integer, NaN, a lone surrogate, a NUL or an id
of another kind used to reach the drivers and fail there (sqlite3 "type list is not supported",
asyncpg DataError), a 500.
"""

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentorapi.main import create_app
from tests import conftest
from tests.conftest import Tenant
from tests.factories import create_mentee, create_mentor, create_skill, unique
from tests.gql.helpers import gql
from tests.security.cursor_routes import (
    LISTINGS,
    Listing,
    World,
    forge,
    gql_query,
    make_world,
    rest_request,
)

# A value of each kind a cursor may carry (so a bad value can sit beside good ones).
GOOD = {
    "id": lambda listing: f"{listing.prefix}_01JD0000000000000000000000",
    "text": lambda listing: "m",
    "int": lambda listing: 3,
    "float": lambda listing: 4.5,
}

# Values that no sort key accepts, whatever its kind.
NEVER = [[1, 2, 3], {"a": 1}, None, True, 10**25, "\x00", "\ud800", "a\x00b"]
# And values wrong for one kind only.
WRONG = {
    "id": [1, 1.5, "x", "mtr", "app_01JD0000000000000000000000", "a" * 40],
    "text": [1, 1.5, "n" * 300],
    "int": [1.5, "1", 2**31, -(2**31) - 1, 2**63],
    "float": ["1", float("nan"), float("inf"), float("-inf"), 2**60],
}


def bad_cursors(listing: Listing) -> list[tuple[str, str]]:
    """(sort, cursor) pairs, each with one bad value in one position."""
    found = []
    for sort, kinds in listing.sorts.items():
        good = [GOOD[kind](listing) for kind in kinds]
        for position, kind in enumerate(kinds):
            wrong: list[Any] = [*NEVER, *WRONG[kind]]
            if kind == "id":
                # an id of another kind of row (a mentee's id in the mentor list, ...)
                other = "ses" if listing.prefix != "ses" else "mte"
                wrong.append(f"{other}_01JD0000000000000000000000")
            for value in wrong:
                values = list(good)
                values[position] = value
                found.append((sort, forge(sort, *values)))
        found.append((sort, forge(sort, *good, *good[-1:])))  # one value too many
        found.append((sort, forge(sort)))  # none
    found += [("", forge()), ("", forge({"sort": 1})), ("", "!!!"), ("", forge(1.5, 2))]
    return found


@pytest.fixture(scope="module")
async def plain_app(database_url: str) -> AsyncIterator[FastAPI]:
    """The application without lean routes: every list answered by its documented route."""
    settings = conftest.test_settings(database_url, lean_routes=False)
    async with conftest.running(create_app(settings)) as application:
        yield application


@pytest.fixture
async def world(tenant: Tenant) -> World:
    return await make_world(tenant.client)


def _client(app: FastAPI, key: str) -> httpx.AsyncClient:
    # raise_app_exceptions=False: a 500 is an answer to assert on, not an exception that stops
    # the loop at the first one.
    transport = conftest.ServerTransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)


def _is_cursor_problem(response: httpx.Response) -> bool:
    if response.status_code != 422:
        return False
    body = response.json()
    return response.headers["content-type"].startswith("application/problem+json") and any(
        e["loc"] == ["query", "cursor"] for e in body.get("errors", [])
    )


@pytest.mark.parametrize("listing", LISTINGS, ids=lambda listing: listing.name)
async def test_a_forged_cursor_is_a_422_on_every_rest_list(
    app: FastAPI, plain_app: FastAPI, tenant: Tenant, world: World, listing: Listing
) -> None:
    wrong = []
    for face in (app, plain_app):  # the lean routes, then the documented ones
        async with _client(face, tenant.key) as client:
            for sort, cursor in bad_cursors(listing):
                path, params = rest_request(listing, world, sort or next(iter(listing.sorts)))
                response = await client.get(path, params={**params, "cursor": cursor})
                if not _is_cursor_problem(response):
                    wrong.append((sort, cursor, response.status_code, response.text[:200]))
    assert not wrong, wrong


@pytest.mark.parametrize("listing", LISTINGS, ids=lambda listing: listing.name)
async def test_a_forged_cursor_is_bad_user_input_on_every_connection(
    app: FastAPI, tenant: Tenant, world: World, listing: Listing
) -> None:
    wrong = []
    async with _client(app, tenant.key) as client:
        for sort, cursor in bad_cursors(listing):
            query = gql_query(listing, world, sort or next(iter(listing.sorts)))
            response = await client.post(
                "/graphql", json={"query": query, "variables": {"after": cursor}}
            )
            body = response.json() if response.status_code == 200 else {}
            errors = body.get("errors") or []
            if not (
                body.get("data") is None
                and len(errors) == 1
                and errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
                and errors[0]["extensions"]["errors"][0]["loc"] == ["after"]
            ):
                wrong.append((sort, cursor, response.status_code, response.text[:200]))
    assert not wrong, wrong


async def test_a_cursor_with_a_skill_filter_is_checked_too(tenant: Tenant, world: World) -> None:
    # The skill-only mentor list reads the links table first (another statement, another key).
    skills = (await tenant.client.get("/v1/skills")).json()["data"]
    slug = skills[0]["slug"]
    for value in ([1, 2, 3], 10**25, "ses_01JD0000000000000000000000"):
        response = await tenant.client.get(
            "/v1/mentors", params={"skill": slug, "cursor": forge("created", value)}
        )
        assert _is_cursor_problem(response), response.text


async def test_a_cursor_positions_but_never_reaches_another_apps_rows(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    """A cursor built from another app's rows is a position in the order, nothing more."""
    mine = {(await create_mentor(tenant.client, name=f"Mine {i}"))["id"] for i in range(3)}
    theirs = [(await create_mentor(other_tenant.client, name="Theirs"))["id"] for _ in range(3)]
    for sort, values in (
        ("created", [theirs[0]]),
        ("-created", [theirs[-1]]),
        ("name", ["A", theirs[0]]),
        ("rating", [5.0, theirs[0]]),
        ("sessions", [0, theirs[0]]),
    ):
        seen = set()
        cursor: str | None = forge(sort, *values)
        while cursor:
            page = await tenant.client.get(
                "/v1/mentors", params={"sort": sort, "cursor": cursor, "limit": 2}
            )
            assert page.status_code == 200, page.text
            seen |= {m["id"] for m in page.json()["data"]}
            cursor = page.json()["next_cursor"]
        assert seen <= mine, sort


# --- any text at all --------------------------------------------------------------------------

CURSOR_TEXT = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=120).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=8,
    ).map(lambda value: forge(*value) if isinstance(value, list) else forge(value)),
    st.tuples(
        st.sampled_from(
            ["created", "-created", "name", "-name", "rating", "sessions", "slug", "id", "-id"]
        ),
        st.lists(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
            max_size=3,
        ),
    ).map(lambda pair: forge(pair[0], *pair[1])),
)

PROPERTY = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("listing", LISTINGS, ids=lambda listing: listing.name)
@PROPERTY
@given(cursor=CURSOR_TEXT, data=st.data())
async def test_any_text_as_a_cursor_is_200_or_422(
    app: FastAPI, tenant: Tenant, world: World, listing: Listing, cursor: str, data: st.DataObject
) -> None:
    sort = data.draw(st.sampled_from(sorted(listing.sorts)), label="sort")
    async with _client(app, tenant.key) as client:
        path, params = rest_request(listing, world, sort)
        response = await client.get(path, params={**params, "cursor": cursor})
        assert response.status_code in (200, 422), (cursor, response.text)
        if response.status_code == 422:
            assert response.headers["content-type"].startswith("application/problem+json")
        body = await gql(client, gql_query(listing, world, sort), {"after": cursor})
    if body.get("errors"):
        codes = [e["extensions"]["code"] for e in body["errors"]]
        assert codes == ["BAD_USER_INPUT"], (cursor, body)
    else:
        assert body["data"][listing.gql_field] is not None


# --- walking every page ---------------------------------------------------------------------

NAMES = ["Ann", "Bob", "ann", "Émile", "Zoë", "Bob", "O'Neil", "Ann"]  # ties on purpose


async def _add_row(client: httpx.AsyncClient, listing: Listing, world: World, n: int) -> None:
    """One more row of the listing, as a client would add it."""
    if listing.name == "mentors":
        await create_mentor(client, name=NAMES[n % len(NAMES)])
    elif listing.name == "mentees":
        await create_mentee(client, name=NAMES[n % len(NAMES)])
    elif listing.name == "skills":
        await create_skill(client, slug=f"s{n % 7}-{unique('walk')}")
    elif listing.name == "webhook endpoints":
        response = await client.post(
            "/v1/webhook-endpoints", json={"url": f"https://example.com/{n}", "events": []}
        )
        assert response.status_code == 201, response.text
    else:
        assert listing.name == "events"
        response = await client.post(f"/v1/webhook-endpoints/{world.endpoint_id}/test")
        assert response.status_code in (200, 201, 202), response.text


WALKED = [x for x in LISTINGS if x.name in ("mentors", "mentees", "skills", "events")] + [
    x for x in LISTINGS if x.name == "webhook endpoints"
]


async def _page(
    client: httpx.AsyncClient,
    listing: Listing,
    world: World,
    sort: str,
    size: int,
    cursor: str | None,
    graphql: bool,
) -> tuple[list[str], str | None]:
    if graphql:
        body = await gql(client, gql_query(listing, world, sort, size), {"after": cursor})
        assert not body.get("errors"), body
        found = body["data"][listing.gql_field]
        info = found["pageInfo"]
        ids = [edge["node"]["id"] for edge in found["edges"]]
        return ids, info["endCursor"] if info["hasNextPage"] else None
    path, params = rest_request(listing, world, sort)
    params["limit"] = str(size)
    if cursor is not None:
        params["cursor"] = cursor
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]], response.json()["next_cursor"]


@pytest.mark.parametrize("listing", WALKED, ids=lambda listing: listing.name)
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_walking_the_pages_visits_every_row_once_while_rows_are_added(
    tenant: Tenant, world: World, listing: Listing, data: st.DataObject
) -> None:
    client = tenant.client
    # Enough rows for several pages (added once: the tenant lives for every example).
    before, more = await _page(client, listing, world, next(iter(listing.sorts)), 100, None, False)
    assert more is None
    for n in range(len(before), 14):
        await _add_row(client, listing, world, n)
    sort = data.draw(st.sampled_from(sorted(listing.sorts)), label="sort")
    graphql = data.draw(st.booleans(), label="graphql")
    before, more = await _page(client, listing, world, sort, 100, None, False)
    assert more is None  # one page of 100 holds every row: the reference order
    assert len(before) >= 14
    room = 80 - len(before)  # rows this walk may add, so that the next one's reference fits
    seen: list[str] = []
    cursor: str | None = None
    step = 0
    while True:
        size = data.draw(st.integers(1, 6), label="page size")
        fetch = _page(client, listing, world, sort, size, cursor, graphql)
        if step < room and data.draw(st.booleans(), label="insert during this page"):
            # Another client adds a row while the page is read.
            (ids, cursor), _ = await asyncio.gather(
                fetch, _add_row(client, listing, world, 100 + step)
            )
        else:
            ids, cursor = await fetch
        assert 0 < len(ids) <= size
        seen += ids
        step += 1
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a row came twice"
    missing = set(before) - set(seen)
    assert not missing, f"rows present before the walk were skipped: {missing}"
    # And in the order of the sort: the rows present before come as a full listing shows them.
    assert [row for row in seen if row in set(before)] == before
