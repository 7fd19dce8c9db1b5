"""The worker's small rules, and the outbox's wake-up call on PostgreSQL."""

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from mentorapi.db.engine import Database
from mentorapi.webhooks import outbox
from mentorapi.webhooks.models import EventType
from mentorapi.webhooks.repository import NOTIFY_CHANNEL
from mentorapi.webhooks.worker import parse_retry_after, parse_schedule
from tests.conftest import Tenant
from tests.webhooks.conftest import create_endpoint


def test_retry_schedule_parsing() -> None:
    assert parse_schedule("5, 300,1800") == [5.0, 300.0, 1800.0]
    assert parse_schedule("0.2,0.4") == [0.2, 0.4]
    assert parse_schedule("") == []
    with pytest.raises(ValueError, match="not a number"):
        parse_schedule("5,soon")
    with pytest.raises(ValueError, match="positive"):
        parse_schedule("5,0")


def test_retry_after_parsing() -> None:
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Mon, 23 Nov 2026 12:01:00 GMT", now) == 60.0
    assert parse_retry_after("Mon, 23 Nov 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("whenever", now) is None
    assert parse_retry_after(None, now) is None
    # What a hostile receiver may send: None (unusable), never an exception.
    for value in ["\xb2", "\u0663", "1\xb2", "Mon, 23 Nov 99999999999 12:01:00 GMT"]:
        assert parse_retry_after(value, now) is None, value
    assert parse_retry_after("9" * 5000, now) == float("inf")  # capped by MAX_RETRY_AFTER


@pytest.mark.postgres_only
async def test_outbox_notifies_workers_at_commit_only(
    tenant: Tenant, db: Database, database_url: str
) -> None:
    await create_endpoint(tenant, "http://127.0.0.1:9/hook")
    url = make_url(database_url).set(drivername="postgresql")
    listener = await asyncpg.connect(url.render_as_string(hide_password=False))
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.put_nowait(args[2]))
    try:
        async with db.sessionmaker() as s:  # one session, two transactions
            await outbox.record(s, app_id=tenant.id, type=EventType.session_booked, data={})
            await s.rollback()
            for _ in range(3):  # one NOTIFY per transaction however many events
                await outbox.record(s, app_id=tenant.id, type=EventType.session_booked, data={})
            await asyncio.sleep(0.2)
            assert heard.empty()  # not before the commit, and not for the rolled-back one
            await s.commit()
        assert await asyncio.wait_for(heard.get(), 5) == NOTIFY_CHANNEL
        await asyncio.sleep(0.2)
        assert heard.empty()
    finally:
        await listener.close()
