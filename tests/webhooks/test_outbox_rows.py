"""The outbox writes events as rows (one INSERT each kind), not as ORM objects: nothing is
left in the unit of work, the rows are complete, and their deliveries reference them."""

from sqlalchemy import event, select

from mentorapi.db.engine import Database
from mentorapi.webhooks import outbox
from mentorapi.webhooks.models import Delivery, Event, EventType
from mentorapi.webhooks.outbox import NewEvent
from tests.conftest import Tenant
from tests.webhooks.conftest import create_endpoint


async def test_events_are_inserted_as_rows_with_their_deliveries(
    tenant: Tenant, db: Database
) -> None:
    endpoint = await create_endpoint(tenant, "https://example.com/hook")
    flushed: list[object] = []
    async with db.sessionmaker() as s, s.begin():
        event.listen(s.sync_session, "before_flush", lambda session, *_: flushed.append(1))
        await outbox.record_many(
            s,
            app_id=tenant.id,
            events=[
                NewEvent(EventType.session_requested, {"id": "ses_rows"}, "ses_rows", True),
                NewEvent(EventType.session_booked, {"id": "ses_rows"}, "ses_rows"),
            ],
        )
        # No ORM object was built and flushed for them.
        assert not flushed
    async with db.sessionmaker() as s:
        events = (
            await s.exec(
                select(Event).where(Event.app_id == tenant.id, Event.object_id == "ses_rows")
            )
        ).all()
        rows = sorted((e[0].sequence, e[0].type, e[0].data) for e in events)
        assert rows == [
            (1, "session.requested", {"id": "ses_rows"}),
            (2, "session.booked", {"id": "ses_rows"}),
        ]
        assert all(e[0].created_at == e[0].updated_at for e in events)
        deliveries = (await s.exec(select(Delivery).where(Delivery.app_id == tenant.id))).all()
        assert sorted(d[0].event_id for d in deliveries) == sorted(e[0].id for e in events)
        assert {d[0].endpoint_id for d in deliveries} == {endpoint["id"]}


async def test_record_returns_the_event_written(tenant: Tenant, db: Database) -> None:
    async with db.sessionmaker() as s, s.begin():
        written = await outbox.record(
            s,
            app_id=tenant.id,
            type=EventType.session_booked,
            data={"id": "ses_one"},
            object_id="ses_one",
        )
    async with db.sessionmaker() as s:
        found = await s.get(Event, (tenant.id, written.id))
        assert found is not None
        assert (found.type, found.object_id, found.sequence, found.data) == (
            written.type,
            written.object_id,
            written.sequence,
            written.data,
        )
