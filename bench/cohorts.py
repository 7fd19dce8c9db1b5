"""Cohort matching through the API: 1,000 mentees x 300 mentors (capacity 3), run by a worker.

PostgreSQL only (a fresh database `mentorapi_bench_cohorts`). 300 mentors are seeded as the
other benches seed them (skills with levels, languages, zones, ratings: bench/kit/seed.py) and
1,000 mentees are created through the API, each seeking one or two of the same skills. Then, for
each objective, a cohort of all of them (capacity 3, one mentor each) is created with
`POST /v1/cohorts`, a run is started with `POST /v1/cohorts/{id}/match-runs`, and
`GET /v1/match-runs/{id}` is polled (every 20 ms) until it has succeeded, against a server and a
separate `mentorapi worker` process that runs the job. Reported per objective:
- `start → succeeded`: from sending the POST to the first GET that shows `succeeded` (target
  under 2 s for the solve alone; this includes scoring 300,000 pairs from the database, the
  solve, writing the proposals and the polling);
- the job's own time (`started_at` → `finished_at`), its wait in the queue, and within it the
  time to score the pairs (`stats.score_seconds`, matching/scoring.py) and to solve
  (`stats.solve_seconds`, matching/assignment.py);
- the optimality gap: the run's objective, recomputed from its proposals, against the optimum
  of the same pairs (scored again here, in this process, from the same database) solved as a
  linear programme by GLOP (bench/cohort_solve.py); in units of 1e-6 of a score, 0 when the run
  is optimal;
- the stats the run reports (matched, mean and min score, utilisation p50/p95) and how long the
  finished run takes to read (its 1,000 proposals).
Environment: BENCH_COHORT_MENTEES (1000), BENCH_COHORT_MENTORS (300), BENCH_COHORT_CAPACITY (3).
"""

import asyncio
import os
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.cohort_solve import lp_optimum, scaled_value
from bench.kit import procs
from bench.kit.db import fresh_database
from bench.kit.names import checkout_database
from bench.kit.report import table
from bench.kit.seed import seed_mentors
from bench.kit.server import Server
from mentorapi.config import Settings
from mentorapi.db.engine import create_database
from mentorapi.matching.assignment import CohortProblem, CohortSolution
from mentorapi.matching.scoring import score_pairs

MENTEES = int(os.environ.get("BENCH_COHORT_MENTEES", "1000"))
MENTORS = int(os.environ.get("BENCH_COHORT_MENTORS", "300"))
CAPACITY = int(os.environ.get("BENCH_COHORT_CAPACITY", "3"))
SKILLS = 12
POLL_SECONDS = 0.02
TIMEOUT_SECONDS = 600.0


async def _mentees(client: httpx.AsyncClient, slugs: list[str]) -> list[str]:
    rng = random.Random(15)
    bodies = [
        {
            "external_id": f"mentee-{n:05d}",
            "name": f"Mentee {n}",
            "timezone": rng.choice(["Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
            "languages": ["en"],
            "seeking": [
                {"slug": slug, "level": rng.randint(1, 3)}
                for slug in rng.sample(slugs[:SKILLS], k=rng.choice([1, 2]))
            ],
        }
        for n in range(MENTEES)
    ]
    gate = asyncio.Semaphore(8)

    async def create(body: dict[str, Any]) -> str:
        async with gate:
            response = await client.post("/v1/mentees", json=body)
        response.raise_for_status()
        return str(response.json()["id"])

    return list(await asyncio.gather(*(create(b) for b in bodies)))


async def _mentor_ids(client: httpx.AsyncClient) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/mentors", params=params)).json()
        ids += [m["id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


async def _run(client: httpx.AsyncClient, cohort_id: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    response = await client.post(f"/v1/cohorts/{cohort_id}/match-runs", json={"seed": 1})
    response.raise_for_status()
    run_id = response.json()["id"]
    deadline = started + TIMEOUT_SECONDS
    while time.perf_counter() < deadline:
        run = (await client.get(f"/v1/match-runs/{run_id}")).json()
        if run["status"] == "succeeded":
            return run, time.perf_counter() - started
        if run["status"] == "failed":
            raise RuntimeError(f"the run failed: {run['error']}")
        await asyncio.sleep(POLL_SECONDS)
    raise RuntimeError(f"the run did not finish in {TIMEOUT_SECONDS:.0f} s")


async def _optimum(
    url: str,
    app_id: str,
    mentees: list[str],
    mentors: list[str],
    objective: str,
    run: dict[str, Any],
) -> dict[str, Any]:
    """The run against the LP optimum of the same pairs, scored again from the database."""
    db = create_database(Settings(database_url=url))
    try:
        async with db.read_sessionmaker() as s:
            scored = await score_pairs(s, app_id=app_id, mentee_ids=mentees, mentor_ids=mentors)
    finally:
        await db.dispose()
    problem = CohortProblem(
        mentees=mentees,
        mentors=mentors,
        scores=scored.scores(),
        capacity=dict.fromkeys(mentors, CAPACITY),
        objective="max_participation" if objective == "max_participation" else "max_score",
    )
    pairs = [(p["mentee_id"], p["mentor_id"]) for p in run["proposals"]]
    rescored = all(
        abs(scored[pair].score - p["score"]) < 1e-9
        for pair, p in zip(pairs, run["proposals"], strict=True)
    )
    as_solved = CohortSolution(
        pairs=pairs, unmatched={}, objective_value=run["stats"]["objective_value"], stats={}
    )
    started = time.perf_counter()
    most, best = await asyncio.to_thread(lp_optimum, problem)
    return {
        "pairs_scored": len(scored),
        "scores_reproduced": rescored,
        "gap_units": round(best) - scaled_value(problem, as_solved),
        "most_matched": most if objective == "max_participation" else None,
        "lp_seconds": round(time.perf_counter() - started, 1),
    }


async def run() -> dict[str, Any]:
    url = await fresh_database(checkout_database("cohorts"))
    seeded = await seed_mentors(url, mentors=MENTORS, skills=SKILLS)
    headers = {"Authorization": f"Bearer {seeded.api_key}"}
    log = Path(tempfile.gettempdir()) / "mentorapi-bench-cohorts-worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTORAPI_")}
    env.update(MENTORAPI_DATABASE_URL=url, MENTORAPI_RATE_LIMITS_ENABLED="false")
    worker = procs.spawn([sys.executable, "-m", "mentorapi.cli", "worker"], env=env, log=log)
    figures: dict[str, Any] = {"mentees": MENTEES, "mentors": MENTORS, "capacity": CAPACITY}
    rows: list[list[Any]] = []
    try:
        async with (
            Server(url, name="cohorts") as server,
            httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60) as client,
        ):
            mentees = await _mentees(client, seeded.skill_slugs)
            mentors = await _mentor_ids(client)
            for objective in ("max_score", "max_participation"):
                body = {
                    "name": f"bench {objective}",
                    "mentee_ids": mentees,
                    "mentor_ids": mentors,
                    "capacity": CAPACITY,
                    "objective": objective,
                }
                created = await client.post("/v1/cohorts", json=body)
                created.raise_for_status()
                done, seconds = await _run(client, created.json()["id"])
                started = time.perf_counter()
                await client.get(f"/v1/match-runs/{done['id']}")
                read_ms = (time.perf_counter() - started) * 1000
                job = _seconds(done["finished_at"]) - _seconds(done["started_at"])
                queued = _seconds(done["started_at"]) - _seconds(done["created_at"])
                gap = await _optimum(url, seeded.app_id, mentees, mentors, objective, done)
                stats = done["stats"]
                figure = {
                    "start_to_succeeded_seconds": round(seconds, 2),
                    "job_seconds": round(job, 2),
                    "queued_seconds": round(queued, 2),
                    "score_seconds": stats["score_seconds"],
                    "solve_seconds": stats["solve_seconds"],
                    "read_ms": round(read_ms, 1),
                    **gap,
                    **{k: stats[k] for k in ("matched", "mean_score", "min_score")},
                    "utilisation_p50": stats["mentor_utilisation_p50"],
                    "utilisation_p95": stats["mentor_utilisation_p95"],
                }
                figures[objective] = figure
                rows.append(
                    [
                        objective,
                        figure["start_to_succeeded_seconds"],
                        figure["job_seconds"],
                        figure["score_seconds"],
                        figure["solve_seconds"],
                        figure["gap_units"],
                        figure["matched"],
                        figure["mean_score"],
                        figure["utilisation_p50"],
                        figure["utilisation_p95"],
                        figure["read_ms"],
                    ]
                )
    finally:
        procs.stop(worker)
    figures["tables"] = [
        table(
            f"cohort through the API: {MENTEES} mentees x {MENTORS} mentors, capacity {CAPACITY}, "
            "one worker process",
            [
                "objective",
                "start → succeeded s",
                "job s",
                "score s",
                "solve s",
                "gap (1e-6)",
                "matched",
                "mean score",
                "util p50",
                "util p95",
                "GET run ms",
            ],
            rows,
        )
    ]
    return figures


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
