"""The sessions bench's bookings alone (2,000 distinct (mentor, slot) pairs, 100 clients, a key
each, after 200 unmeasured), with where the time goes: CPU per booking of the server, of its
PostgreSQL backends and of this client, and pg_stat_activity sampled every 20 ms (backends by
state and wait event: `idle in transaction|Client|ClientRead` is a transaction waiting for the
server, `active|Lock|...` a row-lock wait). `--ceiling` sends the measured bookings to
`bench.ceiling` (the same statements from a bare asyncpg handler) instead of mentorapi. `--wrk`
sends them from wrk (`bench.kit.bookings`: one thread, 100 connections, each request the next
prepared body and key) instead of httpx in this process, whose CPU per booking exceeds the
server's; `--rate N` with it offers N bookings/s in all (open loop) instead of a closed loop.

    PYTHONPATH=src:. python -m bench.bookings_load [--ceiling] [--wrk [--rate 300]]
    python -m bench bookings_load bookings_ceiling bookings_wrk bookings_ceiling_wrk
"""

import argparse
import asyncio
import collections
import json
import os
import time
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from bench.kit.bookings import CLIENTS, Ceiling, wrk_bookings
from bench.kit.db import OBSERVER, asyncpg_dsn, fresh_database
from bench.kit.names import checkout_database
from bench.kit.registry import Scenario
from bench.kit.seed import create_bench_app
from bench.kit.server import Server, cpu_seconds
from bench.sessions import (
    BOOKINGS,
    _drive,
    _post,
    _verify,
    booking_jobs,
    booking_population,
    settle,
    slots_base,
)

DATABASE = checkout_database("bookings_load")
WARMUP = 200
SAMPLE_SECONDS = 0.02


async def _sample(url: str, stop: asyncio.Event, counts: collections.Counter[str]) -> int:
    connection = await asyncpg.connect(
        asyncpg_dsn(url), server_settings={"application_name": OBSERVER}
    )
    samples = 0
    try:
        while not stop.is_set():
            rows = await connection.fetch(
                """SELECT state, wait_event_type, wait_event FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid()
                      AND backend_type = 'client backend'"""
            )
            samples += 1
            for row in rows:
                counts[f"{row['state']}|{row['wait_event_type']}|{row['wait_event']}"] += 1
            await asyncio.sleep(SAMPLE_SECONDS)
    finally:
        await connection.close()
    return samples


# Each backend of the bench database by what it is for: the LISTEN connections (woken by
# every NOTIFY; their last statement may be a keepalive SELECT 1 instead), the rest (the
# pools, the keeper's ANALYZE rounds).
_BACKENDS = """SELECT pid, CASE WHEN query ILIKE 'LISTEN%' OR query ILIKE 'UNLISTEN%'
                                 THEN 'listen' ELSE 'pool' END AS kind
                 FROM pg_stat_activity WHERE datname = current_database()
                  AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                  AND application_name <> $1"""


async def _backend_cpu(connection: asyncpg.Connection) -> dict[str, float]:
    """CPU seconds so far of the bench database's backends, by kind (`_BACKENDS`)."""
    found: dict[str, float] = collections.defaultdict(float)
    for row in await connection.fetch(_BACKENDS, OBSERVER):
        found[row["kind"]] += cpu_seconds([row["pid"]])
    return found


_DATABASE_COUNTS = """SELECT sessions, xact_commit, xact_rollback FROM pg_stat_database
                        WHERE datname = current_database()"""


async def _statements_on(url: str) -> dict[str, Any] | None:
    """pg_stat_statements created in the bench database and reset, if the server preloads it
    (a server of your own: `BENCH_POSTGRES_URL`), and the database's counts of sessions
    (connections opened), commits and rollbacks so far; None if it does not preload it."""
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        preload = await connection.fetchval("SHOW shared_preload_libraries")
        if "pg_stat_statements" not in preload:
            return None
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await connection.execute("SELECT pg_stat_statements_reset()")
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        return dict(await connection.fetchrow(_DATABASE_COUNTS)) | {
            "cpu": await _backend_cpu(connection)
        }
    finally:
        await connection.close()


async def _statements(
    url: str, bookings: int, counts: dict[str, Any]
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """What the bench database's backends did since `_statements_on` (which gave `counts`),
    per booking: connections opened, commits, rollbacks; and each statement's calls,
    executor and planner milliseconds, plans, buffer hits, WAL bytes and text's start."""
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        await asyncio.sleep(1.0)  # an idle backend reports its counts within a second or so
        now = dict(await connection.fetchrow(_DATABASE_COUNTS))
        database = {k: round((v - counts[k]) / bookings, 3) for k, v in now.items()}
        for kind, seconds in (await _backend_cpu(connection)).items():
            database[f"cpu_ms_{kind}"] = round(
                (seconds - counts["cpu"].get(kind, 0.0)) * 1000 / bookings, 3
            )
        rows = await connection.fetch(
            """SELECT s.query, s.calls, s.total_exec_time, s.total_plan_time, s.plans, s.rows,
                      s.shared_blks_hit, s.shared_blks_dirtied, s.wal_bytes
                 FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat%'
                ORDER BY s.total_exec_time + s.total_plan_time DESC"""
        )
    finally:
        await connection.close()
    return database, [
        {
            "calls": round(r["calls"] / bookings, 3),
            "exec_ms": round(r["total_exec_time"] / bookings, 4),
            "plan_ms": round(r["total_plan_time"] / bookings, 4),
            "plans": round(r["plans"] / bookings, 3),
            "blks_hit": round(r["shared_blks_hit"] / bookings, 1),
            "wal_bytes": round(float(r["wal_bytes"]) / bookings),
            "query": " ".join(r["query"].split())[:160],
        }
        for r in rows
        if r["total_exec_time"] + r["total_plan_time"] >= bookings * 0.002
        or r["calls"] >= bookings // 10
    ]


async def measure(
    ceiling: bool,
    wrk: bool = False,
    rate: float = 0.0,
    statements: bool = False,
    clients: int = CLIENTS,
    server_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    url = await fresh_database(DATABASE)
    app_id, key = await create_bench_app(url)
    base = slots_base()
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=CLIENTS, keepalive_expiry=2.0)
    async with (
        Server(url, workers=2, name="bookings-load", env=server_env) as server,
        httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=60, limits=limits
        ) as client,
    ):
        skill, _, mentors, mentees = await booking_population(client)
        await settle(url)

        def jobs(count: int, offset: timedelta) -> list[dict[str, Any]]:
            return booking_jobs(mentors, mentees, skill["id"], base + offset, count)

        calls = [
            _post(client, "/v1/sessions", j, str(uuid.uuid4()))
            for j in jobs(WARMUP, timedelta(days=20))
        ]
        await _drive(calls, CLIENTS, server, url)
        target: Any = server
        measured = client
        bare = None
        if ceiling:
            server.stop()  # its pools' connections back to PostgreSQL (max_connections)
            bare = target = Ceiling(url, app_id)
            await bare.ready()
            measured = httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{bare.port}", headers=headers, timeout=60, limits=limits
            )
        try:
            stop = asyncio.Event()
            counts: collections.Counter[str] = collections.Counter()
            sampler = asyncio.create_task(_sample(url, stop, counts))
            load_before = os.getloadavg()
            extra: dict[str, Any] = {}
            counting = await _statements_on(url) if statements else None
            if wrk:
                load, client_cpu, extra = await wrk_bookings(
                    target,
                    url,
                    headers["Authorization"],
                    jobs(BOOKINGS, timedelta()),
                    rate,
                    clients,
                )
            else:
                started = time.process_time()
                calls = [
                    _post(measured, "/v1/sessions", j, str(uuid.uuid4()))
                    for j in jobs(BOOKINGS, timedelta())
                ]
                load = await _drive(calls, clients, target, url)
                client_cpu = time.process_time() - started
            stop.set()
            samples = await sampler
            if counting is not None:
                database, per = await _statements(url, load.requests, counting)
                extra["database_per_booking"] = database
                extra["statements_per_booking"] = per
        finally:
            if bare is not None:
                await measured.aclose()
                bare.stop()
    found = load.summary("booking")
    found["client_cpu_ms_per_booking"] = round(client_cpu * 1000 / load.requests, 2)
    found["load_average"] = [round(a, 2) for a in load_before + os.getloadavg()]
    found["verify"] = await _verify(url, app_id)
    found["backends_by_state_and_wait"] = {
        k: round(v / samples, 2) for k, v in counts.most_common() if v / samples >= 0.05
    }
    found["server"] = "bench.ceiling" if ceiling else "mentorapi"
    found["client"] = "wrk" if wrk else "httpx"
    found["clients"] = clients
    found["server_env"] = server_env or {}
    return found | extra


async def _mentorapi() -> dict[str, Any]:
    """Bookings at 100 clients: CPU split and PostgreSQL's wait events."""
    return await measure(False)


async def _ceiling() -> dict[str, Any]:
    """The same bookings sent to bench.ceiling (bare asyncpg, the same statements)."""
    return await measure(True)


async def _mentorapi_wrk() -> dict[str, Any]:
    """Bookings at 100 connections from wrk: CPU split and PostgreSQL's wait events."""
    return await measure(False, wrk=True)


async def _ceiling_wrk() -> dict[str, Any]:
    """The same bookings from wrk to bench.ceiling."""
    return await measure(True, wrk=True)


SCENARIOS = [
    Scenario("bookings_load", _mentorapi, "bookings: CPU split and wait events", default=False),
    Scenario("bookings_ceiling", _ceiling, "bookings from bare asyncpg: a ceiling", default=False),
    Scenario("bookings_wrk", _mentorapi_wrk, "bookings_load, sent by wrk", default=False),
    Scenario("bookings_ceiling_wrk", _ceiling_wrk, "bookings_ceiling, sent by wrk", default=False),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ceiling", action="store_true")
    parser.add_argument("--wrk", action="store_true")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="with --wrk: bookings/s offered (open loop)"
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="per-statement figures from pg_stat_statements, if the server preloads it",
    )
    parser.add_argument(
        "--clients", type=int, default=CLIENTS, help="concurrent connections (default 100)"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="MENTORAPI_X=VALUE",
        help="a setting for the server's processes (repeatable), e.g. to compare pool sizes",
    )
    args = parser.parse_args()
    server_env = dict(item.split("=", 1) for item in args.server_env)
    if any(not name.startswith("MENTORAPI_") for name in server_env):
        parser.error("--server-env takes MENTORAPI_* settings only")
    found = measure(args.ceiling, args.wrk, args.rate, args.statements, args.clients, server_env)
    print(json.dumps(asyncio.run(found), indent=2))


if __name__ == "__main__":
    main()
