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
