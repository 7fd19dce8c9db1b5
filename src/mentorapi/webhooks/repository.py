"""All SQL of the webhooks domain: endpoints, the event log, deliveries and the worker's queue."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, text, tuple_, update
from sqlalchemy.sql import Executable
from sqlmodel import col
from sqlmodel import select as sm_select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.db import fast
from mentorapi.db.paging import SortKey, paginate
from mentorapi.db.pairs import pairs_in
from mentorapi.db.tenancy import CrossTenant, across_tenants
from mentorapi.kit.pagination import PageRequest, id_key
from mentorapi.webhooks.models import (
    FINISHED,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    WebhookEndpoint,
)

# Core tables for the worker's bulk statements (executemany, multi-row inserts): the ORM unit
# of work would cost more Python per delivery than the HTTP request itself.
DELIVERIES = cast(Table, Delivery.__table__)  # type: ignore[attr-defined]
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)  # type: ignore[attr-defined]
ENDPOINTS = cast(Table, WebhookEndpoint.__table__)  # type: ignore[attr-defined]
EVENTS = cast(Table, Event.__table__)  # type: ignore[attr-defined]

# Also in the trigger on deliveries (migration e6a2c4b8d0f1): inserted deliveries wake workers.
NOTIFY_CHANNEL = "mentorapi_webhooks"
_NOTIFIED = "mentorapi.webhooks.notified"  # session.info key: the transaction already notified


def _dialect(db_session: AsyncSession) -> str:
    return db_session.sync_session.get_bind().dialect.name


# --- outbox -------------------------------------------------------------------------------------


# FOR KEY SHARE on the endpoints an event is about to be delivered to: the lock the deliveries'
# foreign key check takes anyway when they are inserted, taken at the read instead. A delete of
# the endpoint (FOR UPDATE first, delete_endpoint) then waits for the change to commit and
# removes its new deliveries with the rest, or the change waits for the delete and no longer
# sees the endpoint: never a foreign-key violation in the change's transaction. Shared by any
# number of concurrent changes: `.with_for_update(read=True, key_share=True)`.


# What the outbox needs of them (their ids and event filters), on the driver (db/fast.py): every
# change that records an event reads it. In the change's transaction: the lock is held to its end.
_SUBSCRIBERS = (
    select(ENDPOINTS.c.id, ENDPOINTS.c.events)
    .where(ENDPOINTS.c.app_id == bindparam("app_id"), ENDPOINTS.c.enabled.is_(True))
    .with_for_update(read=True, key_share=True)
)


async def enabled_endpoints(
    db_session: AsyncSession, app_id: str
) -> list[tuple[str, list[str] | None]]:
    """(id, event types or None: all) of the app's enabled endpoints, locked FOR KEY SHARE."""
    rows = await fast.fetch(db_session, _SUBSCRIBERS, {"app_id": app_id})
    return [(id, events) for id, events in rows]


async def notify_workers(db_session: AsyncSession) -> None:
    """Wake the workers (PostgreSQL) for deliveries made due again by an UPDATE (inserted ones
    wake them through the trigger): a NOTIFY in a transaction is delivered at its commit and
    dropped at its rollback, so workers wake exactly for committed deliveries."""
    if _dialect(db_session) != "postgresql":
        return
    # Once per transaction is enough (PostgreSQL folds repeats anyway; this saves round trips).
    transaction = db_session.sync_session.get_transaction()
    if transaction is not None and db_session.info.get(_NOTIFIED) is transaction:
        return
    await db_session.exec(sm_select(func.pg_notify(NOTIFY_CHANNEL, "")))
    db_session.info[_NOTIFIED] = transaction


async def existing_event_ids(db_session: AsyncSession, keys: Sequence[tuple[str, str]]) -> set[str]:
    """Which of these (app_id, id) events are already in the log (outbox.record_given)."""
    if not keys:
        return set()
    query = across_tenants(
        select(EVENTS.c.id).where(
            pairs_in(_dialect(db_session), EVENTS.c.app_id, EVENTS.c.id, keys)
        ),
        CrossTenant.scheduler,
    )
    connection = await db_session.connection()
    return set((await connection.execute(query)).scalars())


async def last_sequences(
    db_session: AsyncSession, objects: set[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """The last sequence of each (app_id, object_id) that has events."""
    if not objects:
        return {}
    pairs = sorted(objects)
    connection = await db_session.connection()
    statement: Executable
    if _dialect(db_session) == "postgresql":
        # One probe of the unique (app_id, object_id, sequence) index per object, backwards
        # to its last: the cost of a batch does not grow with the log (IN lists of app ids and
        # object ids let the planner pick the app_id index, and filter every event of an app).
        statement = across_tenants(
            text(
                "SELECT o.app_id, o.object_id, s.last "
                "FROM unnest(CAST(:apps AS varchar[]), CAST(:objects AS varchar[])) "
                "AS o(app_id, object_id) "
                "CROSS JOIN LATERAL (SELECT max(e.sequence) AS last FROM events e "
                "WHERE e.app_id = o.app_id AND e.object_id = o.object_id) s "
                "WHERE s.last IS NOT NULL"
            ).bindparams(apps=[a for a, _ in pairs], objects=[o for _, o in pairs]),
            CrossTenant.scheduler,
        )
    else:
        statement = across_tenants(
            select(EVENTS.c.app_id, EVENTS.c.object_id, func.max(EVENTS.c.sequence))
            .where(
                EVENTS.c.app_id.in_(sorted({a for a, _ in pairs})),
                EVENTS.c.object_id.in_(sorted({o for _, o in pairs})),
            )
            .group_by(EVENTS.c.app_id, EVENTS.c.object_id),
            CrossTenant.scheduler,
        )
    rows = (await connection.execute(statement)).all()
    return {(r[0], r[1]): int(r[2]) for r in rows if (r[0], r[1]) in objects}


async def enabled_endpoints_of_apps(
    db_session: AsyncSession, app_ids: set[str]
) -> dict[str, list[WebhookEndpoint]]:
    if not app_ids:
        return {}
    query = across_tenants(
        sm_select(WebhookEndpoint)
        .where(
            col(WebhookEndpoint.app_id).in_(sorted(app_ids)), col(WebhookEndpoint.enabled).is_(True)
        )
        .with_for_update(read=True, key_share=True),
        CrossTenant.scheduler,
    )
    found: dict[str, list[WebhookEndpoint]] = {}
    for endpoint in (await db_session.exec(query)).all():
        found.setdefault(endpoint.app_id, []).append(endpoint)
    return found


_INSERT_EVENTS = insert(EVENTS)


async def insert_events(db_session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Event rows in one statement (several: one executemany). Elsewhere than on asyncpg
    through the session, not its connection: the session's `do_orm_execute` listeners see the
    rows (on SQLite the subscription feed hears new events there, graphql/feed.py; PostgreSQL's
    processes hear them from a trigger's NOTIFY instead)."""
    await fast.insert(db_session, _INSERT_EVENTS, rows, orm=True)


_INSERT_DELIVERIES = insert(DELIVERIES)


async def insert_deliveries(db_session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await fast.insert(db_session, _INSERT_DELIVERIES, rows, one_statement=True)


async def events_by_keys(db_session: AsyncSession, keys: Sequence[tuple[str, str]]) -> list[Event]:
    """The events named by `(app_id, id)`, of any apps: one statement for a burst of notices
    (graphql/fanout.py). The app is in the key, so each row is found under its own app."""
    query = sm_select(Event).where(tuple_(col(Event.app_id), col(Event.id)).in_(list(keys)))
    query = across_tenants(query, CrossTenant.subscription_fanout)
    return list((await db_session.exec(query)).all())


# --- endpoints ----------------------------------------------------------------------------------


async def get_endpoint(
    db_session: AsyncSession, app_id: str, endpoint_id: str, *, lock: bool = False
) -> WebhookEndpoint | None:
    query = sm_select(WebhookEndpoint).where(
        col(WebhookEndpoint.app_id) == app_id, col(WebhookEndpoint.id) == endpoint_id
    )
    if lock:  # before deleting it: waits for changes delivering to it (enabled_endpoints)
        query = query.with_for_update()
    return (await db_session.exec(query)).first()


async def list_endpoints(
    db_session: AsyncSession, app_id: str, page: PageRequest
) -> tuple[list[WebhookEndpoint], str | None]:
    query = sm_select(WebhookEndpoint).where(col(WebhookEndpoint.app_id) == app_id)
    keys = [SortKey(col(WebhookEndpoint.id), "id", kind=id_key("whe"))]
    return await paginate(db_session, query, sort="id", keys=keys, page=page)


async def delete_endpoint(db_session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    # Explicit deletes, child rows first: SQLite enforces ON DELETE CASCADE too, but this way
    # the cost and the order are visible.
    await db_session.exec(
        delete(DeliveryAttempt).where(
            col(DeliveryAttempt.app_id) == endpoint.app_id,
            col(DeliveryAttempt.endpoint_id) == endpoint.id,
        )
    )
    await db_session.exec(
        delete(Delivery).where(
            col(Delivery.app_id) == endpoint.app_id, col(Delivery.endpoint_id) == endpoint.id
        )
    )
    await db_session.delete(endpoint)
    await db_session.flush()


async def fail_pending(
    db_session: AsyncSession, app_id: str, endpoint_id: str, reason: str, now: datetime
) -> int:
    """Give up every pending delivery of an endpoint (it was disabled)."""
    result = await db_session.exec(
        update(Delivery)
        .where(
            col(Delivery.app_id) == app_id,
            col(Delivery.endpoint_id) == endpoint_id,
            col(Delivery.status) == DeliveryStatus.pending.value,
        )
        .values(
            status=DeliveryStatus.failed.value,
            next_attempt_at=None,
            last_error=reason,
            updated_at=now,
        )
    )
    return int(result.rowcount)


async def requeue_failed_since(
    db_session: AsyncSession, app_id: str, endpoint_id: str, since: datetime, now: datetime
) -> int:
    result = await db_session.exec(
        update(Delivery)
        .where(
            col(Delivery.app_id) == app_id,
            col(Delivery.endpoint_id) == endpoint_id,
            col(Delivery.status) == DeliveryStatus.failed.value,
            col(Delivery.created_at) >= since,
        )
        .values(
            status=DeliveryStatus.pending.value, attempts=0, next_attempt_at=now, updated_at=now
        )
    )
    return int(result.rowcount)


async def requeue_event(
    db_session: AsyncSession, app_id: str, event_id: str, endpoint_ids: Sequence[str], now: datetime
) -> int:
    """Deliver an event again to these endpoints, whatever became of its earlier deliveries."""
    if not endpoint_ids:
        return 0
    result = await db_session.exec(
        update(Delivery)
        .where(
            col(Delivery.app_id) == app_id,
            col(Delivery.event_id) == event_id,
            col(Delivery.endpoint_id).in_(list(endpoint_ids)),
        )
        .values(
            status=DeliveryStatus.pending.value, attempts=0, next_attempt_at=now, updated_at=now
        )
    )
    return int(result.rowcount)


async def endpoints_with_delivery(
    db_session: AsyncSession, app_id: str, event_id: str
) -> list[WebhookEndpoint]:
    query = (
        sm_select(WebhookEndpoint)
        .join(Delivery, col(Delivery.endpoint_id) == col(WebhookEndpoint.id))
        .where(
            col(WebhookEndpoint.app_id) == app_id,
            col(Delivery.app_id) == app_id,
            col(Delivery.event_id) == event_id,
        )
    )
    return list((await db_session.exec(query)).all())


async def list_attempts(
    db_session: AsyncSession,
    app_id: str,
    endpoint_id: str,
    page: PageRequest,
    *,
    event_id: str | None = None,
) -> tuple[list[DeliveryAttempt], str | None]:
    query = sm_select(DeliveryAttempt).where(
        col(DeliveryAttempt.app_id) == app_id, col(DeliveryAttempt.endpoint_id) == endpoint_id
    )
    if event_id is not None:
        query = query.where(col(DeliveryAttempt.event_id) == event_id)
    keys = [SortKey(col(DeliveryAttempt.id), "id", descending=True, kind=id_key("dla"))]
    return await paginate(db_session, query, sort="-id", keys=keys, page=page)


# --- events -------------------------------------------------------------------------------------


async def get_event(db_session: AsyncSession, app_id: str, event_id: str) -> Event | None:
    query = sm_select(Event).where(col(Event.app_id) == app_id, col(Event.id) == event_id)
    return (await db_session.exec(query)).first()


async def list_events(
    db_session: AsyncSession,
    app_id: str,
    page: PageRequest,
    *,
    type: str | None = None,
    object_id: str | None = None,
) -> tuple[list[Event], str | None]:
    query = sm_select(Event).where(col(Event.app_id) == app_id)
    if type is not None:
        query = query.where(col(Event.type) == type)
    if object_id is not None:
        query = query.where(col(Event.object_id) == object_id)
    keys = [SortKey(col(Event.id), "id", descending=True, kind=id_key("evt"))]
    return await paginate(db_session, query, sort="-id", keys=keys, page=page)


async def deliveries_of_event(
    db_session: AsyncSession, app_id: str, event_id: str
) -> list[Delivery]:
    query = (
        sm_select(Delivery)
        .where(col(Delivery.app_id) == app_id, col(Delivery.event_id) == event_id)
        .order_by(col(Delivery.id))
    )
    return list((await db_session.exec(query)).all())


# --- the worker's queue -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery with everything needed to send it, read in the claim transaction."""

    delivery_id: str
    app_id: str
    lease: datetime  # the claim's next_attempt_at: the result is written only if still ours
    attempts: int
    event_id: str
    event_type: str
    event_created_at: datetime
    data: dict[str, Any]
    endpoint_id: str
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    endpoint_failing: bool  # a success must stop the endpoint's failure clock

    @property
    def endpoint(self) -> "EndpointKey":
        return (self.app_id, self.endpoint_id)


# (app_id, id): the worker's batches mix apps, and every row is found by its whole key.
EndpointKey = tuple[str, str]


async def claim_due(
    db_session: AsyncSession, *, limit: int, now: datetime, lease: datetime
) -> list[Job]:
    """Claim up to `limit` due deliveries by moving their next attempt to `lease`.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent workers claim disjoint rows without
    waiting on each other. SQLite renders no row lock; its single writer (BEGIN IMMEDIATE)
    makes the same statement atomic. A worker that dies leaves the rows due again at `lease`.
    """
    due = (
        select(DELIVERIES.c.app_id, DELIVERIES.c.id)
        .where(
            DELIVERIES.c.status == DeliveryStatus.pending.value,
            DELIVERIES.c.next_attempt_at <= now,
        )
        .order_by(DELIVERIES.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    key = tuple_(DELIVERIES.c.app_id, DELIVERIES.c.id)
    claimed = across_tenants(
        update(DELIVERIES)
        .where(key.in_(due))
        .values(next_attempt_at=lease)
        .returning(DELIVERIES.c.app_id, DELIVERIES.c.id),
        CrossTenant.webhook_worker,
    )
    keys = [(app_id, id_) for app_id, id_ in (await db_session.exec(claimed)).all()]
    if not keys:
        return []
    query = across_tenants(
        select(
            DELIVERIES.c.id,
            DELIVERIES.c.app_id,
            DELIVERIES.c.attempts,
            EVENTS.c.id,
            EVENTS.c.type,
            EVENTS.c.created_at,
            EVENTS.c.data,
            ENDPOINTS.c.id,
            ENDPOINTS.c.url,
            ENDPOINTS.c.secret,
            ENDPOINTS.c.previous_secret,
            ENDPOINTS.c.previous_secret_expires_at,
            ENDPOINTS.c.failing_since.is_not(None),
        )
        .join(
            EVENTS,
            (EVENTS.c.app_id == DELIVERIES.c.app_id) & (EVENTS.c.id == DELIVERIES.c.event_id),
        )
        .join(
            ENDPOINTS,
            (ENDPOINTS.c.app_id == DELIVERIES.c.app_id)
            & (ENDPOINTS.c.id == DELIVERIES.c.endpoint_id),
        )
        .where(key.in_(keys)),
        CrossTenant.webhook_worker,
    )
    connection = await db_session.connection()
    return [
        Job(r[0], r[1], lease, r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12])
        for r in (await connection.execute(query)).all()
    ]


async def save_delivery_results(
    db_session: AsyncSession, results: Sequence[dict[str, Any]]
) -> None:
    """Write attempt outcomes in one executemany; a row whose lease moved on (another worker
    claimed it after ours expired) is left to that worker."""
    if not results:
        return
    statement = (
        update(DELIVERIES)
        .where(
            DELIVERIES.c.app_id == bindparam("b_app"),
            DELIVERIES.c.id == bindparam("b_id"),
            DELIVERIES.c.next_attempt_at == bindparam("b_lease"),
            DELIVERIES.c.status == DeliveryStatus.pending.value,
        )
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next"),
            last_status_code=bindparam("b_code"),
            last_error=bindparam("b_error"),
            updated_at=bindparam("b_now"),
        )
    )
    connection = await db_session.connection()
    await connection.execute(statement, list(results))


async def release_claims(
    db_session: AsyncSession, claims: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Make claimed deliveries due `now` again (`b_app`, `b_id`, `b_lease` each), attempts
    unchanged: a stopping worker hands back what it will not finish. A row whose lease moved
    on (claimed again since) is not ours any more, and is left alone."""
    if not claims:
        return
    statement = (
        update(DELIVERIES)
        .where(
            DELIVERIES.c.app_id == bindparam("b_app"),
            DELIVERIES.c.id == bindparam("b_id"),
            DELIVERIES.c.next_attempt_at == bindparam("b_lease"),
            DELIVERIES.c.status == DeliveryStatus.pending.value,
        )
        .values(next_attempt_at=now, updated_at=now)
    )
    connection = await db_session.connection()
    await connection.execute(statement, list(claims))


async def insert_attempts(db_session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Log attempts, skipping those whose delivery is gone (its endpoint was deleted while the
    request was in flight): one missing row must not fail the whole batch."""
    if not rows:
        return
    connection = await db_session.connection()
    keys = list({(row["app_id"], row["delivery_id"]) for row in rows})
    key = tuple_(DELIVERIES.c.app_id, DELIVERIES.c.id)
    found = await connection.execute(
        across_tenants(
            select(DELIVERIES.c.app_id, DELIVERIES.c.id).where(key.in_(keys)),
            CrossTenant.webhook_worker,
        )
    )
    existing = {(app_id, id_) for app_id, id_ in found.all()}
    kept = [row for row in rows if (row["app_id"], row["delivery_id"]) in existing]
    if kept:
        await connection.execute(insert(ATTEMPTS), kept)


_ENDPOINT_KEY = tuple_(ENDPOINTS.c.app_id, ENDPOINTS.c.id)


async def mark_endpoints_healthy(db_session: AsyncSession, endpoints: set[EndpointKey]) -> None:
    if endpoints:
        await db_session.exec(
            across_tenants(
                update(ENDPOINTS)
                .where(_ENDPOINT_KEY.in_(sorted(endpoints)), ENDPOINTS.c.failing_since.is_not(None))
                .values(failing_since=None),
                CrossTenant.webhook_worker,
            )
        )


async def mark_endpoints_failing(
    db_session: AsyncSession, endpoints: set[EndpointKey], now: datetime
) -> dict[EndpointKey, datetime]:
    """Start the failure clock where it is not running; the clock of each endpoint (enabled)."""
    if not endpoints:
        return {}
    keys = sorted(endpoints)
    await db_session.exec(
        across_tenants(
            update(ENDPOINTS)
            .where(_ENDPOINT_KEY.in_(keys), ENDPOINTS.c.failing_since.is_(None))
            .values(failing_since=now),
            CrossTenant.webhook_worker,
        )
    )
    connection = await db_session.connection()
    rows = await connection.execute(
        across_tenants(
            select(ENDPOINTS.c.app_id, ENDPOINTS.c.id, ENDPOINTS.c.failing_since).where(
                _ENDPOINT_KEY.in_(keys), ENDPOINTS.c.enabled.is_(True)
            ),
            CrossTenant.webhook_worker,
        )
    )
    return {(r[0], r[1]): r[2] for r in rows.all() if r[2] is not None}


async def disable_endpoint(
    db_session: AsyncSession, app_id: str, endpoint_id: str, reason: str, now: datetime
) -> bool:
    """Disable an enabled endpoint; False when it was already disabled (nothing to log)."""
    result = await db_session.exec(
        update(ENDPOINTS)
        .where(
            ENDPOINTS.c.app_id == app_id,
            ENDPOINTS.c.id == endpoint_id,
            ENDPOINTS.c.enabled.is_(True),
        )
        .values(
            enabled=False,
            disabled_reason=reason,
            version=ENDPOINTS.c.version + 1,
            updated_at=now,
        )
    )
    if not result.rowcount:
        return False
    await fail_pending(db_session, app_id, endpoint_id, f"endpoint disabled: {reason}", now)
    return True


# --- retention (housekeeping, retention.py) -----------------------------------------------------
#
# Every prune is a batch in a transaction of its own: rows are picked FOR UPDATE SKIP LOCKED,
# so another pruner (another process's housekeeping) takes other rows, and a row a request
# holds (a redelivery making a delivery pending again) is passed over, never waited on. SQLite
# renders no row lock: its writers take turns (BEGIN IMMEDIATE), which is the same for it.

# (created_at, app_id, id): where a sweep of the event log by age stands.
EventPosition = tuple[datetime, str, str]


async def prune_deliveries(db_session: AsyncSession, *, before: datetime, limit: int) -> int:
    """Delete up to `limit` deliveries that ended (succeeded or gave up) before `before`, the
    oldest first, with their attempts. A delivery made pending again since it was read (a
    redelivery, a recovery that committed meanwhile) is checked again under its lock
    (PostgreSQL re-reads an updated row's WHERE) and left alone."""
    finished = text(FINISHED)  # the partial index's own predicate, so the index serves
    picked = across_tenants(
        select(DELIVERIES.c.app_id, DELIVERIES.c.id)
        .where(finished, DELIVERIES.c.updated_at < before)
        .order_by(DELIVERIES.c.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True),
        CrossTenant.housekeeping,
    )
    connection = await db_session.connection()
    keys = [(r[0], r[1]) for r in (await connection.execute(picked)).all()]
    if not keys:
        return 0
    dialect = _dialect(db_session)
    await connection.execute(
        across_tenants(
            delete(ATTEMPTS).where(
                pairs_in(dialect, ATTEMPTS.c.app_id, ATTEMPTS.c.delivery_id, keys)
            ),
            CrossTenant.housekeeping,
        )
    )
    result = await connection.execute(
        across_tenants(
            delete(DELIVERIES).where(pairs_in(dialect, DELIVERIES.c.app_id, DELIVERIES.c.id, keys)),
            CrossTenant.housekeeping,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def old_events(
    db_session: AsyncSession, *, before: datetime, after: EventPosition | None, limit: int
) -> list[EventPosition]:
    """The next `limit` events created before `before`, in (created_at, app_id, id) order from
    `after`: one step of a sweep. Read without locks: prune_events decides and locks."""
    query = select(EVENTS.c.created_at, EVENTS.c.app_id, EVENTS.c.id).where(
        EVENTS.c.created_at < before
    )
    if after is not None:
        query = query.where(
            tuple_(EVENTS.c.created_at, EVENTS.c.app_id, EVENTS.c.id)
            > tuple_(
                bindparam(None, after[0], type_=EVENTS.c.created_at.type),
                bindparam(None, after[1], type_=EVENTS.c.app_id.type),
                bindparam(None, after[2], type_=EVENTS.c.id.type),
            )
        )
    query = query.order_by(EVENTS.c.created_at, EVENTS.c.app_id, EVENTS.c.id).limit(limit)
    connection = await db_session.connection()
    rows = await connection.execute(across_tenants(query, CrossTenant.housekeeping))
    return [(r[0], r[1], r[2]) for r in rows.all()]


async def prune_events(db_session: AsyncSession, keys: Sequence[tuple[str, str]]) -> int:
    """Delete those of these (app_id, id) events that no delivery refers to any more and that
    are not the latest of their object: an object's next event is numbered from the highest
    sequence in the log (outbox._write), so that one stays, whatever its age, and the numbers
    of an object only ever grow. (A later event is never deleted before an earlier one: no
    event is deleted unless a later one of its object exists.)

    Two steps in the one transaction: the events are locked first (SKIP LOCKED: another
    pruner's are passed over), then deleted by a statement that looks again, with a snapshot
    taken after the locks, for deliveries of theirs: one made pending again by a transaction
    that committed meanwhile keeps its event."""
    if not keys:
        return 0
    dialect = _dialect(db_session)
    later = EVENTS.alias("later")
    has_later = (
        select(later.c.id)
        .where(
            later.c.app_id == EVENTS.c.app_id,
            later.c.object_id == EVENTS.c.object_id,
            later.c.sequence > EVENTS.c.sequence,
        )
        .exists()
    )
    delivered = (
        select(DELIVERIES.c.id)
        .where(DELIVERIES.c.app_id == EVENTS.c.app_id, DELIVERIES.c.event_id == EVENTS.c.id)
        .exists()
    )
    locking = across_tenants(
        select(EVENTS.c.app_id, EVENTS.c.id)
        .where(
            pairs_in(dialect, EVENTS.c.app_id, EVENTS.c.id, keys),
            EVENTS.c.object_id.is_(None) | has_later,
            ~delivered,
        )
        .with_for_update(skip_locked=True),
        CrossTenant.housekeeping,
    )
    connection = await db_session.connection()
    locked = [(r[0], r[1]) for r in (await connection.execute(locking)).all()]
    if not locked:
        return 0
    result = await connection.execute(
        across_tenants(
            delete(EVENTS).where(
                pairs_in(dialect, EVENTS.c.app_id, EVENTS.c.id, locked), ~delivered
            ),
            CrossTenant.housekeeping,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
