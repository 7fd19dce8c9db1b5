"""Deleting a mentee never leaves `seats_taken` counting a seat that is gone.

A mentee who holds a taken seat in a scheduled group session cannot be deleted (409
`taken_seats`), as one who has a requested or booked one-to-one session cannot (409
`active_sessions`): the seat is given back first, by the one code that gives seats back (which
counts it and sends `seat.cancelled`), and only then does the deletion take the mentee's rows,
their cancelled seats among them, with it. A seat in a completed group session goes with the
mentee and leaves the count as it was: it records who came, and completed group sessions take
no seats any more. The same over GraphQL, and with a seat taken while the mentee is deleted.
"""

import asyncio

import pytest
from sqlmodel import col, func, select

from mentorapi.db.engine import Database
from mentorapi.group_sessions.models import GroupSession, Seat
from tests.conftest import Tenant
from tests.gql.helpers import error_codes, gql
from tests.group_sessions.conftest import (
    ASK,
    all_events,
    create_group,
    group_world,
    mentees,
    take_seat,
    travel,
)
from tests.test_directory import assert_problem

DELETE = "mutation ($id: ID!) { deleteMentee(id: $id) }"


async def _counted_and_taken(db: Database, app_id: str, group_id: str) -> tuple[int, int]:
    """The group session's `seats_taken` and its seats with status `taken`, as stored."""
    async with db.sessionmaker() as s:
        counted = (
            await s.exec(
                select(GroupSession.seats_taken).where(
                    col(GroupSession.app_id) == app_id, col(GroupSession.id) == group_id
                )
            )
        ).one()
        taken = (
            await s.exec(
                select(func.count()).where(
                    col(Seat.app_id) == app_id,
                    col(Seat.group_session_id) == group_id,
                    col(Seat.status) == "taken",
                )
            )
        ).one()
        return int(counted), int(taken)


async def test_a_deleted_mentee_leaves_their_seat_free_for_another(
    tenant: Tenant, db: Database
) -> None:
    """Two seats, two mentees seated, one of them deleted: a third mentee gets the seat."""
    c = tenant.client
    group = await create_group(c, await group_world(c), seats=2)
    path = f"/v1/group-sessions/{group['id']}"
    ana, ben, cem = await mentees(c, 3)
    await take_seat(c, group["id"], ana)
    seat = await take_seat(c, group["id"], ben)
    # Ben's seat is still taken: neither face deletes him, and nothing changes.
    refused = assert_problem(await c.delete(f"/v1/mentees/{ben}"), 409)
    assert refused["taken_seats"] == 1
    assert error_codes(await gql(c, DELETE, {"id": ben})) == ["CONFLICT"]
    assert (await c.get(f"/v1/mentees/{ben}")).status_code == 200
    assert await _counted_and_taken(db, tenant.id, group["id"]) == (2, 2)
    # Given back, the seat is counted free (and notified); then Ben goes.
    cancelled = await c.post(f"{path}/seats/{seat['id']}/cancel", json={"by": "mentee"})
    assert cancelled.status_code == 200, cancelled.text
    assert (await c.delete(f"/v1/mentees/{ben}")).status_code == 204
    got = (await c.get(path)).json()
    assert (got["seats_taken"], got["seats_left"]) == (1, 1)
    assert await _counted_and_taken(db, tenant.id, group["id"]) == (1, 1)
    await take_seat(c, group["id"], cem)
    got = (await c.get(path)).json()
    assert (got["seats_taken"], got["seats_left"]) == (2, 0)
    assert await _counted_and_taken(db, tenant.id, group["id"]) == (2, 2)
    assert (await all_events(db, tenant.id)).count("seat.cancelled") == 1


async def test_deleted_over_graphql_once_the_seat_is_given_back(
    tenant: Tenant, db: Database
) -> None:
    c = tenant.client
    group = await create_group(c, await group_world(c), seats=2)
    ana, ben = await mentees(c, 2)
    seat = await take_seat(c, group["id"], ana)
    await take_seat(c, group["id"], ben)
    await c.post(
        f"/v1/group-sessions/{group['id']}/seats/{seat['id']}/cancel", json={"by": "mentor"}
    )
    body = await gql(c, DELETE, {"id": ana})
    assert body.get("errors") is None, body
    assert await _counted_and_taken(db, tenant.id, group["id"]) == (1, 1)
    assert (await c.get(f"/v1/group-sessions/{group['id']}")).json()["seats_left"] == 1


async def test_a_completed_group_session_keeps_its_count(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its seats record who came: the deleted mentee's seat goes with them, the count and the
    mentor's stats stay, and no `seat.cancelled` is sent (nothing was cancelled)."""
    c = tenant.client
    base = await group_world(c)
    group = await create_group(c, base, seats=2)
    ana, ben = await mentees(c, 2)
    await take_seat(c, group["id"], ana)
    await take_seat(c, group["id"], ben)
    travel(monkeypatch, "2027-01-11T08:31:00Z")
    done = await c.post(f"/v1/group-sessions/{group['id']}/complete")
    assert done.status_code == 200, done.text
    stats = (await c.get(f"/v1/mentors/{base['mentor_id']}")).json()["stats"]
    assert (await c.delete(f"/v1/mentees/{ben}")).status_code == 204
    got = (await c.get(f"/v1/group-sessions/{group['id']}")).json()
    assert (got["status"], got["seats_taken"]) == ("completed", 2)
    assert await _counted_and_taken(db, tenant.id, group["id"]) == (2, 1)
    assert (await c.get(f"/v1/mentors/{base['mentor_id']}")).json()["stats"] == stats
    assert "seat.cancelled" not in await all_events(db, tenant.id)


async def test_a_cancelled_group_session_does_not_hold_the_mentee(
    tenant: Tenant, db: Database
) -> None:
    c = tenant.client
    group = await create_group(c, await group_world(c), seats=2)
    (ana,) = await mentees(c, 1)
    await take_seat(c, group["id"], ana)
    await c.post(f"/v1/group-sessions/{group['id']}/cancel", json={"reason": "Sick"})
    assert (await c.delete(f"/v1/mentees/{ana}")).status_code == 204
    assert await _counted_and_taken(db, tenant.id, group["id"]) == (0, 0)


@pytest.mark.postgres_only
async def test_a_seat_taken_while_its_mentee_is_deleted_is_counted_right(
    tenant: Tenant, db: Database
) -> None:
    """The mentee's row lock orders them: either the seat is taken first and the deletion is
    refused, or the mentee goes first and the seat is a 404; the count is the seats, always.
    The requests run at once over their own connections; rounds repeat it."""
    c = tenant.client
    for n in range(6):
        group = await create_group(c, await group_world(c), seats=2)
        ana, ben = await mentees(c, 2)
        await take_seat(c, group["id"], ana)
        requests = [
            c.post(f"/v1/group-sessions/{group['id']}/seats", json={"mentee_id": ben, "ask": ASK}),
            c.delete(f"/v1/mentees/{ben}"),
        ]
        first = n % 2  # either one sent first, in turn
        done = await asyncio.gather(requests[first], requests[1 - first])
        seat, deleted = done[first], done[1 - first]
        outcome = (seat.status_code, deleted.status_code)
        assert outcome in {(201, 409), (404, 204)}, (seat.text, deleted.text)
        counted, taken = await _counted_and_taken(db, tenant.id, group["id"])
        assert counted == taken == (2 if outcome == (201, 409) else 1)
        got = (await c.get(f"/v1/group-sessions/{group['id']}")).json()
        assert got["seats_taken"] == counted
