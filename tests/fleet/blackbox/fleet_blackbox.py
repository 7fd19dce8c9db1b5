"""The fleet, black-box: every request goes through the load balancer (HAProxy) to two API
processes on PostgreSQL through PgBouncer, with two webhook workers. `X-Served-By` (set by the
balancer, deploy/haproxy.cfg) names the process that answered, so each test can show that both
processes took part."""

import asyncio
import os
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import (
    as_member,
    book_session,
    bookable,
    create_mentee,
    create_mentor,
    mint_token,
    set_availability,
)
from tests.fleet.blackbox.support import (
    BOTH,
    Fleet,
    Subscriber,
    Tally,
    app_client,
    delivery_states,
    endpoints,
    query,
    served_by,
    subscriber,
    until,
)
from tests.webhooks.receiver import Receiver, Reply

# Free starts for the mentor of `bookable` (Europe/Berlin, 09:00-17:00 every day), in the future.
SLOTS = [f"2027-01-{day}T{hour}:00:00Z" for day in range(11, 31) for hour in ("08", "10", "12")]


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


async def _warmed_up(subs: list[Subscriber], change: Any, within: float = 20.0) -> list[int]:
    """Black-box, a subscription is live once it hears something: make changes (`change()`
    returns the session id it changed) until every subscriber has heard the same one; what
    comes after must all arrive. Where each subscriber's changes start from then on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        session_id = await change()
        heard = await until(
            lambda sid=session_id: (
                any(s.other for s in subs)
                or all(any(c["session"]["id"] == sid for c in s.heard) for s in subs)
            ),
            within=1,
        )
        for s in subs:
            s.check()  # a refused subscription fails here, not as one that never hears
        if heard:
            await asyncio.sleep(0.2)  # the same change, heard late by a slower one, passes too
            return [len(s.heard) for s in subs]
    raise AssertionError("the subscribers never all heard one change")


async def test_subscribers_on_both_processes_hear_every_change_once(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    base = await bookable(client)
    slots = iter(SLOTS)
    async with AsyncExitStack() as stack:
        subs = [
            await stack.enter_async_context(
                subscriber(fleet, fleet.key, mentor_id=base["mentor_id"])
            )
            for _ in range(4)
        ]
        assert {s.process for s in subs} == BOTH

        async def book() -> str:
            return str((await book_session(client, base, next(slots)))["id"])

        marks = await _warmed_up(subs, book)
        booked = [await book_session(client, base, next(slots)) for _ in range(6)]
        cancels = [
            await client.post(f"/v1/sessions/{s['id']}/cancel", json={"by": "mentor"})
            for s in booked[:2]
        ]
        assert [r.status_code for r in cancels] == [200, 200], [r.text for r in cancels]
        expected = {s["id"] for s in booked}

        def after(index: int) -> list[Any]:
            return subs[index].heard[marks[index] :]

        await until(
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


# --- webhooks: a thousand events, two workers, three endpoints ---------------------------------

ENDPOINTS = ("/a", "/b", "/c")
EVENTS = 1000
SERIES = 25  # sessions per weekly series, a `session.booked` event each
MENTORS = 8  # 5 series each, one a weekday: each booking locks its mentor, so spread them


async def _burst(client: httpx.AsyncClient, events: int) -> set[str]:
    """`events` sessions booked at once, in weekly series (40 requests for 1,000 events, where
    single bookings would take 1,000): their ids."""
    bases = [await bookable(client) for _ in range(MENTORS)]
    first = date(2027, 11, 1)
    burst = await asyncio.gather(
        *(
            client.post(
                "/v1/series",
                json={
                    **bases[i % MENTORS],
                    "starts_at": f"{first + timedelta(days=i // MENTORS)}T10:00:00Z",
                    "count": SERIES,
                },
            )
            for i in range(events // SERIES)
        )
    )
    assert [r.status_code for r in burst] == [201] * len(burst), [
        r.text for r in burst if r.status_code != 201
    ][:3]
    sessions = {s["id"] for r in burst for s in r.json()["sessions"]}
    assert len(sessions) == events
    return sessions


async def _until_all_succeeded(fleet: Fleet, endpoint_ids: list[str], within: float) -> None:
    """Until every delivery to these endpoints is recorded as answered with a 2xx (what arrived
    at the receiver is not enough: a request in flight when its sender died arrived too)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        states = await delivery_states(fleet, endpoint_ids)
        statuses = {status for status, _ in states}
        if sum(states.values()) == len(ENDPOINTS) * EVENTS and statuses == {"succeeded"}:
            return
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.5)
    assert sum(states.values()) == len(ENDPOINTS) * EVENTS, states
    assert {status for status, _ in states} == {"succeeded"}, states


async def test_two_workers_deliver_a_thousand_events_to_three_endpoints_once(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    async with Receiver() as receiver, endpoints(client, receiver, ENDPOINTS) as ids:
        sessions = await _burst(client, EVENTS)
        tally = Tally(receiver, sessions)
        await tally.until_all({(name, s) for name in ENDPOINTS for s in sessions}, within=60)
        await _until_all_succeeded(fleet, list(ids.values()), within=10)
        await asyncio.sleep(1)  # room for a duplicate, if one were coming
        tally.update()
        assert len(tally.pairs) == len(ENDPOINTS) * EVENTS
        assert [pair for pair, n in tally.pairs.items() if n > 1] == []
        assert [i for i, n in tally.ids.items() if n > 1] == []
        # Sent once each, by the workers' own record too.
        states = await delivery_states(fleet, list(ids.values()))
        assert states == {("succeeded", 1): len(ENDPOINTS) * EVENTS}, states


async def test_a_worker_killed_mid_run_loses_no_delivery(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    """worker2 (4-s lease, scripts/fleet.sh) gets SIGKILL while the burst is being delivered:
    the deliveries it had claimed fall due again when their lease ends, and are sent. worker2
    is started again meanwhile (the fleet is whole for the next test)."""
    restarted: asyncio.Task[None] | None = None
    try:
        # A short wait per answer keeps each worker's 32 slots full while the burst lasts.
        async with (
            Receiver(lambda _r: Reply(delay=0.05)) as receiver,
            endpoints(client, receiver, ENDPOINTS) as ids,
        ):
            booking = asyncio.create_task(_burst(client, EVENTS))
            await receiver.wait_count(200, within=60)
            os.kill(fleet.pid("worker2"), signal.SIGKILL)
            # What the kill left: worker2's claims, leased into the future. worker1 leases for
            # 30 s, and holds a claim for well under 10 s here: its claims end in (now + 20 s,
            # now + 31 s]; anything else leased is worker2's (no delivery fails, so none waits
            # for a retry).
            [stranded] = await query(
                fleet,
                "SELECT count(*) FROM deliveries WHERE endpoint_id = ANY($1) AND status = "
                "'pending' AND next_attempt_at > now() AND next_attempt_at NOT BETWEEN "
                "now() + interval '20 seconds' AND now() + interval '31 seconds'",
                list(ids.values()),
            )
            assert stranded[0] > 0, "the kill came when worker2 held no delivery"
            restarted = asyncio.create_task(fleet.restart("worker2"))
            sessions = await booking
            tally = Tally(receiver, sessions)
            await tally.until_all({(name, s) for name in ENDPOINTS for s in sessions}, within=60)
            # The ones worker2 held when it died arrived, but nobody saw them answered: they
            # are answered once their lease has ended and another worker sent them again.
            await _until_all_succeeded(fleet, list(ids.values()), within=60)
    finally:
        await (restarted or fleet.restart("worker2"))


# --- expiries made by the workers -------------------------------------------------------------

EXPIRY_TEST = "test_subscribers_on_both_processes_hear_the_workers_expiries_once"
ALL_DAY = [
    {"day": d, "start": "00:00", "end": "24:00"}
    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
]


@dataclass
class Followers:
    """Four subscribers to one mentee, on both processes, and the request of that mentee made
    to expire; `marks`: where each subscriber's changes after its warm-up start."""

    request: str
    subscribers: list[Subscriber]
    marks: list[int]

    def after(self, index: int) -> list[Any]:
        return self.subscribers[index].heard[self.marks[index] :]


@dataclass
class Expiring:
    """Requests of the second app, made to expire at `at`, each followed by its own mentee's
    subscribers."""

    at: datetime
    followers: list[Followers]
    stack: AsyncExitStack


@pytest.fixture(scope="session", autouse=True)
async def expiring(request: pytest.FixtureRequest, fleet: Fleet) -> AsyncIterator[Expiring | None]:
    """Armed before the first test when the expiry test is to run (a start time is a whole
    minute, so expiring takes up to a minute: the tests before the check run meanwhile).

    Requests of a second app, whose sessions no other test reads (a read of an app's sessions
    expires its due requests too), and API processes without housekeeping (scripts/fleet.sh):
    only a worker process's housekeeping can expire them."""
    if not any(item.name == EXPIRY_TEST for item in request.session.items):
        yield None
        return
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(app_client(fleet, fleet.other_key))
        base = await bookable(client, weekly=ALL_DAY, auto_accept=False)
        asks = [base]
        for _ in range(2):  # two more mentees ask two more mentors, for the same time
            mentor = await create_mentor(
                client, skills=[{"skill_id": base["skill_id"], "level": 3}]
            )
            await set_availability(client, mentor["id"], weekly=ALL_DAY, auto_accept=False)
            mentee = await create_mentee(client)
            asks.append({**base, "mentor_id": mentor["id"], "mentee_id": mentee["id"]})
        # A mentee is never in two places at once, so the three requests at one time are three
        # mentees': each is followed by subscribers of its own (`sessionsChanged` follows one
        # mentor or one mentee).
        later = iter(SLOTS)
        warmed: list[tuple[list[Subscriber], list[int]]] = []
        for ask in asks:
            subs = [
                await stack.enter_async_context(
                    subscriber(fleet, fleet.other_key, mentee_id=ask["mentee_id"])
                )
                for _ in range(4)
            ]
            assert {s.process for s in subs} == BOTH

            async def warm_up(ask: dict[str, Any] = ask) -> str:
                return str((await book_session(client, ask, next(later)))["id"])

            warmed.append((subs, await _warmed_up(subs, warm_up)))
        soon = datetime.now(UTC) + timedelta(seconds=3)
        at = soon.replace(second=0, microsecond=0) + timedelta(minutes=1)
        asked = [
            await book_session(client, ask, at.isoformat().replace("+00:00", "Z")) for ask in asks
        ]
        assert {s["status"] for s in asked} == {"requested"}
        followers = [
            Followers(session["id"], subs, marks)
            for session, (subs, marks) in zip(asked, warmed, strict=True)
        ]
        yield Expiring(at, followers, stack)


async def test_subscribers_on_both_processes_hear_the_workers_expiries_once(
    expiring: Expiring | None,
) -> None:
    assert expiring is not None
    groups = expiring.followers
    subs = [s for group in groups for s in group.subscribers]

    def expired(group: Followers, index: int) -> bool:
        return any(
            c["type"] == "session.expired" and c["session"]["id"] == group.request
            for c in group.after(index)
        )

    left = (expiring.at - datetime.now(UTC)).total_seconds()
    await until(
        lambda: (
            any(s.other for s in subs)
            or all(expired(group, i) for group in groups for i in range(4))
        ),
        within=left + 15,
    )
    await asyncio.sleep(0.5)  # long enough for a duplicate, if one were coming
    for group in groups:
        first = [c["eventId"] for c in group.after(0)]
        for i, sub in enumerate(group.subscribers):
            sub.check()
            changes = group.after(i)
            assert [c["eventId"] for c in changes] == first, f"subscriber {i}: {changes}"
            assert Counter((c["type"], c["session"]["id"]) for c in changes) == Counter(
                {("session.requested", group.request): 1, ("session.expired", group.request): 1}
            ), f"subscriber {i}: {changes}"
            assert all(
                c["session"]["status"] == "EXPIRED"
                for c in changes
                if c["type"] == "session.expired"
            )
            assert all(c["gap"] is None for c in changes)
    await expiring.stack.aclose()
