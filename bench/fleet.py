"""Mentor search and slots straight at one `serve --workers 2` and through the fleet (HAProxy,
PgBouncer, two `serve --workers 1`: scripts/fleet.sh), alternating, on the same data."""

import asyncio
import os
import statistics
from collections.abc import Callable
from typing import Any

import httpx

from bench.kit.db import backend_pids, fresh_database
from bench.kit.fleet import Fleet, fleet_lock, require_binaries
from bench.kit.names import checkout_database
from bench.kit.options import options
from bench.kit.registry import Scenario
from bench.kit.report import table
from bench.kit.seed import seed_mentors
from bench.kit.server import Server, cpu_seconds, machine_busy_seconds
from bench.kit.wrk import WrkResult, ensure_wrk, run_wrk
from bench.mentors import search_paths
from bench.sessions import SLOTS_CONNECTIONS, settle, slots_base, slots_mentor

DATABASE = checkout_database("fleet")
ROUNDS = 3  # at least: the machine is shared, so one run per setup says little
MAX_COST = 0.15  # the fleet may cost at most 15% of the single server's throughput
DIRECT = "direct"
FLEET = "fleet"
# The same fleet with PgBouncer in session mode and the statement cache on: not a deployment
# (a client holds a server connection), a reference for what re-planning every statement
# costs behind PgBouncer < 1.21 in transaction mode (what max_prepared_statements saves).
SESSION = "fleet, session pool"
SETUPS = [DIRECT, FLEET, SESSION]


async def _measure(
    base_url: str,
    paths: list[str],
    headers: dict[str, str],
    connections: int,
    roles: Callable[[], dict[str, list[int]]],
    database_url: str,
) -> dict[str, Any]:
    opts = options()
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
        probe = await client.get(paths[0])  # a broken setup must not be "fast"
    if probe.status_code != 200 or not probe.json()["data"]:
        raise RuntimeError(f"probe of {base_url}: {probe.status_code} {probe.text[:300]}")

    def drive(seconds: float) -> WrkResult:
        return run_wrk(
            base_url,
            paths,
            headers=headers,
            duration=seconds,
            connections=connections,
            threads=opts.threads,
        )

    if opts.warmup:
        await asyncio.to_thread(drive, opts.warmup)
    pids = {**roles(), "postgres": await backend_pids(database_url)}
    before = {role: cpu_seconds(p) for role, p in pids.items()}
    busy_before, load_before = machine_busy_seconds(), os.getloadavg()[0]
    result = await asyncio.to_thread(drive, opts.duration)
    used = {role: cpu_seconds(p) - before[role] for role, p in pids.items()}
    busy = machine_busy_seconds() - busy_before
    per_request = 1000 / result.requests if result.requests else 0.0
    return {
        **result.as_dict(),
        # CPU per request of each part (ms): the API processes, HAProxy, PgBouncer, PostgreSQL.
        "cpu_ms": {role: round(seconds * per_request, 3) for role, seconds in used.items()},
        "machine_busy_cores": round(busy / result.seconds, 2) if result.seconds else None,
        "load_average_before": round(load_before, 2),
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds (each figure on its own)."""
    roles = sorted({role for r in runs for role in r["cpu_ms"]})
    return {
        "rounds": len(runs),
        "rps": round(statistics.median(r["rps"] for r in runs), 1),
        "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "socket_errors": sum(r["socket_errors"] for r in runs),
        "cpu_ms": {
            role: round(statistics.median(r["cpu_ms"].get(role, 0.0) for r in runs), 3)
            for role in roles
        },
        "machine_busy_cores": round(statistics.median(r["machine_busy_cores"] for r in runs), 2),
        "attempts_rps": [r["rps"] for r in runs],
        "attempts_p99_ms": [r["p99_ms"] for r in runs],
    }


async def run() -> dict[str, Any]:
    opts = options()
    require_binaries()
    await asyncio.to_thread(ensure_wrk)
    url = await fresh_database(DATABASE)
    seeded = await seed_mentors(url, mentors=opts.mentors, skills=opts.skills)
    headers = {"Authorization": f"Bearer {seeded.api_key}"}
    rounds = max(ROUNDS, opts.repeat)
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    # Each serve process's pool as fleet.sh gives the fleet's: the same 20 connections in all
    # (and fewer at once on a PostgreSQL other benches and tests share: max_connections).
    pool = {"MENTORAPI_DB_POOL_SIZE": "10", "MENTORAPI_SHUTDOWN_DRAIN_SECONDS": "0"}
    async with Server(url, workers=2, env=pool, name="fleet-direct") as direct:
        async with httpx.AsyncClient(base_url=direct.base_url, headers=headers, timeout=60) as c:
            slots_path = await slots_mentor(c, slots_base())
        await settle(url)
        loads = {
            "search": (search_paths(seeded), opts.connections),
            "slots": ([slots_path], SLOTS_CONNECTIONS),
        }

        async def measure_all(
            setup: str, base_url: str, roles: Callable[[], dict[str, list[int]]], round_: int
        ) -> None:
            for load, (paths, connections) in loads.items():
                print(f"wrk: {load} via {setup}, round {round_ + 1}/{rounds}", flush=True)
                runs.setdefault((load, setup), []).append(
                    await _measure(base_url, paths, headers, connections, roles, url)
                )

        with fleet_lock():
            for round_ in range(rounds):
                # Alternate, and change who goes first each round: a noisy minute of this
                # shared machine hits every setup alike. One fleet up at a time (each holds
                # PostgreSQL connections: PgBouncer's pool, the key cache's LISTEN).
                for setup in SETUPS[round_ % 3 :] + SETUPS[: round_ % 3]:
                    if setup == DIRECT:
                        await measure_all(
                            setup, direct.base_url, lambda: {"api": direct.pids()}, round_
                        )
                        continue
                    env = {"FLEET_POOL_MODE": "session"} if setup == SESSION else {}
                    async with Fleet(DATABASE, env=env) as fleet:
                        await measure_all(setup, fleet.base_url, fleet.pids, round_)
    results: dict[str, Any] = {}
    rows = []
    for load, (_, connections) in loads.items():
        summaries = {setup: _summary(runs[(load, setup)]) for setup in SETUPS}
        single = summaries[DIRECT]
        ratios = {
            setup: round(s["rps"] / single["rps"], 3) if single["rps"] else None
            for setup, s in summaries.items()
        }
        results[load] = {
            "direct": single,
            "fleet": summaries[FLEET],
            "fleet_session_pool": summaries[SESSION],
            "fleet_over_direct_rps": ratios[FLEET],
            "fleet_session_pool_over_direct_rps": ratios[SESSION],
        }
        for setup, s in summaries.items():
            cpu = s["cpu_ms"]
            rows.append(
                [
                    load,
                    connections,
                    setup,
                    s["rps"],
                    s["p50_ms"],
                    s["p99_ms"],
                    s["non_2xx"] + s["socket_errors"],
                    cpu.get("api"),
                    cpu.get("haproxy"),
                    cpu.get("pgbouncer"),
                    cpu.get("postgres"),
                    s["machine_busy_cores"],
                    " / ".join(f"{x:,.0f}" for x in s["attempts_rps"]),
                    ratios[setup] if setup != DIRECT else None,
                ]
            )
    targets = {
        f"{load}: fleet >= {1 - MAX_COST:.0%} of direct req/s": bool(
            r["fleet_over_direct_rps"] and r["fleet_over_direct_rps"] >= 1 - MAX_COST
        )
        for load, r in results.items()
    }
    return {
        **results,
        "rounds": rounds,
        "targets": targets,
        "tables": [
            table(
                f"Direct (serve --workers 2) vs fleet (HAProxy + PgBouncer + 2 x serve --workers "
                f"1; the session pool: a reference), medians of {rounds} alternating rounds of "
                f"{opts.duration:.0f} s, {os.cpu_count()} cores (shared: see machine cores)",
                [
                    "load",
                    "conns",
                    "setup",
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "errors",
                    "api cpu ms",
                    "haproxy ms",
                    "pgbouncer ms",
                    "postgres ms",
                    "machine cores",
                    "runs req/s",
                    "fleet/direct",
                ],
                rows,
            ),
            table("Targets", ["target", "met"], [[k, v] for k, v in targets.items()]),
        ],
    }


SCENARIOS = [
    Scenario(
        "fleet",
        run,
        "search and slots, one serve --workers 2 vs the fleet (HAProxy + PgBouncer); --fleet",
        default=False,
    )
]
