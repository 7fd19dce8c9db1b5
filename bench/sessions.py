"""Booking throughput (distinct slots, 100 concurrent clients) and the latency of 4 weeks of
slots for a mentor with 200 sessions (wrk, 16 connections), on PostgreSQL."""

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.kit.db import asyncpg_dsn, backend_pids, fresh_database
from bench.kit.options import options
from bench.kit.report import table
from bench.kit.seed import create_bench_app
from bench.kit.server import Server, cpu_seconds, machine_busy_seconds
from bench.kit.wrk import WrkResult, ensure_wrk, run_wrk
from mentorapi.db.debug import HEADER

DATABASE = "mentorapi_bench_sessions"
CLIENTS = 100
BOOKINGS = 2000
BOOKING_MENTORS = 50
BUSY_SESSIONS = 200
SLOTS_CONNECTIONS = 16
MAX_SLOTS_P99_MS = 20.0  # the target
ALL_DAY = [
    {"day": d, "start": "00:00", "end": "24:00"}
    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
]
# The slots mentor keeps office hours, as a real one would: weekdays 09:00-17:00 (Berlin).
OFFICE_HOURS = [
    {"day": d, "start": "09:00", "end": "17:00"} for d in ("mon", "tue", "wed", "thu", "fri")
]
# ...and sets every booking limit, none of them binding here (ten 15-minute sessions a day): the
# page goes through the daily count and the horizon cut, and returns what it did without them.
SLOT_LIMITS = {
    "booking_horizon_days": 365,
    "daily_limit_sessions": 48,
    "daily_limit_minutes": 24 * 60,
}


async def _statements_per_request(url: str, headers: dict[str, str], path: str) -> str:
    """SQL statements of the first slots request of a one-worker server and of the next one
    (X-SQL-Statements): "2/1" when the next finds its API key remembered (apps/keycache.py)."""
    env = {"MENTORAPI_DEBUG_SQL_COUNT": "true"}
    counts = []
    async with (
        Server(url, workers=1, env=env, name="sessions-sql-count") as server,
        httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as client,
    ):
        for _ in range(2):
            response = await client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"slots: {response.status_code} {response.text[:300]}")
            counts.append(response.headers[HEADER])
    return "/".join(counts)


async def settle(url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        await connection.execute("VACUUM ANALYZE")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:300]}")
    data: dict[str, Any] = response.json()
    return data


async def _mentor(
    client: httpx.AsyncClient,
    n: int,
    skill_id: str,
    weekly: list[dict[str, str]] = ALL_DAY,
    limits: dict[str, int] | None = None,
) -> str:
    mentor = await _post(
        client,
        "/v1/mentors",
        {
            "external_id": f"bench-mentor-{n}",
            "name": f"Mentor {n}",
            "timezone": "Europe/Berlin",
            "formats": ["video"],
            "session_lengths": [15, 30],
            "skills": [{"skill_id": skill_id, "level": 4}],
        },
    )
    response = await client.put(
        f"/v1/mentors/{mentor['id']}/availability",
        json={"weekly": weekly, "auto_accept": True, "weekly_capacity": 200, **(limits or {})},
    )
    if response.status_code != 200:
        raise RuntimeError(f"availability: {response.status_code} {response.text[:300]}")
    return str(mentor["id"])


def _booking(mentor: str, mentee: str, skill: str, starts: datetime) -> dict[str, Any]:
    return {
        "mentor_id": mentor,
        "mentee_id": mentee,
        "skill_id": skill,
        "topic": "Review the first draft of my pricing page with me",
        "questions": ["What would you cut?"],
        "format": "video",
        "duration_minutes": 15,
        "starts_at": starts.isoformat(),
    }


async def _skill_and_mentee(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    # Not among bench.kit.seed.SKILLS: the fleet bench adds it to the seeded app.
    skill = await _post(client, "/v1/skills", {"slug": "bench-pricing", "name": "Pricing"})
    mentee = await _post(
        client,
        "/v1/mentees",
        {"external_id": "bench-mentee", "name": "Mentee", "timezone": "UTC"},
    )
    return skill, mentee


async def slots_mentor(
    client: httpx.AsyncClient,
    base: datetime,
    skill: dict[str, Any] | None = None,
    mentee: dict[str, Any] | None = None,
) -> str:
    """A mentor with office hours and 200 sessions spread evenly over the four weeks from
    `base`; the path of its slots over those weeks (what the slots load asks for)."""
    if skill is None or mentee is None:
        skill, mentee = await _skill_and_mentee(client)
    busy = await _mentor(client, BOOKING_MENTORS, skill["id"], OFFICE_HOURS, SLOT_LIMITS)
    start, end = base, base + timedelta(weeks=4)
    free = await client.get(
        f"/v1/mentors/{busy}/slots",
        params={"start": start.isoformat(), "end": end.isoformat(), "duration": 15},
    )
    starts_at = [slot["starts_at"] for slot in free.json()["data"]]
    step = max(1, len(starts_at) // BUSY_SESSIONS)
    for when in starts_at[::step][:BUSY_SESSIONS]:
        body = {**_booking(busy, mentee["id"], skill["id"], base), "starts_at": when}
        await _post(client, "/v1/sessions", body)
    return (
        f"/v1/mentors/{busy}/slots?duration=30"
        f"&start={start.strftime('%Y-%m-%dT%H:%M:%SZ')}&end={end.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )


def slots_base() -> datetime:
    """A whole hour a day ahead: every 15-minute start after it is a free slot."""
    return (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


async def run() -> dict[str, Any]:
    opts = options()
    await asyncio.to_thread(ensure_wrk)
    url = await fresh_database(DATABASE)
    _app_id, key = await create_bench_app(url)
    headers = {"Authorization": f"Bearer {key}"}
    # One server: at most a worker per core (a third worker on two cores only takes turns with
    # the others, and with PostgreSQL and wrk: 1,498 req/s and p99 32 ms against 2,000 and 22).
    workers = min(max(opts.workers), os.cpu_count() or 1)
    base = slots_base()
    async with Server(url, workers=workers, name="sessions") as server:
        limits = httpx.Limits(max_connections=CLIENTS)
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=60, limits=limits
        ) as client:
            skill, mentee = await _skill_and_mentee(client)
            mentors = [await _mentor(client, n, skill["id"]) for n in range(BOOKING_MENTORS)]
            path = await slots_mentor(client, base, skill, mentee)

            # Booking throughput: distinct (mentor, slot) pairs, 100 clients at once.
            jobs = [
                _booking(
                    mentors[i % BOOKING_MENTORS],
                    mentee["id"],
                    skill["id"],
                    base + timedelta(minutes=15 * (i // BOOKING_MENTORS)),
                )
                for i in range(BOOKINGS)
            ]
            queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            for job in jobs:
                queue.put_nowait(job)
            latencies: list[float] = []
            statuses: dict[int, int] = {}

            async def booker() -> None:
                while not queue.empty():
                    body = queue.get_nowait()
                    started = time.perf_counter()
                    response = await client.post("/v1/sessions", json=body)
                    latencies.append(1000 * (time.perf_counter() - started))
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            pids = server.pids()
            cpu_before, started = cpu_seconds(pids), time.perf_counter()
            await asyncio.gather(*(booker() for _ in range(CLIENTS)))
            elapsed = time.perf_counter() - started
            booking_cpu = cpu_seconds(pids) - cpu_before

        # The bookings' writes settled (what autovacuum and the checkpointer would do anyway),
        # so that they do not run in the middle of the slots measurement.
        await settle(url)
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as probe_client:
            probe = await probe_client.get(path)
        if probe.status_code != 200 or not probe.json()["data"]:
            raise RuntimeError(f"slots probe: {probe.status_code} {probe.text[:300]}")

        def drive(seconds: float) -> WrkResult:
            return run_wrk(
                server.base_url,
                [path],
                headers=headers,
                duration=seconds,
                connections=SLOTS_CONNECTIONS,
                threads=opts.threads,
            )

        if opts.warmup:  # pools filled, statements prepared: then measure
            await asyncio.to_thread(drive, opts.warmup)
        pids, database_pids = server.pids(), await backend_pids(url)
        load_before = os.getloadavg()[0]
        cpu_before, database_before = cpu_seconds(pids), cpu_seconds(database_pids)
        busy_before = machine_busy_seconds()
        slots = await asyncio.to_thread(drive, opts.duration)
        slots_cpu = cpu_seconds(pids) - cpu_before
        database_cpu = cpu_seconds(database_pids) - database_before
        machine_busy = machine_busy_seconds() - busy_before
    statements = await _statements_per_request(url, headers, path)
    booking = {
        "bookings": BOOKINGS,
        "clients": CLIENTS,
        "workers": workers,
        "seconds": round(elapsed, 2),
        "bookings_per_second": round(BOOKINGS / elapsed, 1),
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_cpu_ms_per_booking": round(1000 * booking_cpu / BOOKINGS, 2),
        "load_average": round(os.getloadavg()[0], 2),
    }
    per_request = 1000 / slots.requests if slots.requests else 0.0
    slot_run = {
        **slots.as_dict(),
        "connections": SLOTS_CONNECTIONS,
        "workers": workers,
        "slots_returned": len(probe.json()["data"]),
        "statements_per_request": statements,
        # CPU per request: the server's processes, and the PostgreSQL backends serving them.
        "server_cpu_ms_per_request": round(slots_cpu * per_request, 3),
        "database_cpu_ms_per_request": round(database_cpu * per_request, 3),
        # All cores' busy time over the run: server + wrk + PostgreSQL + anything else running.
        "machine_busy_cores": round(machine_busy / slots.seconds, 2) if slots.seconds else None,
        "load_average_before": round(load_before, 2),
    }
    return {
        "booking": booking,
        "slots": slot_run,
        "targets": {
            f"slots p99 < {MAX_SLOTS_P99_MS:.0f} ms": slot_run["p99_ms"] < MAX_SLOTS_P99_MS
        },
        "tables": [
            table(
                f"POST /v1/sessions: {BOOKINGS} bookings of distinct slots, {CLIENTS} clients",
                ["workers", "bookings/s", "p50 ms", "p99 ms", "statuses", "cpu ms/booking"],
                [
                    [
                        workers,
                        booking["bookings_per_second"],
                        booking["p50_ms"],
                        booking["p99_ms"],
                        booking["statuses"],
                        booking["server_cpu_ms_per_booking"],
                    ]
                ],
            ),
            table(
                f"GET slots, 4 weeks, mentor with {BUSY_SESSIONS} sessions, "
                f"{SLOTS_CONNECTIONS} connections",
                [
                    "workers",
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "slots",
                    "non-2xx",
                    "statements (first/next)",
                    "cpu ms/req",
                    "db cpu ms/req",
                    "machine cores",
                    "load before",
                ],
                [
                    [
                        workers,
                        slot_run["rps"],
                        slot_run["p50_ms"],
                        slot_run["p99_ms"],
                        slot_run["slots_returned"],
                        slot_run["non_2xx"],
                        slot_run["statements_per_request"],
                        slot_run["server_cpu_ms_per_request"],
                        slot_run["database_cpu_ms_per_request"],
                        slot_run["machine_busy_cores"],
                        slot_run["load_average_before"],
                    ]
                ],
            ),
        ],
    }
