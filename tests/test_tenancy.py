"""App B can neither read, list, change, delete nor even detect app A's objects: always 404."""

from typing import Any

import pytest

from tests.conftest import Tenant
from tests.factories import create_mentee, create_mentor, create_skill


async def _a_objects(a: Tenant) -> dict[str, Any]:
    skill = await create_skill(a.client, slug="shared-slug")
    mentor = await create_mentor(a.client, external_id="same-ext", skills=[{"slug": "shared-slug"}])
    mentee = await create_mentee(
        a.client, external_id="same-ext", seeking=[{"slug": "shared-slug"}]
    )
    return {"skill": skill, "mentor": mentor, "mentee": mentee}


@pytest.mark.parametrize(
    ("kind", "path"),
    [("skill", "/v1/skills"), ("mentor", "/v1/mentors"), ("mentee", "/v1/mentees")],
)
async def test_other_app_sees_nothing(
    tenant: Tenant, other_tenant: Tenant, kind: str, path: str
) -> None:
    objects = await _a_objects(tenant)
    obj_id = objects[kind]["id"]
    b = other_tenant.client

    for response in (
        await b.get(f"{path}/{obj_id}"),
        await b.patch(f"{path}/{obj_id}", json={"name": "taken over"}),
        await b.delete(f"{path}/{obj_id}"),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 404

    listed = await b.get(path)
    assert listed.status_code == 200
    assert listed.json() == {"data": [], "next_cursor": None}

    # Unchanged for its owner.
    own = await tenant.client.get(f"{path}/{obj_id}")
    assert own.status_code == 200
    assert own.json()["name"] == objects[kind]["name"]


async def test_other_apps_skills_cannot_be_attached(tenant: Tenant, other_tenant: Tenant) -> None:
    skill = await create_skill(tenant.client)
    mentor_b = await create_mentor(other_tenant.client)
    for choice in ({"skill_id": skill["id"]}, {"slug": skill["slug"]}):
        response = await other_tenant.client.put(
            f"/v1/mentors/{mentor_b['id']}/skills", json={"skills": [choice]}
        )
        assert response.status_code == 422, response.text
    response = await other_tenant.client.put(
        f"/v1/mentors/{(await create_mentor(tenant.client))['id']}/skills", json={"skills": []}
    )
    assert response.status_code == 404


async def test_same_slugs_and_external_ids_live_side_by_side(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    await _a_objects(tenant)
    await _a_objects(other_tenant)  # no 409: uniqueness is per app
    search = await other_tenant.client.get("/v1/mentors", params={"skill": "shared-slug"})
    assert len(search.json()["data"]) == 1


async def test_filters_do_not_leak_across_apps(tenant: Tenant, other_tenant: Tenant) -> None:
    await _a_objects(tenant)
    for params in ({"skill": "shared-slug"}, {"q": "Ada"}, {"language": "en"}):
        response = await other_tenant.client.get("/v1/mentors", params=params)
        assert response.json()["data"] == [], params
    assert (await other_tenant.client.get("/v1/mentees", params={"skill": "shared-slug"})).json()[
        "data"
    ] == []
