"""In process: the server's CPU per request for the nested mentors page, GraphQL against REST,
and a cProfile of either. No HTTP server, no client library: requests go straight into the ASGI
app, so the figures are the server's own work (the database's is not in them).

    python -m bench.graphql_profile [--database sqlite|postgresql] [--requests 200]
                                    [--batches 7] [--profile graphql|rest] [--top 30]
                                    [--dump FILE]
    python -m bench graphql_profile                    # both databases, no profile

Batches alternate GraphQL and REST in one window, so a slow spell of a shared machine falls on
both; the medians are printed. With --profile, one extra batch of that face runs under cProfile
and its top functions (own time, then cumulative) are printed. Instructions per request, which
no other load on the machine changes (bench/kit/callgrind.py):

    valgrind --tool=callgrind --instr-atstart=no python3.11 -m bench.graphql_profile \
        --database postgresql --callgrind graphql --requests 50   # Collected / 50
"""

import argparse
import asyncio
import functools
import gc
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.graphql import GRAPHQL_QUERY
from bench.kit.names import checkout_database
from bench.kit.profiling import callgrind_window, cprofile, profile_main
from bench.kit.registry import Scenario

MENTORS = 50
SKILLS = 5
DATABASE = checkout_database("graphql_profile")

Send = Callable[[], Awaitable[tuple[int, bytes]]]


def asgi_caller(
    app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> Send:
    """One request into the ASGI app, as uvicorn would hand it over: (status, body)."""
    raw_path, _, query = path.partition("?")
    encoded = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if body:
        encoded += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]

    async def call() -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": encoded,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return status, b"".join(chunks)

    return call


async def _seed(app: Any, key: str) -> None:
    import httpx

    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", headers=headers
    ) as client:
        from bench.graphql import _seed as seed_through_api

        await seed_through_api(client, MENTORS)


async def _database_url(kind: str, tmp: str) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{Path(tmp) / 'profile.db'}"
    from bench.kit.db import fresh_database

    return await fresh_database(DATABASE)


async def _batch(call: Send, requests: int) -> float:
    """CPU ms per request over one batch (every answer checked)."""
    gc.collect()
    started = time.process_time()
    for _ in range(requests):
        status, body = await call()
        if status != 200 or body.startswith(b'{"errors"') or b'"errors":' in body[:40]:
            raise RuntimeError(f"{status}: {body[:300]!r}")
    return (time.process_time() - started) * 1000 / requests


async def run(
    *,
    database: str = "sqlite",
    requests: int = 200,
    batches: int = 7,
    profile: str | None = None,
    top: int = 30,
    dump: str | None = None,
    callgrind: str | None = None,
) -> dict[str, Any]:
    from mentorapi.config import Settings
    from mentorapi.main import create_app

    with tempfile.TemporaryDirectory() as tmp:
        url = await _database_url(database, tmp)
        from bench.graphql import create_bench_app

        key = await create_bench_app(url)
        settings = Settings(
            database_url=url,
            rate_limits_enabled=False,
            webhook_worker_enabled=False,
            housekeeping_enabled=False,
            demo_key_file=os.devnull,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            await _seed(app, key)
            auth = {"Authorization": f"Bearer {key}", "host": "bench"}
            body = json.dumps({"query": GRAPHQL_QUERY, "variables": {"first": MENTORS}}).encode()
            faces: dict[str, Send] = {
                "graphql": asgi_caller(app, "POST", "/graphql", auth, body),
                "rest": asgi_caller(app, "GET", f"/v1/mentors?limit={MENTORS}", auth),
                # The GraphQL stack around any operation (not among the batches unless asked).
                "typename": asgi_caller(
                    app, "POST", "/graphql", auth, json.dumps({"query": "{ __typename }"}).encode()
                ),
            }
            for call in faces.values():  # warm: caches, prepared statements, imports
                await _batch(call, max(10, requests // 10))
            if callgrind is not None:
                # One batch of one face, the only requests counted (bench/kit/callgrind.py).
                faces = {callgrind: faces[callgrind]}
                batches = 1
            elif profile != "typename":
                del faces["typename"]
            measured: dict[str, list[float]] = {name: [] for name in faces}
            async with callgrind_window(callgrind is not None):
                for _ in range(batches):
                    for name, call in faces.items():
                        measured[name].append(await _batch(call, requests))
            profiled = ""
            if profile is not None:
                # Wall clock, as this profile always was (SQLite's thread is not charged to
                # the event loop's wait).
                batch = functools.partial(_batch, faces[profile], requests)
                profiled = await cprofile(batch, top, dump, cpu=False)
    medians = {name: statistics.median(values) for name, values in measured.items()}
    return {
        "database": database,
        "requests_per_batch": requests,
        "batches": batches,
        "cpu_ms_per_request": {name: round(v, 3) for name, v in medians.items()},
        "batches_ms": {name: [round(v, 3) for v in values] for name, values in measured.items()},
        "graphql_over_rest": (
            round(medians["graphql"] / medians["rest"], 2) if len(medians) == 2 else None
        ),
        "profile": profiled,
    }


async def scenario() -> dict[str, Any]:
    """The mentors page's CPU in process, GraphQL against REST, on both databases."""
    from bench.kit.report import table

    runs = [await run(database="postgresql"), await run(database="sqlite")]
    for found in runs:
        found.pop("profile")
    return {
        "runs": runs,
        "tables": [
            table(
                "Mentors page in process: server CPU ms per request (median of 7 batches)",
                ["database", "graphql", "rest", "graphql / rest"],
                [
                    [
                        r["database"],
                        r["cpu_ms_per_request"]["graphql"],
                        r["cpu_ms_per_request"]["rest"],
                        r["graphql_over_rest"],
                    ]
                    for r in runs
                ],
            )
        ],
    }


SCENARIOS = [
    Scenario("graphql_cpu", scenario, "the mentors page's CPU in process, GraphQL against REST")
]


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batches", type=int, default=7)


def main() -> None:
    profile_main(
        __doc__,
        run,
        _options,
        faces=("graphql", "rest", "typename"),
        callgrind_help="under callgrind --instr-atstart=no: one batch of this face, the only "
        "part counted",
    )


if __name__ == "__main__":
    main()
