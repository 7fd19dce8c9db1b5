"""Reminders: 10,000 due in one minute; lateness p50/p99 and sent/s per worker (1 and 2 workers).

PostgreSQL only (a fresh database `mentorapi_bench_reminders`). 10,000 booked sessions (one per
mentor) get a `session.reminder` row each, then `mentorapi worker` processes (each runs the
reminders worker and the webhook delivery worker) send them to a real receiver in another
process on loopback, which notes when each arrives. Two shapes, for 1 and 2 workers:
- `minute`: the 10,000 due times spread evenly over one minute (about 167 a second);
- `burst`: all 10,000 due at the same instant (the worst case of "the same minute").
Lateness is measured twice: when the reminders worker's round took the row (`claimed`: the
event's `updated_at`, the round's clock) and when the signed webhook reached the receiver
(`received`: the whole path, through the outbox and the delivery worker). `sent/s per worker`
is each worker's events over the time from the (first) due instant to its last commit (the log
line of its last round): in a `burst` run that is its throughput. Target: p99 of `received`
under 5 s.
`BENCH_REMINDERS` (10000) sets the count, `BENCH_REMINDER_RUNS` the runs
(`1:minute,1:burst,2:minute,2:burst`).
"""

import asyncio
import json
import os
import re
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.kit.db import asyncpg_dsn, fresh_database
from bench.kit.names import checkout_database
from bench.kit.options import options
from bench.kit.report import table
from bench.kit.seed import seed_mentors

COUNT = int(os.environ.get("BENCH_REMINDERS", "10000"))
# Which runs, as workers:shape pairs (default: every one).
RUNS = [
    (int(w), shape)
    for w, _, shape in (
        r.partition(":")
        for r in os.environ.get("BENCH_REMINDER_RUNS", "1:minute,1:burst,2:minute,2:burst").split(
            ","
        )
    )
]
LEAD_SECONDS = 10.0  # from writing the rows to the first due time: the workers start meanwhile
MINUTES_BEFORE = 60
TARGET_P99_SECONDS = 5.0
_SENT = re.compile(r"reminders: (\d+) sent")


# --- the receiver (a child process) -------------------------------------------------------------


async def _receiver() -> None:
    """Answers 200 at once; remembers (arrival, due_at) per webhook id."""
    received: dict[str, tuple[float, str]] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                answer = b"ok"
                if line.startswith(b"GET /stats"):
                    answer = json.dumps(received).encode()
                elif line.startswith(b"POST /reset"):
                    received.clear()
                else:
                    arrived = time.time()
                    due = json.loads(body)["data"]["due_at"]
                    received.setdefault(headers.get("webhook-id", ""), (arrived, due))
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(answer), answer)
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


# --- seeding ------------------------------------------------------------------------------------


async def _seed(database_url: str, receiver_url: str) -> tuple[str, list[tuple[str, datetime]]]:
    """An app with COUNT mentors, one booked session each (all at the same hour, far ahead),
    and an endpoint for session.reminder; the (session id, start) pairs."""
    from mentorapi.kit.ids import new_id
    from mentorapi.webhooks.signing import new_secret

    seeded = await seed_mentors(database_url, mentors=COUNT, skills=1)
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        app_id = seeded.app_id
        now = datetime.now(UTC)
        starts = (now + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
        skill_id = await conn.fetchval("SELECT id FROM skills WHERE app_id = $1", app_id)
        mentors = [
            r[0] for r in await conn.fetch("SELECT id FROM mentors WHERE app_id = $1", app_id)
        ]
        mentee_id = new_id("mte")
        await conn.execute(
            "INSERT INTO mentees (created_at, updated_at, app_id, id, external_id, name, "
            "timezone, languages, version) VALUES ($1, $1, $2, $3, 'bench-mentee', 'Ben', "
            "'Europe/Berlin', '[\"en\"]', 1)",
            now,
            app_id,
            mentee_id,
        )
        sessions = [
            (
                now, now, app_id, new_id("ses"), mentor_id, mentee_id, "booked",
                "Negotiating a first offer", "[]", skill_id, "video", 15,
                starts, starts + timedelta(minutes=15), "[]", 1,
            )
            for mentor_id in mentors
        ]  # fmt: skip
        await conn.copy_records_to_table(
            "sessions",
            records=sessions,
            columns=[
                "created_at", "updated_at", "app_id", "id", "mentor_id", "mentee_id", "status",
                "topic", "questions", "skill_id", "format", "duration_minutes", "starts_at",
                "ends_at", "history", "version",
            ],
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO webhook_endpoints (created_at, updated_at, app_id, id, url, events, "
            "description, enabled, secret, version) "
            "VALUES ($1, $1, $2, $3, $4, '[\"session.reminder\"]', 'bench', true, $5, 1)",
            now,
            app_id,
            new_id("whe"),
            receiver_url + "/hook",
            new_secret(),
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return app_id, [(s[3], s[12]) for s in sessions]


async def _queue(
    database_url: str,
    app_id: str,
    sessions: list[tuple[str, datetime]],
    first_due: datetime,
    spread: timedelta,
    minutes_before: int,
) -> None:
    """One reminder row per session, due from `first_due` over `spread` (evenly). Each run uses
    its own `minutes_before`, so its keys (and event ids) are new."""
    from mentorapi.reminders import keys

    step = spread / len(sessions)
    rows = [
        (
            first_due, first_due, app_id, keys.reminder(session_id, starts, minutes_before),
            "reminder", first_due + step * i, session_id, None, None, minutes_before,
        )
        for i, (session_id, starts) in enumerate(sessions)
    ]  # fmt: skip
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        await conn.copy_records_to_table(
            "scheduled_notifications",
            records=rows,
            columns=[
                "created_at", "updated_at", "app_id", "key", "kind", "due_at", "session_id",
                "action_item_id", "party", "minutes_before",
            ],
        )  # fmt: skip
        await conn.execute("ANALYZE scheduled_notifications")
    finally:
        await conn.close()


# --- measuring ----------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class _Worker:
    """A `mentorapi worker` process; counts the reminders it reports sending."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.sent = 0
        self.last_sent_at = 0.0  # when it last said it sent some (its round's commit)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            found = _SENT.search(line.decode(errors="replace"))
            if found and int(found.group(1)):
                self.sent += int(found.group(1))
                self.last_sent_at = time.time()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await asyncio.gather(self._reader, return_exceptions=True)


async def _run_once(
    database_url: str,
    app_id: str,
    sessions: list[tuple[str, datetime]],
    receiver_url: str,
    *,
    workers: int,
    shape: str,
    minutes_before: int,
) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        await client.post(receiver_url + "/reset")
        spread = timedelta(minutes=1) if shape == "minute" else timedelta(0)
        first_due = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS)
        await _queue(database_url, app_id, sessions, first_due, spread, minutes_before)
        env = dict(
            os.environ,
            MENTORAPI_DATABASE_URL=database_url,
            MENTORAPI_WEBHOOK_ALLOW_PRIVATE_URLS="true",
        )
        started = [
            _Worker(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "mentorapi.cli",
                    "worker",
                    env=env,
                    stderr=asyncio.subprocess.PIPE,
                )
            )
            for _ in range(workers)
        ]
        try:
            cpu_before = [_cpu_seconds(w.process.pid) for w in started]
            deadline = time.monotonic() + LEAD_SECONDS + spread.total_seconds() + 120
            while True:
                received: dict[str, list[Any]] = (await client.get(receiver_url + "/stats")).json()
                if len(received) >= len(sessions):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {len(received)} of {len(sessions)} received")
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)  # the workers log their last rounds
            cpu = [
                _cpu_seconds(w.process.pid) - b for w, b in zip(started, cpu_before, strict=True)
            ]
        finally:
            for worker in started:
                await worker.stop()
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        written = await conn.fetch(
            "SELECT EXTRACT(EPOCH FROM updated_at - created_at)::float8 FROM events "
            "WHERE app_id = $1 AND type = 'session.reminder' "
            "AND (data->>'minutes_before')::int = $2",
            app_id,
            minutes_before,
        )
    finally:
        await conn.close()
    claimed_late = [max(0.0, r[0]) for r in written]
    received_late = [
        max(0.0, at - datetime.fromisoformat(due.replace("Z", "+00:00")).timestamp())
        for at, due in received.values()
    ]
    # From the due instant to each worker's last commit (its log line): the time it worked.
    windows = [max(w.last_sent_at - first_due.timestamp(), 1e-3) for w in started]
    return {
        "workers": workers,
        "shape": shape,
        "sent": len(written),
        "received": len(received),
        "claimed_p50_s": round(_percentile(claimed_late, 50), 3),
        "claimed_p99_s": round(_percentile(claimed_late, 99), 3),
        "received_p50_s": round(_percentile(received_late, 50), 3),
        "received_p99_s": round(_percentile(received_late, 99), 3),
        "received_max_s": round(max(received_late), 3),
        "seconds_to_last_commit": [round(w, 2) for w in windows],
        "sent_per_worker": [w.sent for w in started],
        "sent_per_second_per_worker": [
            round(w.sent / window, 1) for w, window in zip(started, windows, strict=True)
        ],
        "worker_cpu_seconds": [round(c, 2) for c in cpu],
        "load_average_1min": os.getloadavg()[0],
    }


async def run() -> dict[str, Any]:
    """10,000 reminders due in one minute (and at one instant), 1 and 2 workers."""
    name = checkout_database("reminders")
    database_url = await fresh_database(name)
    receiver = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.reminders", "--receiver", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert receiver.stdout is not None
        port = int(await asyncio.wait_for(receiver.stdout.readline(), 20))
        receiver_url = f"http://127.0.0.1:{port}"
        app_id, sessions = await _seed(database_url, receiver_url)
        runs = []
        minutes = MINUTES_BEFORE
        for workers, shape in RUNS:
            minutes += 1
            runs.append(
                await _run_once(
                    database_url,
                    app_id,
                    sessions,
                    receiver_url,
                    workers=workers,
                    shape=shape,
                    minutes_before=minutes,
                )
            )
            print(json.dumps(runs[-1]), flush=True)
        met = all(r["received_p99_s"] < TARGET_P99_SECONDS for r in runs if r["shape"] == "minute")
        rows = [
            [
                r["workers"],
                r["shape"],
                r["sent"],
                r["claimed_p50_s"],
                r["claimed_p99_s"],
                r["received_p50_s"],
                r["received_p99_s"],
                r["received_max_s"],
                " / ".join(f"{v:,.0f}" for v in r["sent_per_second_per_worker"]),
                " / ".join(f"{v:.1f}" for v in r["worker_cpu_seconds"]),
            ]
            for r in runs
        ]
        columns = [
            "workers", "shape", "sent", "claimed p50 s", "claimed p99 s", "received p50 s",
            "received p99 s", "received max s", "sent/s per worker", "worker cpu s",
        ]  # fmt: skip
        return {
            "database": "postgresql",
            "reminders": COUNT,
            "runs": runs,
            "target_received_p99_seconds": TARGET_P99_SECONDS,
            "target_met": met,
            "tables": [table(f"reminders: {COUNT:,} due (target p99 < 5 s)", columns, rows)],
        }
    finally:
        if receiver.returncode is None:
            receiver.send_signal(signal.SIGTERM)
            await receiver.wait()
        admin = await asyncpg.connect(options().postgres_url, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--receiver"]:
        asyncio.run(_receiver())
    else:
        print(json.dumps(asyncio.run(run()), indent=2, default=str))
