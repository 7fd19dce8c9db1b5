"""Prometheus metrics: requests by route template and status, their latency, and each worker.

One process (the tests, `serve` with one worker): the metrics live in this process's registry,
as prometheus-client keeps them by default.

Several processes (`serve --workers N`, see `fleet_metrics_directory` in startup.py): each
process writes its values to memory-mapped files in the directory named by
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode, chosen when it is imported,
so the directory is set before the workers start), and a scrape of any process merges every
file: counters and histograms are the fleet's sums, whichever worker answers. Counters of a
worker that died stay in the sum (a counter never goes back); its per-worker gauges are
forgotten (`forget_dead_processes`).
"""

import os
import time
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mentorapi import __version__

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_directory() -> str | None:
    """The shared directory when this process writes its metrics to files, else None.

    prometheus-client picks its value class once, when it is imported: the environment at that
    moment decides, so that is what is asked here, not the environment now."""
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return os.environ.get(MULTIPROC_ENV)


def _pid_of(file: Path) -> int | None:
    # counter_<pid>.db, histogram_<pid>.db, gauge_<mode>_<pid>.db
    tail = file.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def forget_dead_processes(directory: str, *, counters_too: bool = False) -> None:
    """Drop the per-worker gauges of processes that are gone (a worker killed, then restarted
    by uvicorn's supervisor, never ran its shutdown). With `counters_too`, every file of a dead
    process: only between runs, since during one a counter must not go back."""
    for file in Path(directory).glob("*.db"):
        pid = _pid_of(file)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        if counters_too:
            file.unlink(missing_ok=True)
        else:
            mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self) -> None:
        # A registry per app instance, so tests that build several apps do not collide.
        self.registry = CollectorRegistry()
        self.directory = multiprocess_directory()
        self.requests = Counter(
            "mentorapi_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mentorapi_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        # Per-worker gauges carry a `pid` label either way: in multiprocess mode the collector
        # adds it to every "liveall" gauge (and drops the gauge with its process); in one
        # process it is ours to add.
        pid: tuple[str, ...] = () if self.directory else (str(os.getpid()),)
        pid_label: tuple[str, ...] = () if self.directory else ("pid",)
        info = Gauge(
            "mentorapi_worker_info",
            "One per serving process (worker) alive, with its version",
            ["version", *pid_label],
            multiprocess_mode="liveall",
            registry=self.registry,
        )
        info.labels(__version__, *pid).set(1)
        self.in_flight = Gauge(
            "mentorapi_http_requests_in_flight",
            "HTTP requests being served by each worker",
            pid_label,
            multiprocess_mode="liveall",
            registry=self.registry,
        )
        self._in_flight = self.in_flight.labels(*pid) if pid else self.in_flight
        started = Gauge(
            "mentorapi_worker_start_time_seconds",
            "When each worker started, in seconds since the epoch (a restart shows here)",
            pid_label,
            multiprocess_mode="liveall",
            registry=self.registry,
        )
        (started.labels(*pid) if pid else started).set(time.time())

    def request_started(self) -> None:
        self._in_flight.inc()

    def request_ended(self) -> None:
        self._in_flight.dec()

    def close(self) -> None:
        """This process is stopping: its per-worker gauges leave the fleet's scrape."""
        if self.directory:
            mark_process_dead(os.getpid(), self.directory)  # type: ignore[no-untyped-call]

    def _fleet(self) -> bytes:
        assert self.directory is not None
        forget_dead_processes(self.directory)
        # A registry per scrape, as prometheus-client asks: the files are read afresh each time.
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    async def endpoint(self, _request: Request) -> Response:
        if self.directory:
            # Reading a file per worker and metric type: off the event loop.
            body = await run_in_threadpool(self._fleet)
        else:
            body = generate_latest(self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


# Any token is a method to HTTP: a label per method a caller invents would grow without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        self.metrics.request_started()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.request_ended()
            route = scope.get("route")
            # The template (/v1/mentors/{mentor_id}), never the raw path: bounded label values.
            template = getattr(route, "path", "unmatched")
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)
