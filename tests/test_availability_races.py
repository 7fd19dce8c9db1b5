"""A change of a mentor's availability against bookings and other changes in flight, over real
concurrent transactions (PostgreSQL: SQLite runs one writer at a time, so nothing interleaves).

A booking checks the availability with the mentor row locked and commits a little later. Once
`PUT /v1/mentors/{id}/availability` (or `setAvailability`) has answered, every booking checked
against the availability it replaced is already committed, visible to whoever reads next: the
PUT takes the same lock. Without it, a mentor's app told that Monday is closed reads Monday's
sessions, finds none, and then a Monday booking appears, admitted against the old
availability. The same lock keeps `If-Match` honest: two PUTs made against one version do not
both win."""

import asyncio
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import Caller
from mentorapi.availability import service as availability_service
from mentorapi.availability.schemas import AvailabilityPut
from mentorapi.db.engine import Database
from mentorapi.kit.errors import Conflict, PreconditionFailed
from mentorapi.sessions import service as sessions_service
from mentorapi.sessions.models import Session
from mentorapi.sessions.schemas import SessionCreate
from tests.conftest import Tenant
from tests.factories import EVERY_DAY, bookable, create_mentee, create_mentor
from tests.test_sessions import MONDAY_9

pytestmark = pytest.mark.postgres_only


def closed(day: str) -> AvailabilityPut:
    """The availability of `bookable`, without `day`."""
    weekly = [w for w in EVERY_DAY if w["day"] != day]
    return AvailabilityPut.model_validate({"weekly": weekly, "auto_accept": True})


async def backend(db_session: AsyncSession) -> int:
    """The PostgreSQL backend of this session's transaction (its connection until commit)."""
    connection = await db_session.connection()
    return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def finished_or_waiting(db: Database, task: asyncio.Task[Any], pid: int) -> bool:
    """Until `task` has finished or backend `pid` waits for a lock: whether it finished."""
    async with db.engine.connect() as watcher:
        for _ in range(1000):
            if task.done():
                return True
            waits = await watcher.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
            if waits.scalar_one_or_none() == "Lock":
                return False
            await watcher.rollback()  # a new transaction sees pg_stat_activity anew
            await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} neither finished nor waited for a lock")


async def test_once_a_put_answers_the_bookings_checked_against_what_it_replaced_are_seen(
    tenant: Tenant, db: Database
) -> None:
    base = await bookable(tenant.client)
    api_key = Caller.api_key(tenant.id)
    monday_9 = datetime.fromisoformat(MONDAY_9)
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def close_mondays() -> list[str]:
        async with db.sessionmaker() as s:
            started.set_result(await backend(s))
            await availability_service.put(
                db_session=s,
                app_id=tenant.id,
                actor=api_key,
                mentor_id=base["mentor_id"],
                data=closed("mon"),
            )
            await s.commit()
        # What the mentor's app reads as soon as the PUT has answered: Monday's sessions.
        async with db.sessionmaker() as s:
            found = await s.exec(
                select(Session.id).where(
                    col(Session.app_id) == tenant.id,
                    col(Session.mentor_id) == base["mentor_id"],
                    col(Session.starts_at) == monday_9,
                )
            )
            return list(found.all())

    async with db.sessionmaker() as booking:
        # Checked against Monday 09:00-17:00 and written, not yet committed.
        session = await sessions_service.book(
            db_session=booking,
            app_id=tenant.id,
            actor=api_key,
            data=SessionCreate.model_validate({**base, "starts_at": MONDAY_9}),
        )
        booked = session.id
        put = asyncio.create_task(close_mondays())
        answered_first = await finished_or_waiting(db, put, await started)
        await booking.commit()
    seen = await put
    assert seen == [booked], "a read right after the PUT missed a booking checked before it"
    assert not answered_first
    # Both stand: the session booked first, then Mondays closed (a PUT cancels nothing).
    got = await tenant.client.get(f"/v1/sessions/{booked}")
    assert got.json()["status"] == "booked"
    slots = await tenant.client.get(
        f"/v1/mentors/{base['mentor_id']}/slots",
        params={"start": MONDAY_9, "end": "2027-01-11T23:00:00Z", "duration": 30},
    )
    assert slots.json()["data"] == []


async def test_a_booking_that_waits_for_a_put_is_checked_against_it(
    tenant: Tenant, db: Database
) -> None:
    """The other way round: a PUT in flight first, then a booking of a time it closes: the
    booking waits for the PUT's commit and is refused (a 409), as it would be after it."""
    base = await bookable(tenant.client)
    api_key = Caller.api_key(tenant.id)
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def book_monday() -> Session:
        async with db.sessionmaker() as s:
            started.set_result(await backend(s))
            found = await sessions_service.book(
                db_session=s,
                app_id=tenant.id,
                actor=api_key,
                data=SessionCreate.model_validate({**base, "starts_at": MONDAY_9}),
            )
            await s.commit()
            return found

    async with db.sessionmaker() as change:
        await availability_service.put(
            db_session=change,
            app_id=tenant.id,
            actor=api_key,
            mentor_id=base["mentor_id"],
            data=closed("mon"),
        )
        booking = asyncio.create_task(book_monday())
        answered_first = await finished_or_waiting(db, booking, await started)
        await change.commit()
    with pytest.raises(Conflict):
        await booking
    assert not answered_first
    listed = await tenant.client.get("/v1/sessions", params={"mentor_id": base["mentor_id"]})
    assert listed.json()["data"] == []


async def test_two_puts_against_one_version_do_not_both_win(tenant: Tenant, db: Database) -> None:
    base = await bookable(tenant.client)
    mentor_id = base["mentor_id"]
    api_key = Caller.api_key(tenant.id)
    read = await tenant.client.get(f"/v1/mentors/{mentor_id}/availability")
    version = read.json()["version"]
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def close_tuesdays() -> None:
        async with db.sessionmaker() as s:
            started.set_result(await backend(s))
            await availability_service.put(
                db_session=s,
                app_id=tenant.id,
                actor=api_key,
                mentor_id=mentor_id,
                data=closed("tue"),
                expected_version=version,
            )
            await s.commit()

    async with db.sessionmaker() as first:
        await availability_service.put(
            db_session=first,
            app_id=tenant.id,
            actor=api_key,
            mentor_id=mentor_id,
            data=closed("mon"),
            expected_version=version,
        )
        second = asyncio.create_task(close_tuesdays())
        await finished_or_waiting(db, second, await started)
        await first.commit()
    with pytest.raises(PreconditionFailed):
        await second
    now = (await tenant.client.get(f"/v1/mentors/{mentor_id}/availability")).json()
    assert now["version"] == version + 1
    assert "mon" not in {w["day"] for w in now["weekly"]}
    assert "tue" in {w["day"] for w in now["weekly"]}


async def test_puts_and_bookings_of_one_mentor_at_once_never_deadlock(tenant: Tenant) -> None:
    """Bookings (mentor, then mentee locked) and PUTs (mentor locked, then the availability
    written) of one mentor, all at once: every request answers, none with a 500 (a deadlock
    PostgreSQL broke would be one)."""
    base = await bookable(tenant.client)
    mentor_id = base["mentor_id"]
    mentees = [await create_mentee(tenant.client) for _ in range(16)]
    requests = []
    for i, mentee in enumerate(mentees):  # 16 times an hour apart or more, buffers under 8 min
        starts_at = f"2027-01-{11 + i % 7}T{8 + i // 7:02}:00:00Z"
        body = {**base, "mentee_id": mentee["id"], "starts_at": starts_at}
        requests.append(tenant.client.post("/v1/sessions", json=body))
        if i % 2:
            availability = {"weekly": EVERY_DAY, "auto_accept": True, "buffer_before_minutes": i}
            url = f"/v1/mentors/{mentor_id}/availability"
            requests.append(tenant.client.put(url, json=availability))
    responses = await asyncio.gather(*requests)
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 16, 200: 8}, [r.text for r in responses if r.status_code >= 300]
    after = (await tenant.client.get(f"/v1/mentors/{mentor_id}/availability")).json()
    assert after["version"] == 1 + 8


async def test_a_mentors_first_availability_put_several_times_at_once(tenant: Tenant) -> None:
    """No availability yet: each PUT finds none and would insert one. One after the other
    under the mentor's lock, the first inserts it and the others replace it."""
    base = await bookable(tenant.client)
    mentor = await create_mentor(tenant.client, skills=[{"skill_id": base["skill_id"], "level": 3}])
    url = f"/v1/mentors/{mentor['id']}/availability"
    responses = await asyncio.gather(
        *(
            tenant.client.put(url, json={"weekly": EVERY_DAY, "min_notice_minutes": i})
            for i in range(6)
        )
    )
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    assert sorted(r.json()["version"] for r in responses) == [1, 2, 3, 4, 5, 6]
