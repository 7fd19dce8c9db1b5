"""Member tokens and tenants on group sessions and seats.

Group sessions are offers: every member of the app reads them. Seats are private: the API key
and the group session's mentor see every seat, a mentee their own. A mentor changes only their
own group sessions (another member: 403); a mentee takes and gives back only their own seat
(another mentee does not exist for them: 404). Another app's ids are 404. Every refusal changes
nothing (no event).
"""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from mentorapi.db.engine import Database
from tests.conftest import Tenant
from tests.factories import as_member, create_mentee, mint_token
from tests.group_sessions.conftest import ASK, all_events, create_group, group_world, take_seat
from tests.test_directory import assert_problem


@dataclass
class People:
    base: dict[str, Any]
    group: dict[str, Any]
    mentee_id: str
    other_mentee_id: str
    mentor: httpx.AsyncClient  # the group session's
    other_mentor: httpx.AsyncClient
    mentee: httpx.AsyncClient
    other_mentee: httpx.AsyncClient


@asynccontextmanager
async def people(tenant: Tenant) -> AsyncIterator[People]:
    c = tenant.client
    base = await group_world(c)
    other = await group_world(c)
    group = await create_group(c, base)
    mentee = await create_mentee(c)
    other_mentee = await create_mentee(c)

    async def member(kind: str, profile_id: str) -> httpx.AsyncClient:
        profile = (await c.get(f"/v1/{kind}s/{profile_id}")).json()
        return as_member(c, await mint_token(c, profile["external_id"], kind))

    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(await member(kind, pid))
            for kind, pid in (
                ("mentor", base["mentor_id"]),
                ("mentor", other["mentor_id"]),
                ("mentee", mentee["id"]),
                ("mentee", other_mentee["id"]),
            )
        ]
        yield People(base, group, mentee["id"], other_mentee["id"], *clients)


async def test_a_mentor_creates_and_changes_only_their_own(tenant: Tenant, db: Database) -> None:
    async with people(tenant) as p:
        body = {**p.base, "starts_at": "2027-01-12T08:00:00Z"}
        mine = await p.mentor.post("/v1/group-sessions", json=body)
        assert mine.status_code == 201, mine.text
        before = await all_events(db, tenant.id)
        for caller in (p.other_mentor, p.mentee):
            assert_problem(await caller.post("/v1/group-sessions", json=body), 403)
            for move, payload in (
                ("reschedule", {"starts_at": "2027-01-13T08:00:00Z"}),
                ("cancel", {}),
                ("complete", {}),
            ):
                refused = await caller.post(
                    f"/v1/group-sessions/{p.group['id']}/{move}", json=payload
                )
                assert_problem(refused, 403)
        assert await all_events(db, tenant.id) == before
        moved = await p.mentor.post(
            f"/v1/group-sessions/{p.group['id']}/reschedule",
            json={"starts_at": "2027-01-13T08:00:00Z"},
        )
        assert moved.status_code == 200, moved.text


async def test_every_member_reads_group_sessions(tenant: Tenant) -> None:
    async with people(tenant) as p:
        for caller in (p.mentor, p.other_mentor, p.mentee, p.other_mentee):
            got = await caller.get(f"/v1/group-sessions/{p.group['id']}")
            assert got.json() == p.group
            listed = await caller.get("/v1/group-sessions")
            assert p.group["id"] in [g["id"] for g in listed.json()["data"]]
        # Who sits where is the mentee's: a member filters by their own mentee id only.
        own = await p.mentee.get("/v1/group-sessions", params={"mentee_id": p.mentee_id})
        assert own.status_code == 200
        for caller in (p.other_mentee, p.mentor):
            refused = await caller.get("/v1/group-sessions", params={"mentee_id": p.mentee_id})
            assert_problem(refused, 404)


async def test_a_mentee_takes_and_gives_back_only_their_own_seat(
    tenant: Tenant, db: Database
) -> None:
    async with people(tenant) as p:
        seats = f"/v1/group-sessions/{p.group['id']}/seats"
        before = await all_events(db, tenant.id)
        for caller in (p.other_mentee, p.mentor, p.other_mentor):
            refused = await caller.post(seats, json={"mentee_id": p.mentee_id, "ask": ASK})
            assert_problem(refused, 404)
        assert await all_events(db, tenant.id) == before
        taken = await p.mentee.post(seats, json={"mentee_id": p.mentee_id, "ask": ASK})
        assert taken.status_code == 201, taken.text
        seat = f"{seats}/{taken.json()['id']}"
        # Strangers to the seat: 404; its mentor giving it back as the mentee: 403; the mentee
        # as the mentor: 403.
        for caller, by, status in (
            (p.other_mentee, "mentee", 404),
            (p.other_mentor, "mentor", 404),
            (p.mentor, "mentee", 403),
            (p.mentee, "mentor", 403),
        ):
            assert_problem(await caller.post(f"{seat}/cancel", json={"by": by}), status)
        back = await p.mentee.post(f"{seat}/cancel", json={"by": "mentee"})
        assert back.status_code == 200, back.text
        again = await p.mentee.post(seats, json={"mentee_id": p.mentee_id, "ask": ASK})
        released = await p.mentor.post(
            f"{seats}/{again.json()['id']}/cancel", json={"by": "mentor", "reason": "Double-booked"}
        )
        assert released.json()["cancelled_by"] == "mentor"


async def test_seats_are_seen_by_their_mentee_and_the_mentor_only(tenant: Tenant) -> None:
    async with people(tenant) as p:
        mine = await take_seat(tenant.client, p.group["id"], p.mentee_id)
        theirs = await take_seat(tenant.client, p.group["id"], p.other_mentee_id)
        seats = f"/v1/group-sessions/{p.group['id']}/seats"

        async def listed(caller: httpx.AsyncClient) -> list[str]:
            response = await caller.get(seats)
            assert response.status_code == 200, response.text
            return [s["id"] for s in response.json()["data"]]

        assert await listed(tenant.client) == [mine["id"], theirs["id"]]
        assert await listed(p.mentor) == [mine["id"], theirs["id"]]
        assert await listed(p.mentee) == [mine["id"]]
        assert await listed(p.other_mentor) == []
        for caller, status in ((p.mentee, 200), (p.mentor, 200), (p.other_mentee, 404)):
            got = await caller.get(f"{seats}/{mine['id']}")
            assert got.status_code == status, got.text
            ics = await caller.get(f"{seats}/{mine['id']}.ics")
            assert ics.status_code == status, ics.text
        assert_problem(await p.other_mentor.get(f"{seats}/{mine['id']}"), 404)
        organizer = f"/v1/group-sessions/{p.group['id']}.ics"
        assert (await p.mentor.get(organizer)).status_code == 200
        for caller in (p.mentee, p.other_mentor):
            assert_problem(await caller.get(organizer), 403)


async def test_another_apps_ids_are_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    c = tenant.client
    base = await group_world(c)
    group = await create_group(c, base)
    mentee = await create_mentee(c)
    seat = await take_seat(c, group["id"], mentee["id"])
    o = other_tenant.client
    group_path = f"/v1/group-sessions/{group['id']}"
    for response in (
        await o.get(group_path),
        await o.get(f"{group_path}.ics"),
        await o.get(f"{group_path}/seats"),
        await o.get(f"{group_path}/seats/{seat['id']}"),
        await o.get(f"{group_path}/seats/{seat['id']}.ics"),
        await o.post(f"{group_path}/cancel"),
        await o.post(f"{group_path}/complete"),
        await o.post(f"{group_path}/reschedule", json={"starts_at": "2027-01-12T08:00:00Z"}),
        await o.post(f"{group_path}/seats", json={"mentee_id": mentee["id"], "ask": ASK}),
        await o.post(f"{group_path}/seats/{seat['id']}/cancel", json={"by": "mentee"}),
        await o.post("/v1/group-sessions", json={**base, "starts_at": "2027-01-12T08:00:00Z"}),
    ):
        assert_problem(response, 404)
    assert (await o.get("/v1/group-sessions")).json()["data"] == []
    # Their own group session cannot seat this app's mentee either.
    theirs = await create_group(o, await group_world(o))
    refused = await o.post(
        f"/v1/group-sessions/{theirs['id']}/seats", json={"mentee_id": mentee["id"], "ask": ASK}
    )
    assert_problem(refused, 404)
    listed = await o.get("/v1/group-sessions", params={"mentee_id": mentee["id"]})
    assert listed.json()["data"] == []
