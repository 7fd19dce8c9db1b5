"""Factories that build test data through the public REST API, as a client app would."""

import itertools
from typing import Any

import httpx

_seq = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_seq)}"


async def create_skill(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    slug = fields.pop("slug", None) or unique("skill")
    body = {"slug": slug, "name": fields.pop("name", slug.replace("-", " ").title()), **fields}
    response = await client.post("/v1/skills", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def create_mentor(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "external_id": unique("mentor"),
        "name": "Ada Mentor",
        "timezone": "Europe/Berlin",
        "languages": ["en"],
        "formats": ["video", "chat"],
        "session_lengths": [15, 30],
        **fields,
    }
    response = await client.post("/v1/mentors", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def create_mentee(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "external_id": unique("mentee"),
        "name": "Max Mentee",
        "timezone": "America/New_York",
        "languages": ["en"],
        **fields,
    }
    response = await client.post("/v1/mentees", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def mint_token(
    client: httpx.AsyncClient, external_id: str, role: str, ttl_seconds: int = 3600
) -> str:
    """A member token minted through the API with the app's key."""
    response = await client.post(
        "/v1/member-tokens",
        json={"external_id": external_id, "role": role, "ttl_seconds": ttl_seconds},
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]  # type: ignore[no-any-return]


def as_member(client: httpx.AsyncClient, token: str) -> httpx.AsyncClient:
    """A client on the same app transport that authenticates with a member token instead."""
    return httpx.AsyncClient(
        transport=client._transport,
        base_url=client.base_url,
        headers={"Authorization": f"Bearer {token}"},
    )


EVERY_DAY = [
    {"day": d, "start": "09:00", "end": "17:00"}
    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
]


async def set_availability(
    client: httpx.AsyncClient, mentor_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"weekly": EVERY_DAY, "auto_accept": True, **fields}
    response = await client.put(f"/v1/mentors/{mentor_id}/availability", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def bookable(client: httpx.AsyncClient, **availability: Any) -> dict[str, Any]:
    """A skill, a mentor (Europe/Berlin, 09:00-17:00 every day) offering it, and a mentee:
    everything a booking body needs except `starts_at`."""
    skill = await create_skill(client)
    mentor = await create_mentor(client, skills=[{"skill_id": skill["id"], "level": 4}])
    mentee = await create_mentee(client)
    await set_availability(client, mentor["id"], **availability)
    return {
        "mentor_id": mentor["id"],
        "mentee_id": mentee["id"],
        "skill_id": skill["id"],
        "topic": "Review my first pivot table for the sales report",
        "questions": ["Which fields go in rows?"],
        "format": "video",
        "duration_minutes": 30,
    }


async def book_session(
    client: httpx.AsyncClient, base: dict[str, Any], starts_at: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post("/v1/sessions", json={**base, "starts_at": starts_at, **fields})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
