"""GET /v1/mentors?skill=…&limit=20 under wrk (64 connections) on 10k mentors; SQL per request."""

import asyncio
import os
import re
from typing import Any

import httpx

from bench.kit.db import backend_pids, fresh_database
from bench.kit.names import checkout_database
from bench.kit.options import options
from bench.kit.report import table
from bench.kit.seed import Seeded, seed_mentors
from bench.kit.server import Server, cpu_seconds, machine_busy_seconds
from bench.kit.wrk import WrkResult, ensure_wrk, run_wrk
from mentorapi.config import Settings
from mentorapi.db import fast
from mentorapi.db.debug import HEADER
from mentorapi.db.engine import create_database
from mentorapi.kit.pagination import PageRequest
from mentorapi.mentors import service as mentors_service

DATABASE = checkout_database("mentors")
# The targets.
MAX_STATEMENTS = 3
MIN_RPS = 1000.0
MAX_P99_MS = 100.0


def _auth(seeded: Seeded) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.api_key}"}


async def explain(seeded: Seeded, slug: str | None, limit: int = 20) -> list[dict[str, Any]]:
    """EXPLAIN ANALYZE of the exact statements the list endpoint runs for `slug`: captured from
    the service with their parameters (they go through db.fast, straight to asyncpg), then
    replayed (warm) under EXPLAIN on the same driver connection."""
    db = create_database(Settings(database_url=seeded.database_url))
    captured: list[tuple[Any, dict[str, Any]]] = []
    original = fast.fetch

    async def spy(db_session: Any, statement: Any, params: Any) -> Any:
        captured.append((statement, dict(params)))
        return await original(db_session, statement, params)

    try:
        async with db.read_sessionmaker() as session:
            fast.fetch = spy  # type: ignore[assignment]
            try:
                await mentors_service.list_mentors(
                    db_session=session,
                    app_id=seeded.app_id,
                    page=PageRequest(limit=limit),
                    skills=[slug] if slug else [],
                )
            finally:
                fast.fetch = original  # type: ignore[assignment]
            conn = await session.connection()
            driver: Any = (await conn.get_raw_connection()).driver_connection
            plans = []
            for statement, params in captured:
                prepared = fast._prepare(statement, conn.dialect)
                values = prepared.compiled.construct_params(params) or {}
                args = [values[name] for name in prepared.names]
                sql = "EXPLAIN (ANALYZE, BUFFERS) " + prepared.sql
                for _ in range(3):  # the last of three runs: caches warm, as under load
                    rows = await driver.fetch(sql, *args)
                lines = [row[0] for row in rows]
                timing = next((ln for ln in lines if ln.startswith("Execution Time")), "")
                reads = re.search(r"\bon (\w+)", "\n".join(lines))
                plans.append(
                    {
                        "statement": reads.group(1) if reads else prepared.sql[:40],
                        "execution_ms": float(timing.split(":")[1].split()[0]) if timing else None,
                        "plan": lines,
                    }
                )
            return plans
    finally:
        await db.dispose()


async def sql_counts(seeded: Seeded) -> list[dict[str, Any]]:
    """Statements per list request, read from X-SQL-Statements of a one-worker server."""
    rows = []
    # The key cache off: every request pays for its key lookup, the worst case the target means.
    env = {"MENTORAPI_DEBUG_SQL_COUNT": "true", "MENTORAPI_KEY_CACHE": "false"}
    async with (
        Server(seeded.database_url, workers=1, env=env, name="sql-count") as server,
        httpx.AsyncClient(base_url=server.base_url, headers=_auth(seeded), timeout=30) as client,
    ):
        filters: list[str | None] = [None, seeded.skill_slugs[0], seeded.skill_slugs[-1]]
        for slug in filters:
            for limit in (1, 20, 100):
                params: dict[str, Any] = {"limit": limit}
                if slug:
                    params["skill"] = slug
                response = await client.get("/v1/mentors", params=params)
                if response.status_code != 200:
                    raise RuntimeError(f"list failed: {response.status_code} {response.text}")
                rows.append(
                    {
                        "skill": slug or "(none)",
                        "limit": limit,
                        "returned": len(response.json()["data"]),
                        "statements": int(response.headers[HEADER]),
                    }
                )
    return rows


def search_paths(seeded: Seeded) -> list[str]:
    return [f"/v1/mentors?skill={slug}&limit=20" for slug in seeded.skill_slugs]


async def load(seeded: Seeded, workers: int) -> dict[str, Any]:
    async with Server(seeded.database_url, workers=workers, name=f"mentors-w{workers}") as server:
        return await measure(server.base_url, server.pids(), seeded, workers)


async def measure(
    base_url: str, pids: list[int], seeded: Seeded, workers: int, paths: list[str] | None = None
) -> dict[str, Any]:
    """A probe, `--warmup` seconds of load, then `--duration` measured seconds of the search at
    `base_url`; `pids` are the processes whose CPU counts as the server's."""
    opts = options()
    paths = paths or search_paths(seeded)
    async with httpx.AsyncClient(base_url=base_url, headers=_auth(seeded)) as client:
        probe = await client.get(paths[0])  # a broken server must not be "fast"
    if probe.status_code != 200 or not probe.json()["data"]:
        raise RuntimeError(f"probe failed: {probe.status_code} {probe.text[:500]}")

    def drive(seconds: float) -> WrkResult:
        return run_wrk(
            base_url,
            paths,
            headers=_auth(seeded),
            duration=seconds,
            connections=opts.connections,
            threads=opts.threads,
        )

    if opts.warmup:
        await asyncio.to_thread(drive, opts.warmup)
    load_before = os.getloadavg()[0]
    database = await backend_pids(seeded.database_url)
    cpu_before, busy_before = cpu_seconds(pids), machine_busy_seconds()
    database_before = cpu_seconds(database)
    result = await asyncio.to_thread(drive, opts.duration)
    server_cpu = cpu_seconds(pids) - cpu_before
    database_cpu = cpu_seconds(database) - database_before
    machine_busy = machine_busy_seconds() - busy_before
    return {
        "workers": workers,
        **result.as_dict(),
        # Cores the server kept busy, and its CPU cost per request.
        "server_cores": round(server_cpu / result.seconds, 2) if result.seconds else None,
        "server_cpu_ms_per_request": round(1000 * server_cpu / result.requests, 3)
        if result.requests
        else None,
        # The PostgreSQL backends serving the server's pools.
        "database_cpu_ms_per_request": round(1000 * database_cpu / result.requests, 3)
        if result.requests
        else None,
        # What one core could serve at that cost: a figure that survives a busy machine better
        # than req/s does (the lead's capacity planning number).
        "rps_per_server_core": round(result.requests / server_cpu, 1) if server_cpu else None,
        # All cores' busy time over the run: server + wrk + PostgreSQL + anything else running.
        "machine_busy_cores": round(machine_busy / result.seconds, 2) if result.seconds else None,
        "load_average_before": round(load_before, 2),
    }


# (table header, key in a run's dict)
RUN_COLUMNS = [
    ("workers", "workers"),
    ("req/s", "rps"),
    ("p50 ms", "p50_ms"),
    ("p90 ms", "p90_ms"),
    ("p99 ms", "p99_ms"),
    ("max ms", "max_ms"),
    ("non-2xx", "non_2xx"),
    ("errors", "socket_errors"),
    ("server cores", "server_cores"),
    ("machine cores", "machine_busy_cores"),
    ("cpu ms/req", "server_cpu_ms_per_request"),
    ("db cpu ms/req", "database_cpu_ms_per_request"),
    ("req/s per core", "rps_per_server_core"),
    ("load before", "load_average_before"),
]


def median_run(attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """The attempt with the median throughput (whole, so its numbers belong together)."""
    ordered = sorted(attempts, key=lambda r: r["rps"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["attempts_rps"] = [r["rps"] for r in attempts]
    return chosen


def _best(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    clean = [r for r in runs if r["non_2xx"] == 0 and r["socket_errors"] == 0]
    within = [r for r in clean if r["p99_ms"] < MAX_P99_MS]
    pool = within or clean
    return max(pool, key=lambda r: r["rps"]) if pool else None


async def run() -> dict[str, Any]:
    opts = options()
    await asyncio.to_thread(ensure_wrk)
    url = await fresh_database(DATABASE)
    if opts.neighbour_mentors:
        await seed_mentors(url, mentors=opts.neighbour_mentors, skills=opts.skills, seed=7)
    seeded = await seed_mentors(url, mentors=opts.mentors, skills=opts.skills)
    print(f"seeded {seeded.mentors} mentors, {seeded.links} skill links in {seeded.seconds} s")
    counts = await sql_counts(seeded)
    plans = {
        "most_offered": await explain(seeded, seeded.skill_slugs[0]),
        "least_offered": await explain(seeded, seeded.skill_slugs[-1]),
    }
    runs = []
    attempts: dict[int, list[dict[str, Any]]] = {w: [] for w in opts.workers}
    for round_ in range(opts.repeat):  # round-robin, so a noisy minute hits every count alike
        for workers in opts.workers:
            print(
                f"wrk: {workers} worker(s), {opts.connections} connections, {opts.duration} s"
                f" (round {round_ + 1}/{opts.repeat})"
            )
            attempts[workers].append(await load(seeded, workers))
    runs = [median_run(attempts[w]) for w in opts.workers]
    best = _best(runs)
    most_statements = max(c["statements"] for c in counts)
    targets = {
        f"statements per list request <= {MAX_STATEMENTS}": most_statements <= MAX_STATEMENTS,
        f"requests/s >= {MIN_RPS:.0f}": bool(best and best["rps"] >= MIN_RPS),
        f"p99 < {MAX_P99_MS:.0f} ms": bool(best and best["p99_ms"] < MAX_P99_MS),
    }
    return {
        "seeded": {k: v for k, v in vars(seeded).items() if k != "api_key"},
        "sql_statements": counts,
        "plans": plans,
        "runs": runs,
        "best_workers": best["workers"] if best else None,
        "targets": targets,
        "tables": [
            table(
                f"GET /v1/mentors?skill=…&limit=20, {opts.connections} connections, "
                f"{opts.duration:.0f} s, {seeded.mentors} mentors",
                [header for header, _ in RUN_COLUMNS],
                [[r[key] for _, key in RUN_COLUMNS] for r in runs],
            ),
            table(
                "SQL statements per list request (X-SQL-Statements)",
                ["skill", "limit", "returned", "statements"],
                [[c["skill"], c["limit"], c["returned"], c["statements"]] for c in counts],
            ),
            table(
                "EXPLAIN ANALYZE of the list statements (skill filter, limit 20)",
                ["skill", "reads from", "execution ms"],
                [
                    [which, p["statement"], p["execution_ms"]]
                    for which, ps in plans.items()
                    for p in ps
                ],
            ),
            table(
                f"Targets (best: {best['workers'] if best else '-'} worker(s))",
                ["target", "met"],
                [[name, met] for name, met in targets.items()],
            ),
        ],
    }
