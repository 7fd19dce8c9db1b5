"""A read's unit of work says so to SQLite (`write_intent`: a deferred BEGIN), and puts the
flag back when it ends: code that runs next in the same task (here the test itself, whose
client runs the app in the test's own task on purpose) begins its writes IMMEDIATE again."""

import httpx
import pytest
from fastapi import FastAPI

from mentorapi.db.engine import write_intent
from tests.conftest import Tenant

READS = [
    ("GET", "/v1/skills", None),  # a FastAPI route (DbSession)
    ("GET", "/v1/mentors", None),  # a lean route (kit/lean.py, db.uow.unit_of_work)
    ("POST", "/graphql", {"query": "{ skills { edges { node { id } } } }"}),
]


@pytest.mark.parametrize(("method", "path", "body"), READS)
async def test_a_read_leaves_write_intent_as_it_found_it(
    app: FastAPI, tenant: Tenant, method: str, path: str, body: dict[str, str] | None
) -> None:
    # The plain ASGITransport, not ServerTransport: the request runs in this very task.
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {tenant.key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        assert write_intent.get() is True
        response = await c.request(method, path, json=body)
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text
        assert write_intent.get() is True
