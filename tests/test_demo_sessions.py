"""The demo app comes with availability and a few sessions."""

import httpx
from fastapi import FastAPI

from mentorapi.db.engine import Database
from mentorapi.demo import ensure_demo
from tests.conftest import ServerTransport


async def test_demo_has_availability_and_sessions(app: FastAPI, db: Database) -> None:
    key = await ensure_demo(db, None)
    transport = ServerTransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        sessions = (await c.get("/v1/sessions")).json()["data"]
        assert len(sessions) >= 3
        assert {s["status"] for s in sessions} <= {"booked", "requested"}
        mentor_id = sessions[0]["mentor_id"]
        availability = (await c.get(f"/v1/mentors/{mentor_id}/availability")).json()
        assert availability["weekly"]
        assert availability["weekly_capacity"] == 5
