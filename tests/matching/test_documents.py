"""The search documents follow every change of mentors, their skills and sessions (database
triggers), on both engines."""

from tests.conftest import Tenant
from tests.factories import create_mentee, create_skill
from tests.matching.conftest import complete_with_feedback, ids, mentor, recommend
from tests.reminders.conftest import Clock


async def test_profile_skill_and_session_changes_are_searchable(
    tenant: Tenant, clock: Clock
) -> None:
    client = tenant.client
    skill = await create_skill(client, name="Spreadsheets")
    one = await mentor(client, skill["id"], headline="Analyst")
    mentee = await create_mentee(client)

    async def finds(ask: str) -> bool:
        return ids(await recommend(client, mentee_id=mentee["id"], ask=ask)) == [one["id"]]

    assert not await finds("kubernetes clusters")
    response = await client.patch(f"/v1/mentors/{one['id']}", json={"bio": "I run kubernetes"})
    assert response.status_code == 200, response.text
    assert await finds("kubernetes clusters")
    # A skill renamed rewrites the mentors' copies, and so their documents.
    assert not await finds("macroeconomics")
    response = await client.patch(f"/v1/skills/{skill['id']}", json={"name": "Macroeconomics"})
    assert response.status_code == 200, response.text
    assert await finds("macroeconomics")
    other = await create_skill(client, name="Negotiation")
    response = await client.put(
        f"/v1/mentors/{one['id']}/skills",
        json={"skills": [{"skill_id": other["id"], "level": 4, "note": "salary offers"}]},
    )
    assert response.status_code == 200, response.text
    assert await finds("salary")
    assert not await finds("macroeconomics")
    # A completed session's topic.
    assert not await finds("quarterly forecasting")
    await complete_with_feedback(
        client,
        clock,
        mentor_id=one["id"],
        mentee_id=mentee["id"],
        skill_id=other["id"],
        starts_at="2027-01-05T09:00:00Z",
        rating=4,
        topic="Quarterly forecasting for a small shop",
    )
    assert await finds("quarterly forecasting")
    # A deleted mentor takes their document along.
    response = await client.delete(f"/v1/mentors/{one['id']}")
    assert response.status_code == 204, response.text
    assert (await recommend(client, mentee_id=mentee["id"], ask="quarterly"))["data"] == []
