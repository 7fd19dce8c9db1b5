"""Member tokens: minting, using, rotating the secret, and every way a token can be bad."""

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from mentorapi.cli import main as cli_main
from mentorapi.config import get_settings
from tests.conftest import Tenant, count_statements
from tests.factories import as_member, create_mentee, create_mentor, mint_token


@dataclass
class Setup:
    tenant: Tenant
    secret: str
    mentor: dict[str, Any]


@pytest.fixture
async def setup(tenant: Tenant) -> AsyncIterator[Setup]:
    rotated = await tenant.client.post("/v1/app/rotate-token-secret", json={"grace_seconds": 0})
    assert rotated.status_code == 200, rotated.text
    mentor = await create_mentor(tenant.client)
    return Setup(tenant, rotated.json()["token_secret"], mentor)


def claims_for(s: Setup, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": s.mentor["external_id"],
        "role": "mentor",
        "aud": s.tenant.id,
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(s: Setup, **overrides: Any) -> str:
    return jwt.encode(claims_for(s, **overrides), s.secret, algorithm="HS256")


async def call(s: Setup, token: str) -> httpx.Response:
    """A write with the token: when it is refused, nothing may have changed."""
    async with as_member(s.tenant.client, token) as member:
        return await member.patch(f"/v1/mentors/{s.mentor['id']}", json={"headline": "changed"})


async def assert_refused(s: Setup, token: str, *words: str) -> None:
    response = await call(s, token)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 401
    for word in words:
        assert word in body["detail"], body["detail"]
    mentor = (await s.tenant.client.get(f"/v1/mentors/{s.mentor['id']}")).json()
    assert mentor["headline"] == s.mentor["headline"]
    assert mentor["version"] == s.mentor["version"]


# --- minting and using -------------------------------------------------------------------------


async def test_mint_and_use(setup: Setup) -> None:
    api = setup.tenant.client
    before = datetime.now(UTC).replace(microsecond=0)
    response = await api.post(
        "/v1/member-tokens",
        json={"external_id": setup.mentor["external_id"], "role": "mentor", "ttl_seconds": 900},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    expires_at = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=899) <= expires_at <= before + timedelta(seconds=902)
    claims = jwt.decode(body["token"], setup.secret, algorithms=["HS256"], audience=setup.tenant.id)
    assert claims["sub"] == setup.mentor["external_id"]
    assert claims["role"] == "mentor"
    assert claims["exp"] - claims["iat"] == 900
    response = await call(setup, body["token"])
    assert response.status_code == 200, response.text
    assert response.json()["headline"] == "changed"


async def test_self_minted_token_works(setup: Setup) -> None:
    response = await call(setup, sign(setup))
    assert response.status_code == 200, response.text


async def test_member_auth_is_two_queries(setup: Setup) -> None:
    token = sign(setup)
    async with as_member(setup.tenant.client, token) as member:
        with count_statements() as statements:
            response = await member.get(f"/v1/skills/{'skl_' + '0' * 26}")
        assert response.status_code == 404
    # Authentication: the app (for its token secrets), then, once the signature verifies, the
    # member's mentor and mentee ids; then the skill lookup. Authentication was one query that
    # looked the member up with the unverified sub: signature before lookup costs a second one
    # (issue #12; tests/security/test_member_token_order.py).
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3, statements


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"external_id": "nobody", "role": "mentor"}, "external_id"),
        ({"external_id": "x", "role": "admin"}, "role"),
        ({"external_id": "x", "role": ["mentor"]}, "role"),
        ({"external_id": "x", "role": "mentor", "ttl_seconds": 86401}, "ttl_seconds"),
        ({"external_id": "x", "role": "mentor", "ttl_seconds": 0}, "ttl_seconds"),
        ({"role": "mentor"}, "external_id"),
    ],
)
async def test_mint_refuses_bad_input(setup: Setup, body: dict[str, Any], where: str) -> None:
    response = await setup.tenant.client.post("/v1/member-tokens", json=body)
    assert response.status_code == 422, response.text
    assert where in str(response.json()["errors"][0]["loc"])


async def test_mint_needs_the_profile_of_each_role(setup: Setup) -> None:
    body = {"external_id": setup.mentor["external_id"], "role": "both"}
    response = await setup.tenant.client.post("/v1/member-tokens", json=body)
    assert response.status_code == 422
    assert "no mentee" in response.json()["detail"]


# --- bad tokens: each a 401 with a clear detail, nothing changed -------------------------------


async def test_expired(setup: Setup) -> None:
    now = int(time.time())
    await assert_refused(setup, sign(setup, iat=now - 7200, exp=now - 3600), "expired")


async def test_issued_in_the_future(setup: Setup) -> None:
    now = int(time.time())
    await assert_refused(setup, sign(setup, iat=now + 300, exp=now + 900), "not valid yet")


async def test_not_before_in_the_future(setup: Setup) -> None:
    now = int(time.time())
    await assert_refused(setup, sign(setup, nbf=now + 300), "not valid yet")


async def test_small_clock_skew_is_tolerated(setup: Setup) -> None:
    now = int(time.time())
    response = await call(setup, sign(setup, iat=now + 5, exp=now + 600))
    assert response.status_code == 200, response.text


async def test_lifetime_over_24_hours(setup: Setup) -> None:
    now = int(time.time())
    await assert_refused(setup, sign(setup, exp=now + 86400 + 60), "24 hours")


async def test_wrong_audience_another_app(setup: Setup, other_tenant: Tenant) -> None:
    # Signed with this app's secret but addressed to another app: that app's secret fails it.
    await assert_refused(setup, sign(setup, aud=other_tenant.id), "signature", other_tenant.id)


async def test_unknown_audience(setup: Setup) -> None:
    await assert_refused(setup, sign(setup, aud="app_" + "0" * 26), "signature")


async def test_audience_list(setup: Setup) -> None:
    await assert_refused(setup, sign(setup, aud=[setup.tenant.id, "x"]), "aud")


async def test_token_of_another_app_cannot_reach_this_one(
    setup: Setup, other_tenant: Tenant
) -> None:
    theirs = await create_mentor(other_tenant.client)
    token = await mint_token(other_tenant.client, theirs["external_id"], "mentor")
    response = await call(setup, token)
    assert response.status_code == 404  # authenticated as the other app: this id is unknown


async def test_wrong_signature(setup: Setup) -> None:
    token = jwt.encode(claims_for(setup), "mts_not-the-secret-" + "x" * 32, algorithm="HS256")
    await assert_refused(setup, token, "signature")


async def test_alg_none(setup: Setup) -> None:
    token = jwt.encode(claims_for(setup), None, algorithm="none")
    await assert_refused(setup, token, "HS256", "none")


async def test_other_algorithm(setup: Setup) -> None:
    token = jwt.encode(claims_for(setup), setup.secret + "-long-enough-for-hs512", "HS512")
    await assert_refused(setup, token, "HS256", "HS512")


async def test_oversized(setup: Setup) -> None:
    token = sign(setup, padding="x" * 5000)
    assert len(token) > 4096
    await assert_refused(setup, token, "4096")


@pytest.mark.parametrize(
    "token",
    [
        "eyJhbGciOiJIUzI1NiJ9.not-base64!.sig",
        "eyJ",
        "eyJhbGciOiJIUzI1NiJ9.WyJhIl0.c2ln",  # payload is a JSON array
    ],
)
async def test_malformed(setup: Setup, token: str) -> None:
    await assert_refused(setup, token, "malformed")


async def test_missing_claim(setup: Setup) -> None:
    await assert_refused(setup, sign(setup, role=None), "'role'")
    await assert_refused(setup, sign(setup, exp=None), "'exp'")
    await assert_refused(setup, sign(setup, iat=None), "'iat'")
    await assert_refused(setup, sign(setup, sub=None), "sub")


async def test_bad_role(setup: Setup) -> None:
    await assert_refused(setup, sign(setup, role="admin"), "role")
    await assert_refused(setup, sign(setup, role=["mentor"]), "role")


async def test_member_who_does_not_exist(setup: Setup) -> None:
    await assert_refused(setup, sign(setup, sub="nobody-here"), "'nobody-here'", "no mentor")


async def test_member_without_a_profile_for_the_role(setup: Setup) -> None:
    mentee = await create_mentee(setup.tenant.client)
    await assert_refused(setup, sign(setup, sub=mentee["external_id"]), "no mentor")


async def test_member_deleted_after_minting(setup: Setup) -> None:
    token = sign(setup)
    api = setup.tenant.client
    assert (await api.delete(f"/v1/mentors/{setup.mentor['id']}")).status_code == 204
    async with as_member(api, token) as member:
        response = await member.get("/v1/skills")
    assert response.status_code == 401
    assert "no mentor profile" in response.json()["detail"]


async def test_api_key_like_garbage_is_not_a_token(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/v1/skills", headers={"Authorization": "Bearer mk_nope"})
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]


# --- rotating the secret -----------------------------------------------------------------------


async def test_rotation_keeps_old_tokens_during_grace(setup: Setup) -> None:
    old = sign(setup)
    api = setup.tenant.client
    rotated = await api.post("/v1/app/rotate-token-secret")
    assert rotated.status_code == 200
    body = rotated.json()
    assert body["token_secret"].startswith("mts_")
    assert body["token_secret"] != setup.secret
    assert body["previous_expires_at"] is not None
    assert (await call(setup, old)).status_code == 200  # the previous secret still verifies
    new = Setup(setup.tenant, body["token_secret"], setup.mentor)
    assert (await call(new, sign(new))).status_code == 200
    # A second rotation with no grace drops the first secret at once.
    again = await api.post("/v1/app/rotate-token-secret", json={"grace_seconds": 0})
    assert again.json()["previous_expires_at"] is None
    current = (await api.get(f"/v1/mentors/{setup.mentor['id']}")).json()
    await assert_refused(Setup(setup.tenant, setup.secret, current), old, "signature")
    await assert_refused(Setup(setup.tenant, new.secret, current), sign(new), "signature")


async def test_rotation_refuses_bad_grace(setup: Setup) -> None:
    response = await setup.tenant.client.post(
        "/v1/app/rotate-token-secret", json={"grace_seconds": 86401}
    )
    assert response.status_code == 422
    assert (await call(setup, sign(setup))).status_code == 200  # unchanged


def test_cli_rotate_token_secret(
    app: FastAPI,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MENTORAPI_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        cli_main(["apps", "create", "cli app"])
        created = json.loads(capsys.readouterr().out)
        assert created["token_secret"].startswith("mts_")
        cli_main(["apps", "rotate-token-secret", created["id"], "--grace-hours", "1"])
        rotated = json.loads(capsys.readouterr().out)
        assert rotated["id"] == created["id"]
        assert rotated["token_secret"] != created["token_secret"]
        assert rotated["previous_expires_at"] is not None
        with pytest.raises(SystemExit, match="no app"):
            cli_main(["apps", "rotate-token-secret", "app_" + "0" * 26])
    finally:
        get_settings.cache_clear()
