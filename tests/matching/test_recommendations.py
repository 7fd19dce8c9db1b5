"""POST /v1/matching/recommendations: hard filters, soft components, reasons, the policy."""

from typing import Any

from tests.conftest import Tenant
from tests.factories import create_mentee, create_skill
from tests.matching.conftest import WEEK, ids, mentor, recommend
from tests.reminders.conftest import Clock


async def test_the_ask_alone_finds_the_mentors_who_teach_it(tenant: Tenant, clock: Clock) -> None:
    client = tenant.client
    pivots = await create_skill(client, name="Pivot tables")
    talks = await create_skill(client, name="Public speaking")
    right = [
        await mentor(client, pivots["id"], headline="Excel analyst", bio="Spreadsheets daily")
        for _ in range(2)
    ]
    await mentor(client, talks["id"], headline="Conference speaker", bio="Stage fright coach")
    mentee = await create_mentee(client)
    found = await recommend(
        client,
        mentee_id=mentee["id"],
        ask="I need to build a pivot table for Friday's sales report",
    )
    assert sorted(ids(found)) == sorted(m["id"] for m in right)
    first = found["data"][0]
    assert first["components"]["text"] == 1.0
    assert first["reasons"]
    assert len(first["first_slots"]) == 3
    assert found["excluded_count"] == 0
