"""A mentee is never in two places at once: two one-to-one sessions of one mentee with two
mentors at the same time are refused (booking, rescheduling, a series), also under concurrency.
(Seats in group sessions against sessions: tests/group_sessions.)"""

import asyncio
from typing import Any

import pytest

from tests.conftest import Tenant
from tests.factories import book_session, bookable, create_mentor, set_availability

MONDAY_9 = "2027-01-11T08:00:00Z"  # 09:00 in Berlin
ELSEWHERE = "the mentee is in another session at that time"


async def second_mentor(tenant: Tenant, base: dict[str, Any]) -> dict[str, Any]:
    """The same mentee and skill with another mentor, free at the same times."""
    mentor = await create_mentor(tenant.client, skills=[{"skill_id": base["skill_id"], "level": 3}])
    await set_availability(tenant.client, mentor["id"])
    return {**base, "mentor_id": mentor["id"]}


async def test_a_mentee_cannot_book_two_mentors_at_once(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    other = await second_mentor(tenant, base)
    await book_session(tenant.client, base, MONDAY_9)
    clash = await tenant.client.post(
        "/v1/sessions", json={**other, "starts_at": "2027-01-11T08:15:00Z"}
    )
    assert clash.status_code == 409, clash.text
    assert clash.json()["reason"] == ELSEWHERE
    # Back to back is fine; so is the same time once the first is cancelled.
    await book_session(tenant.client, other, "2027-01-11T08:30:00Z")
    sessions = await tenant.client.get("/v1/sessions", params={"mentee_id": base["mentee_id"]})
    first = next(s for s in sessions.json()["data"] if s["starts_at"] == MONDAY_9)
    cancelled = await tenant.client.post(
        f"/v1/sessions/{first['id']}/cancel", json={"by": "mentee", "reason": "moved"}
    )
    assert cancelled.status_code == 200, cancelled.text
    await book_session(tenant.client, other, MONDAY_9)


async def test_rescheduling_onto_the_mentees_other_session_is_refused(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    other = await second_mentor(tenant, base)
    first = await book_session(tenant.client, base, MONDAY_9)
    await book_session(tenant.client, other, "2027-01-11T10:00:00Z")
    onto = await tenant.client.post(
        f"/v1/sessions/{first['id']}/reschedule", json={"starts_at": "2027-01-11T10:00:00Z"}
    )
    assert onto.status_code == 409, onto.text
    assert onto.json()["reason"] == ELSEWHERE
    # Moving within its own time (overlapping only itself) is not a clash.
    moved = await tenant.client.post(
        f"/v1/sessions/{first['id']}/reschedule", json={"starts_at": "2027-01-11T08:15:00Z"}
    )
    assert moved.status_code == 200, moved.text


async def test_a_series_over_the_mentees_other_session_books_nothing(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    other = await second_mentor(tenant, base)
    await book_session(tenant.client, other, "2027-01-18T08:00:00Z")  # the 2nd Monday
    response = await tenant.client.post(
        "/v1/series", json={**base, "starts_at": MONDAY_9, "count": 3, "interval_weeks": 1}
    )
    assert response.status_code == 409, response.text
    assert response.json()["conflicts"] == [
        {"index": 1, "starts_at": "2027-01-18T08:00:00Z", "reason": ELSEWHERE}
    ]
    listed = await tenant.client.get("/v1/sessions", params={"mentor_id": base["mentor_id"]})
    assert listed.json()["data"] == []


@pytest.mark.postgres_only
async def test_concurrent_bookings_of_one_mentee_with_many_mentors(tenant: Tenant) -> None:
    """Eight mentors, one mentee, one time, all at once: each booking locks its own mentor,
    then the mentee, so exactly one wins."""
    base = await bookable(tenant.client)
    bodies = [base] + [await second_mentor(tenant, base) for _ in range(7)]
    answers = await asyncio.gather(
        *(tenant.client.post("/v1/sessions", json={**b, "starts_at": MONDAY_9}) for b in bodies)
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7, [a.text for a in answers]
