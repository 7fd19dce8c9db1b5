"""Never more seats taken than offered, never a mentee in two places at once, never a group
session over a one-to-one session of its mentor: under concurrent requests over real
connections (each request through the ASGI client has its own database session), and, where a
constraint fits, in PostgreSQL itself with the service's own check switched off."""

import asyncio
from typing import Any

import pytest
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, func, select

from mentorapi.db.engine import Database
from mentorapi.group_sessions import places, repository
from mentorapi.group_sessions.models import Seat
from mentorapi.group_sessions.repository import Place
from tests.conftest import Tenant
from tests.group_sessions.conftest import (
    ASK,
    MONDAY_9,
    create_group,
    group_world,
    mentees,
    take_seat,
)
from tests.test_directory import assert_problem


async def _taken(db: Database, app_id: str, group_id: str) -> int:
    async with db.sessionmaker() as s:
        query = select(func.count()).where(
            col(Seat.app_id) == app_id,
            col(Seat.group_session_id) == group_id,
            col(Seat.status) == "taken",
        )
        return int((await s.exec(query)).one())


@pytest.mark.postgres_only
async def test_fifty_requests_for_six_seats_give_six(tenant: Tenant, db: Database) -> None:
    base = await group_world(tenant.client)
    group = await create_group(tenant.client, base, seats=6)
    people = await mentees(tenant.client, 50)
    responses = await asyncio.gather(
        *(
            tenant.client.post(
                f"/v1/group-sessions/{group['id']}/seats", json={"mentee_id": m, "ask": ASK}
            )
            for m in people
        )
    )
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 6, codes
    assert codes.count(409) == 44, codes
    got = (await tenant.client.get(f"/v1/group-sessions/{group['id']}")).json()
    assert (got["seats_taken"], got["seats_left"]) == (6, 0)
    assert await _taken(db, tenant.id, group["id"]) == 6


async def test_the_database_refuses_a_seventh_seat(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the service's "full" check misled (the group session read as if a seat were still
    free, as a stale read would), the CHECK on seats_taken refuses the third of two seats: a
    409, not a 500, and nothing written. Both databases enforce CHECK constraints."""
    base = await group_world(tenant.client)
    group = await create_group(tenant.client, base, seats=2)
    ana, ben, cem = await mentees(tenant.client, 3)
    for m in (ana, ben):
        await take_seat(tenant.client, group["id"], m)
    real_get = repository.get

    async def looks_free(*args: Any, **kwargs: Any) -> Any:
        found = await real_get(*args, **kwargs)
        if found is not None and kwargs.get("for_update"):
            # Not a change to write: what the service believes it read.
            set_committed_value(found, "seats_taken", found.seats_taken - 1)
        return found

    monkeypatch.setattr(repository, "get", looks_free)
    response = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/seats", json={"mentee_id": cem, "ask": ASK}
    )
    assert "seat could not be taken" in assert_problem(response, 409)["detail"]
    monkeypatch.undo()
    assert await _taken(db, tenant.id, group["id"]) == 2
    assert (await tenant.client.get(f"/v1/group-sessions/{group['id']}")).json()["seats_taken"] == 2


@pytest.mark.postgres_only
async def test_the_exclusion_constraint_refuses_overlapping_seats_of_one_mentee(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the service's check of the mentee's places switched off, the exclusion constraint
    over the seats' times refuses the second seat: a 409, not a 500. (SQLite has none; there
    the check under its single writer is the guarantee, tested in test_time.py.)"""
    first = await create_group(tenant.client, await group_world(tenant.client))
    second = await create_group(
        tenant.client, await group_world(tenant.client), "2027-01-11T08:15:00Z"
    )
    (ana,) = await mentees(tenant.client, 1)
    await take_seat(tenant.client, first["id"], ana)

    def nowhere(found: list[Place], start: object, end: object) -> list[Place]:
        return []

    monkeypatch.setattr(places, "clashing", nowhere)
    response = await tenant.client.post(
        f"/v1/group-sessions/{second['id']}/seats", json={"mentee_id": ana, "ask": ASK}
    )
    assert "seat could not be taken" in assert_problem(response, 409)["detail"]
    assert await _taken(db, tenant.id, second["id"]) == 0


@pytest.mark.postgres_only
async def test_one_mentee_racing_for_two_overlapping_seats_gets_one(
    tenant: Tenant, db: Database
) -> None:
    groups = [
        await create_group(tenant.client, await group_world(tenant.client), f"2027-01-11T08:{m}Z")
        for m in ("00:00", "10:00", "20:00")
    ]
    (ana,) = await mentees(tenant.client, 1)
    responses = await asyncio.gather(
        *(
            tenant.client.post(
                f"/v1/group-sessions/{g['id']}/seats", json={"mentee_id": ana, "ask": ASK}
            )
            for g in groups
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 409, 409], codes


def _booking(base: dict[str, Any], mentee_id: str, starts_at: str) -> dict[str, Any]:
    return {
        "mentor_id": base["mentor_id"],
        "mentee_id": mentee_id,
        "skill_id": base["skill_id"],
        "topic": "Review my window functions for the sales report",
        "format": "video",
        "duration_minutes": 30,
        "starts_at": starts_at,
    }


async def test_a_booking_and_a_group_session_racing_for_one_slot_one_wins(
    tenant: Tenant, dialect: str
) -> None:
    """The mentor's row lock orders them: the second sees the first. On PostgreSQL the
    requests really run at once; rounds repeat it with either one first in line."""
    rounds = 4 if dialect == "postgresql" else 2
    for _ in range(rounds):
        base = await group_world(tenant.client)
        (ana,) = await mentees(tenant.client, 1)
        group, booking = await asyncio.gather(
            tenant.client.post("/v1/group-sessions", json={**base, "starts_at": MONDAY_9}),
            tenant.client.post("/v1/sessions", json=_booking(base, ana, "2027-01-11T08:15:00Z")),
        )
        codes = sorted([group.status_code, booking.status_code])
        assert codes == [201, 409], (group.text, booking.text)
        loser = group if group.status_code == 409 else booking
        assert (
            assert_problem(loser, 409)["reason"]
            == "overlaps another session of the mentor (buffer included)"
        )


@pytest.mark.postgres_only
async def test_a_seat_and_a_one_to_one_booking_of_one_mentee_racing_one_wins(
    tenant: Tenant,
) -> None:
    """The mentee's row lock orders them (a booking takes it after its mentor's)."""
    for _ in range(4):
        group = await create_group(tenant.client, await group_world(tenant.client))
        other = await group_world(tenant.client)
        (ana,) = await mentees(tenant.client, 1)
        seat, booking = await asyncio.gather(
            tenant.client.post(
                f"/v1/group-sessions/{group['id']}/seats", json={"mentee_id": ana, "ask": ASK}
            ),
            tenant.client.post("/v1/sessions", json=_booking(other, ana, "2027-01-11T08:15:00Z")),
        )
        codes = sorted([seat.status_code, booking.status_code])
        assert codes == [201, 409], (seat.text, booking.text)
        loser = seat if seat.status_code == 409 else booking
        assert assert_problem(loser, 409)["reason"] == places.ELSEWHERE
