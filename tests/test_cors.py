"""CORS: per-app origins, the global fallback, preflights answered before authentication."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from mentorapi.main import create_app
from tests import conftest
from tests.conftest import Tenant
from tests.factories import as_member, create_mentor, mint_token, unique


def origin() -> str:
    # Unique per test: the database is shared by the whole run, and preflights ask every app.
    return f"https://{unique('web')}.example.com"


def preflight_headers(from_origin: str) -> dict[str, str]:
    return {
        "Origin": from_origin,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def allow(tenant: Tenant, *origins: str) -> None:
    response = await tenant.client.patch("/v1/app", json={"cors_origins": list(origins)})
    assert response.status_code == 200, response.text


async def test_patch_app_sets_normalized_origins(tenant: Tenant) -> None:
    response = await tenant.client.patch(
        "/v1/app",
        json={
            "cors_origins": [
                "https://App.Example.com/",
                "http://localhost:5173",
                "https://app.example.com:443",
            ]
        },
    )
    assert response.status_code == 200, response.text
    expected = ["https://app.example.com", "http://localhost:5173"]
    assert response.json()["cors_origins"] == expected
    assert (await tenant.client.get("/v1/app")).json()["cors_origins"] == expected


@pytest.mark.parametrize(
    "bad",
    [
        "*",
        "app.example.com",
        "ftp://app.example.com",
        "https://app.example.com/path",
        "https://app.example.com?q=1",
        "https://user@app.example.com",
        "https://app.example.com:99999",
    ],
)
async def test_patch_app_refuses_non_origins(tenant: Tenant, bad: str) -> None:
    await allow(tenant, "https://kept.example.com")
    response = await tenant.client.patch("/v1/app", json={"cors_origins": [bad]})
    assert response.status_code == 422, response.text
    assert "origin" in response.json()["detail"]
    assert (await tenant.client.get("/v1/app")).json()["cors_origins"] == [
        "https://kept.example.com"
    ]


async def test_preflight_for_an_allowed_origin(tenant: Tenant, anon: httpx.AsyncClient) -> None:
    web = origin()
    await allow(tenant, web)
    response = await anon.options("/v1/mentors/mtr_x", headers=preflight_headers(web))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == web
    assert "PATCH" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers
    assert int(response.headers["access-control-max-age"]) > 0
    assert "Origin" in response.headers["vary"]


async def test_preflight_for_an_unknown_origin(anon: httpx.AsyncClient) -> None:
    response = await anon.options("/v1/mentors", headers=preflight_headers(origin()))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert not any(h.startswith("access-control-") for h in response.headers)


async def test_preflight_for_a_null_origin(anon: httpx.AsyncClient) -> None:
    response = await anon.options("/v1/mentors", headers=preflight_headers("null"))
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


async def test_actual_request_checks_the_authenticated_apps_list(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    mine, theirs = origin(), origin()
    await allow(tenant, mine)
    await allow(other_tenant, theirs)
    mentor = await create_mentor(tenant.client)
    token = await mint_token(tenant.client, mentor["external_id"], "mentor")
    async with as_member(tenant.client, token) as browser:
        response = await browser.get("/v1/mentors", headers={"Origin": mine})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == mine
        assert "RateLimit-Remaining" in response.headers["access-control-expose-headers"]
        # Allowed by another app only: the preflight would pass, this app's answer is not shared.
        response = await browser.get("/v1/mentors", headers={"Origin": theirs})
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers


async def test_a_401_is_readable_from_any_allowed_origin(
    tenant: Tenant, anon: httpx.AsyncClient
) -> None:
    web = origin()
    await allow(tenant, web)
    headers = {"Origin": web, "Authorization": "Bearer eyJexpired.or.bad"}
    response = await anon.get("/v1/mentors", headers=headers)
    assert response.status_code == 401
    # The browser app can read the 401 and fetch a fresh member token.
    assert response.headers["access-control-allow-origin"] == web


async def test_no_cors_headers_without_origin(tenant: Tenant) -> None:
    response = await tenant.client.get("/v1/skills")
    assert not any(h.startswith("access-control-") for h in response.headers)


@pytest.fixture
async def global_app(database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(
        conftest.test_settings(
            database_url, cors_origins="https://global.example.com, http://localhost:3000"
        )
    )
    async with application.router.lifespan_context(application):
        yield application


async def test_global_origins_apply_to_every_app(global_app: FastAPI, tenant: Tenant) -> None:
    transport = conftest.ServerTransport(app=global_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.options(
            "/v1/skills", headers=preflight_headers("http://localhost:3000")
        )
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
        response = await client.get(
            "/v1/skills",
            headers={
                "Origin": "https://global.example.com",
                "Authorization": f"Bearer {tenant.key}",
            },
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://global.example.com"
