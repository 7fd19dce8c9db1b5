"""What the fleet's black-box tests share: free slots, subscribers over the balancer, webhook
endpoints on a loopback receiver, and a look at the database."""

import asyncio
import contextlib
import json
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.webhooks.receiver import Receiver

FLEET_SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "fleet.sh"


@dataclass(frozen=True)
class Fleet:
    url: str  # the load balancer
    key: str  # an API key of an app created for the run
    other_key: str  # the key of a second app, whose sessions no test but one touches
    direct_database_url: str  # PostgreSQL itself, not through PgBouncer
    member_limit: int  # MENTORAPI_RATE_LIMIT_MEMBER_PER_WINDOW of every API process
    directory: Path  # the fleet's directory: each process's command, pid and log

    @property
    def stats_url(self) -> str:
        """The balancer's counters (deploy/haproxy.cfg, `frontend stats`)."""
        return (self.directory / "stats.url").read_text().strip()

    def pid(self, name: str) -> int:
        """The process `name` (api1, api2, worker1, worker2) runs as now."""
        return int((self.directory / f"{name}.pid").read_text())

    async def restart(self, *names: str) -> None:
        """`scripts/fleet.sh restart`: each process in turn gets SIGTERM, ends, starts again and
        serves (an API process: through the balancer) before the next one."""
        process = await asyncio.create_subprocess_exec(
            str(FLEET_SCRIPT),
            "restart",
            *names,
            env={**os.environ, "MENTORAPI_FLEET_DIR": str(self.directory)},
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()


def app_client(fleet: Fleet, key: str) -> httpx.AsyncClient:
    """An app's client through the balancer, with room for 100 requests at once."""
    return httpx.AsyncClient(
        base_url=fleet.url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
        limits=httpx.Limits(max_connections=100),
    )


BOTH = {"api1", "api2"}


def served_by(responses: list[httpx.Response]) -> set[str]:
    return {r.headers["x-served-by"] for r in responses}


def winter_slots(first: date = date(2027, 11, 1), days: int = 140) -> Iterator[str]:
    """Starts of 30-minute sessions a mentor of `bookable` (Europe/Berlin, 09:00-17:00 every
    day) can take: every half hour of each day from `first`, in winter time (UTC+1; the
    defaults stay between 2027-10-31 and 2028-03-26), so the UTC times are the same every day:
    08:00-15:30Z, 16 a day."""
    for n in range(days):
        day = first + timedelta(days=n)
        for minutes in range(8 * 60, 16 * 60, 30):
            yield f"{day.isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}:00Z"


async def until(condition: Callable[[], bool], within: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return bool(condition())


# --- subscriptions ------------------------------------------------------------------------------

CHANGES = """subscription($m: ID, $e: ID) { sessionsChanged(mentorId: $m, menteeId: $e) {
  eventId type session { id status } gap { reason missed } } }"""


class Subscriber:
    """A `sessionsChanged` subscription over a WebSocket through the balancer."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        assert ws.response is not None
        self.process: str = ws.response.headers["x-served-by"]  # the API process it reached
        self.heard: list[Any] = []  # the changes heard so far, in order
        self.other: list[Any] = []  # any other message (an error, a completion): none expected
        self.closed: int | None = None  # the close code the server sent, once it closed

    async def listen(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                if message["type"] == "next" and message["payload"].get("data"):
                    self.heard.append(message["payload"]["data"]["sessionsChanged"])
                elif message["type"] == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                else:
                    self.other.append(message)
        except ConnectionClosed:
            pass
        await self.ws.wait_closed()
        self.closed = self.ws.close_code  # 1006 when no close frame came

    def check(self) -> None:
        """Fail at once on anything but a change: a subscription the server refused (a `next`
        with errors and no data, then `complete`, e.g. for arguments it does not take) would
        otherwise look like one that hears nothing, until some wait ran out."""
        assert not self.other, f"the subscription on {self.process} got {self.other}"


@asynccontextmanager
async def subscriber(
    fleet: Fleet, key: str, *, mentor_id: str | None = None, mentee_id: str | None = None
) -> AsyncIterator[Subscriber]:
    url = fleet.url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
        )
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        payload = {"query": CHANGES, "variables": {"m": mentor_id, "e": mentee_id}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        found = Subscriber(ws)
        task = asyncio.create_task(found.listen())
        try:
            yield found
        finally:
            task.cancel()


# --- webhooks -----------------------------------------------------------------------------------


@asynccontextmanager
async def endpoints(
    client: httpx.AsyncClient, receiver: Receiver, names: tuple[str, ...]
) -> AsyncIterator[dict[str, str]]:
    """Webhook endpoints (every event) to `receiver`'s paths `names`: {name: endpoint id}. They
    are deleted at the end, so that later tests' events are not sent to a receiver gone."""
    ids: dict[str, str] = {}
    try:
        for name in names:
            created = await client.post(
                "/v1/webhook-endpoints", json={"url": receiver.url(name), "events": []}
            )
            assert created.status_code == 201, created.text
            ids[name] = created.json()["id"]
        yield ids
    finally:
        for endpoint_id in ids.values():
            # Best effort: a failure here must not hide the test's own.
            with contextlib.suppress(httpx.HTTPError):
                await client.delete(f"/v1/webhook-endpoints/{endpoint_id}")


class Tally:
    """(endpoint path, session) pairs received, counted; reads each request once, as it comes
    (a thousand events to three endpoints is 3,000 requests: re-reading them all on each would
    cost more than the fleet)."""

    def __init__(self, receiver: Receiver, sessions: set[str] | None = None) -> None:
        self.receiver = receiver
        self.sessions = sessions
        self.pairs: Counter[tuple[str, str]] = Counter()
        self.ids: Counter[tuple[str, str]] = Counter()  # (path, webhook-id)
        self._read = 0

    def update(self) -> Counter[tuple[str, str]]:
        for r in self.receiver.requests[self._read :]:
            path = r.path.removeprefix(self.receiver.prefix)
            self.ids[(path, r.headers["webhook-id"])] += 1
            session = json.loads(r.body)["data"].get("id")
            if self.sessions is None or session in self.sessions:
                self.pairs[(path, session)] += 1
        self._read = len(self.receiver.requests)
        return self.pairs

    async def until_all(self, expected: set[tuple[str, str]], within: float) -> None:
        await until(lambda: set(self.update()) >= expected, within=within)
        missing = expected - set(self.update())
        assert not missing, f"{len(missing)} deliveries missing, e.g. {sorted(missing)[:3]}"


async def balancer_counters(fleet: Fleet) -> dict[str, dict[str, int]]:
    """HAProxy's counters of the API backend, by server (api1, api2, BACKEND): `econ`
    (connections that failed), `eresp` (responses that failed), `wretr` (retries), `wredis`
    (redispatches to another server), ..."""
    async with httpx.AsyncClient() as c:
        response = await c.get(fleet.stats_url + ";csv")
    response.raise_for_status()
    lines = response.text.splitlines()
    names = lines[0].removeprefix("# ").split(",")
    counters: dict[str, dict[str, int]] = {}
    for line in lines[1:]:
        row = dict(zip(names, line.split(","), strict=False))
        if row.get("pxname") == "mentorapi_api":
            counters[row["svname"]] = {k: int(v) for k, v in row.items() if v.isdigit()}
    return counters


# --- the database -------------------------------------------------------------------------------


async def query(fleet: Fleet, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Read PostgreSQL itself (not through PgBouncer): what the API does not show."""
    connection = await asyncpg.connect(
        fleet.direct_database_url.replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


async def delivery_states(fleet: Fleet, endpoint_ids: list[str]) -> Counter[tuple[str, int]]:
    """The deliveries to these endpoints by (status, attempts on record): what the workers
    recorded as sent and answered, whatever the receiver saw arrive."""
    rows = await query(
        fleet,
        "SELECT d.status, (SELECT count(*) FROM delivery_attempts a WHERE a.delivery_id = d.id) "
        "AS logged FROM deliveries d WHERE d.endpoint_id = ANY($1)",
        endpoint_ids,
    )
    return Counter((r["status"], r["logged"]) for r in rows)
