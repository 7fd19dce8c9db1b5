"""A rolling restart under load, through the balancer (issue #14, part 5): api1, then api2, then
worker1 get SIGTERM and start again (`scripts/fleet.sh restart`) while clients read, book with
an `Idempotency-Key`, and edit without one; subscribers listen; webhooks are delivered.

What it shows:
- no request fails, and the balancer never had to retry or redispatch one (no connection
  refused, no response missing): each API process drained (/readyz 503 while it still served)
  and was out of the balancer before it stopped accepting;
- the subscriptions on a stopping process are closed with 1012 (service restart), and new ones
  are served by the restarted processes;
- every booking's webhook is delivered exactly once, each with a single attempt on record, and
  none waited for a lease: worker1 holds its claims 30 s (scripts/fleet.sh), longer than the
  test waits, so a claim its SIGTERM left behind would still be missing.

This module runs last (its name): it restarts processes the other tests share."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from itertools import cycle
from typing import Any

import httpx

from tests.factories import bookable
from tests.fleet.blackbox.support import (
    BOTH,
    Fleet,
    Subscriber,
    Tally,
    balancer_counters,
    endpoints,
    query,
    subscriber,
    until,
    winter_slots,
)
from tests.webhooks.receiver import Receiver, Reply

WRITERS = 3  # booking loops, a mentor each
READERS = 3
PAUSE = 0.02  # seconds between one loop's requests: load, without starving the restarts of CPU


@dataclass
class Sent:
    kind: str
    at: float  # loop time when it was sent
    status: int | None
    served_by: str | None
    error: str | None  # why it counts as failed; None: it did not


@dataclass
class Load:
    """Loops of requests through the balancer until `stop` is set, each request recorded."""

    client: httpx.AsyncClient
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[Sent] = field(default_factory=list)
    booked: set[str] = field(default_factory=set)

    async def _send(
        self, kind: str, expect: int, method: str, url: str, **kwargs: Any
    ) -> httpx.Response | None:
        at = asyncio.get_running_loop().time()
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.sent.append(Sent(kind, at, None, None, f"{type(exc).__name__}: {exc}"))
            return None
        failed = None if response.status_code == expect else response.text[:300]
        self.sent.append(
            Sent(kind, at, response.status_code, response.headers.get("x-served-by"), failed)
        )
        return response

    async def book(self, base: dict[str, Any], slots: Iterator[str]) -> None:
        for slot in slots:
            if self.stop.is_set():
                return
            booked = await self._send(
                "book",
                201,
                "POST",
                "/v1/sessions",
                json={**base, "starts_at": slot},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            if booked is not None and booked.status_code == 201:
                self.booked.add(booked.json()["id"])
            await asyncio.sleep(PAUSE)

    async def read(self, base: dict[str, Any]) -> None:
        paths = cycle(
            [
                "/v1/mentors?limit=5",
                f"/v1/mentors/{base['mentor_id']}",
                f"/v1/sessions?mentor_id={base['mentor_id']}&limit=5",
                f"/v1/mentees/{base['mentee_id']}",
            ]
        )
        while not self.stop.is_set():
            await self._send("read", 200, "GET", next(paths))
            await asyncio.sleep(PAUSE)

    async def edit(self, base: dict[str, Any]) -> None:
        """A write with no Idempotency-Key: one the balancer may never send twice."""
        n = 0
        while not self.stop.is_set():
            n += 1
            await self._send(
                "edit", 200, "PATCH", f"/v1/mentors/{base['mentor_id']}", json={"headline": f"#{n}"}
            )
            await asyncio.sleep(PAUSE * 5)

    def served_since(self, at: float) -> set[str]:
        return {s.served_by for s in self.sent if s.at >= at and s.served_by is not None}


async def _subscribers(
    fleet: Fleet, stack: AsyncExitStack, mentor_id: str, count: int
) -> list[Subscriber]:
    """At least `count`, and until both processes have some (other requests go through the
    balancer's round robin meanwhile)."""
    subs: list[Subscriber] = []
    while len(subs) < count or {s.process for s in subs} != BOTH:
        assert len(subs) < 20, "every subscription reached one process"
        subs.append(
            await stack.enter_async_context(subscriber(fleet, fleet.key, mentor_id=mentor_id))
        )
    return subs


async def test_a_rolling_restart_under_load_fails_no_request_and_loses_no_webhook(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    bases = [await bookable(client) for _ in range(WRITERS)]
    loop = asyncio.get_running_loop()
    # Answers take a little while: each worker has deliveries in flight when it is stopped.
    async with (
        Receiver(lambda _r: Reply(delay=0.2)) as receiver,
        endpoints(client, receiver, ("/r",)) as endpoint_ids,
        AsyncExitStack() as stack,
    ):
        subs = await _subscribers(fleet, stack, bases[0]["mentor_id"], 4)
        before = await balancer_counters(fleet)
        load = Load(client)
        loops = [
            *(asyncio.create_task(load.book(base, winter_slots())) for base in bases),
            *(asyncio.create_task(load.read(base)) for base in bases[:READERS]),
            asyncio.create_task(load.edit(bases[-1])),
        ]
        try:
            assert await until(lambda: load.served_since(0) == BOTH and len(load.sent) > 50, 20)

            await fleet.restart("api1")
            api1_back = loop.time()
            assert await until(lambda: all(s.closed for s in subs if s.process == "api1"), 5)
            assert {s.closed for s in subs if s.process == "api1"} == {1012}
            assert {s.closed for s in subs if s.process == "api2"} == {None}

            await fleet.restart("api2")
            api2_back = loop.time()
            assert await until(lambda: all(s.closed for s in subs), 5)
            assert {s.closed for s in subs} == {1012}

            await fleet.restart("worker1")
            # Both restarted processes serve requests and subscriptions (the writers keep
            # booking for the mentor followed).
            assert await until(lambda: load.served_since(api2_back) == BOTH, 10)
            assert "api1" in load.served_since(api1_back)
            fresh = await _subscribers(fleet, stack, bases[0]["mentor_id"], 2)
            assert await until(lambda: all(s.heard for s in fresh), 10)
        finally:
            load.stop.set()
            await asyncio.gather(*loops)
        after = await balancer_counters(fleet)

        kinds = Counter(s.kind for s in load.sent)
        failed = [s for s in load.sent if s.error is not None]
        assert failed == [], f"{len(failed)} of {len(load.sent)} requests failed: {failed[:5]}"
        assert min(kinds.values()) > 10, kinds
        assert len(load.booked) > 50, kinds

        # The balancer's view: no connection refused or failed (econ), no retry (wretr), no
        # redispatch to the other server (wredis), no response missing or broken (eresp; less
        # srv_abrt, which counts the WebSockets the servers closed with 1012 too).
        def change(server: str, name: str) -> int:
            return after[server][name] - before[server][name]

        errors = {
            server: {
                "econ": change(server, "econ"),
                "wretr": change(server, "wretr"),
                "wredis": change(server, "wredis"),
                "eresp": change(server, "eresp") - change(server, "srv_abrt"),
            }
            for server in ("api1", "api2", "BACKEND")
        }
        assert all(n == 0 for counts in errors.values() for n in counts.values()), errors

        # Webhooks: each booking's `session.booked` once, sent once, none left to a lease.
        tally = Tally(receiver, load.booked)
        await tally.until_all({("/r", s) for s in load.booked}, within=15)
        await asyncio.sleep(0.5)  # room for a duplicate, if one were coming
        tally.update()
        assert [pair for pair, n in tally.pairs.items() if n > 1] == []
        rows = await query(
            fleet,
            "SELECT d.status, d.attempts, d.next_attempt_at, (SELECT count(*) FROM "
            "delivery_attempts a WHERE a.delivery_id = d.id) AS logged FROM deliveries d "
            "WHERE d.endpoint_id = $1",
            endpoint_ids["/r"],
        )
        assert len(rows) == len(load.booked)
        assert Counter((r["status"], r["attempts"], r["logged"]) for r in rows) == {
            ("succeeded", 1, 1): len(load.booked)
        }, [dict(r) for r in rows if r["status"] != "succeeded" or r["logged"] != 1][:5]
