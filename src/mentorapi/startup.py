"""What `mentorapi serve` checks and prepares before its workers start.

- `fleet_warnings`: state kept per process that a fleet (several workers, or several hosts on
  one PostgreSQL) would silently multiply, named with the setting that fixes it.
- `fleet_metrics_directory`: the directory through which the workers of one `serve` share their
  metrics (metrics.py), created and removed around the run.

Per-process state that needs no warning: the slot memo (availability/memo.py) keys each page by
everything it is computed from, so no process serves a stale page; the key cache
(apps/keycache.py) forgets on PostgreSQL's NOTIFY from any process, and is off on SQLite;
housekeeping and the webhook worker in each process claim rows with locks (many may run).
"""

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from mentorapi.config import Settings
from mentorapi.metrics import MULTIPROC_ENV, forget_dead_processes

logger = logging.getLogger("mentorapi.startup")


def fleet_warnings(settings: Settings, workers: int) -> list[str]:
    """Warnings for a `serve` of `workers` processes with these settings (none: all is shared)."""
    warnings: list[str] = []
    if settings.rate_limits_enabled and settings.rate_limit_store == "memory":
        if not settings.is_sqlite:
            warnings.append(
                "rate limits: MENTORAPI_RATE_LIMIT_BACKEND=memory keeps a bucket per process, "
                f"and this database is PostgreSQL: with {workers} worker(s) here and any other "
                "process or host on it, each grants the whole budget. Set "
                "MENTORAPI_RATE_LIMIT_BACKEND=postgres (or auto, the default) to share the "
                "buckets."
            )
        elif workers > 1:
            warnings.append(
                f"rate limits: {workers} workers on SQLite, each with its own buckets "
                "(MENTORAPI_RATE_LIMIT_BACKEND=memory; the shared backend, postgres, needs "
                f"PostgreSQL): a key or a member may make up to {workers} times its budget. "
                "Run one worker, or PostgreSQL with MENTORAPI_RATE_LIMIT_BACKEND=postgres."
            )
    return warnings


def log_fleet_warnings(settings: Settings, workers: int) -> None:
    for warning in fleet_warnings(settings, workers):
        logger.warning(warning)


@contextmanager
def fleet_metrics_directory(workers: int) -> Iterator[str | None]:
    """Around a `serve` run: the directory of its workers' metrics, or None for one process.

    - `PROMETHEUS_MULTIPROC_DIR` given: used (created if missing). The files of processes no
      longer alive, left by an earlier run, are removed before and after; those of live
      processes (another `serve` sharing the directory) are left alone.
    - not given, several workers: a fresh directory, removed when the run ends.
    - not given, one worker: none (metrics in the process, as in the tests).

    The variable is in the environment before the workers start, and uvicorn spawns fresh
    interpreters for them: prometheus-client reads it when they import it.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        os.makedirs(given, exist_ok=True)
        forget_dead_processes(given, counters_too=True)
        logger.info("metrics: the workers share %s (%s)", given, MULTIPROC_ENV)
        try:
            yield given
        finally:
            forget_dead_processes(given, counters_too=True)
        return
    if workers <= 1:
        yield None
        return
    created = tempfile.mkdtemp(prefix="mentorapi-metrics-")
    os.environ[MULTIPROC_ENV] = created
    logger.info("metrics: the %d workers share %s", workers, created)
    try:
        yield created
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(created, ignore_errors=True)
