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
