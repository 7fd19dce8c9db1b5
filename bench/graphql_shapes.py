"""In process: the server's CPU per GraphQL request when every document has a shape never seen
before (a hostile stream: new aliases, new field orders), against a document repeated, and
against graphql-core's own execution with the compiled completions off (graphql/execution.py).

    python -m bench.graphql_shapes [--first 1] [--requests 100] [--batches 5] [--mode unique]
    valgrind --tool=callgrind --instr-atstart=no python3.11 -m bench.graphql_shapes \
        --mode unique --callgrind --requests 20        # Collected / 20: instructions a request

Each batch of each mode runs in turn, in one window, so a slow spell of a shared machine falls
on all of them; the medians are printed, with the compiles each mode made per request. Modes:

- repeated: one document, again and again (parsed, validated and compiled once);
- unique: a document of a new shape every request (parsed and validated every time too);
- unique-plain: the same stream with `PlainFieldsExecutor` swapped for strawberry's own
  execution context: what a hostile stream costs when nothing is compiled;
- unique-twice (and -plain): each new document sent twice running, the second time found in
  the document cache, planned and compiled (the most a stream can make the service plan).
"""

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench.graphql_profile import _seed, asgi_caller
from bench.kit.callgrind import instrument
from bench.kit.names import checkout_database
from bench.kit.registry import Scenario

DATABASE = checkout_database("graphql_shapes")

NODE_FIELDS = [
    "id",
    "name",
    "headline",
    "timezone",
    "languages",
    "formats",
    "sessionLengths",
    "skills { skill { id slug name } level note }",
    "stats { sessionsCompleted minutesMentored averageRating ratingsCount }",
]
PAGE = (
    "query Mentors($first: Int!) { mentors(first: $first) { edges { node { "
    + " ".join(NODE_FIELDS)
    + " } } pageInfo { hasNextPage endCursor } } }"
)
ALIASES = 15  # graphql/schema.py's MAX_ALIASES


def _shuffled(rng: random.Random, *items: str) -> str:
    chosen = list(items)
    rng.shuffle(chosen)
    return " ".join(chosen)


def hostile(i: int) -> str:
    """A document of a shape of its own, within every admission limit: the page asked
    `ALIASES` times under aliases, each with the fields of every level in an order drawn from
    `i` (the order is the shape: a completion function per order)."""
    rng = random.Random(i)
    pages = []
    for a in range(ALIASES):
        skill = "skill { " + _shuffled(rng, "id", "slug", "name") + " }"
        skills = "skills { " + _shuffled(rng, skill, "level", "note") + " }"
        stats = (
            "stats { "
            + _shuffled(
                rng, "sessionsCompleted", "minutesMentored", "averageRating", "ratingsCount"
            )
            + " }"
        )
        node = _shuffled(rng, *NODE_FIELDS[:7], skills, stats)
        info = "pageInfo { " + _shuffled(rng, "hasNextPage", "endCursor") + " }"
        edges = "edges { " + _shuffled(rng, "node { " + node + " }", "cursor") + " }"
        pages.append(f"m{a}: mentors(first: $first) {{ {_shuffled(rng, edges, info)} }}")
    return "query Mentors($first: Int!) { " + " ".join(pages) + " }"


def document(i: int | None) -> str:
    return hostile(-1) if i is None else hostile(i)  # unique_twice's are below -1


def compiles() -> int:
    from mentorapi.graphql import execution

    count = getattr(execution, "compile_count", None)  # None: code from before it was counted
    return count() if count is not None else -1


async def _batch(call: Callable[[], Any], requests: int) -> tuple[float, float]:
    """(CPU ms per request, compiles per request) over one batch, every answer checked."""
    gc.collect()
    before = compiles()
    started = time.process_time()
    for _ in range(requests):
        status, body = await call()
        if status != 200 or b'"errors"' in body:
            raise RuntimeError(f"{status}: {body[:300]!r}")
    cpu = (time.process_time() - started) * 1000 / requests
    return cpu, (compiles() - before) / requests


async def run(
    *,
    database: str = "sqlite",
    first: int = 1,
    requests: int = 100,
    batches: int = 5,
    only: str | None = None,
    callgrind: bool = False,
) -> dict[str, Any]:
    from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

    from bench.graphql import create_bench_app
    from bench.graphql_profile import _database_url
    from mentorapi.config import Settings
    from mentorapi.graphql.execution import PlainFieldsExecutor
    from mentorapi.main import create_app

    with tempfile.TemporaryDirectory() as tmp:
        url = await _database_url(database, tmp)
        key = await create_bench_app(url)
        settings = Settings(
            database_url=url,
            rate_limits_enabled=False,
            webhook_worker_enabled=False,
            housekeeping_enabled=False,
            demo_key_file=os.devnull,
        )
        app = create_app(settings)
        schema = app.state.graphql_schema
        async with app.router.lifespan_context(app):
            await _seed(app, key)
            auth = {"Authorization": f"Bearer {key}", "host": "bench"}
            counter = iter(range(10**9))

            def body(i: int | None) -> bytes:
                return json.dumps({"query": document(i), "variables": {"first": first}}).encode()

            repeated = asgi_caller(app, "POST", "/graphql", auth, body(None))

            async def unique() -> tuple[int, bytes]:
                return await asgi_caller(app, "POST", "/graphql", auth, body(next(counter)))()

            twice = iter(i // 2 for i in range(10**9))

            async def unique_twice() -> tuple[int, bytes]:
                # Each new document sent twice running: planned (and compiled) the second time.
                return await asgi_caller(app, "POST", "/graphql", auth, body(-2 - next(twice)))()

            modes: dict[str, tuple[Callable[[], Any], type]] = {
                "repeated": (repeated, PlainFieldsExecutor),
                "unique": (unique, PlainFieldsExecutor),
                "unique-plain": (unique, StrawberryGraphQLCoreExecutionContext),
                "unique-twice": (unique_twice, PlainFieldsExecutor),
                "unique-twice-plain": (unique_twice, StrawberryGraphQLCoreExecutionContext),
                "repeated-plain": (repeated, StrawberryGraphQLCoreExecutionContext),
            }
            for call, executor in modes.values():  # warm: imports, prepared statements
                schema.execution_context_class = executor
                await _batch(call, max(10, requests // 10))
            if only is not None:
                modes = {only: modes[only]}
                if callgrind:
                    batches = 1
                    await instrument(True)
            cpu: dict[str, list[float]] = {name: [] for name in modes}
            made: dict[str, list[float]] = {name: [] for name in modes}
            for _ in range(batches):
                for name, (call, executor) in modes.items():
                    schema.execution_context_class = executor
                    ms, compiled = await _batch(call, requests)
                    cpu[name].append(ms)
                    made[name].append(compiled)
            if callgrind:
                await instrument(False)
            schema.execution_context_class = PlainFieldsExecutor
    return {
        "database": database,
        "first": first,
        "requests_per_batch": requests,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu_ms_per_request": {n: round(statistics.median(v), 3) for n, v in cpu.items()},
        "compiles_per_request": {n: round(statistics.mean(v), 2) for n, v in made.items()},
        "batches_ms": {n: [round(x, 3) for x in v] for n, v in cpu.items()},
    }


SCENARIOS = [
    Scenario(
        "graphql_shapes",
        run,
        "GraphQL CPU a request: documents of new shapes, one repeated, nothing compiled",
    )
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--mode", help="measure this mode only")
    parser.add_argument(
        "--callgrind", action="store_true", help="count instructions of one batch of --mode"
    )
    args = parser.parse_args()
    result = asyncio.run(
        run(
            database=args.database,
            first=args.first,
            requests=args.requests,
            batches=args.batches,
            only=args.mode,
            callgrind=args.callgrind,
        )
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
