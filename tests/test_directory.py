"""Skills, mentors and mentees: CRUD, search, pagination, versions and every ugly input."""

from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from mentorapi.db.engine import Database
from mentorapi.mentors.models import Mentor
from tests.conftest import Tenant, count_statements
from tests.factories import create_mentee, create_mentor, create_skill


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    if status == 422:
        assert body["errors"]
        assert {"loc", "msg", "type"} <= body["errors"][0].keys()
    return body


async def test_skill_crud_and_slug_uniqueness(tenant: Tenant) -> None:
    c = tenant.client
    skill = await create_skill(c, slug="Pivot-Tables", name=" Pivot tables ", category="data")
    assert skill["slug"] == "pivot-tables"  # normalised
    assert skill["name"] == "Pivot tables"
    assert_problem(await c.post("/v1/skills", json={"slug": "pivot-tables", "name": "x"}), 409)

    updated = await c.patch(
        f"/v1/skills/{skill['id']}", json={"description": "Summaries"}, headers={"If-Match": '"1"'}
    )
    assert updated.status_code == 200
    assert updated.json()["version"] == 2
    assert updated.headers["etag"] == '"2"'
    stale = await c.patch(
        f"/v1/skills/{skill['id']}", json={"name": "y"}, headers={"If-Match": '"1"'}
    )
    assert_problem(stale, 412)
    assert (await c.get(f"/v1/skills/{skill['id']}")).json()["name"] == "Pivot tables"

    listed = await c.get("/v1/skills", params={"category": "data"})
    assert [s["slug"] for s in listed.json()["data"]] == ["pivot-tables"]
    assert (await c.delete(f"/v1/skills/{skill['id']}")).status_code == 204
    assert_problem(await c.get(f"/v1/skills/{skill['id']}"), 404)


async def test_skill_in_use_cannot_be_deleted(tenant: Tenant) -> None:
    skill = await create_skill(tenant.client)
    mentor = await create_mentor(tenant.client, skills=[{"skill_id": skill["id"]}])
    body = assert_problem(await tenant.client.delete(f"/v1/skills/{skill['id']}"), 409)
    assert body["mentors"] == 1
    await tenant.client.put(f"/v1/mentors/{mentor['id']}/skills", json={"skills": []})
    assert (await tenant.client.delete(f"/v1/skills/{skill['id']}")).status_code == 204


async def test_mentor_lifecycle(tenant: Tenant) -> None:
    c = tenant.client
    sql = await create_skill(c, slug="sql")
    pivots = await create_skill(c, slug="pivots")
    mentor = await create_mentor(
        c,
        name="Amara",
        languages=["EN-us", "de", "en-US"],
        session_lengths=[30, 15, 15],
        skills=[
            {"slug": "sql", "level": 2},
            {"skill_id": pivots["id"], "level": 5, "note": "daily"},
        ],
    )
    assert mentor["languages"] == ["en-US", "de"]
    assert mentor["session_lengths"] == [15, 30]
    assert [(s["skill"]["slug"], s["level"]) for s in mentor["skills"]] == [
        ("pivots", 5),
        ("sql", 2),
    ]
    assert mentor["stats"] == {
        "sessions_completed": 0,
        "minutes_mentored": 0,
        "average_rating": None,
        "ratings_count": 0,
        "mentees_helped": 0,
        "impact_stories": 0,
    }
    assert mentor["created_at"].endswith("Z")

    put = await c.put(
        f"/v1/mentors/{mentor['id']}/skills", json={"skills": [{"skill_id": sql["id"], "level": 4}]}
    )
    assert put.status_code == 200
    assert [s["skill"]["slug"] for s in put.json()["skills"]] == ["sql"]
    assert put.json()["version"] == 2

    patched = await c.patch(f"/v1/mentors/{mentor['id']}", json={"headline": "SQL coach"})
    assert patched.json()["headline"] == "SQL coach"
    assert patched.json()["skills"][0]["level"] == 4
    dup = await c.post(
        "/v1/mentors",
        json={"external_id": mentor["external_id"], "name": "x", "timezone": "UTC"},
    )
    assert_problem(dup, 409)
    assert (await c.delete(f"/v1/mentors/{mentor['id']}")).status_code == 204
    assert_problem(await c.get(f"/v1/mentors/{mentor['id']}"), 404)


async def test_mentor_search_filters_all_must_match(tenant: Tenant) -> None:
    c = tenant.client
    await create_skill(c, slug="a")
    await create_skill(c, slug="b")
    both = await create_mentor(
        c,
        name="Both",
        skills=[{"slug": "a"}, {"slug": "b"}],
        languages=["de"],
        formats=["phone"],
        session_lengths=[60],
        bio="Loves 100% SQL_tuning",
    )
    only_a = await create_mentor(c, name="Only A", skills=[{"slug": "a"}], headline="pandas")

    async def ids(**params: Any) -> list[str]:
        response = await c.get("/v1/mentors", params=params)
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["data"]]

    assert await ids(skill=["a", "b"]) == [both["id"]]
    assert await ids(skill="a,b") == [both["id"]]
    assert await ids(skill="a") == [both["id"], only_a["id"]]
    assert await ids(skill="nope") == []
    assert await ids(q="PANDAS") == [only_a["id"]]
    assert await ids(q="100%") == [both["id"]]  # LIKE wildcards are literal
    assert await ids(q="SQL_t") == [both["id"]]
    assert await ids(q="%%") == []  # a literal "%%" appears nowhere
    assert await ids(q="__") == []
    assert await ids(language="DE") == [both["id"]]
    assert await ids(format="phone") == [both["id"]]
    assert await ids(session_length=60) == [both["id"]]
    assert await ids(session_length=15) == [only_a["id"]]
    assert await ids(sort="-created") == [only_a["id"], both["id"]]
    assert await ids(sort="name") == [both["id"], only_a["id"]]


@pytest.mark.parametrize("sort", ["created", "-created", "name", "-name", "rating", "sessions"])
async def test_cursor_pagination_walks_every_mentor_once(tenant: Tenant, sort: str) -> None:
    created = [
        await create_mentor(tenant.client, name=name)
        for name in ["Kim", "Ana", "Kim", "Zoe", "Bo", "Ana", "Lee"]
    ]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        page = (await tenant.client.get("/v1/mentors", params=params)).json()
        seen += [m["id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(m["id"] for m in created)
    assert len(seen) == len(set(seen))


async def test_list_runs_three_statements_whatever_the_page_size(tenant: Tenant) -> None:
    skill = await create_skill(tenant.client)
    for _ in range(12):
        await create_mentor(tenant.client, skills=[{"skill_id": skill["id"]}])
    for limit in (1, 5, 12):
        with count_statements() as statements:
            response = await tenant.client.get(
                "/v1/mentors", params={"skill": skill["slug"], "limit": limit}
            )
        assert len(response.json()["data"]) == limit
        assert len(statements) <= 3, statements


async def test_mentee_crud_with_seeking(tenant: Tenant) -> None:
    c = tenant.client
    await create_skill(c, slug="negotiation")
    mentee = await create_mentee(c, seeking=[{"slug": "negotiation", "level": 1}])
    assert mentee["seeking"][0]["skill"]["slug"] == "negotiation"
    patched = await c.patch(f"/v1/mentees/{mentee['id']}", json={"seeking": []})
    assert patched.json()["seeking"] == []
    assert patched.json()["version"] == 2
    listed = await c.get("/v1/mentees", params={"q": mentee["name"][:3]})
    assert [m["id"] for m in listed.json()["data"]] == [mentee["id"]]
    assert (await c.delete(f"/v1/mentees/{mentee['id']}")).status_code == 204


BAD_MENTORS = [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": 5}, "timezone"),
    ({"languages": ["xx-not-a-tag-really"]}, "languages"),
    ({"languages": "en"}, "languages"),
    ({"session_lengths": [4]}, "session_lengths"),
    ({"session_lengths": [61]}, "session_lengths"),
    ({"session_lengths": []}, "session_lengths"),
    ({"session_lengths": ["fifteen"]}, "session_lengths"),
    ({"formats": ["telepathy"]}, "formats"),
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"bio": "x" * 5001}, "bio"),
    ({"external_id": "e" * 129}, "external_id"),
    ({"languages": ["en"] * 21}, "languages"),
    ({"skills": [{"slug": "a", "skill_id": "skl_x"}]}, "skills"),
    ({"skills": [{"slug": "a", "level": 6}]}, "skills"),
    ({"unknown_field": 1}, "unknown_field"),
]


@pytest.mark.parametrize(("patch", "field"), BAD_MENTORS)
async def test_bad_mentor_input_is_a_422_and_writes_nothing(
    tenant: Tenant, patch: dict[str, Any], field: str
) -> None:
    body = {"external_id": "x1", "name": "N", "timezone": "UTC", **patch}
    problem = assert_problem(await tenant.client.post("/v1/mentors", json=body), 422)
    assert any(field in [str(p) for p in e["loc"]] for e in problem["errors"]), problem
    assert (await tenant.client.get("/v1/mentors")).json()["data"] == []


async def test_unknown_or_repeated_skill_is_a_422_and_writes_nothing(tenant: Tenant) -> None:
    await create_skill(tenant.client, slug="real")
    for skills in ([{"slug": "ghost"}], [{"slug": "real"}, {"slug": "real"}]):
        body = {"external_id": "x", "name": "N", "timezone": "UTC", "skills": skills}
        problem = assert_problem(await tenant.client.post("/v1/mentors", json=body), 422)
        assert problem["errors"][0]["loc"][:2] == ["body", "skills"]
    assert (await tenant.client.get("/v1/mentors")).json()["data"] == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/mentors/mte_01JD8X4K8Y3N6Q2W5E7R9T1V3V", 422),  # well-formed, wrong kind
        ("/v1/mentors/not-an-id", 422),
        ("/v1/mentors/mtr_01JD8X4K8Y3N6Q2W5E7R9T1V3V", 404),  # right kind, unknown
        ("/v1/skills/" + "skl_" + "A" * 300, 422),
    ],
)
async def test_ids(tenant: Tenant, path: str, expected: int) -> None:
    assert_problem(await tenant.client.get(path), expected)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "many"},
        {"cursor": "garbage!!"},
        {"cursor": "WyJuYW1lIiwiYSIsImIiXQ"},  # a cursor of another sort order
        {"sort": "random"},
        {"language": "??"},
        {"session_length": 3},
        {"q": "x" * 101},
        {"skill": ",".join(f"s{i}" for i in range(11))},
    ],
)
async def test_bad_list_parameters(tenant: Tenant, params: dict[str, Any]) -> None:
    assert_problem(await tenant.client.get("/v1/mentors", params=params), 422)


async def test_malformed_bodies(tenant: Tenant) -> None:
    c = tenant.client
    assert_problem(
        await c.post(
            "/v1/skills", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
    )
    assert_problem(await c.post("/v1/skills", json=["a", "list"]), 422)
    assert_problem(await c.post("/v1/skills", json={"slug": "a b", "name": "x"}), 422)
    assert_problem(await c.post("/v1/skills", content=b"x" * 1_000_001), 413)
    assert_problem(
        await c.patch(
            "/v1/skills/skl_01JD8X4K8Y3N6Q2W5E7R9T1V3V", json={}, headers={"If-Match": "v1"}
        ),
        422,
    )


async def test_unknown_route_and_method_are_problems(tenant: Tenant) -> None:
    assert_problem(await tenant.client.get("/v1/nothing-here"), 404)
    assert_problem(await tenant.client.put("/v1/skills"), 405)


async def test_sort_by_rating_and_sessions_pages_through_ties(tenant: Tenant, db: Database) -> None:
    mentors = [await create_mentor(tenant.client, name=f"M{i}") for i in range(5)]
    ratings = [4.5, 5.0, 4.5, 0.0, 3.0]
    sessions = [3, 1, 3, 0, 7]
    async with db.sessionmaker() as s, s.begin():
        # Feedback and completions set these in their own tests; here only the order matters.
        for mentor, rating, done in zip(mentors, ratings, sessions, strict=True):
            await s.exec(
                update(Mentor)
                .where(col(Mentor.app_id) == tenant.id, col(Mentor.id) == mentor["id"])
                .values(rating_avg=rating, sessions_completed=done)
            )

    async def walk(sort: str) -> list[str]:
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            params: dict[str, Any] = {"sort": sort, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await tenant.client.get("/v1/mentors", params=params)).json()
            seen += [m["id"] for m in page["data"]]
            if not (cursor := page["next_cursor"]):
                return seen
        raise AssertionError("pagination did not end")

    ids = [m["id"] for m in mentors]
    assert await walk("rating") == [ids[1], ids[0], ids[2], ids[4], ids[3]]
    assert await walk("sessions") == [ids[4], ids[0], ids[2], ids[1], ids[3]]


@pytest.mark.parametrize("sort", ["created", "-created", "name"])
@pytest.mark.parametrize("wanted", [["rare"], ["rare", "common"]])
async def test_skill_filtered_pages_walk_in_order(
    tenant: Tenant, other_tenant: Tenant, sort: str, wanted: list[str]
) -> None:
    """Skill-only searches in creation order read the page from the skill's links (a plan of
    their own); every page, cursor and direction must match the plain order of the matches."""
    for client in (tenant.client, other_tenant.client):
        await create_skill(client, slug="rare")
        await create_skill(client, slug="common")
    made = []
    for i in range(9):
        slugs = (["common"] if i % 4 else []) + (["rare"] if i % 3 != 1 else [])
        made.append(
            await create_mentor(
                tenant.client, name=f"M{8 - i}", skills=[{"slug": s} for s in slugs]
            )
        )
        # Another app's mentor with the same slugs, created in between: never listed.
        await create_mentor(other_tenant.client, skills=[{"slug": "rare"}, {"slug": "common"}])
    matching = [m for m in made if set(wanted) <= {s["skill"]["slug"] for s in m["skills"]}]
    if sort == "name":
        matching.sort(key=lambda m: (m["name"], m["id"]))
    elif sort == "-created":
        matching.reverse()
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2, "sort": sort, "skill": wanted}
        if cursor:
            params["cursor"] = cursor
        response = await tenant.client.get("/v1/mentors", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert all(m["skills"] for m in page["data"])
        seen += [m["id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [m["id"] for m in matching]
    assert len(seen) == (6 if wanted == ["rare"] else 4)
