"""A member token's signature is checked before anything it claims reaches a query (issue #12).

The app is read by a well-formed `aud` (for its secrets), the token verified, and only then is
the member (`sub`) looked up: a forged token costs one indexed read and never puts its `sub`
into SQL, whatever that holds (NUL, which PostgreSQL cannot take, was a 500).
"""

import time
from typing import Any

import jwt
import pytest

from tests.conftest import Tenant, count_statements
from tests.factories import as_member, create_mentor

WRONG_SECRET = "not-the-app-secret-" + "x" * 32


def token(aud: str, sub: str, secret: str = WRONG_SECRET, **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": sub, "role": "mentor", "aud": aud, "iat": now, "exp": now + 600, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def touches_members(statements: list[str]) -> list[str]:
    return [s for s in statements if "mentors" in s or "mentees" in s]


async def refused(tenant: Tenant, credential: str) -> tuple[dict[str, Any], list[str]]:
    async with as_member(tenant.client, credential) as member:
        with count_statements() as statements:
            response = await member.get("/v1/skills")
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json(), statements


@pytest.mark.parametrize("sub", ["mentor-1", "nul\x00inside", "lone \ud800 surrogate"])
async def test_a_forged_token_is_refused_before_the_member_lookup(tenant: Tenant, sub: str) -> None:
    body, statements = await refused(tenant, token(tenant.id, sub))
    # At most the app's row, for its secrets (a sub no database can store is refused by its
    # shape, before even that), and nothing about the member.
    assert touches_members(statements) == [], statements
    assert len(statements) <= 1, statements
    if sub == "mentor-1":
        assert "signature does not verify" in body["detail"], body
    else:
        assert "sub claim" in body["detail"], body


async def test_a_forged_token_for_a_real_member_is_refused_without_looking_them_up(
    tenant: Tenant,
) -> None:
    mentor = await create_mentor(tenant.client)
    body, statements = await refused(tenant, token(tenant.id, mentor["external_id"]))
    assert "signature does not verify" in body["detail"], body
    assert touches_members(statements) == [], statements


@pytest.mark.parametrize(
    "aud",
    ["not-an-app", "app_\x00", "mtr_" + "0" * 26, "app_" + "0" * 25 + "\ud800", "app_" + "0" * 27],
)
async def test_a_malformed_aud_is_refused_without_any_query(tenant: Tenant, aud: str) -> None:
    body, statements = await refused(tenant, token(aud, "mentor-1"))
    assert "aud claim must be your app id" in body["detail"], body
    assert statements == []


async def test_an_unknown_app_reads_like_a_bad_signature(tenant: Tenant) -> None:
    body, statements = await refused(tenant, token("app_" + "0" * 26, "mentor-1"))
    assert "signature does not verify" in body["detail"], body
    assert len(statements) == 1, statements
    assert touches_members(statements) == [], statements


async def test_a_validly_signed_sub_with_nul_is_a_401_not_a_500(tenant: Tenant) -> None:
    """Even the app's own server, signing with the right secret, cannot make us query NUL."""
    rotated = await tenant.client.post("/v1/app/rotate-token-secret", json={"grace_seconds": 0})
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["token_secret"]
    for sub in ("nul\x00inside", "\ud800"):
        body, statements = await refused(tenant, token(tenant.id, sub, secret))
        assert "sub claim" in body["detail"], body
        assert statements == []


async def test_a_good_token_still_works_in_two_statements(tenant: Tenant) -> None:
    rotated = await tenant.client.post("/v1/app/rotate-token-secret", json={"grace_seconds": 0})
    secret = rotated.json()["token_secret"]
    mentor = await create_mentor(tenant.client)
    async with as_member(tenant.client, token(tenant.id, mentor["external_id"], secret)) as member:
        with count_statements() as statements:
            response = await member.get(f"/v1/mentors/{mentor['id']}")
    assert response.status_code == 200, response.text
    # The app, the member's profiles (after the signature), then the page's own statements.
    assert "apps" in statements[0], statements
    assert touches_members(statements[:1]) == [], statements
    assert "mentors" in statements[1], statements
    assert "mentees" in statements[1], statements
