"""GraphQL next to REST: the nested mentors page (50 mentors with skills and stats) at 32
connections, against a real server in its own process (one worker), both faces driven by wrk.

    python -m bench.graphql [--duration 15] [--repeat 1] [--connections 32] [--mentors 50]
                            [--database-url postgresql+asyncpg://...]   # default: a temp SQLite
    python -m bench graphql [--duration 15] [--repeat 3] [--connections 32]  # both databases

Prints one JSON object: per face, requests/s, latency percentiles (ms) and the server's CPU per
request. With --repeat N the faces take N turns, alternating which goes first; each face's
median turn is reported, and the median of the turns' GraphQL/REST ratios.
"""

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.kit.names import checkout_database
from bench.kit.registry import Scenario
from bench.kit.wrk import WrkResult, run_wrk

CONNECTIONS = 32

GRAPHQL_QUERY = """query Mentors($first: Int!) {
  mentors(first: $first) {
    edges { node {
      id name headline timezone languages formats sessionLengths
      skills { skill { id slug name } level note }
      stats { sessionsCompleted minutesMentored averageRating ratingsCount }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def create_bench_app(database_url: str) -> str:
    from mentorapi.apps import service as apps_service
    from mentorapi.config import Settings
    from mentorapi.db.engine import create_database
    from mentorapi.db.migrate import upgrade_async

    await upgrade_async(database_url)
    database = create_database(Settings(database_url=database_url))
    try:
        async with database.sessionmaker() as session, session.begin():
            _, issued = await apps_service.create_app(db_session=session, name="bench graphql")
        return issued.secret
    finally:
        await database.dispose()


async def _seed(client: httpx.AsyncClient, mentors: int) -> None:
    skills = []
    for i in range(5):
        r = await client.post("/v1/skills", json={"slug": f"bench-skill-{i}", "name": f"Skill {i}"})
        r.raise_for_status()
        skills.append(r.json()["id"])
    for i in range(mentors):
        picks = [{"skill_id": skills[(i + j) % 5], "level": 1 + j} for j in range(3)]
        body = {
            "external_id": f"bench-mentor-{i}",
            "name": f"Mentor {i}",
            "headline": "Ten minutes on anything spreadsheet",
            "timezone": "Europe/Berlin",
            "languages": ["en", "de"],
            "formats": ["video", "chat"],
            "session_lengths": [15, 30],
            "skills": picks,
        }
        (await client.post("/v1/mentors", json=body)).raise_for_status()


FACES = ("graphql", "rest")


def _summary(runs: list[tuple[WrkResult, float]]) -> dict[str, Any]:
    """A face's median run by req/s (its latencies with it), from (wrk's result, the server's
    CPU seconds over it) per run."""
    result, cpu = sorted(runs, key=lambda run: run[0].rps)[len(runs) // 2]
    return {
        "requests": result.requests,
        "failures": result.non_2xx + result.socket_errors + result.failures,
        "seconds": result.seconds,
        "requests_per_second": result.rps,
        "p50_ms": result.p50_ms,
        "p90_ms": result.p90_ms,
        "p99_ms": result.p99_ms,
        # The server's own CPU per request (its processes, from /proc): what the faces cost.
        "server_cpu_ms_per_request": round(1000 * cpu / result.requests, 2)
        if result.requests
        else None,
        "runs_rps": [run.rps for run, _ in runs],
    }


async def run(
    *,
    connections: int = CONNECTIONS,
    mentors: int = 50,
    database_url: str | None = None,
    duration: float = 15.0,
    warmup: float = 3.0,
    repeat: int = 1,
    threads: int = 2,
) -> dict[str, Any]:
    from bench.kit.server import Server, cpu_seconds

    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        key = await create_bench_app(url)
        auth = {"Authorization": f"Bearer {key}"}
        env = {"MENTORAPI_DB_POOL_SIZE": str(connections)}
        async with Server(url, workers=1, env=env, name="graphql") as server:
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=auth, timeout=60
            ) as client:
                await _seed(client, mentors)
                document = json.dumps({"query": GRAPHQL_QUERY, "variables": {"first": mentors}})

                async def check() -> None:
                    answer = (
                        await client.post(
                            "/graphql",
                            content=document,
                            headers={"Content-Type": "application/json"},
                        )
                    ).json()
                    if "errors" in answer or len(answer["data"]["mentors"]["edges"]) != mentors:
                        raise RuntimeError(f"graphql: {str(answer)[:300]}")
                    rest = await client.get("/v1/mentors", params={"limit": mentors})
                    if rest.status_code != 200 or len(rest.json()["data"]) != mentors:
                        raise RuntimeError(f"rest: {rest.status_code} {rest.text[:300]}")

                await check()

            # Each face is one prebuilt request (no Lua per request): wrk's CPU stays small
            # next to the server's, so the ratio compares the servers. A GraphQL answer with
            # "errors" comes with status 200: wrk counts those bodies as failures.
            loads: dict[str, dict[str, Any]] = {
                "graphql": {
                    "paths": ["/graphql"],
                    "method": "POST",
                    "body": document,
                    "headers": {**auth, "Content-Type": "application/json"},
                    "fail_on": '"errors"',
                },
                "rest": {"paths": [f"/v1/mentors?limit={mentors}"], "headers": auth},
            }

            def drive(face: str, seconds: float) -> WrkResult:
                return run_wrk(
                    server.base_url,
                    duration=seconds,
                    connections=connections,
                    threads=threads,
                    **loads[face],
                )

            if warmup:
                for face in FACES:
                    await asyncio.to_thread(drive, face, warmup)
            pids = server.pids()
            measured: dict[str, list[tuple[WrkResult, float]]] = {face: [] for face in FACES}
            load_before = os.getloadavg()[0]
            for turn in range(repeat):
                # Alternating which face goes first: a slow spell of a shared machine falls on
                # both faces.
                for face in FACES if turn % 2 == 0 else FACES[::-1]:
                    before = cpu_seconds(pids)
                    result = await asyncio.to_thread(drive, face, duration)
                    measured[face].append((result, cpu_seconds(pids) - before))
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=auth, timeout=60
            ) as client:
                await check()
        found = {face: _summary(measured[face]) for face in FACES}
        ratios = sorted(
            g.rps / r.rps
            for (g, _), (r, _) in zip(measured["graphql"], measured["rest"], strict=True)
            if r.rps
        )
        return {
            "benchmark": "graphql-vs-rest-mentors-page",
            "database": url.split(":", 1)[0],
            "mentors_per_page": mentors,
            "skills_per_mentor": 3,
            "connections": connections,
            "threads": threads,
            "duration": duration,
            "repeat": repeat,
            "load_average_before": round(load_before, 2),
            **found,
            # The median of each turn's GraphQL/REST ratio.
            "throughput_ratio": round(ratios[len(ratios) // 2], 2) if ratios else None,
            "cpu_ratio": round(
                found["graphql"]["server_cpu_ms_per_request"]
                / found["rest"]["server_cpu_ms_per_request"],
                2,
            ),
        }


MIN_THROUGHPUT_RATIO = 0.8  # the target: GraphQL at 0.8x REST's requests per second


async def scenario() -> dict[str, Any]:
    """The nested mentors page, GraphQL against REST, on PostgreSQL and on SQLite."""
    from bench.kit.db import fresh_database
    from bench.kit.options import given, options
    from bench.kit.report import table

    opts = options()
    # 32 unless --connections says otherwise (its default, 64, is the search benches').
    connections = opts.connections if given("connections") else CONNECTIONS
    knobs: dict[str, Any] = {
        "connections": connections,
        "duration": opts.duration,
        "warmup": opts.warmup,
        "repeat": opts.repeat,
        "threads": opts.threads,
    }
    runs = [
        await run(database_url=await fresh_database(checkout_database("graphql")), **knobs),
        await run(**knobs),
    ]
    rows = [
        [
            r["database"],
            face,
            r[face]["requests_per_second"],
            r[face]["p50_ms"],
            r[face]["p99_ms"],
            r[face]["failures"],
            r[face]["server_cpu_ms_per_request"],
            r["load_average_before"],
        ]
        for r in runs
        for face in FACES
    ]
    median = f", median of {opts.repeat} alternating turns" if opts.repeat > 1 else ""
    return {
        "runs": runs,
        "targets": {
            f"{r['database']}: graphql >= {MIN_THROUGHPUT_RATIO}x rest req/s": r["throughput_ratio"]
            >= MIN_THROUGHPUT_RATIO
            for r in runs
        },
        "tables": [
            table(
                f"Mentors page (50 mentors, skills, stats) from wrk, {connections} connections, "
                f"{opts.duration:g} s a face{median}, one worker",
                [
                    "database",
                    "face",
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "failures",
                    "cpu ms/req",
                    "load before",
                ],
                rows,
            ),
            table(
                "GraphQL against REST",
                ["database", "throughput (x REST)", "server CPU (x REST)"],
                [[r["database"], r["throughput_ratio"], r["cpu_ratio"]] for r in runs],
            ),
        ],
    }


SCENARIOS = [Scenario("graphql", scenario, "the nested mentors page, GraphQL against REST")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds a face a turn")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds a face first")
    parser.add_argument("--repeat", type=int, default=1, help="turns; the median is reported")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--mentors", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    result = asyncio.run(
        run(
            connections=args.connections,
            mentors=args.mentors,
            database_url=args.database_url,
            duration=args.duration,
            warmup=args.warmup,
            repeat=args.repeat,
            threads=args.threads,
        )
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
