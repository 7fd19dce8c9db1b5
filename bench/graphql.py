"""GraphQL next to REST: the nested mentors page (50 mentors with skills and stats) at 32
connections, against a real server in its own process (one worker).

    python -m bench.graphql [--requests 2000] [--connections 32] [--mentors 50]
                            [--database-url postgresql+asyncpg://...]   # default: a temp SQLite
    python -m bench graphql                                             # both databases

Prints one JSON object: per face, requests/s, latency percentiles (ms) and the server's CPU per
request. The client (httpx, in this process) alternates the faces in halves.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.kit.registry import Scenario

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


async def _load(
    call: Callable[[], Awaitable[httpx.Response]], requests: int, connections: int
) -> dict[str, Any]:
    latencies: list[float] = []
    remaining = requests
    failures = 0

    async def worker() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            response = await call()
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200 or '"errors"' in response.text[:20]:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return {"latencies": latencies, "failures": failures, "seconds": elapsed}


def _summary(parts: list[dict[str, Any]], cpu_seconds: float) -> dict[str, Any]:
    latencies = [ms for part in parts for ms in part["latencies"]]
    elapsed = sum(part["seconds"] for part in parts)
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "failures": sum(part["failures"] for part in parts),
        "seconds": round(elapsed, 2),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(cuts[49], 1),
        "p95_ms": round(cuts[94], 1),
        "p99_ms": round(cuts[98], 1),
        # The server's own CPU per request (its process, from /proc): what the faces cost,
        # whatever the client in this process can drive.
        "server_cpu_ms_per_request": round(1000 * cpu_seconds / len(latencies), 2),
    }


async def run(
    *,
    requests: int = 2000,
    connections: int = 32,
    mentors: int = 50,
    database_url: str | None = None,
) -> dict[str, Any]:
    from bench.kit.server import Server, cpu_seconds

    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        key = await create_bench_app(url)
        env = {"MENTORAPI_DB_POOL_SIZE": str(connections)}
        async with Server(url, workers=1, env=env, name="graphql") as server:
            limits = httpx.Limits(
                max_connections=connections, max_keepalive_connections=connections
            )
            async with httpx.AsyncClient(
                base_url=server.base_url,
                headers={"Authorization": f"Bearer {key}"},
                limits=limits,
                timeout=60,
            ) as client:
                await _seed(client, mentors)

                def graphql() -> Awaitable[httpx.Response]:
                    return client.post(
                        "/graphql", json={"query": GRAPHQL_QUERY, "variables": {"first": mentors}}
                    )

                def rest() -> Awaitable[httpx.Response]:
                    return client.get("/v1/mentors", params={"limit": mentors})

                check = (await graphql()).json()
                assert "errors" not in check, check
                assert len(check["data"]["mentors"]["edges"]) == mentors
                warmup = max(connections, requests // 10)
                await _load(graphql, warmup, connections)
                await _load(rest, warmup, connections)
                # Alternating halves: a slow spell of a shared machine falls on both faces.
                faces = {"graphql": graphql, "rest": rest}
                parts: dict[str, list[dict[str, Any]]] = {name: [] for name in faces}
                cpu = dict.fromkeys(faces, 0.0)
                pids = server.pids()
                for half in (requests // 2, requests - requests // 2):
                    for name, call in faces.items():
                        before = cpu_seconds(pids)
                        parts[name].append(await _load(call, half, connections))
                        cpu[name] += cpu_seconds(pids) - before
        found = {name: _summary(parts[name], cpu[name]) for name in faces}
        return {
            "benchmark": "graphql-vs-rest-mentors-page",
            "database": url.split(":", 1)[0],
            "mentors_per_page": mentors,
            "skills_per_mentor": 3,
            "connections": connections,
            **found,
            "throughput_ratio": round(
                found["graphql"]["requests_per_second"] / found["rest"]["requests_per_second"], 2
            ),
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
    from bench.kit.report import table

    runs = [
        await run(database_url=await fresh_database("mentorapi_bench_graphql")),
        await run(),
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
        ]
        for r in runs
        for face in ("graphql", "rest")
    ]
    return {
        "runs": runs,
        "targets": {
            f"{r['database']}: graphql >= {MIN_THROUGHPUT_RATIO}x rest req/s": r["throughput_ratio"]
            >= MIN_THROUGHPUT_RATIO
            for r in runs
        },
        "tables": [
            table(
                "Mentors page (50 mentors, skills, stats), 32 connections, one worker",
                ["database", "face", "req/s", "p50 ms", "p99 ms", "failures", "cpu ms/req"],
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
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--mentors", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    result = asyncio.run(
        run(
            requests=args.requests,
            connections=args.connections,
            mentors=args.mentors,
            database_url=args.database_url,
        )
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
