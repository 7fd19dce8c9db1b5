from tests.conftest import Tenant
from tests.factories import create_mentor, create_skill


async def test_list_mentors(tenant: Tenant) -> None:
    skill = await create_skill(tenant.client)
    await create_mentor(tenant.client, skills=[{"skill_id": skill["id"], "level": 4}])
    response = await tenant.client.get("/v1/mentors", params={"skill": skill["slug"]})
    assert response.status_code == 200
    assert len(response.json()["data"]) == 1
