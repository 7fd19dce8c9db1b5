"""Retention of the webhook logs: deliveries that are over and their attempts are pruned after
the window, events once no delivery is left, never an object's latest event (its sequence goes
on), never anything pending; a pruned event is a 404 and a kept one whose deliveries are gone a
410; many pruners at once do each row once, and a redelivery racing a prune is never lost."""

import asyncio

import pytest
from sqlalchemy import text

from mentorapi.db.engine import Database
from mentorapi.kit.errors import Gone
from mentorapi.kit.ids import new_id
from mentorapi.kit.timezones import utcnow
from mentorapi.retention import Retention
from mentorapi.webhooks import repository, service
from mentorapi.webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from tests.conftest import Tenant
from tests.retention.conftest import (
    OLD,
    RECENT,
    WINDOW,
    create_endpoint,
    finish,
    last_sequence,
    prune_all,
    record,
    rows,
)

HOOK = "http://127.0.0.1:9/hook"


async def test_finished_deliveries_go_after_the_window_with_their_attempts(
    db: Database, tenant: Tenant
) -> None:
    await create_endpoint(tenant, HOOK)
    await prune_all(db)  # what other tests left past the window
    subject = new_id("ses")
    succeeded, failed, pending, recent = await record(db, tenant, subject, 4)
    await finish(db, tenant, [succeeded], status=DeliveryStatus.succeeded)
    await finish(db, tenant, [failed], status=DeliveryStatus.failed)
    await finish(db, tenant, [pending], status=DeliveryStatus.pending)  # still retrying
    await finish(db, tenant, [recent], ago=RECENT)

    pruned = await prune_all(db)

    assert pruned.deliveries == 2
    left = await rows(db, tenant, Delivery)
    assert sorted(d.event_id for d in left) == sorted([pending, recent])
    attempts = await rows(db, tenant, DeliveryAttempt)
    assert sorted(a.event_id for a in attempts) == sorted([pending, recent])
    # The two whose deliveries are gone are old and superseded: pruned as well.
    assert pruned.events == 2
    kept = await rows(db, tenant, Event, object_id=subject)
    assert sorted(e.id for e in kept) == sorted([pending, recent])
    assert await prune_all(db) == type(pruned)()  # nothing left to do


async def test_the_latest_event_of_an_object_is_kept_and_its_sequence_goes_on(
    db: Database, tenant: Tenant
) -> None:
    await create_endpoint(tenant, HOOK)
    subject, other = new_id("ses"), new_id("ses")
    first = await record(db, tenant, subject, 3)
    alone = await record(db, tenant, other, 1)
    loose = await record(db, tenant, None, 2)  # no object: no sequence to keep
    await finish(db, tenant, first + alone + loose)

    await prune_all(db)

    assert [e.id for e in await rows(db, tenant, Event, object_id=subject)] == [first[-1]]
    assert [e.id for e in await rows(db, tenant, Event, object_id=other)] == alone
    assert await rows(db, tenant, Event, id=loose) == []
    assert await rows(db, tenant, Delivery) == []
    assert await last_sequence(db, tenant, subject) == 3

    (after,) = await record(db, tenant, subject, 1)
    (written,) = await rows(db, tenant, Event, id=after)
    assert written.sequence == 4

    # And again, as old as the rest: the new latest is kept, the old latest goes.
    await finish(db, tenant, [after])
    await prune_all(db)
    assert [e.sequence for e in await rows(db, tenant, Event, object_id=subject)] == [4]
    (again,) = await record(db, tenant, subject, 1)
    assert (await rows(db, tenant, Event, id=again))[0].sequence == 5


async def test_a_pruned_event_is_a_404_and_a_kept_one_without_deliveries_a_410(
    db: Database, tenant: Tenant
) -> None:
    await create_endpoint(tenant, HOOK)
    subject = new_id("ses")
    gone, kept = await record(db, tenant, subject, 2)
    await finish(db, tenant, [gone, kept])
    await prune_all(db)

    for response in (
        await tenant.client.get(f"/v1/events/{gone}"),
        await tenant.client.post(f"/v1/events/{gone}/redeliver"),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "retention" in response.json()["detail"]

    shown = await tenant.client.get(f"/v1/events/{kept}")
    assert shown.status_code == 200
    assert shown.json()["deliveries"] == []
    again = await tenant.client.post(f"/v1/events/{kept}/redeliver")
    assert again.status_code == 410, again.text
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["type"].endswith("/gone")
    assert "30 days" in again.json()["detail"]

    mutation = "mutation($id: ID!) { redeliverEvent(id: $id) }"
    answer = await tenant.client.post(
        "/graphql", json={"query": mutation, "variables": {"id": kept}}
    )
    assert answer.json()["errors"][0]["extensions"]["code"] == "GONE"
    answer = await tenant.client.post(
        "/graphql", json={"query": mutation, "variables": {"id": gone}}
    )
    assert answer.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_recent_redelivery_keeps_an_old_event(db: Database, tenant: Tenant) -> None:
    await create_endpoint(tenant, HOOK)
    subject = new_id("ses")
    old, latest = await record(db, tenant, subject, 2)
    await finish(db, tenant, [old, latest])
    await finish(db, tenant, [latest], ago=RECENT)
    assert (await tenant.client.post(f"/v1/events/{old}/redeliver")).json() == {"queued": 1}

    await prune_all(db)

    (delivery,) = await rows(db, tenant, Delivery, event_id=old)
    assert delivery.status == DeliveryStatus.pending
    assert [e.id for e in await rows(db, tenant, Event, id=old)] == [old]


# --- many processes (PostgreSQL: row locks) ----------------------------------------------------


@pytest.mark.postgres_only
async def test_two_pruners_at_once_do_each_row_once(db: Database, tenant: Tenant) -> None:
    await create_endpoint(tenant, HOOK)
    await create_endpoint(tenant, HOOK)
    await prune_all(db)  # what other tests left past the window
    objects = [new_id("ses") for _ in range(20)]
    events = [e for o in objects for e in await record(db, tenant, o, 3)]
    await finish(db, tenant, events)

    # Small batches, so that the two interleave batch by batch on their own connections.
    first, second = await asyncio.gather(
        prune_all(db, batch_size=7, max_batches=1000),
        prune_all(db, batch_size=7, max_batches=1000),
    )

    assert first.deliveries + second.deliveries == 2 * len(events)
    assert await rows(db, tenant, Delivery) == []
    assert await rows(db, tenant, DeliveryAttempt) == []
    assert first.events + second.events == 2 * len(objects)
    left = await rows(db, tenant, Event)
    assert sorted((e.object_id, e.sequence) for e in left) == sorted((o, 3) for o in objects)


async def _waiting_on_a_lock(db: Database) -> bool:
    async with db.engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return bool(found.scalar_one())


async def _until_blocked(db: Database) -> None:
    """Until some transaction waits for a row lock (polled: PostgreSQL announces no wait)."""
    async with asyncio.timeout(20):
        while not await _waiting_on_a_lock(db):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.mark.postgres_only
async def test_a_prune_passes_over_a_redelivery_in_flight(db: Database, tenant: Tenant) -> None:
    await create_endpoint(tenant, HOOK)
    subject = new_id("ses")
    old, latest = await record(db, tenant, subject, 2)
    await finish(db, tenant, [old, latest])
    async with db.sessionmaker() as s, s.begin():
        # A redelivery makes the old delivery pending again, and has not committed yet ...
        queued = await service.redeliver(
            db_session=s, app_id=tenant.id, event_id=old, retention=WINDOW
        )
        assert queued == 1
        # ... while a prune runs: it does not wait for it, and leaves it and its event alone.
        pruned = await asyncio.wait_for(prune_all(db), 20)
        assert pruned.events == 0
    assert [d.status for d in await rows(db, tenant, Delivery, event_id=old)] == ["pending"]
    assert [e.id for e in await rows(db, tenant, Event, id=old)] == [old]
    # The latest one's delivery was not held: it went; its event stays (the object's latest).
    assert await rows(db, tenant, Delivery, event_id=latest) == []


@pytest.mark.postgres_only
async def test_a_redelivery_after_a_prune_took_the_delivery_is_a_410(
    db: Database, tenant: Tenant
) -> None:
    await create_endpoint(tenant, HOOK)
    subject = new_id("ses")
    old, latest = await record(db, tenant, subject, 2)
    await finish(db, tenant, [old, latest])
    async with db.sessionmaker() as pruner, pruner.begin():
        # The prune holds the old delivery (deleted, not committed yet) ...
        before = utcnow() - WINDOW
        assert await repository.prune_deliveries(pruner, before=before, limit=1000) >= 2
        # ... a redelivery read the event and its endpoint, and waits for the delivery's row.
        redelivering = asyncio.create_task(_redeliver(db, tenant, old))
        await _until_blocked(db)
        assert not redelivering.done()
    with pytest.raises(Gone, match="pruned"):
        await asyncio.wait_for(redelivering, 20)
    assert await rows(db, tenant, Delivery, event_id=old) == []


async def _redeliver(db: Database, tenant: Tenant, event_id: str) -> int:
    async with db.sessionmaker() as s, s.begin():
        return await service.redeliver(
            db_session=s, app_id=tenant.id, event_id=event_id, retention=WINDOW
        )


def test_the_window_is_older_than_old() -> None:
    assert OLD > WINDOW > RECENT


async def test_the_sweep_goes_on_from_round_to_round_past_kept_events(
    db: Database, tenant: Tenant
) -> None:
    """Events kept as their objects' latest lie at the old end of the log for ever; a round
    that does one small batch still gets past them, round after round, to the prunable ones."""
    await create_endpoint(tenant, HOOK)
    latest_only = [e for _ in range(3) for e in await record(db, tenant, new_id("ses"), 1)]
    await finish(db, tenant, latest_only, ago=OLD + RECENT)  # the oldest of all
    subject = new_id("ses")
    superseded = await record(db, tenant, subject, 3)
    await finish(db, tenant, superseded)
    retention = Retention(webhooks=WINDOW, batch_size=2, max_batches=1)
    for _ in range(1000):  # other tests' kept events lie there too: however many, it gets on
        await retention.prune(db)
        if len(await rows(db, tenant, Event, object_id=subject)) == 1:
            break
    assert [e.id for e in await rows(db, tenant, Event, object_id=subject)] == superseded[-1:]
    assert len(await rows(db, tenant, Event, id=latest_only)) == 3
