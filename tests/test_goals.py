"""Mentee goals broken into milestones; progress derived from the milestones done."""

from tests.conftest import Tenant
from tests.factories import create_mentee, create_skill
from tests.test_directory import assert_problem


async def test_goal_progress_follows_milestones(tenant: Tenant) -> None:
    c = tenant.client
    skill = await create_skill(c, slug="negotiation")
    mentee = await create_mentee(c)
    created = await c.post(
        f"/v1/mentees/{mentee['id']}/goals",
        json={
            "title": "Negotiate my next offer",
            "slug": "negotiation",
            "target_date": "2027-03-01",
            "milestones": [{"title": "Know my market rate"}, {"title": "Practise the ask"}],
        },
    )
    assert created.status_code == 201, created.text
    goal = created.json()
    assert goal["skill"]["id"] == skill["id"]
    assert goal["progress"] == {"milestones_done": 0, "milestones_total": 2, "percent": 0}

    first = goal["milestones"][0]["id"]
    done = await c.patch(f"/v1/goals/{goal['id']}/milestones/{first}", json={"done": True})
    assert done.json()["progress"] == {"milestones_done": 1, "milestones_total": 2, "percent": 50}
    assert done.json()["milestones"][0]["done_at"].endswith("Z")

    added = await c.post(f"/v1/goals/{goal['id']}/milestones", json={"title": "Sign"})
    assert added.status_code == 201
    assert added.json()["progress"]["percent"] == 33
    undone = await c.patch(f"/v1/goals/{goal['id']}/milestones/{first}", json={"done": False})
    assert undone.json()["progress"]["milestones_done"] == 0
    assert undone.json()["milestones"][0]["done_at"] is None

    listed = await c.get(f"/v1/mentees/{mentee['id']}/goals")
    assert [g["id"] for g in listed.json()["data"]] == [goal["id"]]

    # A skill a goal points at cannot be deleted from under it.
    assert_problem(await c.delete(f"/v1/skills/{skill['id']}"), 409)
    assert (await c.delete(f"/v1/goals/{goal['id']}")).status_code == 204
    assert_problem(await c.get(f"/v1/goals/{goal['id']}"), 404)


async def test_goal_versions_and_bad_input(tenant: Tenant) -> None:
    c = tenant.client
    mentee = await create_mentee(c)
    path = f"/v1/mentees/{mentee['id']}/goals"
    assert_problem(await c.post(path, json={"title": ""}), 422)
    assert_problem(await c.post(path, json={"title": "x", "slug": "ghost"}), 422)
    assert_problem(await c.post(path, json={"title": "x", "target_date": "someday"}), 422)
    assert_problem(
        await c.post(path, json={"title": "x", "milestones": [{"title": "m"}] * 21}), 422
    )
    assert (await c.get(path)).json()["data"] == []

    goal = (await c.post(path, json={"title": "Speak up in meetings"})).json()
    assert_problem(
        await c.patch(f"/v1/goals/{goal['id']}", json={"title": "y"}, headers={"If-Match": '"9"'}),
        412,
    )
    ok = await c.patch(f"/v1/goals/{goal['id']}", json={"title": "y"}, headers={"If-Match": '"1"'})
    assert ok.json()["version"] == 2
    assert_problem(
        await c.patch(f"/v1/goals/{goal['id']}/milestones/mls_01JD8X4K8Y3N6Q2W5E7R9T1V3V", json={}),
        404,
    )


async def test_goals_are_invisible_to_other_apps(tenant: Tenant, other_tenant: Tenant) -> None:
    mentee = await create_mentee(tenant.client)
    goal = (
        await tenant.client.post(
            f"/v1/mentees/{mentee['id']}/goals",
            json={"title": "Mine", "milestones": [{"title": "m"}]},
        )
    ).json()
    b = other_tenant.client
    assert_problem(await b.get(f"/v1/goals/{goal['id']}"), 404)
    assert_problem(await b.patch(f"/v1/goals/{goal['id']}", json={"title": "x"}), 404)
    assert_problem(await b.get(f"/v1/mentees/{mentee['id']}/goals"), 404)
    assert_problem(await b.post(f"/v1/goals/{goal['id']}/milestones", json={"title": "x"}), 404)
    milestone = goal["milestones"][0]["id"]
    assert_problem(
        await b.patch(f"/v1/goals/{goal['id']}/milestones/{milestone}", json={"done": True}), 404
    )
    assert_problem(await b.delete(f"/v1/goals/{goal['id']}"), 404)
