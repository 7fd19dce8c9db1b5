"""Retention test helpers: events recorded through the outbox for an endpoint of the tenant,
their deliveries finished and everything aged by writing the rows (the clock is the wall's)."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import col

from mentorapi.db.engine import Database
from mentorapi.kit.ids import new_id
from mentorapi.kit.timezones import utcnow
from mentorapi.retention import Retention
from mentorapi.webhooks import outbox
from mentorapi.webhooks.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventType,
)
from tests.conftest import Tenant
from tests.webhooks.conftest import create_endpoint

__all__ = ["create_endpoint"]

WINDOW = timedelta(days=30)
OLD = timedelta(days=40)  # past the window
RECENT = timedelta(days=1)


async def record(db: Database, tenant: Tenant, object_id: str | None, count: int = 1) -> list[str]:
    """`count` events about `object_id`, each in a transaction of its own (as changes come)."""
    ids = []
    for _ in range(count):
        async with db.sessionmaker() as s, s.begin():
            event = await outbox.record(
                s, app_id=tenant.id, type=EventType.webhook_test, data={}, object_id=object_id
            )
            ids.append(event.id)
    return ids


async def finish(
    db: Database,
    tenant: Tenant,
    event_ids: list[str],
    *,
    status: DeliveryStatus = DeliveryStatus.succeeded,
    ago: timedelta = OLD,
) -> None:
    """The events created `ago`; their deliveries ended `ago` with `status` (pending: still
    due), each with one attempt in the endpoint's log."""
    at = utcnow() - ago
    async with db.sessionmaker() as s, s.begin():
        await s.exec(
            update(Event)
            .where(col(Event.app_id) == tenant.id, col(Event.id).in_(event_ids))
            .values(created_at=at, updated_at=at)
        )
        await s.exec(
            update(Delivery)
            .where(col(Delivery.app_id) == tenant.id, col(Delivery.event_id).in_(event_ids))
            .values(status=status.value, attempts=1, updated_at=at, created_at=at)
        )
        found = await s.exec(
            select(Delivery).where(
                col(Delivery.app_id) == tenant.id, col(Delivery.event_id).in_(event_ids)
            )
        )
        for (delivery,) in found.all():
            s.add(
                DeliveryAttempt(
                    id=new_id("dla"),
                    app_id=tenant.id,
                    delivery_id=delivery.id,
                    endpoint_id=delivery.endpoint_id,
                    event_id=delivery.event_id,
                    event_type=EventType.webhook_test.value,
                    status_code=200,
                    created_at=at,
                    updated_at=at,
                )
            )


async def rows(db: Database, tenant: Tenant, model: Any, **where: Any) -> list[Any]:
    async with db.sessionmaker() as s:
        query = select(model).where(model.app_id == tenant.id)
        for name, value in where.items():
            column = getattr(model, name)
            query = query.where(column.in_(value) if isinstance(value, list) else column == value)
        return [r[0] for r in (await s.exec(query)).all()]


async def last_sequence(db: Database, tenant: Tenant, object_id: str) -> int:
    async with db.sessionmaker() as s:
        found = await s.exec(
            select(func.max(Event.sequence)).where(
                col(Event.app_id) == tenant.id, col(Event.object_id) == object_id
            )
        )
        return int(found.scalar_one())


async def prune_all(db: Database, now: datetime | None = None, **kw: Any) -> Any:
    """A whole prune of what is due (a fresh sweep, as far as it takes)."""
    retention = Retention(webhooks=WINDOW, jobs=WINDOW, **kw)
    return await retention.prune(db, now)
