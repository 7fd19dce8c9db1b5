"""The live feed over Server-Sent Events (a real server: streams are read as they come) and the
GraphQL subscription: phases on the test's clock, schedule changes from any commit, keep-alives,
a bound per caller, a stream that stops when its client leaves or its credential lapses."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mentorapi.apps import admission
from mentorapi.graphql.feed import ScheduleNotice, mentoring_event_topic
from mentorapi.kit.timezones import utcnow
from mentorapi.mentoring_events import live
from mentorapi.mentoring_events.schemas import LiveUpdate
from mentorapi.mentoring_events.service import Viewer
from tests.conftest import Tenant, count_statements
from tests.factories import mint_token
from tests.gql.helpers import serve
from tests.gql.test_subscriptions import receive, subscribe, websocket
from tests.mentoring_events.conftest import ManualClock, Ready, get, post, published_event

WAIT = 10.0  # seconds at most for any one message (nothing here waits for real rounds)


class Stream:
    """One SSE response, read message by message (comments too, as `: ...`)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            message: dict[str, Any] = {}
            async for line in self._lines:
                if line == "":
                    if message:
                        return message
                    continue
                if line.startswith(":"):
                    message.setdefault("comments", []).append(line[1:].strip())
                    continue
                name, _, value = line.partition(": ")
                message[name] = json.loads(value) if name == "data" else value
            raise EOFError("the stream ended")

        return await asyncio.wait_for(read(), WAIT)

    async def update(self) -> dict[str, Any]:
        """The next `live` message's data (skipping keep-alives)."""
        while True:
            message = await self.next()
            if message.get("event") == "live":
                data: dict[str, Any] = message["data"]
                return data


@asynccontextmanager
async def stream(url: str, credential: str, path: str, **params: Any) -> AsyncIterator[Stream]:
    headers = {"Authorization": f"Bearer {credential}"}
    async with (
        httpx.AsyncClient(base_url=url, headers=headers, timeout=WAIT) as client,
        client.stream("GET", path, params=params) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response)


async def _until(check: Any, what: str) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never: {what}")


async def test_a_member_follows_the_rounds_as_they_come(
    app: FastAPI, tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 3, 6, rounds=3, meetings_per_mentee=2)
    mentee = ready.crowd.mentees[0]
    mine = {a["round"]: a for a in ready.schedule["assignments"] if a["mentee_id"] == mentee["id"]}
    token = await mint_token(tenant.client, mentee["external_id"], "mentee")
    clock.set("2031-03-04T16:55:00Z")
    async with serve(app) as url, stream(url, token, f"/v1/mentoring-events/{ready.id}/live") as s:
        first = await s.next()
        assert first["event"] == "live"
        assert first["retry"] == "3000"
        update = first["data"]
        assert update == {
            "event_id": ready.id,
            "server_time": "2031-03-04T16:55:00Z",
            "cause": "connected",
            "phase": "not_started",
            "round": 1,
            "round_starts_at": "2031-03-04T17:00:00Z",
            "round_ends_at": "2031-03-04T17:07:00Z",
            "next_change_at": "2031-03-04T17:00:00Z",
            "schedule_version": 1,
            "my_assignment": mine.get(1),
        }
        seen = [(update["phase"], update["round"])]
        for moment in (
            "2031-03-04T17:00:00Z",  # round 1
            "2031-03-04T17:07:00Z",  # to round 2
            "2031-03-04T17:09:00Z",  # round 2
            "2031-03-04T17:16:00Z",  # to round 3
            "2031-03-04T17:18:00Z",  # round 3
            "2031-03-04T17:25:00Z",  # over
        ):
            clock.set(moment)
            update = await s.update()
            assert update["server_time"] == moment
            assert update["cause"] == "phase"
            assert update["my_assignment"] == mine.get(update["round"])
            seen.append((update["phase"], update["round"]))
        assert seen == [
            ("not_started", 1),
            ("in_round", 1),
            ("transition", 2),
            ("in_round", 2),
            ("transition", 3),
            ("in_round", 3),
            ("ended", None),
        ]
        with pytest.raises(EOFError):
            await s.next()  # the stream ends after `ended`


async def test_a_late_change_reaches_the_stream(
    app: FastAPI, tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 3, 6)
    # Someone who sits at a table in round 1 (not everyone does: 6 seats, 3 meetings of 4).
    absent = next(a["mentee_id"] for a in ready.schedule["assignments"] if a["round"] == 1)
    path = f"/v1/mentoring-events/{ready.id}/live"
    async with serve(app) as url, stream(url, tenant.key, path, member_id=absent) as s:
        first = await s.update()
        assert first["my_assignment"]["mentee_id"] == absent
        await _until(
            lambda: app.state.pubsub.subscribers(mentoring_event_topic(tenant.id, ready.id)),
            "subscribed",
        )
        await post(
            tenant.client, f"/v1/mentoring-events/{ready.id}/no-shows", {"member_id": absent}
        )
        update = await s.update()
        assert (update["cause"], update["schedule_version"]) == ("schedule", 2)
        assert (update["phase"], update["round"]) == ("not_started", 1)
        assert update["my_assignment"] is None


async def test_an_event_never_published_by_its_start_expires_on_the_stream(
    app: FastAPI, tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 2, 2, publish=False)  # built, never published
    path = f"/v1/mentoring-events/{ready.id}/live"
    clock.set("2031-03-04T16:55:00Z")
    async with serve(app) as url, stream(url, tenant.key, path) as s:
        first = await s.update()
        assert (first["phase"], first["round"]) == ("not_started", 1)
        clock.set("2031-03-04T17:00:00Z")
        update = await s.update()
        assert (update["cause"], update["phase"], update["round"]) == ("phase", "expired", None)
        assert update["next_change_at"] is None
        with pytest.raises(EOFError):
            await s.next()  # no round will run: the stream ends, as after `ended`
    clock.set("2031-03-04T17:20:00Z")  # mid-way through what would have been the rounds
    async with serve(app) as url, stream(url, tenant.key, path) as s:
        update = await s.update()
        assert (update["cause"], update["phase"], update["my_assignment"]) == (
            "connected",
            "expired",
            None,
        )
        with pytest.raises(EOFError):
            await s.next()
    assert (await get(tenant.client, f"/v1/mentoring-events/{ready.id}"))["status"] == "expired"


async def test_the_api_key_sees_the_phases_only(
    app: FastAPI, tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 2, 2)
    clock.set("2031-03-04T17:03:00Z")
    async with (
        serve(app) as url,
        stream(url, tenant.key, f"/v1/mentoring-events/{ready.id}/live") as s,
    ):
        update = await s.update()
        assert (update["phase"], update["round"], update["my_assignment"]) == ("in_round", 1, None)


async def test_keep_alives_a_bound_per_caller_and_leaving(
    app: FastAPI, tenant: Tenant, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = await published_event(tenant, 2, 2)
    monkeypatch.setattr(app.state.settings, "live_keepalive_seconds", 0.05)
    monkeypatch.setattr(app.state.live_streams, "limit", 1)
    path = f"/v1/mentoring-events/{ready.id}/live"
    topic = mentoring_event_topic(tenant.id, ready.id)
    async with serve(app) as url:
        async with stream(url, tenant.key, path) as s:
            await s.update()
            quiet = await s.next()
            assert quiet == {"comments": ["keep-alive"]}
            async with httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {tenant.key}"}
            ) as other:
                refused = await other.get(path)
                assert refused.status_code == 429
                assert refused.headers["retry-after"] == "5"
                assert refused.headers["content-type"].startswith("application/problem+json")
            assert app.state.pubsub.subscribers(topic) == 1
        # The client left: its subscription and its slot go at once, not at the next write.
        monkeypatch.setattr(app.state.settings, "live_keepalive_seconds", 60.0)
        async with stream(url, tenant.key, path) as s:
            await s.update()
        await _until(lambda: app.state.pubsub.subscribers(topic) == 0, "unsubscribed")
        async with (
            httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {tenant.key}"}
            ) as again,
            again.stream("GET", path) as response,
        ):
            assert response.status_code == 200


async def test_a_stream_ends_when_its_credential_lapses(
    app: FastAPI, tenant: Tenant, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = await published_event(tenant, 2, 2)
    mentee = ready.crowd.mentees[0]
    token = await mint_token(tenant.client, mentee["external_id"], "mentee", ttl_seconds=300)
    monkeypatch.setattr(app.state.settings, "live_keepalive_seconds", 0.05)
    async with serve(app) as url, stream(url, token, f"/v1/mentoring-events/{ready.id}/live") as s:
        await s.update()
        later = utcnow() + timedelta(hours=1)
        monkeypatch.setattr(admission, "utcnow", lambda: later)
        while True:
            message = await s.next()
            if "event" in message:
                break
        assert message["event"] == "error"
        assert message["data"]["status"] == 401
        assert "expired" in message["data"]["detail"]
        with pytest.raises(EOFError):
            await s.next()


async def test_a_member_cannot_follow_someone_else(tenant: Tenant, clock: ManualClock) -> None:
    ready = await published_event(tenant, 2, 2)
    mentee = ready.crowd.mentees[0]
    token = await mint_token(tenant.client, mentee["external_id"], "mentee")
    path = f"/v1/mentoring-events/{ready.id}/live"
    response = await tenant.client.get(
        path,
        params={"member_id": ready.crowd.mentee_ids[1]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404
    response = await tenant.client.get(
        path,
        params={"member_id": ready.crowd.mentor_ids[0]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403


LIVE = """subscription($e: ID!, $m: ID) { eventLive(eventId: $e, memberId: $m) {
  cause phase round roundEndsAt scheduleVersion myAssignment { round table mentorId } } }"""


async def test_the_graphql_subscription_hears_the_same(
    app: FastAPI, tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 2, 3)
    mentee = ready.crowd.mentees[0]
    mine = {a["round"]: a for a in ready.schedule["assignments"] if a["mentee_id"] == mentee["id"]}
    token = await mint_token(tenant.client, mentee["external_id"], "mentee")
    clock.set("2031-03-04T17:05:00Z")
    async with serve(app) as url, websocket(url, token) as ws:
        await subscribe(ws, LIVE, {"e": ready.id})
        message = await receive(ws)
        assert message["type"] == "next", message
        first = message["payload"]["data"]["eventLive"]
        assert (first["cause"], first["phase"], first["round"]) == ("connected", "in_round", 1)
        expected = mine.get(1)
        assert first["myAssignment"] == (
            {"round": 1, "table": expected["table"], "mentorId": expected["mentor_id"]}
            if expected
            else None
        )
        clock.set("2031-03-04T17:07:00Z")
        message = await receive(ws)
        moved = message["payload"]["data"]["eventLive"]
        assert (moved["cause"], moved["phase"], moved["round"]) == ("phase", "transition", 2)
    async with serve(app) as url, websocket(url, token) as ws:
        # Someone else's feed: as REST.
        await subscribe(ws, LIVE, {"e": ready.id, "m": ready.crowd.mentee_ids[1]})
        refused = await receive(ws)
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_graphql_query_reads_the_event_and_its_schedule(
    tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 2, 3)
    query = """query($id: ID!) { mentoringEvent(id: $id) { id status counts { mentors mentees }
      schedule { status version assignments { round table mentorId menteeId reasons } }
      registrations(first: 2) { edges { node { memberId role } } pageInfo { hasNextPage } } } }"""
    response = await tenant.client.post(
        "/graphql", json={"query": query, "variables": {"id": ready.id}}
    )
    body = response.json()
    assert "errors" not in body, body
    event = body["data"]["mentoringEvent"]
    assert event["status"] == "SCHEDULED"
    assert event["counts"] == {"mentors": 2, "mentees": 3}
    rest = await get(tenant.client, f"/v1/mentoring-events/{ready.id}/schedule")
    assert event["schedule"]["assignments"] == [
        {
            "round": a["round"],
            "table": a["table"],
            "mentorId": a["mentor_id"],
            "menteeId": a["mentee_id"],
            "reasons": a["reasons"],
        }
        for a in rest["assignments"]
    ]
    assert event["registrations"]["pageInfo"]["hasNextPage"] is True


MENTEES = 10
SHARED_READ = 2  # the event, and every published assignment: once for all the streams


async def _published_and_heard(app: FastAPI, tenant: Tenant) -> Ready:
    """A published event whose publishing this process's subscribers have all heard: on
    PostgreSQL the fan-out hands a commit's notice over a moment later, and a feed that opened
    meanwhile would hear it as a change (one more read than the test counts)."""
    ready = await published_event(tenant, 3, MENTEES, publish=False)
    async with app.state.pubsub.subscribe(mentoring_event_topic(tenant.id, ready.id)) as heard:
        ready.schedule = await post(
            tenant.client, f"/v1/mentoring-events/{ready.id}/schedule/publish"
        )
        assert isinstance(await asyncio.wait_for(anext(heard), WAIT), ScheduleNotice)
    return ready


def _viewers(ready: Any) -> list[Viewer]:
    """Ten mentees, a mentor, the API key."""
    viewers = [Viewer(None, m, everyone=False) for m in ready.crowd.mentee_ids]
    mentor = Viewer(ready.crowd.mentor_ids[0], None, everyone=False)
    return [*viewers, mentor, Viewer(None, None, everyone=True)]


def _feeds(app: FastAPI, tenant: Tenant, event_id: str, viewers: list[Viewer]) -> list[Any]:
    async def check() -> None:
        pass

    return [
        live.follow(
            database=app.state.db,
            pubsub=app.state.pubsub,
            app_id=tenant.id,
            event_id=event_id,
            viewer=viewer,
            check=check,
        )
        for viewer in viewers
    ]


def _expected(schedule: dict[str, Any], viewer: Viewer, round: int = 1) -> Any:
    """The viewer's assignment of `round`, as their own read would find it."""
    return next(
        (
            a
            for a in schedule["assignments"]
            if a["round"] == round
            and not viewer.everyone
            and viewer.mentee_id in (None, a["mentee_id"])
            and viewer.mentor_id in (None, a["mentor_id"])
        ),
        None,
    )


def _shown(update: Any) -> Any:
    assert isinstance(update, LiveUpdate)
    mine = update.my_assignment
    return mine.model_dump(mode="json") if mine else None


async def test_one_read_per_process_serves_every_stream_after_a_change(
    app: FastAPI, tenant: Tenant, clock: ManualClock
) -> None:
    """A dozen feeds of one event in one process (ten mentees, a mentor, the API key): a change
    of the schedule costs one shared read (not two statements per feed), and each feed still
    shows what its own read would have: its member's assignment, none for the API key."""
    ready = await _published_and_heard(app, tenant)
    absent = next(a["mentee_id"] for a in ready.schedule["assignments"] if a["round"] == 1)
    viewers = _viewers(ready)
    feeds = _feeds(app, tenant, ready.id, viewers)
    try:
        for feed in feeds:
            first = await asyncio.wait_for(anext(feed), WAIT)
            assert isinstance(first, LiveUpdate)
            assert first.cause == "connected"
        # The feeds wait for the change in tasks that count their statements (a task keeps
        # the context it was made in); the change itself is made outside the count.
        with count_statements() as statements:
            waiting = [asyncio.ensure_future(anext(feed)) for feed in feeds]
        await post(
            tenant.client, f"/v1/mentoring-events/{ready.id}/no-shows", {"member_id": absent}
        )
        updates = await asyncio.wait_for(asyncio.gather(*waiting), WAIT)
        assert len(statements) == SHARED_READ, statements
        schedule = await get(tenant.client, f"/v1/mentoring-events/{ready.id}/schedule")
        for viewer, update in zip(viewers, updates, strict=True):
            assert isinstance(update, LiveUpdate)
            assert (update.cause, update.schedule_version) == ("schedule", 2)
            assert _shown(update) == _expected(schedule, viewer), viewer
            if viewer.mentee_id == absent:
                assert update.my_assignment is None
        assert updates[-2].my_assignment is not None  # the mentor sits at a table
        assert len(live.shared_reads(app.state.pubsub)) == 1
    finally:
        for feed in feeds:
            await feed.aclose()
    # Nothing kept once the feeds are gone.
    assert len(live.shared_reads(app.state.pubsub)) == 0


async def test_one_read_per_process_serves_every_stream_after_a_lost_listen_connection(
    app: FastAPI, tenant: Tenant, clock: ManualClock
) -> None:
    """When the process lost its feed of changes for a while (graphql/fanout.py, its LISTEN
    connection back: `interrupt()`), every feed is told of a gap and reads again: a dozen feeds
    share one read (two statements, not two per feed), each showing its viewer's own."""
    ready = await _published_and_heard(app, tenant)
    viewers = _viewers(ready)
    feeds = _feeds(app, tenant, ready.id, viewers)
    try:
        for feed in feeds:
            assert isinstance(await asyncio.wait_for(anext(feed), WAIT), LiveUpdate)
        with count_statements() as statements:
            waiting = [asyncio.ensure_future(anext(feed)) for feed in feeds]
        assert app.state.pubsub.interrupt() >= len(feeds)  # as the fan-out does
        updates = await asyncio.wait_for(asyncio.gather(*waiting), WAIT)
        assert len(statements) == SHARED_READ, statements
        for viewer, update in zip(viewers, updates, strict=True):
            assert isinstance(update, LiveUpdate)
            assert (update.cause, update.schedule_version) == ("schedule", 1)
            assert _shown(update) == _expected(ready.schedule, viewer), viewer
        assert updates[-2].my_assignment is not None
    finally:
        for feed in feeds:
            await feed.aclose()
    assert len(live.shared_reads(app.state.pubsub)) == 0


async def test_feeds_opening_at_once_share_their_first_read(
    app: FastAPI, tenant: Tenant, clock: ManualClock
) -> None:
    """A dozen phones reconnecting at once: their feeds' first reads are one read (two
    statements, not two per feed), each first message still the viewer's own."""
    ready = await _published_and_heard(app, tenant)
    viewers = _viewers(ready)
    feeds = _feeds(app, tenant, ready.id, viewers)
    try:
        with count_statements() as statements:
            firsts = await asyncio.wait_for(asyncio.gather(*(anext(feed) for feed in feeds)), WAIT)
        assert len(statements) == SHARED_READ, statements
        for viewer, first in zip(viewers, firsts, strict=True):
            assert isinstance(first, LiveUpdate)
            assert (first.cause, first.schedule_version) == ("connected", 1)
            assert _shown(first) == _expected(ready.schedule, viewer), viewer
        assert firsts[-2].my_assignment is not None
    finally:
        for feed in feeds:
            await feed.aclose()
    assert len(live.shared_reads(app.state.pubsub)) == 0


async def test_a_fresh_read_starts_after_its_caller_asked_and_one_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A caller that asks while a fresh read runs gets the next one (the running one may have
    begun before a change it must see), shared with everyone asking meanwhile; a failed one
    reaches its callers only; the last feed leaving cancels what is left."""
    started: asyncio.Queue[asyncio.Future[live.Everyone | None]] = asyncio.Queue()

    async def reading(database: Any, app_id: str, event_id: str) -> live.Everyone | None:
        result: asyncio.Future[live.Everyone | None] = asyncio.get_running_loop().create_future()
        started.put_nowait(result)
        return await result

    monkeypatch.setattr(live, "_read_everyone", reading)
    shared = live.SharedReads()
    nowhere: Any = None
    one: Any = object()
    two: Any = object()
    with shared.following("app", "event"):
        early = asyncio.ensure_future(shared.fresh(nowhere, "app", "event"))
        first = await asyncio.wait_for(started.get(), WAIT)
        later = [asyncio.ensure_future(shared.fresh(nowhere, "app", "event")) for _ in range(3)]
        await asyncio.sleep(0)
        assert started.empty()  # one read at a time
        first.set_result(one)
        assert await early is one
        second = await asyncio.wait_for(started.get(), WAIT)
        second.set_result(two)
        assert [await f for f in later] == [two, two, two]
        assert started.empty()
        failing = asyncio.ensure_future(shared.fresh(nowhere, "app", "event"))
        (await asyncio.wait_for(started.get(), WAIT)).set_exception(RuntimeError("away"))
        with pytest.raises(RuntimeError):
            await failing
        again = asyncio.ensure_future(shared.fresh(nowhere, "app", "event"))
        (await asyncio.wait_for(started.get(), WAIT)).set_result(one)
        assert await again is one
        leaving = asyncio.ensure_future(shared.fresh(nowhere, "app", "event"))
        reading_now = await asyncio.wait_for(started.get(), WAIT)
    assert len(shared) == 0
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert reading_now.cancelled()


async def test_a_shared_read_outlives_a_feed_that_leaves_and_a_failed_one_is_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: asyncio.Queue[asyncio.Future[live.Everyone | None]] = asyncio.Queue()

    async def reading(database: Any, app_id: str, event_id: str) -> live.Everyone | None:
        result: asyncio.Future[live.Everyone | None] = asyncio.get_running_loop().create_future()
        started.put_nowait(result)
        return await result

    monkeypatch.setattr(live, "_read_everyone", reading)
    shared = live.SharedReads()
    nowhere: Any = None  # the database: the read above needs none
    with shared.following("app", "event"), shared.following("app", "event"):
        leaving = asyncio.ensure_future(shared.after(nowhere, "app", "event", "notice-1"))
        staying = asyncio.ensure_future(shared.after(nowhere, "app", "event", "notice-1"))
        first = await asyncio.wait_for(started.get(), WAIT)
        leaving.cancel()  # its client left: the others' read goes on
        with pytest.raises(asyncio.CancelledError):
            await leaving
        assert not first.cancelled()
        first.set_result(None)
        assert await staying is None
        # Heard late, the same notice is served by the same read.
        assert await shared.after(nowhere, "app", "event", "notice-1") is None
        assert started.empty()
        failing = asyncio.ensure_future(shared.after(nowhere, "app", "event", "notice-2"))
        (await asyncio.wait_for(started.get(), WAIT)).set_exception(
            RuntimeError("the database is away")
        )
        with pytest.raises(RuntimeError):
            await failing
        again = asyncio.ensure_future(shared.after(nowhere, "app", "event", "notice-2"))
        (await asyncio.wait_for(started.get(), WAIT)).set_result(
            None
        )  # a failed read is not kept: read anew
        assert await again is None
        assert len(shared) == 1
    assert len(shared) == 0
