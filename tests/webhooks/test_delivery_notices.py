"""Inserted deliveries wake the workers through a trigger (migration e6a2c4b8d0f1): at the
commit, never for a rollback, with no NOTIFY statement of the request's own (it was one more
round trip while a booking held its mentor's lock)."""

import asyncio

import asyncpg
import pytest

from mentorapi.db.listen import asyncpg_dsn
from mentorapi.webhooks.repository import NOTIFY_CHANNEL
from tests.conftest import Tenant, count_statements, own
from tests.factories import bookable
from tests.test_sessions import MONDAY_9
from tests.webhooks.conftest import create_endpoint


async def test_a_booking_wakes_the_workers_without_a_notify_of_its_own(
    tenant: Tenant, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: NOTIFY")
    await create_endpoint(tenant, "https://example.com/hook")
    base = await bookable(tenant.client)
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.put_nowait(args[2]))
        refused = await tenant.client.post(
            "/v1/sessions", json={**base, "starts_at": "2027-01-11T03:00:00Z"}
        )
        assert refused.status_code == 409  # outside the mentor's hours: nothing written
        with count_statements() as statements:
            booked = await tenant.client.post("/v1/sessions", json={**base, "starts_at": MONDAY_9})
        assert booked.status_code == 201, booked.text
        assert not [s for s in own(statements) if "pg_notify" in s]
        async with asyncio.timeout(5):
            await heard.get()  # the booking's delivery
        await asyncio.sleep(0.2)
        assert heard.empty()  # one notice for the commit, none for the refusal
    finally:
        await listener.close()
