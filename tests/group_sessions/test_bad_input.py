"""Bad input is a 4xx problem on every group session route, never a 500 nor a half-written row;
and whatever sequence of seats taken and given back, the counts stay true (Hypothesis)."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentorapi.db.engine import Database
from tests.conftest import Tenant
from tests.factories import create_mentee
from tests.group_sessions.conftest import ASK, all_events, create_group, group_world, take_seat
from tests.test_directory import assert_problem

UNKNOWN = {
    "grp": "grp_01JD8X4K8Y3N6Q2W5E7R9T1V3V",
    "sea": "sea_01JD8X4K8Y3N6Q2W5E7R9T1V3V",
    "mtr": "mtr_01JD8X4K8Y3N6Q2W5E7R9T1V3V",
    "mte": "mte_01JD8X4K8Y3N6Q2W5E7R9T1V3V",
    "skl": "skl_01JD8X4K8Y3N6Q2W5E7R9T1V3V",
}


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"seats": 1}, ["body", "seats"]),
        ({"seats": 13}, ["body", "seats"]),
        ({"seats": "six"}, ["body", "seats"]),
        ({"duration_minutes": 0}, ["body", "duration_minutes"]),
        ({"duration_minutes": 61}, ["body", "duration_minutes"]),
        ({"duration_minutes": 45}, ["body", "duration_minutes"]),  # not offered by the mentor
        ({"format": "async"}, ["body", "format"]),
        ({"format": "phone"}, ["body", "format"]),  # not offered by the mentor
        ({"format": "carrier pigeon"}, ["body", "format"]),
        ({"topic": "x" * 10_000}, ["body", "topic"]),
        ({"topic": "  "}, ["body", "topic"]),
        ({"topic": "SQL\x00window"}, ["body", "topic"]),
        ({"starts_at": "2027-01-11T08:00:30Z"}, ["body", "starts_at"]),  # not a whole minute
        ({"starts_at": "2027-01-11T08:00:00"}, ["body", "starts_at"]),  # no offset
        ({"starts_at": "9999-12-31T23:59:00+00:00"}, ["body", "starts_at"]),
        ({"mentor_id": UNKNOWN["mte"]}, ["body", "mentor_id"]),  # an id of the wrong kind
        ({"skill_id": "skl_" + "A" * 5_000}, ["body", "skill_id"]),
        ({"unknown_field": 1}, ["body", "unknown_field"]),
    ],
)
async def test_a_bad_group_session_is_a_422(
    tenant: Tenant, db: Database, change: dict[str, Any], loc: list[str]
) -> None:
    base = await group_world(tenant.client)
    before = await all_events(db, tenant.id)
    body = {**base, "starts_at": "2027-01-11T08:00:00Z", **change}
    problem = assert_problem(await tenant.client.post("/v1/group-sessions", json=body), 422)
    assert loc in [e["loc"] for e in problem["errors"]], problem
    assert await all_events(db, tenant.id) == before


async def test_unknown_and_foreign_ids_are_404(tenant: Tenant, other_tenant: Tenant) -> None:
    c = tenant.client
    base = await group_world(c)
    group = await create_group(c, base)
    theirs = await group_world(other_tenant.client)
    for field, value in (
        ("mentor_id", UNKNOWN["mtr"]),
        ("skill_id", UNKNOWN["skl"]),
        ("mentor_id", theirs["mentor_id"]),
    ):
        response = await c.post(
            "/v1/group-sessions", json={**base, field: value, "starts_at": "2027-01-12T08:00:00Z"}
        )
        # A skill the mentor does not offer (unknown here) is the body's mistake: 422.
        assert response.status_code == (422 if field == "skill_id" else 404), response.text
    seats = f"/v1/group-sessions/{group['id']}/seats"
    for response in (
        await c.get(f"/v1/group-sessions/{UNKNOWN['grp']}"),
        await c.get(f"{seats}/{UNKNOWN['sea']}"),
        await c.post(f"{seats}/{UNKNOWN['sea']}/cancel", json={"by": "mentee"}),
        await c.post(seats, json={"mentee_id": UNKNOWN["mte"], "ask": ASK}),
        await c.post(
            f"/v1/group-sessions/{UNKNOWN['grp']}/seats",
            json={"mentee_id": UNKNOWN["mte"], "ask": ASK},
        ),
    ):
        assert_problem(response, 404)
    for response in (
        await c.get(f"/v1/group-sessions/{UNKNOWN['sea']}"),  # a seat id where a group's goes
        await c.get(f"{seats}/{UNKNOWN['grp']}"),
        await c.post(seats, json={"mentee_id": UNKNOWN["mtr"], "ask": ASK}),
        await c.post(seats, json={"mentee_id": UNKNOWN["mte"], "ask": "too short"}),
        await c.post(seats, json={"mentee_id": UNKNOWN["mte"], "ask": "a\x00" * 10}),
        await c.post(seats, json={"mentee_id": UNKNOWN["mte"], "ask": "x" * 501}),
        await c.post(seats, json={"mentee_id": UNKNOWN["mte"]}),
        await c.post(f"{seats}/{UNKNOWN['sea']}/cancel", json={"by": "nobody"}),
        await c.post(
            f"/v1/group-sessions/{group['id']}/reschedule", json={"starts_at": "tomorrow"}
        ),
        await c.get("/v1/group-sessions", params={"status": "maybe"}),
        await c.get("/v1/group-sessions", params={"cursor": "not-a-cursor"}),
        await c.get("/v1/group-sessions", params={"limit": 101}),
        await c.post(f"/v1/group-sessions/{group['id']}/cancel", headers={"If-Match": "x"}),
    ):
        assert response.status_code == 422, (response.request.url, response.text)


class _Seats:
    """What the model expects after each step."""

    def __init__(self) -> None:
        self.taken: dict[str, str] = {}  # mentee id -> seat id


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    capacity=st.integers(min_value=2, max_value=4),
    steps=st.lists(st.tuples(st.booleans(), st.integers(0, 4)), min_size=1, max_size=10),
)
async def test_seats_taken_is_always_the_seats_taken(
    tenant: Tenant, capacity: int, steps: list[tuple[bool, int]]
) -> None:
    """Any sequence of takes and give-backs by five mentees: every answer is 201, 200 or 409
    exactly as a model of the seats says, and `seats_taken` always equals the taken seats."""
    c = tenant.client
    base = await group_world(c)
    group = await create_group(c, base, seats=capacity)
    people = [(await create_mentee(c))["id"] for _ in range(5)]
    model = _Seats()
    path = f"/v1/group-sessions/{group['id']}/seats"
    for take, who in steps:
        mentee = people[who]
        if take:
            response = await c.post(path, json={"mentee_id": mentee, "ask": ASK})
            if mentee in model.taken or len(model.taken) >= capacity:
                assert response.status_code == 409, response.text
            else:
                assert response.status_code == 201, response.text
                model.taken[mentee] = response.json()["id"]
        elif mentee in model.taken:
            seat_id = model.taken.pop(mentee)
            response = await c.post(f"{path}/{seat_id}/cancel", json={"by": "mentee"})
            assert response.status_code == 200, response.text
        got = (await c.get(f"/v1/group-sessions/{group['id']}")).json()
        assert got["seats_taken"] == len(model.taken)
        assert got["seats_left"] == capacity - len(model.taken)
    listed = (await c.get(path, params={"status": "taken"})).json()["data"]
    assert sorted(s["id"] for s in listed) == sorted(model.taken.values())


async def test_huge_and_odd_asks_are_refused_before_anything(tenant: Tenant, db: Database) -> None:
    base = await group_world(tenant.client)
    group = await create_group(tenant.client, base)
    mentee = await create_mentee(tenant.client)
    before = await all_events(db, tenant.id)
    path = f"/v1/group-sessions/{group['id']}/seats"
    for ask in ("x" * 100_000, "\ud800 unpaired surrogate here", 42, None, ["a list"]):
        response = await tenant.client.post(
            path,
            content=f'{{"mentee_id": "{mentee["id"]}", "ask": {_json(ask)}}}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
    assert await all_events(db, tenant.id) == before
    await take_seat(tenant.client, group["id"], mentee["id"])


def _json(value: object) -> str:
    import json

    if isinstance(value, str) and "\ud800" in value:
        return '"\\ud800 unpaired surrogate here"'
    return json.dumps(value)
