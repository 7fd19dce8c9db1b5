"""Deleting an endpoint while a change records its event: the change never fails on the
deliveries' foreign key (it used to be a 500), and the deleted endpoint keeps no delivery."""

import asyncio

import pytest
from sqlmodel import col, select

from mentorapi.db.engine import Database
from mentorapi.webhooks import outbox, repository
from mentorapi.webhooks.models import Delivery, EventType
from tests.conftest import Tenant
from tests.webhooks.conftest import create_endpoint


@pytest.mark.postgres_only
async def test_a_delete_waits_for_the_change_that_read_the_endpoint(
    db: Database, tenant: Tenant
) -> None:
    endpoint = await create_endpoint(tenant, "http://127.0.0.1:9/hook")
    async with db.sessionmaker() as s, s.begin():
        # The outbox's read of the endpoints, as in any booking's transaction ...
        assert [e.id for e in await outbox.subscribers(s, tenant.id)] == [endpoint["id"]]
        # ... then the endpoint is deleted from another connection before the change commits.
        deleting = asyncio.create_task(
            tenant.client.delete(f"/v1/webhook-endpoints/{endpoint['id']}")
        )
        await asyncio.sleep(0.5)
        assert not deleting.done(), "the delete did not wait for the change that read it"
        # The change goes on and commits its event with a delivery to that endpoint.
        await outbox.record(s, app_id=tenant.id, type=EventType.webhook_test, data={"probe": True})
    assert (await asyncio.wait_for(deleting, 10)).status_code == 204
    async with db.sessionmaker() as s:
        left = await s.exec(
            select(Delivery).where(
                col(Delivery.app_id) == tenant.id, col(Delivery.endpoint_id) == endpoint["id"]
            )
        )
        assert left.all() == []


@pytest.mark.postgres_only
async def test_a_change_after_the_delete_records_no_delivery(db: Database, tenant: Tenant) -> None:
    """The other order: the delete holds the endpoint; the change waits, then sees it gone."""
    endpoint = await create_endpoint(tenant, "http://127.0.0.1:9/hook")
    async with db.sessionmaker() as deleter, deleter.begin():
        found = await repository.get_endpoint(deleter, tenant.id, endpoint["id"], lock=True)
        assert found is not None

        async def change() -> int:
            async with db.sessionmaker() as s, s.begin():
                event = await outbox.record(
                    s, app_id=tenant.id, type=EventType.webhook_test, data={"probe": True}
                )
                rows = await s.exec(
                    select(Delivery).where(
                        col(Delivery.app_id) == tenant.id, col(Delivery.event_id) == event.id
                    )
                )
                return len(rows.all())

        changing = asyncio.create_task(change())
        await asyncio.sleep(0.5)
        assert not changing.done()
        await repository.delete_endpoint(deleter, found)
    assert await asyncio.wait_for(changing, 10) == 0
