"""API keys: Bearer on every /v1 route, stored hashed, several per app, rotation, revocation."""

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from mentorapi.apps import service
from mentorapi.apps.models import ApiKey
from mentorapi.db.engine import Database
from mentorapi.main import create_app
from tests.conftest import ServerTransport, Tenant

V1_ROUTES = sorted(
    (method.upper(), path)
    for path, operations in create_app().openapi()["paths"].items()
    if path.startswith("/v1")
    for method in operations
)


@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer mk_not-a-real-key", "Bearer x"]
)
async def test_every_v1_route_needs_a_valid_key(
    anon: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    url = path.replace("{", "").replace("}", "")  # any placeholder text; auth comes first
    headers = {"Authorization": authorization} if authorization else {}
    response = await anon.request(method, url, headers=headers)
    assert response.status_code == 401, (method, path, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]


async def test_key_is_stored_only_as_a_hash(tenant: Tenant, db: Database) -> None:
    async with db.sessionmaker() as s:
        keys = (await s.exec(select(ApiKey).where(ApiKey.app_id == tenant.id))).all()
    assert len(keys) == 1
    assert tenant.key not in (keys[0].key_hash, keys[0].prefix)
    assert keys[0].key_hash == service.hash_key(tenant.key)


async def test_rotation_keeps_the_old_key_for_the_grace_then_revocation_ends_it(
    tenant: Tenant, db: Database, app: FastAPI
) -> None:
    async with db.sessionmaker() as s, s.begin():
        new = await service.rotate_key(db_session=s, app_id=tenant.id, grace=timedelta(hours=1))
    transport = ServerTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        new_headers = {"Authorization": f"Bearer {new.secret}"}
        assert (await c.get("/v1/app", headers=new_headers)).json()["id"] == tenant.id
        # No downtime: the old key still works during the grace period.
        assert (await tenant.client.get("/v1/app")).status_code == 200

        async with db.sessionmaker() as s, s.begin():
            old = (
                await s.exec(
                    select(ApiKey).where(ApiKey.app_id == tenant.id, ApiKey.id != new.key.id)
                )
            ).one()
            await service.revoke_key(db_session=s, key_id=old.id)
        assert (await tenant.client.get("/v1/app")).status_code == 401
        assert (await c.get("/v1/app", headers=new_headers)).status_code == 200


async def test_rotation_with_no_grace_expires_old_keys_at_once(
    tenant: Tenant, db: Database
) -> None:
    async with db.sessionmaker() as s, s.begin():
        await service.rotate_key(db_session=s, app_id=tenant.id, grace=timedelta(0))
    assert (await tenant.client.get("/v1/app")).status_code == 401


async def test_get_app(tenant: Tenant) -> None:
    response = await tenant.client.get("/v1/app")
    assert response.status_code == 200
    assert response.json()["id"] == tenant.id
    assert response.json()["name"] == "tenant A"
