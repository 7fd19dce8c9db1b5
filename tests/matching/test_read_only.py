"""A recommendation is a POST that only reads: it runs in the read-only unit of work a GET gets
(db/uow.py `ReadDbSession`: on PostgreSQL no BEGIN and COMMIT), while a POST that writes (a
dismissal) still gets a writable one."""

from typing import Any

import pytest

from mentorapi.db.engine import Database
from tests.conftest import Tenant
from tests.factories import create_mentee, create_skill
from tests.matching.conftest import mentor, recommend
from tests.reminders.conftest import Clock


async def test_a_recommendation_runs_in_a_read_only_unit_of_work(
    db: Database, tenant: Tenant, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = tenant.client
    skill = await create_skill(client, name="Pivot tables")
    found = await mentor(client, skill["id"], headline="Pivot tables")
    mentee = await create_mentee(client)
    opened: list[str] = []
    for name in ("sessionmaker", "read_sessionmaker"):
        maker = getattr(db, name)

        def counting(*args: Any, _maker: Any = maker, _name: str = name, **kwargs: Any) -> Any:
            opened.append(_name)
            return _maker(*args, **kwargs)

        monkeypatch.setattr(db, name, counting)
    answer = await recommend(client, mentee_id=mentee["id"], ask="pivot tables")
    assert [item["mentor"]["id"] for item in answer["data"]] == [found["id"]]
    assert opened == ["read_sessionmaker"]
    opened.clear()
    response = await client.post(
        "/v1/matching/feedback",
        json={"mentee_id": mentee["id"], "mentor_id": found["id"], "action": "dismiss"},
    )
    assert response.status_code == 200, response.text
    assert opened == ["sessionmaker"]
