"""Matching test helpers: a clock the tests set (bookings, completions and recommendations
read it), a mentor factory with availability, and sessions completed with feedback."""

from typing import Any

import httpx
import pytest

from mentorapi.matching import service as matching_service
from mentorapi.reminders import service as reminders_service
from mentorapi.sessions import service as sessions_service
from tests.factories import create_mentor, set_availability
from tests.reminders.conftest import Clock, at

MONDAY = "2027-01-04T08:00:00Z"  # 09:00 in Berlin
WEEK = {"from": "2027-01-04T08:00:00Z", "to": "2027-01-11T08:00:00Z"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(at(MONDAY))
    for module in (sessions_service, reminders_service, matching_service):
        monkeypatch.setattr(module, "now", clock)
    return clock


async def mentor(
    client: httpx.AsyncClient,
    skill_id: str,
    *,
    level: int = 4,
    availability: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A mentor offering one skill, available 09:00-17:00 (Berlin) every day unless told."""
    found = await create_mentor(client, skills=[{"skill_id": skill_id, "level": level}], **fields)
    await set_availability(client, found["id"], **(availability or {}))
    return found


async def recommend(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/matching/recommendations", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def ids(found: dict[str, Any]) -> list[str]:
    return [item["mentor"]["id"] for item in found["data"]]


async def complete_with_feedback(
    client: httpx.AsyncClient,
    clock: Clock,
    *,
    mentor_id: str,
    mentee_id: str,
    skill_id: str,
    starts_at: str,
    rating: int,
    impact: str = "",
    topic: str = "Review my first pivot table for the sales report",
) -> dict[str, Any]:
    """A 30-minute session booked, held and completed at `starts_at`, with the mentee's
    rating; the clock comes back to where it was."""
    before = clock.now
    response = await client.post(
        "/v1/sessions",
        json={
            "mentor_id": mentor_id,
            "mentee_id": mentee_id,
            "skill_id": skill_id,
            "topic": topic,
            "format": "video",
            "duration_minutes": 30,
            "starts_at": starts_at,
        },
    )
    assert response.status_code == 201, response.text
    session = response.json()
    clock.set(session["ends_at"])
    done = await client.post(f"/v1/sessions/{session['id']}/complete", json={})
    assert done.status_code == 200, done.text
    given = await client.post(
        f"/v1/sessions/{session['id']}/feedback",
        json={"author": "mentee", "rating": rating, "impact": impact},
    )
    assert given.status_code == 201, given.text
    clock.set(before)
    return session  # type: ignore[no-any-return]
