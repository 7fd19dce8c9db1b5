"""Cohorts: created once with their lists, read back as given; bad input is a 422 with where,
another app's ids a 404; API key only."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mentorapi.cohorts.schemas import CohortCreate
from mentorapi.cohorts.service import _plan
from mentorapi.kit.errors import InvalidInput
from tests.cohorts.conftest import World, create_cohort, make_world
from tests.conftest import Tenant
from tests.factories import as_member, mint_token
from tests.test_directory import assert_problem


async def test_a_cohort_reads_back_as_given(tenant: Tenant) -> None:
    world = await make_world(tenant.client, mentees=3, mentors=2)
    (a, b, c), (x, y) = world.mentee_ids, world.mentor_ids
    body = {
        "mentors_per_mentee": 1,
        "capacity": {"default": 2, "per_mentor": [{"mentor_id": y, "capacity": 1}]},
        "objective": "max_participation",
        "pins": [{"mentee_id": a, "mentor_id": x}],
        "forbids": [{"mentee_id": b, "mentor_id": x}, {"mentee_id": c, "mentor_id": y}],
        "min_score": 0.1,
    }
    created = await create_cohort(tenant.client, world, **body)
    assert created["id"].startswith("coh_")
    assert created["mentee_ids"] == [a, b, c]
    assert created["mentor_ids"] == [x, y]
    assert created["capacity"] == body["capacity"]
    assert created["pins"] == body["pins"]
    assert created["forbids"] == body["forbids"]
    assert (created["mentee_count"], created["mentor_count"]) == (3, 2)
    assert (created["objective"], created["min_score"]) == ("max_participation", 0.1)

    read = await tenant.client.get(f"/v1/cohorts/{created['id']}")
    assert read.status_code == 200
    assert read.json() == created

    plain = await create_cohort(tenant.client, world, capacity=3)  # every mentor's capacity
    assert plain["capacity"] == {"default": 3, "per_mentor": []}
    assert (plain["objective"], plain["mentors_per_mentee"], plain["pins"]) == (
        "max_score",
        1,
        [],
    )

    listed = await tenant.client.get("/v1/cohorts", params={"limit": 1})
    assert listed.status_code == 200
    first = listed.json()
    assert [c["id"] for c in first["data"]] == [created["id"]]
    assert "mentee_ids" not in first["data"][0]  # summaries: sizes, not lists
    second = await tenant.client.get("/v1/cohorts", params={"cursor": first["next_cursor"]})
    assert [c["id"] for c in second.json()["data"]] == [plain["id"]]
    assert second.json()["next_cursor"] is None


def _body(world: World, **fields: Any) -> dict[str, Any]:
    return {
        "name": "Cohort",
        "mentee_ids": world.mentee_ids,
        "mentor_ids": world.mentor_ids,
        **fields,
    }


async def test_bad_input_is_a_422_saying_where(tenant: Tenant) -> None:
    world = await make_world(tenant.client, mentees=2, mentors=2)
    (a, b), (x, y) = world.mentee_ids, world.mentor_ids
    cases: list[tuple[dict[str, Any], list[Any]]] = [
        ({"mentee_ids": []}, ["body", "mentee_ids"]),
        ({"mentor_ids": []}, ["body", "mentor_ids"]),
        ({"mentee_ids": [a, b, a]}, ["body", "mentee_ids"]),
        ({"mentor_ids": [x, x]}, ["body", "mentor_ids"]),
        ({"mentee_ids": [x]}, ["body", "mentee_ids", 0]),  # a mentor's id: the wrong kind
        ({"name": "x" * 201}, ["body", "name"]),
        ({"name": "   "}, ["body", "name"]),
        ({"capacity": -1}, ["body", "capacity"]),
        ({"capacity": {"default": -1}}, ["body", "capacity"]),
        ({"capacity": 1001}, ["body", "capacity"]),
        ({"mentors_per_mentee": 0}, ["body", "mentors_per_mentee"]),
        ({"mentors_per_mentee": 3}, ["body", "mentors_per_mentee"]),  # only 2 mentors
        ({"objective": "max_happiness"}, ["body", "objective"]),
        ({"min_score": 1.5}, ["body", "min_score"]),
        ({"unknown": 1}, ["body", "unknown"]),
        (
            {"capacity": {"default": 1, "per_mentor": [{"mentor_id": x, "capacity": -2}]}},
            ["body", "capacity"],
        ),
        (
            {"capacity": {"per_mentor": [{"mentor_id": x, "capacity": 1}] * 2}},
            ["body", "capacity", "per_mentor", 1, "mentor_id"],
        ),
        ({"pins": [{"mentee_id": a, "mentor_id": x}] * 2}, ["body", "pins", 1]),
        (
            {
                "pins": [{"mentee_id": a, "mentor_id": x}],
                "forbids": [{"mentee_id": b, "mentor_id": y}, {"mentee_id": a, "mentor_id": x}],
            },
            ["body", "forbids", 1],
        ),
        (
            {"pins": [{"mentee_id": a, "mentor_id": x}, {"mentee_id": a, "mentor_id": y}]},
            ["body", "pins", 1],  # two pins, one mentor per mentee
        ),
        (
            {
                "capacity": 1,
                "pins": [{"mentee_id": a, "mentor_id": x}, {"mentee_id": b, "mentor_id": x}],
            },
            ["body", "pins", 1],  # two pins on a mentor of capacity 1
        ),
        (
            {"capacity": 0, "pins": [{"mentee_id": a, "mentor_id": x}]},
            ["body", "pins", 0],
        ),
    ]
    for fields, loc in cases:
        response = await tenant.client.post("/v1/cohorts", json=_body(world, **fields))
        problem = assert_problem(response, 422)
        locs = [e["loc"][: len(loc)] for e in problem["errors"]]
        assert loc in locs, (fields, problem["errors"])
    # A pair must name members of the cohort.
    outsider = await make_world(tenant.client, mentees=1, mentors=1)
    for field in ("pins", "forbids"):
        for pair, where in (
            ({"mentee_id": outsider.mentee_ids[0], "mentor_id": x}, "mentee_id"),
            ({"mentee_id": a, "mentor_id": outsider.mentor_ids[0]}, "mentor_id"),
        ):
            response = await tenant.client.post("/v1/cohorts", json=_body(world, **{field: [pair]}))
            problem = assert_problem(response, 422)
            assert problem["errors"][0]["loc"] == ["body", field, 0, where]
    # Text the database cannot store, in the name or as an id.
    for fields in ({"name": "Spring\x00"}, {"mentee_ids": [a, "mte_\x00"]}):
        assert_problem(await tenant.client.post("/v1/cohorts", json=_body(world, **fields)), 422)
    # Nothing was written by any of them.
    assert (await tenant.client.get("/v1/cohorts")).json()["data"] == []


async def test_a_cohort_over_the_size_limits_is_refused(tenant: Tenant) -> None:
    world = await make_world(tenant.client, mentees=1, mentors=1)
    # Ids well formed but never looked up: the bounds are checked first.
    mentees = [f"mte_{i:026d}" for i in range(5_001)]
    response = await tenant.client.post("/v1/cohorts", json=_body(world, mentee_ids=mentees))
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", "mentee_ids"]
    mentors = [f"mtr_{i:026d}" for i in range(2_001)]
    response = await tenant.client.post("/v1/cohorts", json=_body(world, mentor_ids=mentors))
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", "mentor_ids"]
    # 1,251 x 2,000 pairs: each list within its bound, the product over 2,500,000.
    response = await tenant.client.post(
        "/v1/cohorts",
        json=_body(world, mentee_ids=mentees[:1_251], mentor_ids=mentors[:2_000]),
    )
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", "mentor_ids"]


async def test_another_apps_ids_are_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    mine = await make_world(tenant.client, mentees=2, mentors=1)
    theirs = await make_world(other_tenant.client, mentees=1, mentors=1)
    cases = [
        {"mentee_ids": [*mine.mentee_ids, theirs.mentee_ids[0]]},
        {"mentor_ids": [*mine.mentor_ids, theirs.mentor_ids[0]]},
        {"mentee_ids": ["mte_01JD8X9E3F4G5H6J7K8M9N0P1Q"]},  # unknown anywhere
    ]
    for fields in cases:
        response = await tenant.client.post("/v1/cohorts", json=_body(mine, **fields))
        detail = assert_problem(response, 404)["detail"]
        assert detail.startswith("no ment"), detail
    theirs_cohort = await create_cohort(other_tenant.client, theirs)
    assert_problem(await tenant.client.get(f"/v1/cohorts/{theirs_cohort['id']}"), 404)
    assert_problem(
        await tenant.client.post(f"/v1/cohorts/{theirs_cohort['id']}/match-runs", json={}), 404
    )
    assert (await tenant.client.get("/v1/cohorts")).json()["data"] == []
    assert_problem(await tenant.client.get("/v1/cohorts/mtr_01JD8X7C2B3A4Z5Y6X7W8V9T0S"), 422)


async def test_member_tokens_are_refused_on_every_cohort_route(tenant: Tenant) -> None:
    world = await make_world(tenant.client, mentees=1, mentors=1)
    cohort = await create_cohort(tenant.client, world)
    run = (await tenant.client.post(f"/v1/cohorts/{cohort['id']}/match-runs")).json()
    c = tenant.client
    tokens = [
        await mint_token(c, world.mentees[0]["external_id"], "mentee"),
        await mint_token(c, world.mentors[0]["external_id"], "mentor"),
    ]
    for token in tokens:
        async with as_member(c, token) as member:
            for response in (
                await member.post("/v1/cohorts", json=_body(world)),
                await member.get("/v1/cohorts"),
                await member.get(f"/v1/cohorts/{cohort['id']}"),
                await member.post(f"/v1/cohorts/{cohort['id']}/match-runs", json={}),
                await member.get(f"/v1/match-runs/{run['id']}"),
                await member.post(f"/v1/match-runs/{run['id']}/publish", json={}),
            ):
                assert_problem(response, 403)
    assert len((await c.get("/v1/cohorts")).json()["data"]) == 1


MENTEES = [f"mte_{i:026d}" for i in range(4)]
MENTORS = [f"mtr_{i:026d}" for i in range(3)]
pair = st.fixed_dictionaries(
    {
        "mentee_id": st.sampled_from([*MENTEES, "mte_" + "Z" * 26]),
        "mentor_id": st.sampled_from(MENTORS),
    }
)


@settings(max_examples=200, deadline=None)
@given(
    per=st.integers(1, 3),
    default=st.integers(0, 3),
    own=st.lists(
        st.fixed_dictionaries(
            {"mentor_id": st.sampled_from(MENTORS), "capacity": st.integers(0, 3)}
        ),
        max_size=3,
    ),
    pins=st.lists(pair, max_size=6),
    forbids=st.lists(pair, max_size=6),
)
def test_a_plan_is_refused_or_keeps_every_rule(
    per: int,
    default: int,
    own: list[dict[str, Any]],
    pins: list[dict[str, str]],
    forbids: list[dict[str, str]],
) -> None:
    """Whatever the pins, forbids and capacities: a 422 with a location, or a plan in which
    every pair is of the cohort and once, no pin is forbidden, no mentee has more pins than
    mentors_per_mentee and no mentor more than their capacity."""
    data = CohortCreate.model_validate(
        {
            "name": "p",
            "mentee_ids": MENTEES,
            "mentor_ids": MENTORS,
            "mentors_per_mentee": per,
            "capacity": {"default": default, "per_mentor": own},
            "pins": pins,
            "forbids": forbids,
        }
    )
    try:
        plan = _plan(data)
    except InvalidInput as refused:
        where = refused.extra["errors"][0]["loc"]
    else:
        where = None
    if where is not None:
        assert where[0] == "body"
        return
    pinned = [(p.mentee_id, p.mentor_id) for p in plan.pins]
    forbidden = [(p.mentee_id, p.mentor_id) for p in plan.forbids]
    assert len(set(pinned)) == len(pinned)
    assert len(set(forbidden)) == len(forbidden)
    assert not set(pinned) & set(forbidden)
    assert all(m in MENTEES for m, _ in pinned + forbidden)
    for mentee in MENTEES:
        assert sum(1 for m, _ in pinned if m == mentee) <= per
    for mentor in MENTORS:
        assert sum(1 for _, t in pinned if t == mentor) <= plan.capacity[mentor]
    assert len({o["mentor_id"] for o in own}) == len(own)
    for o in own:
        assert plan.capacity[o["mentor_id"]] == o["capacity"]


@pytest.mark.parametrize("capacity", [2.5, "many", None, [1]])
async def test_capacity_is_an_integer(tenant: Tenant, capacity: Any) -> None:
    world = await make_world(tenant.client, mentees=1, mentors=1)
    response = await tenant.client.post("/v1/cohorts", json=_body(world, capacity=capacity))
    assert_problem(response, 422)
