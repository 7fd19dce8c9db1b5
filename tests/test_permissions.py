"""What a member token may do, rule by rule, through REST (on both databases)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from tests.factories import as_member, create_mentee, create_mentor, create_skill, mint_token


@dataclass
class World:
    tenant: Tenant
    skill: dict[str, Any]
    mentor: dict[str, Any]  # the member's own mentor profile
    other_mentor: dict[str, Any]
    mentee: dict[str, Any]  # the member's own mentee profile
    other_mentee: dict[str, Any]
    as_mentor: httpx.AsyncClient
    as_mentee: httpx.AsyncClient


@pytest.fixture
async def world(tenant: Tenant) -> AsyncIterator[World]:
    api = tenant.client
    skill = await create_skill(api)
    mentor = await create_mentor(api, skills=[{"skill_id": skill["id"], "level": 3}])
    other_mentor = await create_mentor(api, name="Other Mentor")
    mentee = await create_mentee(api)
    other_mentee = await create_mentee(api, name="Other Mentee")
    mentor_token = await mint_token(api, mentor["external_id"], "mentor")
    mentee_token = await mint_token(api, mentee["external_id"], "mentee")
    async with as_member(api, mentor_token) as m, as_member(api, mentee_token) as e:
        yield World(tenant, skill, mentor, other_mentor, mentee, other_mentee, m, e)


def assert_problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail


async def unchanged(api: httpx.AsyncClient, path: str, before: dict[str, Any]) -> None:
    after = (await api.get(path)).json()
    assert after["version"] == before["version"]
    assert after["updated_at"] == before["updated_at"]


# --- reading -----------------------------------------------------------------------------------


async def test_members_read_mentors_and_skills(world: World) -> None:
    for client in (world.as_mentor, world.as_mentee):
        listed = await client.get("/v1/mentors")
        assert listed.status_code == 200
        assert {m["id"] for m in listed.json()["data"]} >= {
            world.mentor["id"],
            world.other_mentor["id"],
        }
        assert (await client.get(f"/v1/mentors/{world.other_mentor['id']}")).status_code == 200
        assert (await client.get("/v1/skills")).json()["data"][0]["id"] == world.skill["id"]
        assert (await client.get(f"/v1/skills/{world.skill['id']}")).status_code == 200


async def test_mentee_reads_only_own_mentee_profile(world: World) -> None:
    own = await world.as_mentee.get(f"/v1/mentees/{world.mentee['id']}")
    assert own.status_code == 200
    assert own.json()["id"] == world.mentee["id"]
    other = await world.as_mentee.get(f"/v1/mentees/{world.other_mentee['id']}")
    assert_problem(other, 404, world.other_mentee["id"])
    listed = await world.as_mentee.get("/v1/mentees")
    assert [m["id"] for m in listed.json()["data"]] == [world.mentee["id"]]


async def test_mentor_member_sees_no_mentee(world: World) -> None:
    response = await world.as_mentor.get(f"/v1/mentees/{world.mentee['id']}")
    assert_problem(response, 404)
    assert (await world.as_mentor.get("/v1/mentees")).json() == {"data": [], "next_cursor": None}


# --- mentor profiles ---------------------------------------------------------------------------


async def test_mentor_edits_own_profile_and_skills(world: World) -> None:
    path = f"/v1/mentors/{world.mentor['id']}"
    response = await world.as_mentor.patch(path, json={"headline": "Spreadsheets, fast"})
    assert response.status_code == 200, response.text
    assert response.json()["headline"] == "Spreadsheets, fast"
    skill2 = await create_skill(world.tenant.client)
    response = await world.as_mentor.put(
        f"{path}/skills", json={"skills": [{"skill_id": skill2["id"], "level": 5}]}
    )
    assert response.status_code == 200, response.text
    assert [s["skill"]["id"] for s in response.json()["skills"]] == [skill2["id"]]


async def test_mentor_cannot_edit_another_mentor(world: World) -> None:
    path = f"/v1/mentors/{world.other_mentor['id']}"
    response = await world.as_mentor.patch(path, json={"headline": "hijacked"})
    assert_problem(response, 403, "only to mentor", world.other_mentor["id"])
    response = await world.as_mentor.put(f"{path}/skills", json={"skills": []})
    assert_problem(response, 403)
    await unchanged(world.tenant.client, path, world.other_mentor)


async def test_mentee_cannot_edit_a_mentor(world: World) -> None:
    path = f"/v1/mentors/{world.mentor['id']}"
    assert_problem(await world.as_mentee.patch(path, json={"headline": "x"}), 403)
    assert_problem(await world.as_mentee.put(f"{path}/skills", json={"skills": []}), 403)
    await unchanged(world.tenant.client, path, world.mentor)


async def test_member_cannot_change_own_external_id(world: World) -> None:
    path = f"/v1/mentors/{world.mentor['id']}"
    response = await world.as_mentor.patch(path, json={"external_id": "someone-else"})
    assert_problem(response, 403, "external_id")
    await unchanged(world.tenant.client, path, world.mentor)
    path = f"/v1/mentees/{world.mentee['id']}"
    response = await world.as_mentee.patch(path, json={"external_id": "someone-else"})
    assert_problem(response, 403, "external_id")
    await unchanged(world.tenant.client, path, world.mentee)


async def test_members_cannot_create_or_delete_mentors(world: World) -> None:
    body = {"external_id": "new-mentor", "name": "N", "timezone": "UTC"}
    for client in (world.as_mentor, world.as_mentee):
        assert_problem(await client.post("/v1/mentors", json=body), 403, "API key")
        for mentor in (world.mentor, world.other_mentor):
            assert_problem(await client.delete(f"/v1/mentors/{mentor['id']}"), 403)
    api = world.tenant.client
    assert (await api.get(f"/v1/mentors/{world.mentor['id']}")).status_code == 200
    assert (await api.get(f"/v1/mentors/{world.other_mentor['id']}")).status_code == 200
    listed = (await api.get("/v1/mentors")).json()["data"]
    assert "new-mentor" not in {m["external_id"] for m in listed}


# --- mentee profiles ---------------------------------------------------------------------------


async def test_mentee_edits_own_profile(world: World) -> None:
    response = await world.as_mentee.patch(
        f"/v1/mentees/{world.mentee['id']}",
        json={"name": "Max Renamed", "seeking": [{"skill_id": world.skill["id"], "level": 1}]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Max Renamed"
    assert [s["skill"]["id"] for s in response.json()["seeking"]] == [world.skill["id"]]


async def test_mentee_cannot_edit_or_delete_another_mentee(world: World) -> None:
    path = f"/v1/mentees/{world.other_mentee['id']}"
    # Mentee profiles are private: another mentee is "not found", exactly like an unknown id.
    assert_problem(await world.as_mentee.patch(path, json={"name": "x"}), 404)
    assert_problem(await world.as_mentee.delete(path), 404)
    assert_problem(await world.as_mentor.patch(path, json={"name": "x"}), 404)
    await unchanged(world.tenant.client, path, world.other_mentee)


async def test_members_cannot_create_or_delete_mentees(world: World) -> None:
    body = {"external_id": "new-mentee", "name": "N", "timezone": "UTC"}
    assert_problem(await world.as_mentee.post("/v1/mentees", json=body), 403)
    assert_problem(await world.as_mentor.post("/v1/mentees", json=body), 403)
    own = f"/v1/mentees/{world.mentee['id']}"
    assert_problem(await world.as_mentee.delete(own), 403, "API key")
    await unchanged(world.tenant.client, own, world.mentee)


# --- skills ------------------------------------------------------------------------------------


async def test_members_cannot_change_skills(world: World) -> None:
    path = f"/v1/skills/{world.skill['id']}"
    for client in (world.as_mentor, world.as_mentee):
        assert_problem(await client.post("/v1/skills", json={"slug": "x1", "name": "X"}), 403)
        assert_problem(await client.patch(path, json={"name": "renamed"}), 403)
        assert_problem(await client.delete(path), 403)
    await unchanged(world.tenant.client, path, world.skill)
    slugs = {s["slug"] for s in (await world.tenant.client.get("/v1/skills")).json()["data"]}
    assert "x1" not in slugs


# --- API-key-only routes -----------------------------------------------------------------------


async def test_api_key_only_routes_refuse_members(world: World) -> None:
    for client in (world.as_mentor, world.as_mentee):
        assert_problem(await client.get("/v1/app"), 403, "API key")
        assert_problem(await client.patch("/v1/app", json={"cors_origins": []}), 403)
        assert_problem(await client.post("/v1/app/rotate-token-secret"), 403)
        body = {"external_id": world.other_mentor["external_id"], "role": "mentor"}
        assert_problem(await client.post("/v1/member-tokens", json=body), 403)


async def test_both_roles_edit_both_own_profiles(tenant: Tenant) -> None:
    api = tenant.client
    mentor = await create_mentor(api, external_id="person-both")
    mentee = await create_mentee(api, external_id="person-both")
    async with as_member(api, await mint_token(api, "person-both", "both")) as both:
        response = await both.patch(f"/v1/mentors/{mentor['id']}", json={"bio": "both"})
        assert response.status_code == 200, response.text
        response = await both.patch(f"/v1/mentees/{mentee['id']}", json={"name": "Both"})
        assert response.status_code == 200, response.text
    # A mentor-only token for the same person does not reach the mentee profile.
    async with as_member(api, await mint_token(api, "person-both", "mentor")) as mentor_only:
        response = await mentor_only.patch(f"/v1/mentees/{mentee['id']}", json={"name": "x"})
        assert_problem(response, 404)


async def test_member_of_another_app_sees_nothing_here(world: World, other_tenant: Tenant) -> None:
    theirs = await create_mentor(other_tenant.client)
    token = await mint_token(other_tenant.client, theirs["external_id"], "mentor")
    async with as_member(other_tenant.client, token) as stranger:
        path = f"/v1/mentors/{world.mentor['id']}"
        assert_problem(await stranger.get(path), 404)
        assert_problem(await stranger.patch(path, json={"headline": "x"}), 404)
        assert world.mentor["id"] not in {
            m["id"] for m in (await stranger.get("/v1/mentors")).json()["data"]
        }
