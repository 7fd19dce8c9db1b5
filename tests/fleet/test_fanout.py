"""Subscriptions across processes (issue #14, part 1): every committed `session.*` event reaches
every subscriber in every API process, once, in commit order, whoever committed it; a subscriber
that lost messages is told so (a gap marker), never left to guess.

Two `create_app` on the same database, each through its lifespan and behind its own uvicorn,
stand in for two processes (each has its own pub/sub, LISTEN connection and pool). A change
"outside any API process" runs a service on a Database of its own, as `mentorapi worker` does.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlmodel import col, select
from websockets.asyncio.client import ClientConnection

from mentorapi.db.engine import create_database
from mentorapi.graphql import fanout
from mentorapi.graphql.feed import mentor_topic, publish, session_event
from mentorapi.graphql.pubsub import PubSub
from mentorapi.main import create_app
from mentorapi.sessions import service as sessions_service
from mentorapi.webhooks.models import Event
from tests.conftest import ServerTransport, Tenant, make_tenant, running
from tests.conftest import test_settings as settings_for
from tests.factories import book_session, bookable
from tests.gql.helpers import serve
from tests.gql.test_subscriptions import receive, subscribe, until_subscribed, websocket

CHANGES = """subscription($m: ID) { sessionsChanged(mentorId: $m) {
  eventId type session { id status } gap { reason missed } } }"""
SLOTS = [f"2027-01-{day}T{hour}:00:00Z" for day in (11, 12) for hour in ("08", "10", "12")]


def postgresql_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        # SQLite is one process: its in-process feed is covered by tests/gql/test_subscriptions.
        pytest.skip("PostgreSQL only: processes hear each other through LISTEN/NOTIFY")


@asynccontextmanager
async def process(database_url: str, pubsub: PubSub | None = None) -> AsyncIterator[FastAPI]:
    """One more API process on the test database: its lifespan running, its subscriptions
    listening."""
    application = create_app(settings_for(database_url))
    if pubsub is not None:
        application.state.pubsub = pubsub
    async with running(application):
        if application.state.fanout is not None:
            async with asyncio.timeout(10):
                await application.state.fanout.until_listening()
        yield application


def client_of(application: FastAPI, tenant: Tenant) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=ServerTransport(app=application),
        base_url="http://test",
        headers={"Authorization": f"Bearer {tenant.key}"},
    )


async def heard(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """`count` messages, then silence (nothing more arrives within half a second)."""
    changes = []
    for _ in range(count):
        message = await receive(ws)
        assert message["type"] == "next", message
        assert not message["payload"].get("errors"), message
        changes.append(message["payload"]["data"]["sessionsChanged"])
    with pytest.raises(TimeoutError):
        await receive(ws, wait=0.5)
    return changes


@asynccontextmanager
async def two_processes(database_url: str) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    async with process(database_url) as first, process(database_url) as second:
        yield first, second


async def test_subscribers_in_both_processes_hear_every_change_through_either_once_in_order(
    database_url: str,
) -> None:
    postgresql_only(database_url)
    async with two_processes(database_url) as (first, second), AsyncExitStack() as stack:
        tenant = await stack.enter_async_context(aiter_one(make_tenant(first)))
        clients = [tenant.client, await stack.enter_async_context(client_of(second, tenant))]
        base = await bookable(tenant.client, auto_accept=False)
        topic = mentor_topic(tenant.id, base["mentor_id"])
        sockets = []
        for application in (first, second, first, second):  # two subscribers in each
            url = await stack.enter_async_context(serve(application))
            ws = await stack.enter_async_context(websocket(url, tenant.key))
            await subscribe(ws, CHANGES, {"m": base["mentor_id"]})
            sockets.append(ws)
        for application in (first, second):
            for _ in range(50):
                if application.state.pubsub.subscribers(topic) == 2:
                    break
                await asyncio.sleep(0.02)
            assert application.state.pubsub.subscribers(topic) == 2

        expected = []
        for n, starts_at in enumerate(SLOTS):  # alternately through each process
            booked = await book_session(clients[n % 2], base, starts_at)
            expected.append(("session.requested", booked["id"], "REQUESTED"))
        for n in range(3):  # the first three, cancelled through the other process
            session_id = expected[n][1]
            cancelled = await clients[(n + 1) % 2].post(
                f"/v1/sessions/{session_id}/cancel", json={"by": "mentee"}
            )
            assert cancelled.status_code == 200, cancelled.text
            expected.append(("session.cancelled", session_id, "CANCELLED"))

        for ws in sockets:
            changes = await heard(ws, len(expected))
            got = [(c["type"], c["session"]["id"], c["session"]["status"]) for c in changes]
            assert got == expected
            assert all(c["gap"] is None for c in changes)
            assert len({c["eventId"] for c in changes}) == len(expected)


async def test_a_change_made_outside_any_api_process_is_heard_by_both(database_url: str) -> None:
    postgresql_only(database_url)
    async with two_processes(database_url) as (first, second), AsyncExitStack() as stack:
        tenant = await stack.enter_async_context(aiter_one(make_tenant(first)))
        base = await bookable(tenant.client, auto_accept=False)
        requested = await book_session(tenant.client, base, SLOTS[0])
        topic = mentor_topic(tenant.id, base["mentor_id"])
        sockets = []
        for application in (first, second):
            url = await stack.enter_async_context(serve(application))
            ws = await stack.enter_async_context(websocket(url, tenant.key))
            await subscribe(ws, CHANGES, {"m": base["mentor_id"]})
            await until_subscribed(application.state.pubsub, topic)
            sockets.append(ws)

        # As `mentorapi worker`'s housekeeping does, on a database of its own: no API process
        # commits this, none publishes it itself.
        worker_db = create_database(settings_for(database_url))
        try:
            async with worker_db.sessionmaker() as s, s.begin():
                expired = await sessions_service.expire_due(
                    db_session=s, app_id=tenant.id, at=datetime(2027, 1, 12, tzinfo=UTC)
                )
            assert expired == 1
        finally:
            await worker_db.dispose()

        for ws in sockets:
            (change,) = await heard(ws, 1)
            assert (change["type"], change["session"]) == (
                "session.expired",
                {"id": requested["id"], "status": "EXPIRED"},
            )


async def test_a_slow_subscriber_gets_a_gap_marker_then_the_newest(database_url: str) -> None:
    # A queue of two messages; five published at once (a burst the subscriber cannot have read
    # in between, as the fan-out publishes a burst of notices read with one SELECT).
    async with process(database_url, PubSub(queue_size=2)) as application, AsyncExitStack() as st:
        tenant = await st.enter_async_context(aiter_one(make_tenant(application)))
        base = await bookable(tenant.client, auto_accept=False)
        booked = [await book_session(tenant.client, base, slot) for slot in SLOTS[:5]]
        async with application.state.db.sessionmaker() as s:
            rows = (await s.exec(select(Event).where(col(Event.app_id) == tenant.id))).all()
            events = [session_event(row) for row in rows]
        by_session = {e.data["id"]: e for e in events if e is not None}
        url = await st.enter_async_context(serve(application))
        ws = await st.enter_async_context(websocket(url, tenant.key))
        await subscribe(ws, CHANGES, {"m": base["mentor_id"]})
        await until_subscribed(application.state.pubsub, mentor_topic(tenant.id, base["mentor_id"]))

        for session in booked:
            publish(application.state.pubsub, by_session[session["id"]])
        changes = await heard(ws, 3)
        assert changes[0] == {
            "eventId": None,
            "type": "subscription.gap",
            "session": None,
            "gap": {"reason": "SLOW_SUBSCRIBER", "missed": 3},
        }
        assert [c["session"]["id"] for c in changes[1:]] == [s["id"] for s in booked[3:]]
        assert all(c["gap"] is None for c in changes[1:])


async def test_while_listen_is_down_subscribers_get_a_gap_marker_when_it_is_back(
    database_url: str,
) -> None:
    postgresql_only(database_url)
    async with process(database_url) as application, AsyncExitStack() as stack:
        tenant = await stack.enter_async_context(aiter_one(make_tenant(application)))
        base = await bookable(tenant.client, auto_accept=False)
        url = await stack.enter_async_context(serve(application))
        ws = await stack.enter_async_context(websocket(url, tenant.key))
        await subscribe(ws, CHANGES, {"m": base["mentor_id"]})
        await until_subscribed(application.state.pubsub, mentor_topic(tenant.id, base["mentor_id"]))

        # Cut every subscriptions listener on this database (as a failover or a network cut would).
        async with application.state.db.engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": fanout.APPLICATION_NAME},
            )
        for _ in range(500):
            if not application.state.fanout.listening:
                break
            await asyncio.sleep(0.02)
        assert not application.state.fanout.listening
        # Committed while nobody listens: nobody hears it, but nobody is left unaware.
        lost = await book_session(tenant.client, base, SLOTS[0])
        async with asyncio.timeout(10):
            await application.state.fanout.until_listening()
        after = await book_session(tenant.client, base, SLOTS[1])

        gap, change = await heard(ws, 2)
        assert gap["type"] == "subscription.gap"
        assert gap["gap"] == {"reason": "FEED_INTERRUPTED", "missed": None}
        assert change["session"]["id"] == after["id"] != lost["id"]


@asynccontextmanager
async def aiter_one(generator: AsyncIterator[Tenant]) -> AsyncIterator[Tenant]:
    """The one value of a fixture-style async generator (make_tenant), closed after use."""
    value = await anext(generator)
    try:
        yield value
    finally:
        with contextlib.suppress(StopAsyncIteration):
            await anext(generator)


async def test_a_process_reads_only_the_events_its_subscribers_may_hear(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every API process hears every commit's notice; it reads (one SELECT, ORM rows) only the
    events of apps with a subscriber in it. Before, a booking cost every process a read."""
    postgresql_only(database_url)
    read: list[str] = []
    events_by_keys = fanout.repository.events_by_keys

    async def recording(db_session: Any, keys: Any) -> Any:
        read.extend(app_id for app_id, _ in keys)
        return await events_by_keys(db_session, keys)

    monkeypatch.setattr(fanout.repository, "events_by_keys", recording)
    async with process(database_url) as application, AsyncExitStack() as stack:
        heard_app = await stack.enter_async_context(aiter_one(make_tenant(application, "heard")))
        other = await stack.enter_async_context(aiter_one(make_tenant(application, "unheard")))
        base = await bookable(heard_app.client)
        other_base = await bookable(other.client)
        url = await stack.enter_async_context(serve(application))
        ws = await stack.enter_async_context(websocket(url, heard_app.key))
        await subscribe(ws, CHANGES, {"m": base["mentor_id"]})
        await until_subscribed(
            application.state.pubsub, mentor_topic(heard_app.id, base["mentor_id"])
        )
        await book_session(other.client, other_base, SLOTS[0])
        booked = await book_session(heard_app.client, base, SLOTS[1])
        (change,) = await heard(ws, 1)
        assert change["session"]["id"] == booked["id"]
        assert heard_app.id in read
        assert other.id not in read


def test_the_pubsub_knows_which_apps_are_listened_to() -> None:
    pubsub = PubSub()
    assert pubsub.apps() == set()

    async def listen() -> set[str]:
        async with (
            pubsub.subscribe(mentor_topic("app_a", "mtr_1")),
            pubsub.subscribe(mentor_topic("app_b", "mtr_2")),
        ):
            return pubsub.apps()

    assert asyncio.run(listen()) == {"app_a", "app_b"}
    assert pubsub.apps() == set()
