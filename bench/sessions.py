"""Writes under load and the latency of slots, on PostgreSQL: bookings (distinct slots, 100
wrk connections, each with its Idempotency-Key: a closed loop and 300/s offered, then both
against the bare asyncpg ceiling), contended bookings and retries, weekly series of 26,
availability replaced, then 4 weeks of slots for a mentor with 200 sessions (wrk, 16
connections). Every write is checked from the database afterwards: no overlaps, one session,
one event and one kept key per booking."""

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.kit.bookings import CLIENTS, Ceiling, Load, Target, with_cpu, wrk_bookings
from bench.kit.db import asyncpg_dsn, backend_pids, fresh_database
from bench.kit.names import checkout_database
from bench.kit.options import options
from bench.kit.report import table
from bench.kit.seed import create_bench_app
from bench.kit.server import Server, cpu_seconds, machine_busy_seconds
from bench.kit.wrk import WrkResult, ensure_wrk, run_wrk
from mentorapi.db.debug import HEADER

DATABASE = checkout_database("sessions")
BOOKINGS = 2000
WARMUP_BOOKINGS = 200  # unmeasured, before each server's bookings: pools filled, plans cached
OFFERED_RATE = 300.0  # bookings/s in all, the open loop's schedule: the throughput
BOOKING_MENTORS = 50
CONTENDED_SLOTS = 100  # each asked for by two clients at once, with keys of their own
SERIES = 100
SERIES_CLIENTS = 20
SERIES_COUNT = 26
AVAILABILITY_PUTS = 1000
AVAILABILITY_CLIENTS = 50
BUSY_SESSIONS = 200
SLOTS_CONNECTIONS = 16
MAX_SLOTS_P99_MS = 20.0  # the issues' targets
MIN_BOOKINGS_PER_SECOND = 300.0
MAX_BOOKING_P99_MS = 250.0
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


Call = Callable[[], Awaitable[httpx.Response]]


async def _drive(calls: list[Call], clients: int, server: Server, url: str) -> Load:
    """`calls` by `clients` at once, each client taking the next call when it is done."""
    load = Load(requests=len(calls))
    queue = list(reversed(calls))

    async def client() -> None:
        while queue:
            call = queue.pop()
            started = time.perf_counter()
            response = await call()
            load.latencies.append(1000 * (time.perf_counter() - started))
            load.statuses[response.status_code] = load.statuses.get(response.status_code, 0) + 1
            body = response.json() if response.content else {}
            load.bodies.append((response.status_code, body, response.headers))

    await with_cpu(load, server, url, asyncio.gather(*(client() for _ in range(clients))))
    return load


def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any], key: str) -> Call:
    return lambda: client.post(path, json=body, headers={"Idempotency-Key": key})


async def _verify(url: str, app_id: str) -> dict[str, int]:
    """From the database, after the run: what no client could have seen go wrong."""
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        overlaps = await connection.fetchval(
            """SELECT count(*) FROM sessions a JOIN sessions b
                 ON b.app_id = a.app_id AND b.mentor_id = a.mentor_id AND a.id < b.id
                WHERE a.app_id = $1 AND a.status IN ('requested', 'booked')
                  AND b.status IN ('requested', 'booked')
                  AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at""",
            app_id,
        )
        sessions = await connection.fetchval(
            "SELECT count(*) FROM sessions WHERE app_id = $1", app_id
        )
        without_one_event = await connection.fetchval(
            """SELECT count(*) FROM sessions s WHERE s.app_id = $1 AND (
                 SELECT count(*) FROM events e WHERE e.app_id = s.app_id AND e.object_id = s.id
                    AND e.type IN ('session.booked', 'session.requested')) <> 1""",
            app_id,
        )
        kept_created = await connection.fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE app_id = $1 AND status_code = 201",
            app_id,
        )
    finally:
        await connection.close()
    return {
        "overlapping_pairs": overlaps,
        "sessions": sessions,
        "sessions_without_one_created_event": without_one_event,
        "keys_kept_with_201": kept_created,
    }


async def _post_json(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
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
    mentor = await _post_json(
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


def booking_jobs(
    mentors: list[str], mentees: list[str], skill: str, start: datetime, count: int
) -> list[dict[str, Any]]:
    """`count` bookings of distinct (mentor, slot) pairs from `start`, mentor by mentor, then
    15 minutes on; a mentee per mentor (a mentee is never in two places at once)."""
    n = len(mentors)
    return [
        _booking(mentors[i % n], mentees[i % n], skill, start + timedelta(minutes=15 * (i // n)))
        for i in range(count)
    ]


async def _booking_runs(
    target: Target,
    url: str,
    auth: str,
    jobs: Callable[[int, int], list[dict[str, Any]]],
    days: tuple[int, int, int],
) -> tuple[dict[str, dict[str, Any]], int]:
    """Bookings from wrk to `target`: WARMUP_BOOKINGS unmeasured, then BOOKINGS as a closed loop
    and BOOKINGS offered at OFFERED_RATE (open loop), each on its day of `days` from the base;
    the two runs' figures and how many bookings all three created."""
    warmup, _, _ = await wrk_bookings(target, url, auth, jobs(WARMUP_BOOKINGS, days[0]))
    created = warmup.statuses.get(201, 0)
    found: dict[str, dict[str, Any]] = {}
    for loop, day, rate in (("closed", days[1], 0.0), ("open", days[2], OFFERED_RATE)):
        load_before = os.getloadavg()[0]
        load, wrk_cpu, extra = await wrk_bookings(target, url, auth, jobs(BOOKINGS, day), rate)
        created += load.statuses.get(201, 0)
        found[loop] = {
            **load.summary("booking"),
            **extra,
            "connections": CLIENTS,
            "wrk_cpu_ms_per_booking": round(wrk_cpu * 1000 / load.requests, 2),
            "load_average_before": round(load_before, 2),
        }
    return found, created


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


async def booking_population(
    client: httpx.AsyncClient,
) -> tuple[dict[str, Any], dict[str, Any], list[str], list[str]]:
    """What the bookings need: a skill, a mentee (for the slots mentor), a webhook endpoint
    (every booking writes its event and one delivery: the outbox), BOOKING_MENTORS mentors and
    a mentee per mentor (a mentee is never in two places at once, a second booking of one
    mentee at a time they are booked being a 409, and these book every mentor at the same
    times). The mentors' and mentees' ids."""
    skill, mentee = await _skill_and_mentee(client)
    await _post_json(
        client, "/v1/webhook-endpoints", {"url": "https://example.com/mentorapi-bench"}
    )
    mentors = [await _mentor(client, n, skill["id"]) for n in range(BOOKING_MENTORS)]
    mentees = [
        (
            await _post_json(
                client,
                "/v1/mentees",
                {"external_id": f"bench-mentee-{n}", "name": "Mentee", "timezone": "UTC"},
            )
        )["id"]
        for n in range(BOOKING_MENTORS)
    ]
    return skill, mentee, mentors, mentees


async def _skill_and_mentee(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    # Not among bench.kit.seed.SKILLS: the fleet bench adds it to the seeded app.
    skill = await _post_json(client, "/v1/skills", {"slug": "bench-pricing", "name": "Pricing"})
    mentee = await _post_json(
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
        await _post_json(client, "/v1/sessions", body)
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
    app_id, key = await create_bench_app(url)
    headers = {"Authorization": f"Bearer {key}"}
    # One server: at most a worker per core (a third worker on two cores only takes turns with
    # the others, and with PostgreSQL and wrk: 1,498 req/s and p99 32 ms against 2,000 and 22).
    workers = min(max(opts.workers), os.cpu_count() or 1)
    base = slots_base()
    async with Server(url, workers=workers, name="sessions") as server:
        # Idle connections dropped before uvicorn's keep-alive (5 s) closes them under a request.
        limits = httpx.Limits(max_connections=CLIENTS, keepalive_expiry=2.0)
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=60, limits=limits
        ) as client:
            skill, mentee, mentors, mentees = await booking_population(client)
            # The slots mentor, with 200 sessions over its next four weeks (the fleet bench's too).
            path = await slots_mentor(client, base, skill, mentee)
            others = [
                await _mentor(client, BOOKING_MENTORS + 1 + n, skill["id"])
                for n in range(AVAILABILITY_CLIENTS)
            ]

            # Statistics, as any database that has run for a minute has them (autovacuum): on a
            # fresh one PostgreSQL has none yet, and plans the mentee's places by the exclusion
            # constraint's GiST index on app_id alone, filtering every session of the app
            # under the booking's locks (EXPLAIN: 0.2 ms at 600 sessions, growing).
            await settle(url)

            # Bookings: distinct (mentor, slot) pairs, from wrk, a key each: a closed loop,
            # then 300/s offered (days of their own, so that no slot is asked for twice).
            def jobs(count: int, day: int) -> list[dict[str, Any]]:
                return booking_jobs(
                    mentors, mentees, skill["id"], base + timedelta(days=day), count
                )

            auth = headers["Authorization"]
            bookings, created = await _booking_runs(server, url, auth, jobs, (20, 0, 1))

            # Contended: each slot asked for by two clients at once (keys of their own), and
            # every booking made here retried with its key: one session per slot, replays.
            later = base + timedelta(days=2)
            contended = [
                _booking(
                    mentors[i % BOOKING_MENTORS], mentees[i % BOOKING_MENTORS], skill["id"], later
                )
                | {
                    "starts_at": (
                        later + timedelta(minutes=15 * (i // BOOKING_MENTORS))
                    ).isoformat()
                }
                for i in range(CONTENDED_SLOTS)
            ]
            keys = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in contended]
            calls = [
                _post(client, "/v1/sessions", job, key)
                for job, pair in zip(contended, keys, strict=True)
                for key in pair
            ]
            contention = await _drive(calls, CLIENTS, server, url)
            retries = await _drive(
                [
                    _post(client, "/v1/sessions", job, key)
                    for job, pair in zip(contended, keys, strict=True)
                    for key in pair
                ],
                CLIENTS,
                server,
                url,
            )

            # Weekly series of 26, each for a mentor at a time of its own.
            series_jobs = [
                {
                    **_booking(
                        mentors[i % BOOKING_MENTORS],
                        mentees[i % BOOKING_MENTORS],
                        skill["id"],
                        base,
                    ),
                    "starts_at": (
                        base + timedelta(days=3, minutes=15 * (i // BOOKING_MENTORS))
                    ).isoformat(),
                    "count": SERIES_COUNT,
                    "interval_weeks": 1,
                }
                for i in range(SERIES)
            ]
            series = await _drive(
                [_post(client, "/v1/series", job, str(uuid.uuid4())) for job in series_jobs],
                SERIES_CLIENTS,
                server,
                url,
            )

            # Availability replaced, each client on a mentor of its own, turn by turn.
            puts = [
                _put_availability(
                    client, others[i % AVAILABILITY_CLIENTS], i // AVAILABILITY_CLIENTS
                )
                for i in range(AVAILABILITY_PUTS)
            ]
            availability = await _drive(puts, AVAILABILITY_CLIENTS, server, url)

        checked = await _verify(url, app_id)
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
        # The same bookings against the bare asyncpg ceiling, on days of their own, once the
        # server is gone (its pools' connections back to PostgreSQL's max_connections).
        server.stop()
        ceiling_started = time.perf_counter()
        bare = Ceiling(url, app_id)
        try:
            await bare.ready()
            ceiling, ceiling_created = await _booking_runs(bare, url, auth, jobs, (21, 4, 5))
        finally:
            bare.stop()
        ceiling_seconds = time.perf_counter() - ceiling_started
    statements = await _statements_per_request(url, headers, path)
    after_ceiling = await _verify(url, app_id)

    booked = created
    pairs_won = _pairs_won(contention, len(contended))
    replayed = sum(1 for status, _, h in retries.bodies if h.get("idempotent-replayed") == "true")
    series_booked = series.statuses.get(201, 0)
    expected_sessions = BUSY_SESSIONS + booked + pairs_won + series_booked * SERIES_COUNT
    checks = {
        **checked,
        "expected_sessions": expected_sessions,
        "contended_slots_booked_once": pairs_won,
        "retries_replayed": replayed,
        # The ceiling writes the same rows: checked again after its bookings.
        "sessions_with_ceiling": after_ceiling["sessions"],
        "expected_with_ceiling": expected_sessions + ceiling_created,
    }
    correct = (
        checked["overlapping_pairs"] == 0
        and checked["sessions"] == expected_sessions
        and checked["sessions_without_one_created_event"] == 0
        and checked["keys_kept_with_201"] == booked + pairs_won + series_booked
        and pairs_won == len(contended)
        and replayed == len(calls)
        and after_ceiling["overlapping_pairs"] == 0
        and after_ceiling["sessions"] == expected_sessions + ceiling_created
        and after_ceiling["sessions_without_one_created_event"] == 0
    )
    if not correct:
        raise RuntimeError(f"the database disagrees with what the clients saw: {checks}")
    booking = {**bookings["closed"], "workers": workers}
    booking_open = {**bookings["open"], "workers": workers}
    series_run = {
        **series.summary("series"),
        "clients": SERIES_CLIENTS,
        "sessions_each": SERIES_COUNT,
    }
    availability_run = {**availability.summary("put"), "clients": AVAILABILITY_CLIENTS}
    contention_run = {**contention.summary("request"), "clients": CLIENTS}
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
    booking_rows = [
        ("mentorapi", "closed", booking),
        ("mentorapi", f"{OFFERED_RATE:.0f}/s offered", booking_open),
        ("ceiling", "closed", ceiling["closed"]),
        ("ceiling", f"{OFFERED_RATE:.0f}/s offered", ceiling["open"]),
    ]
    writes = [
        (
            "POST /v1/sessions, contended (2 a slot)",
            2 * CONTENDED_SLOTS,
            contention_run,
            "request",
        ),
        (f"POST /v1/series ({SERIES_COUNT})", SERIES, series_run, "series"),
        ("PUT .../availability", AVAILABILITY_PUTS, availability_run, "put"),
    ]
    return {
        "booking": booking,
        "booking_open": booking_open,
        "ceiling": ceiling,
        "ceiling_seconds": round(ceiling_seconds, 1),
        "contention": contention_run,
        "series": series_run,
        "availability": availability_run,
        "checks": checks,
        "slots": slot_run,
        "targets": {
            f"bookings >= {MIN_BOOKINGS_PER_SECOND:.0f}/s (closed loop, {CLIENTS} conns)": booking[
                "booking_per_second"
            ]
            >= MIN_BOOKINGS_PER_SECOND,
            f"booking p99 < {MAX_BOOKING_P99_MS:.0f} ms at {OFFERED_RATE:.0f}/s offered": (
                booking_open["p99_ms"] < MAX_BOOKING_P99_MS
            ),
            "no double booking (database)": correct,
            f"slots p99 < {MAX_SLOTS_P99_MS:.0f} ms": slot_run["p99_ms"] < MAX_SLOTS_P99_MS,
        },
        "tables": [
            table(
                f"POST /v1/sessions from wrk: {BOOKINGS:,} distinct slots a row, {CLIENTS} "
                f"connections, a key each; mentorapi ({workers} workers) and the bare asyncpg "
                "ceiling; open loop: p50/p99 from each booking's due time",
                [
                    "server",
                    "loop",
                    "per s",
                    "p50 ms",
                    "p99 ms",
                    "statuses",
                    "late sends",
                    "cpu ms each",
                    "db cpu ms each",
                    "wrk cpu ms each",
                    "load before",
                ],
                [
                    [
                        name,
                        loop,
                        run["booking_per_second"],
                        run["p50_ms"],
                        run["p99_ms"],
                        run["statuses"],
                        run.get("sent_over_10ms_late"),
                        run["server_cpu_ms_per_booking"],
                        run["database_cpu_ms_per_booking"],
                        run["wrk_cpu_ms_per_booking"],
                        run["load_average_before"],
                    ]
                    for name, loop, run in booking_rows
                ],
            ),
            table(
                f"Other writes under load ({workers} workers, httpx in the bench's process, "
                "each POST with its Idempotency-Key)",
                [
                    "write",
                    "n",
                    "clients",
                    "per s",
                    "p50 ms",
                    "p99 ms",
                    "statuses",
                    "cpu ms each",
                    "db cpu ms each",
                ],
                [
                    [
                        name,
                        n,
                        run["clients"],
                        run[f"{per}_per_second"],
                        run["p50_ms"],
                        run["p99_ms"],
                        run["statuses"],
                        run[f"server_cpu_ms_per_{per}"],
                        run[f"database_cpu_ms_per_{per}"],
                    ]
                    for name, n, run, per in writes
                ],
            ),
            table(
                "Checked in the database afterwards",
                list(checks),
                [list(checks.values())],
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


def _pairs_won(load: Load, slots: int) -> int:
    """Slots booked in the contended run: one 201 per slot, the other a 409."""
    created = load.statuses.get(201, 0)
    refused = load.statuses.get(409, 0)
    return created if created + refused == 2 * slots else -1


def _put_availability(client: httpx.AsyncClient, mentor: str, turn: int) -> Call:
    hours = OFFICE_HOURS if turn % 2 else ALL_DAY
    body = {
        "weekly": hours,
        "auto_accept": True,
        "weekly_capacity": 200,
        "buffer_minutes": turn % 3 * 5,
    }
    return lambda: client.put(f"/v1/mentors/{mentor}/availability", json=body)
