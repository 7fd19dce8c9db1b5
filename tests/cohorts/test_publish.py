"""Publishing: a succeeded run's proposals become matches with a `match.created` webhook each,
in one transaction, once per cohort; members read their own matches only."""

import asyncio
from typing import Any

from sqlmodel import col, select

from mentorapi.db.engine import Database
from mentorapi.webhooks.models import Delivery
from tests.cohorts.conftest import create_cohort, make_world, matched, pairs, start_run
from tests.conftest import Tenant
from tests.factories import as_member, mint_token
from tests.test_directory import assert_problem
from tests.webhooks.conftest import create_endpoint


async def _events(tenant: Tenant) -> list[dict[str, Any]]:
    response = await tenant.client.get("/v1/events", params={"type": "match.created"})
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def test_publishing_makes_matches_and_sends_their_webhooks(
    db: Database, database_url: str, tenant: Tenant
) -> None:
    endpoint = await create_endpoint(tenant, "http://127.0.0.1:9/hooks", events=["match.created"])
    world = await make_world(tenant.client, mentees=3, mentors=2)
    cohort = await create_cohort(tenant.client, world, capacity=2)
    run = await matched(db, database_url, tenant, cohort["id"])
    assert (await tenant.client.get("/v1/matches")).json()["data"] == []

    response = await tenant.client.post(f"/v1/match-runs/{run['id']}/publish")
    assert response.status_code == 200, response.text
    published = response.json()
    assert (published["match_run_id"], published["cohort_id"]) == (run["id"], cohort["id"])
    matches = published["matches"]
    assert [(m["mentee_id"], m["mentor_id"]) for m in matches] == pairs(run)
    for match, proposal in zip(matches, run["proposals"], strict=True):
        assert match["id"].startswith("mat_")
        assert (match["proposal_id"], match["score"], match["components"]) == (
            proposal["id"],
            proposal["score"],
            proposal["components"],
        )
        assert (match["status"], match["cohort_id"], match["match_run_id"]) == (
            "active",
            cohort["id"],
            run["id"],
        )
        got = await tenant.client.get(f"/v1/matches/{match['id']}")
        assert got.json() == match

    events = await _events(tenant)
    assert sorted(e["object_id"] for e in events) == sorted(m["id"] for m in matches)
    by_id = {m["id"]: m for m in matches}
    for event in events:
        assert event["data"] == by_id[event["object_id"]]
    async with db.sessionmaker() as s:
        deliveries = (
            await s.exec(
                select(Delivery).where(
                    col(Delivery.app_id) == tenant.id, col(Delivery.endpoint_id) == endpoint["id"]
                )
            )
        ).all()
    assert sorted(d.event_id for d in deliveries) == sorted(e["id"] for e in events)

    again = await tenant.client.get(f"/v1/match-runs/{run['id']}")
    assert again.json()["published_at"] == published["published_at"]

    # Once per cohort: this run again, or another run of the cohort, is a 409.
    twice = assert_problem(await tenant.client.post(f"/v1/match-runs/{run['id']}/publish"), 409)
    assert twice["published_run_id"] == run["id"]
    other = await matched(db, database_url, tenant, cohort["id"], seed=1)
    refused = await tenant.client.post(f"/v1/match-runs/{other['id']}/publish")
    assert assert_problem(refused, 409)["published_run_id"] == run["id"]
    assert len(await _events(tenant)) == len(matches)
    listed = await tenant.client.get("/v1/matches", params={"cohort_id": cohort["id"]})
    assert len(listed.json()["data"]) == len(matches)


async def test_publishing_chosen_proposals(db: Database, database_url: str, tenant: Tenant) -> None:
    world = await make_world(tenant.client, mentees=3, mentors=1)
    cohort = await create_cohort(tenant.client, world, capacity=3)
    run = await matched(db, database_url, tenant, cohort["id"])
    chosen = [run["proposals"][2]["id"], run["proposals"][0]["id"]]
    path = f"/v1/match-runs/{run['id']}/publish"

    other_world = await make_world(tenant.client, mentees=1, mentors=1)
    other = await matched(
        db, database_url, tenant, (await create_cohort(tenant.client, other_world))["id"]
    )
    for bad, loc in (
        ({"proposal_ids": [chosen[0], other["proposals"][0]["id"]]}, ["body", "proposal_ids", 1]),
        ({"proposal_ids": [chosen[0], chosen[0]]}, ["body", "proposal_ids"]),
        ({"proposal_ids": []}, ["body", "proposal_ids"]),
        ({"proposal_ids": [run["id"]]}, ["body", "proposal_ids", 0]),
    ):
        problem = assert_problem(await tenant.client.post(path, json=bad), 422)
        assert problem["errors"][0]["loc"][: len(loc)] == loc, problem
    assert (await tenant.client.get("/v1/matches")).json()["data"] == []

    response = await tenant.client.post(path, json={"proposal_ids": chosen})
    assert response.status_code == 200, response.text
    assert sorted(m["proposal_id"] for m in response.json()["matches"]) == sorted(chosen)
    assert len(await _events(tenant)) == 2


async def test_only_a_succeeded_run_is_published(tenant: Tenant) -> None:
    world = await make_world(tenant.client, mentees=1, mentors=1)
    cohort = await create_cohort(tenant.client, world)
    run = await start_run(tenant.client, cohort["id"])
    problem = assert_problem(await tenant.client.post(f"/v1/match-runs/{run['id']}/publish"), 409)
    assert problem["run_status"] == "queued"
    assert await _events(tenant) == []


async def test_members_read_their_own_matches(
    db: Database, database_url: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    world = await make_world(tenant.client, mentees=2, mentors=2)
    (a, b), (x, y) = world.mentee_ids, world.mentor_ids
    cohort = await create_cohort(
        tenant.client,
        world,
        capacity=1,
        pins=[{"mentee_id": a, "mentor_id": x}, {"mentee_id": b, "mentor_id": y}],
    )
    run = await matched(db, database_url, tenant, cohort["id"])
    published = (await tenant.client.post(f"/v1/match-runs/{run['id']}/publish")).json()
    by_pair = {(m["mentee_id"], m["mentor_id"]): m for m in published["matches"]}
    ax, by = by_pair[(a, x)], by_pair[(b, y)]

    c = tenant.client
    mentee_a = as_member(c, await mint_token(c, world.mentees[0]["external_id"], "mentee"))
    mentor_y = as_member(c, await mint_token(c, world.mentors[1]["external_id"], "mentor"))
    async with mentee_a, mentor_y:
        mine = await mentee_a.get("/v1/matches")
        assert [m["id"] for m in mine.json()["data"]] == [ax["id"]]
        # Filters narrow a member's own matches; they never widen them.
        assert (await mentee_a.get("/v1/matches", params={"mentee_id": b})).json()["data"] == []
        assert (await mentee_a.get(f"/v1/matches/{ax['id']}")).json() == ax
        assert_problem(await mentee_a.get(f"/v1/matches/{by['id']}"), 404)
        theirs = await mentor_y.get("/v1/matches", params={"cohort_id": cohort["id"]})
        assert [m["id"] for m in theirs.json()["data"]] == [by["id"]]
        assert_problem(await mentor_y.get(f"/v1/matches/{ax['id']}"), 404)

    for params, expected in (
        ({"mentee_id": a}, [ax["id"]]),
        ({"mentor_id": y}, [by["id"]]),
        ({"cohort_id": cohort["id"], "mentor_id": x}, [ax["id"]]),
    ):
        listed = await c.get("/v1/matches", params=params)
        assert [m["id"] for m in listed.json()["data"]] == expected
    page = await c.get("/v1/matches", params={"limit": 1})
    rest = await c.get("/v1/matches", params={"cursor": page.json()["next_cursor"]})
    assert len(page.json()["data"]) == len(rest.json()["data"]) == 1
    assert_problem(await c.get("/v1/matches", params={"mentee_id": x}), 422)

    # Another app sees none of it.
    assert (await other_tenant.client.get("/v1/matches")).json()["data"] == []
    assert_problem(await other_tenant.client.get(f"/v1/matches/{ax['id']}"), 404)
    assert (
        await other_tenant.client.get("/v1/matches", params={"cohort_id": cohort["id"]})
    ).json()["data"] == []


async def test_two_publishes_at_once_make_one_set_of_matches(
    db: Database, database_url: str, tenant: Tenant
) -> None:
    world = await make_world(tenant.client, mentees=2, mentors=1)
    cohort = await create_cohort(tenant.client, world, capacity=2)
    first = await matched(db, database_url, tenant, cohort["id"])
    second = await matched(db, database_url, tenant, cohort["id"], seed=2)
    answers = await asyncio.gather(
        tenant.client.post(f"/v1/match-runs/{first['id']}/publish"),
        tenant.client.post(f"/v1/match-runs/{second['id']}/publish"),
        tenant.client.post(f"/v1/match-runs/{first['id']}/publish"),
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409], [a.text for a in answers]
    assert len((await tenant.client.get("/v1/matches")).json()["data"]) == 2
    assert len(await _events(tenant)) == 2
