"""Group session test helpers: a mentor who gives group sessions, mentees, seats, the clock."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from mentorapi.db.engine import Database
from mentorapi.sessions import service as sessions_service
from mentorapi.webhooks.models import Event
from tests.factories import create_mentee, create_mentor, create_skill, set_availability

MONDAY_9 = "2027-01-11T08:00:00Z"  # 09:00 in Berlin
MONDAY_10 = "2027-01-11T09:00:00Z"
ASK = "How do I rank rows within each region without a helper column?"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def travel(monkeypatch: pytest.MonkeyPatch, to: str) -> None:
    """Move the clock group sessions share with sessions (completion, seats before start)."""
    moment = at(to)
    monkeypatch.setattr(sessions_service, "now", lambda: moment)


async def group_world(client: httpx.AsyncClient, **availability: Any) -> dict[str, Any]:
    """A skill and a mentor (Europe/Berlin, 09:00-17:00 every day) who offers it: the body of a
    group session but `starts_at`."""
    skill = await create_skill(client)
    mentor = await create_mentor(
        client,
        skills=[{"skill_id": skill["id"], "level": 5}],
        session_lengths=[15, 30, 60],
    )
    await set_availability(client, mentor["id"], **availability)
    return {
        "mentor_id": mentor["id"],
        "skill_id": skill["id"],
        "topic": "SQL window functions: office hours",
        "format": "video",
        "duration_minutes": 30,
        "seats": 6,
    }


async def create_group(
    client: httpx.AsyncClient, base: dict[str, Any], starts_at: str = MONDAY_9, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/group-sessions", json={**base, "starts_at": starts_at, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def mentees(client: httpx.AsyncClient, n: int) -> list[str]:
    return [(await create_mentee(client))["id"] for _ in range(n)]


async def take_seat(
    client: httpx.AsyncClient, group_id: str, mentee_id: str, ask: str = ASK
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/group-sessions/{group_id}/seats", json={"mentee_id": mentee_id, "ask": ask}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def events_of(db: Database, app_id: str, object_id: str) -> list[Event]:
    async with db.sessionmaker() as s:
        query = (
            select(Event)
            .where(col(Event.app_id) == app_id, col(Event.object_id) == object_id)
            .order_by(col(Event.sequence))
        )
        return list((await s.exec(query)).all())


async def all_events(db: Database, app_id: str) -> list[str]:
    async with db.sessionmaker() as s:
        query = select(Event.type).where(col(Event.app_id) == app_id).order_by(col(Event.id))
        return list((await s.exec(query)).all())
