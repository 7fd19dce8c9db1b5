"""Never a double booking, whatever the concurrency, on both databases.

Each request through the ASGI client gets its own database session and connection, so
`asyncio.gather` runs real concurrent transactions (PostgreSQL: 50 of them, queued on the
mentor row lock; SQLite: fewer, since it has one writer at a time anyway).
"""

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mentorapi.availability import slots
from mentorapi.db.engine import Database
from mentorapi.sessions import service as sessions_service
from tests.conftest import Tenant
from tests.factories import bookable, create_mentee
from tests.test_sessions import MONDAY_9


async def test_many_bookings_for_one_slot_give_one_201(tenant: Tenant, dialect: str) -> None:
    n = 50 if dialect == "postgresql" else 10
    base = await bookable(tenant.client)
    mentees = [await create_mentee(tenant.client) for _ in range(n)]
    responses = await asyncio.gather(
        *(
            tenant.client.post(
                "/v1/sessions", json={**base, "mentee_id": m["id"], "starts_at": MONDAY_9}
            )
            for m in mentees
        )
    )
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 1, codes
    assert codes.count(409) == n - 1, codes
    listed = await tenant.client.get("/v1/sessions", params={"mentor_id": base["mentor_id"]})
    assert len(listed.json()["data"]) == 1


async def test_capacity_holds_under_concurrency(tenant: Tenant, dialect: str) -> None:
    n = 20 if dialect == "postgresql" else 6
    base = await bookable(tenant.client, weekly_capacity=3)
    # n different free times in one week: only 3 may be booked.
    times = [f"2027-01-{11 + i % 7}T{8 + i // 7:02}:00:00Z" for i in range(n)]
    responses = await asyncio.gather(
        *(tenant.client.post("/v1/sessions", json={**base, "starts_at": t}) for t in times)
    )
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 3, codes
    assert codes.count(409) == n - 3, codes


async def test_database_refuses_overlap_and_it_is_a_409(
    tenant: Tenant, dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last line of defence: with the service's own check switched off, PostgreSQL's
    exclusion constraint still refuses the overlap, and the client sees a 409, not a 500.
    (SQLite has no such constraint; there the service check under its single writer is the
    guarantee, tested above.)"""
    base = await bookable(tenant.client)
    first = await tenant.client.post("/v1/sessions", json={**base, "starts_at": MONDAY_9})
    assert first.status_code == 201
    if dialect == "postgresql":
        monkeypatch.setattr(sessions_service, "why_not", lambda *a, **k: None)
        other = await create_mentee(tenant.client)
        second = await tenant.client.post(
            "/v1/sessions",
            json={**base, "mentee_id": other["id"], "starts_at": "2027-01-11T08:15:00Z"},
        )
        assert second.status_code == 409, second.text
        assert "slot" in second.json()["detail"]
    else:
        second = await tenant.client.post("/v1/sessions", json={**base, "starts_at": MONDAY_9})
        assert second.status_code == 409
        assert second.json()["reason"] == slots.OVERLAP
    listed = await tenant.client.get("/v1/sessions")
    assert len(listed.json()["data"]) == 1


async def test_concurrent_reschedules_onto_one_slot(tenant: Tenant, db: Database) -> None:
    base = await bookable(tenant.client)
    ids = []
    for day in range(12, 17):
        response = await tenant.client.post(
            "/v1/sessions", json={**base, "starts_at": f"2027-01-{day}T08:00:00Z"}
        )
        ids.append(response.json()["id"])
    responses = await asyncio.gather(
        *(
            tenant.client.post(f"/v1/sessions/{sid}/reschedule", json={"starts_at": MONDAY_9})
            for sid in ids
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409, 409], codes


@pytest.mark.postgres_only
async def test_a_booking_locks_its_mentor_before_its_mentee(tenant: Tenant, db: Database) -> None:
    """One statement locks a booking's mentor and mentee (a round trip fewer while the mentor
    is held), and still in the order every change takes them: with the mentee held by another
    transaction, the booking waits for the mentee holding the mentor, never the other way
    round (which could deadlock with a change that holds the mentor and waits for the
    mentee)."""
    base = await bookable(tenant.client)
    scoped = {"app": tenant.id, "mentor": base["mentor_id"], "mentee": base["mentee_id"]}
    async with db.engine.connect() as holder, db.engine.connect() as prober:
        await holder.execute(
            text("SELECT id FROM mentees WHERE app_id = :app AND id = :mentee FOR UPDATE"), scoped
        )
        booking = asyncio.create_task(
            tenant.client.post("/v1/sessions", json={**base, "starts_at": MONDAY_9})
        )
        # The booking is waiting on a row lock (the mentee's, which `holder` has).
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        )
        for _ in range(500):
            found = (await prober.execute(waiting)).scalar()
            await prober.rollback()  # pg_stat_activity is read once per transaction
            if found:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the booking never waited for the mentee's lock")
        # ...holding its mentor meanwhile.
        with pytest.raises(DBAPIError, match="could not obtain lock"):
            await prober.execute(
                text(
                    "SELECT id FROM mentors WHERE app_id = :app AND id = :mentor FOR UPDATE NOWAIT"
                ),
                scoped,
            )
        await prober.rollback()
        await holder.commit()
        booked = await booking
    assert booked.status_code == 201, booked.text
