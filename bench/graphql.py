"""GraphQL next to REST: the nested mentors page (50 mentors with skills and stats) at 32
connections, against a real uvicorn server in its own process.

    python -m bench.graphql [--requests 2000] [--connections 32] [--mentors 50]
                            [--database-url postgresql+asyncpg://...]   # default: a temp SQLite

Prints one JSON object: per face, requests/s and latency percentiles (ms). Standalone on
purpose, so `python -m bench` can import `run()` or call it as a subprocess.
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "failures": failures,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(cuts[49], 1),
        "p95_ms": round(cuts[94], 1),
        "p99_ms": round(cuts[98], 1),
    }


async def run(
    *,
    requests: int = 2000,
    connections: int = 32,
    mentors: int = 50,
    database_url: str | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        key = await create_bench_app(url)
        port = _free_port()
        env = {
            **os.environ,
            "MENTORAPI_DATABASE_URL": url,
            "MENTORAPI_RATE_LIMITS_ENABLED": "false",
            "MENTORAPI_WEBHOOK_WORKER_ENABLED": "false",
            "MENTORAPI_DB_POOL_SIZE": str(connections),
        }
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "mentorapi.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            env=env,
        )
        try:
            limits = httpx.Limits(
                max_connections=connections, max_keepalive_connections=connections
            )
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {key}"},
                limits=limits,
                timeout=60,
            ) as client:
                for _ in range(200):
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.05)
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
                return {
                    "benchmark": "graphql-vs-rest-mentors-page",
                    "database": url.split(":", 1)[0],
                    "mentors_per_page": mentors,
                    "skills_per_mentor": 3,
                    "connections": connections,
                    "graphql": await _load(graphql, requests, connections),
                    "rest": await _load(rest, requests, connections),
                }
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), 10)


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
