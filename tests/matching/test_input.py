"""Bad input is a 4xx (422 or 404), never a 500 or a half-written row; open-ended asks are
fuzzed."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Tenant
from tests.factories import create_mentee, create_skill
from tests.matching.conftest import mentor
from tests.reminders.conftest import Clock

UNKNOWN_MENTEE = "mte_01JD8X9E3F4G5H6J7K8M9N0P1Q"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"ask": "x" * 2001}, 422),
        ({"ask": "pivot\x00tables"}, 422),
        ({"ask": "  "}, 422),
        ({"mentee_id": UNKNOWN_MENTEE}, 404),
        ({"mentee_id": "mtr_01JD8X7C2B3A4Z5Y6X7W8V9T0S"}, 422),
        ({"mentee_id": 12}, 422),
        ({"skills": [{"skill_id": "skl_01JD8X4K8Y3N6Q2W5E7R9T1V3V"}]}, 404),
        ({"skills": [{"skill_id": "SKILL", "min_level": 6}]}, 422),
        ({"window": {"from": "2027-01-05T00:00:00Z", "to": "2027-01-04T00:00:00Z"}}, 422),
        ({"window": {"from": "2027-01-01T00:00:00Z", "to": "2027-03-01T00:00:00Z"}}, 422),
        ({"window": {"from": "2027-01-01T00:00:00", "to": "2027-01-02T00:00:00Z"}}, 422),
        ({"limit": 0}, 422),
        ({"limit": 51}, 422),
        ({"duration_minutes": 61}, 422),
        ({"format": "fax"}, 422),
        ({"languages": ["not a tag!"]}, 422),
    ],
)
async def test_bad_requests(
    tenant: Tenant, clock: Clock, change: dict[str, Any], status: int
) -> None:
    client = tenant.client
    skill = await create_skill(client, name="Pivot tables")
    mentee = await create_mentee(client)
    body = {"mentee_id": mentee["id"], "ask": "pivot tables please", **change}
    if body.get("skills") and body["skills"][0]["skill_id"] == "SKILL":
        body["skills"][0]["skill_id"] = skill["id"]
    response = await client.post("/v1/matching/recommendations", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "body",
    [
        {"weights": {"skill": 1.5}},
        {"weights": {"text": -0.1}},
        {
            "weights": dict.fromkeys(
                (
                    "skill",
                    "text",
                    "availability",
                    "feedback",
                    "language",
                    "timezone",
                    "load",
                    "continuity",
                ),
                0,
            )
        },
        {"weights": {"skill": "x"}},
        {"weights": {"charm": 0.5}},
    ],
)
async def test_bad_policies(tenant: Tenant, body: dict[str, Any]) -> None:
    response = await tenant.client.put("/v1/matching/policy", json=body)
    assert response.status_code == 422, response.text
    assert (await tenant.client.get("/v1/matching/policy")).json()["version"] == 0


async def test_bad_feedback(tenant: Tenant, clock: Clock) -> None:
    client = tenant.client
    mentee = await create_mentee(client)
    response = await client.post(
        "/v1/matching/feedback",
        json={
            "mentee_id": mentee["id"],
            "mentor_id": "mtr_01JD8X7C2B3A4Z5Y6X7W8V9T0S",
            "action": "dismiss",
        },
    )
    assert response.status_code == 404
    response = await client.post(
        "/v1/matching/feedback",
        json={
            "mentee_id": mentee["id"],
            "mentor_id": "mtr_01JD8X7C2B3A4Z5Y6X7W8V9T0S",
            "action": "love",
        },
    )
    assert response.status_code == 422


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ask=st.text(min_size=3, max_size=300))
async def test_any_ask_is_answered(tenant: Tenant, clock: Clock, ask: str) -> None:
    """Whatever the words (operators of either engine's query syntax, quotes, scripts), the
    answer is a 200 in score order or a 422 for text no database stores."""
    client = tenant.client
    mentee_id = await _mentee(tenant)
    response = await client.post(
        "/v1/matching/recommendations", json={"mentee_id": mentee_id, "ask": ask}
    )
    if "\x00" in ask or any(0xD800 <= ord(c) <= 0xDFFF for c in ask):
        assert response.status_code == 422, response.text
        return
    if response.status_code == 422:  # too short once stripped (of what pydantic strips)
        assert len(ask.strip()) < 3 or len(ask.split()) == 0 or ask != ask.strip()
        return
    assert response.status_code == 200, response.text
    scores = [i["score"] for i in response.json()["data"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores)


_mentees: dict[str, str] = {}


async def _mentee(tenant: Tenant) -> str:
    # One population per app (Hypothesis runs the body many times with one fixture value).
    if tenant.id not in _mentees:
        client = tenant.client
        skill = await create_skill(client, name="Pivot tables")
        for headline in ("Excel: pivot tables", 'SQL "joins" OR NOT -negation* ^x', "Négocier"):
            await mentor(client, skill["id"], headline=headline)
        _mentees[tenant.id] = (await create_mentee(client))["id"]
    return _mentees[tenant.id]
