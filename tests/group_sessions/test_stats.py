"""A completed group session counts in its mentor's stats by the one rule of a completion: one
session, its minutes, and the mentees new to the mentor, whether they met in a one-to-one
session or in a seat (REST and GraphQL show the same counters)."""

from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from tests.gql.helpers import gql_data
from tests.group_sessions.conftest import (
    MONDAY_9,
    MONDAY_10,
    create_group,
    group_world,
    mentees,
    take_seat,
    travel,
)

STATS = "sessions_completed", "minutes_mentored", "mentees_helped"
GQL_STATS = """query($id: ID!) { mentor(id: $id) {
  stats { sessionsCompleted minutesMentored menteesHelped } } }"""


async def _stats(client: httpx.AsyncClient, mentor_id: str) -> tuple[int, ...]:
    rest = (await client.get(f"/v1/mentors/{mentor_id}")).json()["stats"]
    graph = (await gql_data(client, GQL_STATS, {"id": mentor_id}))["mentor"]["stats"]
    assert tuple(graph.values()) == tuple(rest[k] for k in STATS)
    return tuple(rest[k] for k in STATS)


async def _book(
    client: httpx.AsyncClient, base: dict[str, Any], mentee_id: str, starts_at: str
) -> str:
    body = {
        "mentor_id": base["mentor_id"],
        "mentee_id": mentee_id,
        "skill_id": base["skill_id"],
        "topic": "Review my first pivot table for the sales report",
        "questions": [],
        "format": "video",
        "duration_minutes": 15,
        "starts_at": starts_at,
    }
    response = await client.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "booked"
    return str(response.json()["id"])


async def _ok(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, json={})
    assert response.status_code == 200, response.text


async def test_completing_a_group_session_counts_it_and_its_new_mentees(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = tenant.client
    base = await group_world(c)
    mentor_id = base["mentor_id"]
    ana, ben, cleo = await mentees(c, 3)
    first = await _book(c, base, ana, MONDAY_9)  # before the group session
    later = await _book(c, base, ben, "2027-01-11T10:00:00Z")  # after it
    group = await create_group(c, base, MONDAY_10)  # 30 minutes
    for mentee_id in (ana, ben, cleo):
        await take_seat(c, group["id"], mentee_id)
    seats = (await c.get(f"/v1/group-sessions/{group['id']}/seats")).json()["data"]
    gone = next(s for s in seats if s["mentee_id"] == cleo)
    given_back = await c.post(
        f"/v1/group-sessions/{group['id']}/seats/{gone['id']}/cancel", json={"by": "mentee"}
    )
    assert given_back.status_code == 200, given_back.text
    assert await _stats(c, mentor_id) == (0, 0, 0)

    travel(monkeypatch, "2027-01-11T12:00:00Z")
    await _ok(c, f"/v1/sessions/{first}/complete")
    assert await _stats(c, mentor_id) == (1, 15, 1)  # Ana
    await _ok(c, f"/v1/group-sessions/{group['id']}/complete")
    # One session of 30 minutes; Ben is new, Ana is not, Cleo gave her seat back.
    assert await _stats(c, mentor_id) == (2, 45, 2)
    await _ok(c, f"/v1/sessions/{later}/complete")
    assert await _stats(c, mentor_id) == (3, 60, 2)  # Ben met the mentor in the group


async def test_a_group_session_nobody_sat_in_counts_nothing(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await group_world(tenant.client)
    group = await create_group(tenant.client, base, MONDAY_9)
    travel(monkeypatch, "2027-01-11T09:00:00Z")
    await _ok(tenant.client, f"/v1/group-sessions/{group['id']}/complete")
    assert await _stats(tenant.client, base["mentor_id"]) == (0, 0, 0)


async def test_completing_through_graphql_counts_the_same(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = tenant.client
    base = await group_world(c)
    group = await create_group(c, base, MONDAY_9)
    for mentee_id in await mentees(c, 2):
        await take_seat(c, group["id"], mentee_id)
    travel(monkeypatch, "2027-01-11T09:00:00Z")
    done = await gql_data(
        c, "mutation($id: ID!) { completeGroupSession(id: $id) { status } }", {"id": group["id"]}
    )
    assert done["completeGroupSession"]["status"] == "COMPLETED"
    assert await _stats(c, base["mentor_id"]) == (1, 30, 2)
