"""Mentor search right after a partner's first import (10k mentors created through the API into
a fresh database, nobody running ANALYZE), then again after VACUUM ANALYZE, in the same run."""

import asyncio
import os
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from bench.kit.db import asyncpg_dsn, fresh_database
from bench.kit.names import checkout_database
from bench.kit.options import options
from bench.kit.registry import Scenario
from bench.kit.report import table
from bench.kit.seed import Seeded, api_bodies, create_bench_app
from bench.kit.server import Server
from bench.kit.wrk import ensure_wrk
from bench.mentors import RUN_COLUMNS, explain, measure, median_run, search_paths

DATABASE = checkout_database("import")
# Concurrent clients of the import: a partner's script with a few parallel requests.
IMPORT_CLIENTS = 16
TABLES = ("mentors", "mentor_skills", "skills")


async def _post_all(
    client: httpx.AsyncClient, path: str, bodies: list[dict[str, object]], clients: int
) -> dict[int, int]:
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    statuses: dict[int, int] = {}
    failures: list[str] = []

    async def one_client() -> None:
        while not queue.empty():
            response = await client.post(path, json=queue.get_nowait())
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code != 201 and len(failures) < 3:
                failures.append(f"{response.status_code} {response.text[:300]}")

    await asyncio.gather(*(one_client() for _ in range(clients)))
    if failures:
        raise RuntimeError(f"POST {path} failed: {failures}")
    return statuses


async def table_statistics(url: str) -> list[dict[str, Any]]:
    """What the planner knows about the tables the search reads, against what is there."""
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        rows = await connection.fetch(
            """
            SELECT c.relname, c.reltuples::bigint AS reltuples, c.relpages, s.n_live_tup,
                   s.n_mod_since_analyze, s.last_analyze, s.last_autoanalyze,
                   (SELECT count(*) FROM pg_stats p
                    WHERE p.schemaname = 'public' AND p.tablename = c.relname) AS columns_with_stats
            FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
            WHERE c.relname = ANY($1::text[]) ORDER BY c.relname
            """,
            list(TABLES),
        )
    finally:
        await connection.close()
    now = datetime.now(UTC)

    def age(when: datetime | None) -> float | None:
        return round((now - when).total_seconds(), 1) if when else None

    return [
        {
            "table": row["relname"],
            "reltuples": row["reltuples"],
            "relpages": row["relpages"],
            "live_rows": row["n_live_tup"],
            "changed_since_analyze": row["n_mod_since_analyze"],
            "columns_with_stats": row["columns_with_stats"],
            "analyzed_seconds_ago": age(row["last_analyze"]),
            "autoanalyzed_seconds_ago": age(row["last_autoanalyze"]),
        }
        for row in rows
    ]


async def _vacuum_analyze(url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


# What a partner's app shows first: the first page of its mentors, then pages by skill.
FIRST_PAGE = "first page"
BY_SKILL = "by skill"


def _paths(seeded: Seeded) -> dict[str, list[str]]:
    return {FIRST_PAGE: ["/v1/mentors?limit=20"], BY_SKILL: search_paths(seeded)}


async def _phase(
    name: str, server: Server, seeded: Seeded, workers: int, repeat: int
) -> dict[str, Any]:
    statistics = await table_statistics(seeded.database_url)
    plans = {
        "first_page": await explain(seeded, None),
        "most_offered": await explain(seeded, seeded.skill_slugs[0]),
        "least_offered": await explain(seeded, seeded.skill_slugs[-1]),
    }
    runs = []
    for round_ in range(repeat):
        for search, paths in _paths(seeded).items():
            print(f"wrk: {name}, {search}, round {round_ + 1}/{repeat}", flush=True)
            result = await measure(server.base_url, server.pids(), seeded, workers, paths)
            runs.append({"phase": name, "search": search, **result})
    return {"statistics": statistics, "plans": plans, "runs": _medians(runs)}


def _medians(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_search: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by_search.setdefault(r["search"], []).append(r)
    return [median_run(attempts) for attempts in by_search.values()]


async def run() -> dict[str, Any]:
    opts = options()
    await asyncio.to_thread(ensure_wrk)
    url = await fresh_database(DATABASE)
    app_id, api_key = await create_bench_app(url)
    bodies = api_bodies(mentors=opts.mentors, skills=opts.skills)
    workers = min(max(opts.workers), os.cpu_count() or 1)
    headers = {"Authorization": f"Bearer {api_key}"}
    env = {
        "MENTORAPI_AUTO_ANALYZE": "true" if opts.auto_analyze else "false",
        # 20 connections in all, as the fleet's: PostgreSQL's max_connections is shared with
        # whatever else runs here (2 workers x 20 ran it out once).
        "MENTORAPI_DB_POOL_SIZE": "10",
    }
    async with Server(url, workers=workers, env=env, name="import") as server:
        limits = httpx.Limits(max_connections=IMPORT_CLIENTS)
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=60, limits=limits
        ) as client:
            await _post_all(client, "/v1/skills", bodies.skills, 1)
            started = time.perf_counter()
            statuses = await _post_all(client, "/v1/mentors", bodies.mentors, IMPORT_CLIENTS)
            seconds = time.perf_counter() - started
        print(f"imported {len(bodies.mentors)} mentors in {seconds:.1f} s", flush=True)
        links = sum(len(b["skills"]) for b in bodies.mentors)  # type: ignore[arg-type,misc]
        seeded = Seeded(
            database_url=url,
            app_id=app_id,
            api_key=api_key,
            skill_slugs=bodies.skill_slugs,
            mentors=len(bodies.mentors),
            links=links,
            seconds=round(seconds, 2),
        )
        fresh = await _phase("after import", server, seeded, workers, opts.repeat)
        await _vacuum_analyze(url)
        analyzed = await _phase("after VACUUM ANALYZE", server, seeded, workers, opts.repeat)
    runs = fresh["runs"] + analyzed["runs"]
    columns = [("phase", "phase"), ("search", "search"), *RUN_COLUMNS]
    phases = (("after import", fresh), ("analyzed", analyzed))
    return {
        "import": {
            "mentors": seeded.mentors,
            "links": links,
            "clients": IMPORT_CLIENTS,
            "workers": workers,
            "auto_analyze": opts.auto_analyze,
            "seconds": seeded.seconds,
            "mentors_per_second": round(seeded.mentors / seconds, 1),
            "statuses": {str(k): v for k, v in statuses.items()},
        },
        "after_import": fresh,
        "after_vacuum_analyze": analyzed,
        "tables": [
            table(
                f"Import: {seeded.mentors} mentors ({links} skill links) by POST /v1/mentors, "
                f"{IMPORT_CLIENTS} clients, {workers} workers, "
                f"MENTORAPI_AUTO_ANALYZE={str(opts.auto_analyze).lower()}",
                ["seconds", "mentors/s"],
                [[seeded.seconds, round(seeded.mentors / seconds, 1)]],
            ),
            table(
                "What the planner knew when the search started",
                ["phase", "table", "reltuples", "live rows", "changed since", "analyzed s ago"],
                [
                    [
                        phase,
                        s["table"],
                        s["reltuples"],
                        s["live_rows"],
                        s["changed_since_analyze"],
                        _first(s["analyzed_seconds_ago"], s["autoanalyzed_seconds_ago"]),
                    ]
                    for phase, result in phases
                    for s in result["statistics"]
                ],
            ),
            table(
                f"GET /v1/mentors (first page; by skill: ?skill=…&limit=20), "
                f"{opts.connections} connections, {opts.duration:.0f} s per run",
                [header for header, _ in columns],
                [[r[key] for _, key in columns] for r in runs],
            ),
            table(
                "EXPLAIN ANALYZE of the list statement (limit 20)",
                ["phase", "list", "execution ms"],
                [
                    [phase, which, p["execution_ms"]]
                    for phase, result in phases
                    for which, ps in result["plans"].items()
                    for p in ps
                ],
            ),
        ],
    }


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


SCENARIOS = [Scenario("import", run, "mentor search right after a bulk import through the API")]
