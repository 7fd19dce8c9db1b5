"""In process: recommendations on the `matching` bench's population (10,000 mentors, seed 7),
straight into the ASGI app: the server's CPU per request, PostgreSQL's, the wall time of one
request at a time, the statements of a request, recall@5 of the planted mentors and the top-1
share of the busiest 1% (default policy), and optionally a cProfile.

    python -m bench.matching_profile [--requests 100]
                                     [--batches 5] [--reuse] [--profile] [--top 30]
    python -m bench matching_cpu                       # PostgreSQL, no profile

`--reuse` keeps the seeded database between runs (PostgreSQL: the population is written next
to it in the system's temporary directory) and migrates it to head, so that old and new code
can be run one after the other on the same rows. No HTTP server and no client library, so the
figures are the request's own work. Instruction counts, which no other load changes:

    valgrind --tool=callgrind --instr-atstart=no python3.11 -m bench.matching_profile \
        --reuse --callgrind --requests 50 --batches 1  # Collected / 50 = per request
"""

import argparse
import dataclasses
import gc
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.graphql_profile import asgi_caller
from bench.kit.names import checkout_database
from bench.kit.profiling import callgrind_window, cprofile, profile_main
from bench.kit.registry import Scenario

DATABASE = checkout_database("matching_profile")
WARMUP = 20


def _saved() -> Path:
    return Path(tempfile.gettempdir()) / f"{DATABASE}.json"


async def _population(reuse: bool) -> Any:
    from bench.kit.db import fresh_database, sqlalchemy_url
    from bench.kit.options import options
    from bench.matching import Population, populate
    from mentorapi.db.migrate import upgrade_async

    saved = _saved()
    if reuse and saved.exists():
        found = json.loads(saved.read_text())
        found["busiest"] = set(found["busiest"])
        found["planted"] = [(ask, right) for ask, right in found["planted"]]
        population = Population(**found)
        url = sqlalchemy_url(DATABASE)
        await upgrade_async(url)
        return dataclasses.replace(population, url=url)
    url = await fresh_database(DATABASE)
    population = await populate(url, options().mentors, options().skills)
    # Written whenever the rows are seeded, so that a later --reuse finds these very rows.
    found = dataclasses.asdict(population)
    found["busiest"] = sorted(found["busiest"])
    saved.write_text(json.dumps(found))
    return population


async def run(
    *,
    requests: int = 100,
    batches: int = 5,
    reuse: bool = False,
    profile: bool = False,
    top: int = 30,
    dump: str | None = None,
    callgrind: bool = False,
    quality: bool = True,
) -> dict[str, Any]:
    from bench.kit.db import backend_pids
    from bench.kit.server import cpu_seconds
    from mentorapi.config import Settings
    from mentorapi.db.engine import statement_counter
    from mentorapi.main import create_app

    population = await _population(reuse)
    settings = Settings(
        database_url=population.url,
        rate_limits_enabled=False,
        webhook_worker_enabled=False,
        housekeeping_enabled=False,
        auto_analyze=False,
        demo_key_file=os.devnull,
    )
    app = create_app(settings)
    auth = {"Authorization": f"Bearer {population.api_key}", "host": "bench"}

    def body(ask: str, limit: int = 5) -> bytes:
        return json.dumps({"mentee_id": population.asker, "ask": ask, "limit": limit}).encode()

    async def recommend(ask: str, limit: int = 5) -> list[str]:
        call = asgi_caller(app, "POST", "/v1/matching/recommendations", auth, body(ask, limit))
        status, answer = await call()
        if status != 200:
            raise RuntimeError(f"{status}: {answer[:300]!r}")
        return [item["mentor"]["id"] for item in json.loads(answer)["data"]]

    async with app.router.lifespan_context(app):
        asks = [ask for ask, _ in population.planted]
        calls = [
            asgi_caller(app, "POST", "/v1/matching/recommendations", auth, body(ask))
            for ask in asks
        ]
        turn = 0

        async def one() -> None:
            nonlocal turn
            status, answer = await calls[turn % len(calls)]()
            turn += 1
            if status != 200:
                raise RuntimeError(f"{status}: {answer[:300]!r}")

        pids: list[int] = []

        async def batch(n: int) -> tuple[float, float, float]:
            """Server CPU, database CPU and wall ms per request over n requests."""
            gc.collect()
            db_before = cpu_seconds(pids)
            started, wall = time.process_time(), time.perf_counter()
            for _ in range(n):
                await one()
            server = (time.process_time() - started) * 1000 / n
            elapsed = (time.perf_counter() - wall) * 1000 / n
            return server, (cpu_seconds(pids) - db_before) * 1000 / n, elapsed

        await batch(WARMUP)  # caches, prepared statements, imports
        pids = await backend_pids(population.url)
        counted: list[str] = []
        token = statement_counter.set(counted)
        try:
            await one()
        finally:
            statement_counter.reset(token)
        figures: dict[str, Any] = {}
        if quality:
            hits = total = 0
            for ask, right in population.planted:
                top5 = set(await recommend(ask))
                hits += len(top5 & set(right))
                total += len(right)
            firsts = [t[0] for ask in population.generic if (t := await recommend(ask, 1))]
            busy = sum(1 for m in firsts if m in population.busiest) / max(1, len(firsts))
            figures = {"recall_at_5": round(hits / total, 3), "busiest_1pct_top1": busy}
        async with callgrind_window(callgrind):
            measured = [await batch(requests) for _ in range(batches)]
        profiled = await cprofile(lambda: batch(requests), top, dump) if profile else ""
    return {
        "requests_per_batch": requests,
        "batches": batches,
        **figures,
        "statements": len(counted),
        "statement_list": [s[:100] for s in counted],
        "cpu_ms_per_request": round(statistics.median(m[0] for m in measured), 3),
        "db_cpu_ms_per_request": round(statistics.median(m[1] for m in measured), 3),
        "wall_ms_per_request": round(statistics.median(m[2] for m in measured), 3),
        "batches_ms": [[round(a, 3), round(b, 3), round(c, 3)] for a, b, c in measured],
        "profile": profiled,
    }


async def scenario() -> dict[str, Any]:
    """A recommendation's CPU, statements and quality in process (PostgreSQL)."""
    found = await run()
    found.pop("profile")
    return found


SCENARIOS = [
    Scenario(
        "matching_cpu",
        scenario,
        "a recommendation's CPU, statements and quality in process",
        default=False,
    )
]


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep and reuse the seeded database")
    parser.add_argument("--no-quality", dest="quality", action="store_false")


def main() -> None:
    profile_main(__doc__, run, _options)


if __name__ == "__main__":
    main()
