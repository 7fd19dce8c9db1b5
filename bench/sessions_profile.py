"""In process: one booking at a time, as the `sessions` bench books (an `Idempotency-Key` each,
a webhook endpoint, 50 auto-accepting mentors), straight into the ASGI app: the server's CPU per
booking, PostgreSQL's, the SQL statements of a booking and how many run while the mentor row is
locked, and optionally a cProfile.

    python -m bench.sessions_profile [--database postgresql|sqlite] [--bookings 100]
                                     [--batches 5] [--profile] [--top 30]
    python -m bench sessions_cpu                       # PostgreSQL, no profile

No HTTP server and no client library, so the figures are the booking's own work. Statements
and the count under the lock do not depend on the machine's load; the CPU figures do, less
than req/s (medians of the batches). Instruction counts, which do not depend on it at all:

    valgrind --tool=callgrind --instr-atstart=no python3.11 -m bench.sessions_profile \
        --callgrind --bookings 50 --batches 1          # Collected / 50 = per booking
"""

import argparse
import gc
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.graphql_profile import asgi_caller
from bench.kit.names import checkout_database
from bench.kit.profiling import callgrind_window, cprofile, profile_main
from bench.kit.registry import Scenario

DATABASE = checkout_database("sessions_profile")
MENTORS = 50
WARMUP = 20


def _lock_position(statements: list[str]) -> int | None:
    for index, statement in enumerate(statements):
        if "FROM mentors" in statement and statement.rstrip().endswith("FOR UPDATE"):
            return index
    return None


async def run(
    *,
    database: str = "postgresql",
    bookings: int = 100,
    batches: int = 5,
    profile: bool = False,
    top: int = 30,
    dump: str | None = None,
    callgrind: bool = False,
) -> dict[str, Any]:
    import httpx

    from bench.kit.db import backend_pids, fresh_database
    from bench.kit.seed import create_bench_app
    from bench.kit.server import cpu_seconds
    from bench.sessions import _booking, _mentor, _post_json, _skill_and_mentee, slots_base
    from mentorapi.config import Settings
    from mentorapi.db.engine import statement_counter
    from mentorapi.main import create_app

    with tempfile.TemporaryDirectory() as tmp:
        if database == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'profile.db'}"
            from mentorapi.db.migrate import upgrade_async

            await upgrade_async(url)
        else:
            url = await fresh_database(DATABASE)
        _, key = await create_bench_app(url)
        settings = Settings(
            database_url=url,
            rate_limits_enabled=False,
            webhook_worker_enabled=False,
            housekeeping_enabled=False,
            auto_analyze=False,
            demo_key_file=os.devnull,
        )
        app = create_app(settings)
        auth = {"Authorization": f"Bearer {key}", "host": "bench"}
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers=auth
            ) as client:
                skill, mentee = await _skill_and_mentee(client)
                await _post_json(
                    client, "/v1/webhook-endpoints", {"url": "https://example.com/mentorapi-bench"}
                )
                mentors = [await _mentor(client, n, skill["id"]) for n in range(MENTORS)]
                # A mentee per mentor, as the load bench: a mentee is never in two places.
                mentees = [mentee["id"]] + [
                    (
                        await _post_json(
                            client,
                            "/v1/mentees",
                            {"external_id": f"profile-mentee-{n}", "name": "M", "timezone": "UTC"},
                        )
                    )["id"]
                    for n in range(1, MENTORS)
                ]

            def jobs(base: datetime) -> Iterator[bytes]:
                # Distinct (mentor, slot) pairs, mentors in turn, as the load bench books them.
                i = 0
                while True:
                    starts = base + timedelta(minutes=15 * (i // MENTORS))
                    body = _booking(mentors[i % MENTORS], mentees[i % MENTORS], skill["id"], starts)
                    yield json.dumps(body).encode()
                    i += 1

            bodies = jobs(slots_base())

            async def book() -> None:
                headers = {**auth, "Idempotency-Key": str(uuid.uuid4())}
                call = asgi_caller(app, "POST", "/v1/sessions", headers, next(bodies))
                status, body = await call()
                if status != 201:
                    raise RuntimeError(f"{status}: {body[:300]!r}")

            pids = await backend_pids(url) if database == "postgresql" else []

            async def batch(n: int) -> tuple[float, float]:
                """Server and database CPU ms per booking over n bookings."""
                gc.collect()
                db_before = cpu_seconds(pids)
                started = time.process_time()
                for _ in range(n):
                    await book()
                server = (time.process_time() - started) * 1000 / n
                return server, (cpu_seconds(pids) - db_before) * 1000 / n

            await batch(WARMUP)  # caches, prepared statements, imports
            pids = await backend_pids(url) if database == "postgresql" else []
            counted: list[str] = []
            token = statement_counter.set(counted)
            try:
                await book()
            finally:
                statement_counter.reset(token)
            lock = _lock_position(counted)
            async with callgrind_window(callgrind):
                measured = [await batch(bookings) for _ in range(batches)]
            profiled = await cprofile(lambda: batch(bookings), top, dump) if profile else ""
    return {
        "database": database,
        "bookings_per_batch": bookings,
        "batches": batches,
        "statements": len(counted),
        # Statements after the mentor's FOR UPDATE (the commit follows them).
        "statements_under_lock": None if lock is None else len(counted) - lock - 1,
        "statement_list": [s[:120] for s in counted],
        "cpu_ms_per_booking": round(statistics.median(m[0] for m in measured), 3),
        "db_cpu_ms_per_booking": round(statistics.median(m[1] for m in measured), 3),
        "batches_ms": [[round(a, 3), round(b, 3)] for a, b in measured],
        "profile": profiled,
    }


async def scenario() -> dict[str, Any]:
    """A booking's CPU and statements in process (PostgreSQL)."""
    found = await run()
    found.pop("profile")
    return found


SCENARIOS = [
    Scenario(
        "sessions_cpu", scenario, "a booking's CPU and SQL statements in process", default=False
    )
]


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--bookings", type=int, default=100)
    parser.add_argument("--batches", type=int, default=5)


def main() -> None:
    profile_main(__doc__, run, _options)


if __name__ == "__main__":
    main()
