"""The fleet, black-box: every request goes through the load balancer (HAProxy) to two API
processes on PostgreSQL through PgBouncer, with two webhook workers. `X-Served-By` (set by the
balancer, deploy/haproxy.cfg) names the process that answered, so each test can show that both
processes took part."""

import asyncio
import json
import os
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.factories import as_member, book_session, bookable, mint_token
from tests.fleet.blackbox.conftest import Fleet
from tests.webhooks.receiver import Receiver, Reply

BOTH = {"api1", "api2"}
# Free starts for the mentor of `bookable` (Europe/Berlin, 09:00-17:00 every day), in the future.
SLOTS = [f"2027-01-{day}T{hour}:00:00Z" for day in range(11, 31) for hour in ("08", "10", "12")]


def served_by(responses: list[httpx.Response]) -> set[str]:
    return {r.headers["x-served-by"] for r in responses}


async def test_fifty_bookings_of_one_slot_over_both_processes_one_wins(
    client: httpx.AsyncClient,
) -> None:
    base = await bookable(client)
    body = {**base, "starts_at": SLOTS[0]}
    responses = await asyncio.gather(*(client.post("/v1/sessions", json=body) for _ in range(50)))
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 49}
    assert served_by(responses) == BOTH


async def test_an_idempotent_retry_on_the_other_process_replays_the_first_response(
    client: httpx.AsyncClient,
) -> None:
    base = await bookable(client)
    body = {**base, "starts_at": SLOTS[0]}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/v1/sessions", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    retries = [await client.post("/v1/sessions", json=body, headers=headers) for _ in range(3)]
    assert served_by([first, *retries]) == BOTH  # round robin: a retry lands on the other one
    for retry in retries:
        assert retry.status_code == 201, retry.text
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.json() == first.json()
    sessions = await client.get("/v1/sessions", params={"mentor_id": base["mentor_id"]})
    assert [s["id"] for s in sessions.json()["data"]] == [first.json()["id"]]


async def test_a_members_rate_limit_holds_across_both_processes(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    base = await bookable(client)
    mentee = (await client.get(f"/v1/mentees/{base['mentee_id']}")).json()
    token = await mint_token(client, mentee["external_id"], "mentee")
    async with as_member(client, token) as member:
        responses = [await member.get("/v1/mentors") for _ in range(fleet.member_limit + 10)]
    statuses = Counter(r.status_code for r in responses)
    # One bucket for the fleet: its budget once (and at most one token refilled meanwhile),
    # where a bucket per process would grant it twice: all of these requests.
    assert fleet.member_limit <= statuses[200] <= fleet.member_limit + 1, statuses
    assert statuses[429] == len(responses) - statuses[200], statuses
    assert served_by([r for r in responses if r.status_code == 200]) == BOTH
    assert served_by([r for r in responses if r.status_code == 429]) == BOTH
    assert all("retry-after" in r.headers for r in responses if r.status_code == 429)


CHANGES = """subscription($m: ID) { sessionsChanged(mentorId: $m) {
  eventId type session { id status } gap { reason missed } } }"""


@asynccontextmanager
async def subscriber(fleet: Fleet, mentor_id: str) -> AsyncIterator[tuple[str, list[Any]]]:
    """A `sessionsChanged` subscription over a WebSocket through the balancer: the process it
    reached and the changes heard so far (filled in the background)."""
    url = fleet.url.replace("http://", "ws://") + "/graphql"
    heard: list[Any] = []
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {fleet.key}"}}
            )
        )
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        payload = {"query": CHANGES, "variables": {"m": mentor_id}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        task = asyncio.create_task(_listen(ws, heard))
        try:
            assert ws.response is not None
            yield ws.response.headers["x-served-by"], heard
        finally:
            task.cancel()


async def _listen(ws: ClientConnection, heard: list[Any]) -> None:
    async for raw in ws:
        message = json.loads(raw)
        assert message["type"] == "next", message
        heard.append(message["payload"]["data"]["sessionsChanged"])


async def _until(condition: Any, within: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return bool(condition())


async def test_subscribers_on_both_processes_hear_every_change_once(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    base = await bookable(client)
    slots = iter(SLOTS)
    async with AsyncExitStack() as stack:
        subs = [
            await stack.enter_async_context(subscriber(fleet, base["mentor_id"])) for _ in range(4)
        ]
        assert {process for process, _ in subs} == BOTH
        # Black-box, a subscription is live once it hears something: warm-up bookings until
        # every subscriber has heard the same one; everything after that must arrive.
        for _ in range(20):
            warm = await book_session(client, base, next(slots))
            heard_warm = await _until(
                lambda w=warm: all(
                    any(c["session"]["id"] == w["id"] for c in heard) for _, heard in subs
                ),
                within=1,
            )
            if heard_warm:
                break
        else:
            raise AssertionError("the subscribers never all heard one booking")
        marks = [len(heard) for _, heard in subs]

        booked = [await book_session(client, base, next(slots)) for _ in range(6)]
        cancels = [
            await client.post(f"/v1/sessions/{s['id']}/cancel", json={"by": "mentor"})
            for s in booked[:2]
        ]
        assert [r.status_code for r in cancels] == [200, 200], [r.text for r in cancels]
        expected = {s["id"] for s in booked}

        def after(index: int) -> list[Any]:
            return subs[index][1][marks[index] :]

        await _until(
            lambda: all(
                Counter(c["type"] for c in after(i))["session.cancelled"] >= 2
                and {c["session"]["id"] for c in after(i)} >= expected
                for i in range(len(subs))
            ),
            within=10,
        )
        await asyncio.sleep(0.3)  # long enough for a duplicate, if one were coming
        first = [c["eventId"] for c in after(0)]
        for i in range(len(subs)):
            changes = after(i)
            ids = [c["eventId"] for c in changes]
            assert len(ids) == len(set(ids)), f"subscriber {i} heard an event twice: {ids}"
            assert ids == first, f"subscriber {i} heard {ids}, subscriber 0 {first}"
            assert {c["session"]["id"] for c in changes} == expected
            assert all(c["gap"] is None for c in changes)
            cancelled = [c["session"]["id"] for c in changes if c["type"] == "session.cancelled"]
            assert sorted(cancelled) == sorted(s["id"] for s in booked[:2]), changes


ENDPOINTS = ("/a", "/b", "/c")


async def _endpoints(client: httpx.AsyncClient, receiver: Receiver) -> None:
    for name in ENDPOINTS:
        endpoint = await client.post(
            "/v1/webhook-endpoints", json={"url": receiver.url(name), "events": []}
        )
        assert endpoint.status_code == 201, endpoint.text


async def _burst(client: httpx.AsyncClient, bookings: int) -> set[str]:
    """`bookings` sessions booked at once (two mentors: 60 slots each): their ids."""
    bases = [await bookable(client), await bookable(client)]
    burst = await asyncio.gather(
        *(
            client.post("/v1/sessions", json={**bases[i % 2], "starts_at": SLOTS[i // 2]})
            for i in range(bookings)
        )
    )
    assert [r.status_code for r in burst] == [201] * bookings, [r.text for r in burst]
    return {r.json()["id"] for r in burst}


def _deliveries(receiver: Receiver, sessions: set[str]) -> Counter[tuple[str, str]]:
    """(endpoint, session) pairs of the burst's `session.*` events received, with counts."""
    pairs: Counter[tuple[str, str]] = Counter()
    for r in receiver.requests:
        session = json.loads(r.body)["data"].get("id")
        if session in sessions:
            pairs[(r.path.removeprefix(receiver.prefix), session)] += 1
    return pairs


async def test_two_workers_deliver_every_event_of_a_burst_to_three_endpoints_once(
    client: httpx.AsyncClient,
) -> None:
    async with Receiver() as receiver:
        await _endpoints(client, receiver)
        sessions = await _burst(client, 100)
        expected = {(name, s) for name in ENDPOINTS for s in sessions}
        await receiver.wait_for(
            lambda _r: set(_deliveries(receiver, sessions)) == expected, within=30
        )
        await asyncio.sleep(1)  # room for a duplicate, if one were coming
        twice = [pair for pair, n in _deliveries(receiver, sessions).items() if n > 1]
        assert twice == []
        ids = Counter((r.path, r.headers["webhook-id"]) for r in receiver.requests)
        assert [i for i, n in ids.items() if n > 1] == []


async def test_a_worker_killed_mid_burst_loses_no_delivery(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    """Last: it leaves the fleet with one worker. The killed worker's claimed deliveries fall
    due again when their lease ends (MENTORAPI_WEBHOOK_LEASE_SECONDS, short for the fleet)."""
    # Slow answers (1 s, under the fleet's 2 s timeout) keep each worker's deliveries in
    # flight: the kill comes with the first ones received, while the burst is still booking.
    async with Receiver(lambda _r: Reply(delay=1.0)) as receiver:
        await _endpoints(client, receiver)
        booking = asyncio.create_task(_burst(client, 60))
        await receiver.wait_count(10, within=30)
        os.kill(fleet.worker_pids[0], signal.SIGKILL)
        sessions = await booking
        expected = {(name, s) for name in ENDPOINTS for s in sessions}
        await receiver.wait_for(
            lambda _r: set(_deliveries(receiver, sessions)) == expected, within=60
        )
