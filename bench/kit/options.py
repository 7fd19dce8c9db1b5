"""Benchmark options, read from BENCH_* environment variables (the CLI sets them).

Scenarios take no arguments (`async def run() -> dict`), so they read their knobs from here.
"""

import os
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Options:
    duration: float = 15.0  # seconds of measured load per run
    warmup: float = 3.0  # seconds of unmeasured load first (pools, caches, prepared statements)
    connections: int = 64
    threads: int = 2  # wrk threads
    workers: tuple[int, ...] = (1, 2, 3)  # uvicorn worker counts to try
    repeat: int = 1  # runs per worker count, round-robin; the median is reported
    mentors: int = 10_000
    skills: int = 50
    # Another tenant's mentors, seeded first: the measured app's rows come later in id order,
    # as for most tenants of a shared database (tenant scoping must not scan the neighbours).
    # Off by default so the figures match the single-tenant setup; see bench/README.md.
    neighbour_mentors: int = 0
    # The import scenario's servers analyze what they bulk-wrote (MENTORAPI_AUTO_ANALYZE); off
    # shows the search as it was before, on tables nobody has analyzed.
    auto_analyze: bool = True
    # An admin connection to the local PostgreSQL server, used to create the bench databases.
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _env(name: str, default: str) -> str:
    return os.environ.get(f"BENCH_{name}", default)


def given(name: str) -> bool:
    """Whether option `name` was set (flag or BENCH_* variable), for a scenario whose own
    default differs from the shared one."""
    return f"BENCH_{name.upper()}" in os.environ


def options() -> Options:
    base = Options()
    opts = Options(
        duration=float(_env("DURATION", str(base.duration))),
        warmup=float(_env("WARMUP", str(base.warmup))),
        connections=int(_env("CONNECTIONS", str(base.connections))),
        threads=int(_env("THREADS", str(base.threads))),
        workers=tuple(
            int(w) for w in _env("WORKERS", ",".join(map(str, base.workers))).split(",") if w
        ),
        repeat=int(_env("REPEAT", str(base.repeat))),
        mentors=int(_env("MENTORS", str(base.mentors))),
        skills=int(_env("SKILLS", str(base.skills))),
        neighbour_mentors=int(_env("NEIGHBOUR_MENTORS", str(base.neighbour_mentors))),
        auto_analyze=_env("AUTO_ANALYZE", str(base.auto_analyze)).lower() in ("1", "true", "yes"),
        postgres_url=_env("POSTGRES_URL", base.postgres_url),
    )
    host = urlsplit(opts.postgres_url).hostname or ""
    if host not in LOOPBACK:
        raise ValueError(f"benchmarks talk to loopback only; BENCH_POSTGRES_URL host is {host!r}")
    if not (0 < opts.duration <= 600 and 0 <= opts.warmup <= 60):
        raise ValueError("duration must be in (0, 600] s and warmup in [0, 60] s")
    if not opts.workers or any(not 1 <= w <= 16 for w in opts.workers):
        raise ValueError("workers must be a comma-separated list of counts from 1 to 16")
    if not 1 <= opts.repeat <= 10:
        raise ValueError("repeat must be from 1 to 10")
    if opts.neighbour_mentors < 0:
        raise ValueError("neighbour_mentors cannot be negative")
    if not 1 <= opts.skills <= opts.mentors:
        raise ValueError("need at least one skill and no more skills than mentors")
    return opts
