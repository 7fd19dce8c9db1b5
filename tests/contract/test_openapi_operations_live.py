"""What the service sends is what the document declares: statuses, media types and headers.

The booking flow (and the errors around it) runs against an app with rate limits on, and every
response is held to its operation in the served document: a status not declared, a media type
not declared, a header the service writes (ETag, RateLimit-*, Retry-After, Idempotent-Replayed,
Content-Disposition, Location) that the response does not declare, or a declared required header
missing, is a failure. The static walk of the document is tests/contract/test_openapi_document.py.
"""

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mentorapi.main import create_app
from tests import conftest
from tests.factories import bookable

WRITTEN_HEADERS = {
    "etag",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "retry-after",
    "idempotent-replayed",
    "content-disposition",
    "location",
}
START = "2031-03-04T10:00:00Z"  # a Tuesday, inside the mentor's 09:00-17:00 in Berlin


def _limited(database_url: str, dialect: str, limit: int) -> FastAPI:
    return create_app(
        conftest.test_settings(
            database_url,
            rate_limits_enabled=True,
            rate_limit_backend="postgres" if dialect == "postgresql" else "memory",
            rate_limit_per_window=limit,
            rate_limit_window_seconds=3600,
        )
    )


class Checker:
    """Holds each response to the operation the document declares for its request."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.problems: list[str] = []
        self.seen: set[tuple[str, str, int]] = set()
        # Literal paths first (`/{id}.ics` before `/{id}`), as the router matches them.
        self.templates = sorted(
            document["paths"], key=lambda p: (p.count("{"), -len(p)), reverse=False
        )

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        for template in self.templates:
            pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+?", re.escape(template)) + "$"
            if re.match(pattern, path) and method.lower() in self.document["paths"][template]:
                return template, self.document["paths"][template][method.lower()]
        raise AssertionError(f"no operation for {method} {path}")

    def header(self, declared: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in declared:
            return self.document["components"]["headers"][declared["$ref"].split("/")[-1]]  # type: ignore[no-any-return]
        return declared

    async def check(self, response: httpx.Response) -> None:
        request = response.request
        template, operation = self.operation(request.method, request.url.path)
        where = f"{request.method} {template} {response.status_code}"
        self.seen.add((request.method, template, response.status_code))
        declared = operation["responses"].get(str(response.status_code))
        if declared is None:
            self.problems.append(f"{where}: status not declared")
            return
        media = response.headers.get("content-type", "").split(";")[0]
        if media and media not in declared.get("content", {}):
            self.problems.append(f"{where}: media type {media} not declared")
        headers = {k.lower(): self.header(v) for k, v in declared.get("headers", {}).items()}
        for name in WRITTEN_HEADERS & {k.lower() for k in response.headers}:
            if name not in headers:
                self.problems.append(f"{where}: header {name} sent, not declared")
        for name, header in headers.items():
            if header.get("required") and name not in response.headers:
                self.problems.append(f"{where}: required header {name} missing")


@pytest.fixture
async def checked(
    database_url: str, dialect: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Checker]]:
    async with conftest.running(_limited(database_url, dialect, 10_000)) as app:
        checker = Checker(app.openapi())
        async for tenant in conftest.make_tenant(app):
            tenant.client.event_hooks["response"] = [_read_then(checker.check)]
            yield tenant.client, checker


def _read_then(check: Any) -> Any:
    async def hook(response: httpx.Response) -> None:
        await response.aread()
        await check(response)

    return hook


async def test_the_booking_flow_sends_only_what_is_declared(
    checked: tuple[httpx.AsyncClient, Checker],
) -> None:
    client, checker = checked
    base = await bookable(client, auto_accept=False)
    mentor_id = base["mentor_id"]
    await client.get(f"/v1/mentors/{mentor_id}")
    await client.get(f"/v1/mentors/{mentor_id}/availability")
    await client.get(
        f"/v1/mentors/{mentor_id}/slots",
        params={"start": "2031-03-03T00:00:00Z", "end": "2031-03-10T00:00:00Z", "duration": 30},
    )
    await client.get("/v1/mentors", params={"limit": 1})
    key = {"Idempotency-Key": "book-once"}
    booked = await client.post("/v1/sessions", json={**base, "starts_at": START}, headers=key)
    assert booked.status_code == 201, booked.text
    replay = await client.post("/v1/sessions", json={**base, "starts_at": START}, headers=key)
    assert replay.headers["Idempotent-Replayed"] == "true"
    reused = await client.post("/v1/sessions", json={**base, "topic": "other"}, headers=key)
    assert reused.status_code == 422
    taken = await client.post("/v1/sessions", json={**base, "starts_at": START})
    assert taken.status_code == 409
    session_id = booked.json()["id"]
    stale = await client.post(f"/v1/sessions/{session_id}/accept", headers={"If-Match": '"99"'})
    assert stale.status_code == 412
    accepted = await client.post(
        f"/v1/sessions/{session_id}/accept", headers={"If-Match": booked.headers["ETag"]}
    )
    assert accepted.status_code == 200, accepted.text
    twice = await client.post(f"/v1/sessions/{session_id}/accept")
    assert twice.status_code == 409
    calendar = await client.get(f"/v1/sessions/{session_id}.ics")
    assert calendar.status_code == 200
    await client.get(f"/v1/sessions/{session_id}")
    assert (await client.get("/v1/sessions/ses_00000000000000000000000000")).status_code == 404
    assert (await client.get("/v1/sessions", params={"limit": 0})).status_code == 422
    unreadable = await client.post(
        "/v1/skills", content=b'{"slug": "\xff"}', headers={"Content-Type": "application/json"}
    )
    assert unreadable.status_code == 400
    too_large = await client.post(
        "/v1/skills", content=b"{}", headers={"Content-Length": "2000000"}
    )
    assert too_large.status_code == 413
    stranger = await client.get("/v1/skills", headers={"Authorization": "Bearer nope"})
    assert stranger.status_code == 401
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/healthz")).status_code == 200
    assert checker.problems == []
    assert len(checker.seen) >= 20  # the flow really ran through the checker


async def test_a_refusal_declares_retry_after_and_its_bucket(
    database_url: str, dialect: str
) -> None:
    async with conftest.running(_limited(database_url, dialect, 2)) as app:
        checker = Checker(app.openapi())
        async for tenant in conftest.make_tenant(app):
            tenant.client.event_hooks["response"] = [_read_then(checker.check)]
            statuses = [(await tenant.client.get("/v1/skills")).status_code for _ in range(3)]
            assert statuses == [200, 200, 429]
    assert checker.problems == []
