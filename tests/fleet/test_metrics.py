"""Metrics for a fleet: one scrape of any worker of `mentorapi serve --workers 2` shows the
sum over both workers; the shared directory goes with the run; one process works as before.
And the start-up warnings for state a fleet would multiply (rate-limit buckets)."""

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

import mentorapi
from mentorapi.config import Settings
from mentorapi.startup import fleet_metrics_directory, fleet_warnings, log_fleet_warnings
from tests.conftest import Tenant

ROUTE_COUNT = re.compile(
    r'^mentorapi_http_requests_total\{method="GET",route="/v1/skills",status="200"\} (\S+)$',
    re.MULTILINE,
)
WORKER_INFO = re.compile(r'^mentorapi_worker_info\{pid="(\d+)"', re.MULTILINE)


def _cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MENTORAPI_", "PROMETHEUS"))}
    env["PYTHONPATH"] = str(Path(mentorapi.__file__).parents[1])
    env["MENTORAPI_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}"
    env["MENTORAPI_WEBHOOK_WORKER_ENABLED"] = "false"
    env["MENTORAPI_HOUSEKEEPING_ENABLED"] = "false"
    # serve makes its metrics directory here: the test can find it, and see it go.
    (tmp_path / "tmp").mkdir()
    env["TMPDIR"] = str(tmp_path / "tmp")
    return env


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mentorapi.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serve(env: dict[str, str], port: int, stderr: Path) -> Iterator[subprocess.Popen[bytes]]:
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "mentorapi.cli", "serve", "--workers", "2", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, stderr.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _get(url: str, key: str | None = None) -> httpx.Response:
    # A connection per request: the kernel hands each to whichever worker accepts first.
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(url, headers=headers, timeout=10)


def _served_by_each_worker(directory: Path) -> dict[str, float]:
    """Requests to the route counted in each worker's own file."""
    served: dict[str, float] = {}
    for file in directory.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(file)]):
            for sample in metric.samples:
                if sample.labels.get("route") == "/v1/skills":
                    served[file.stem] = served.get(file.stem, 0.0) + sample.value
    return served


def test_one_scrape_of_any_worker_shows_the_fleet(tmp_path: Path) -> None:
    env = _cli_env(tmp_path)
    _cli(env, "migrate")
    key = _cli(env, "apps", "create", "fleet").split('"api_key": "')[1].split('"')[0]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    stderr = tmp_path / "serve.err"
    with _serve(env, port, stderr):
        sent = 0
        # Rounds of concurrent requests until both workers have served some, so that a
        # scrape of one worker alone could not show the total (on the code before, no
        # directory: one round).
        for _ in range(5):
            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(lambda _: _get(f"{base}/v1/skills", key), range(40)))
            assert {r.status_code for r in statuses} == {200}
            sent += len(statuses)
            directories = list((tmp_path / "tmp").glob("mentorapi-metrics-*"))
            if not directories or len(_served_by_each_worker(directories[0])) == 2:
                break

        pids: set[str] = set()
        for _ in range(8):
            scrape = _get(f"{base}/metrics")
            assert scrape.status_code == 200
            counted = ROUTE_COUNT.search(scrape.text)
            assert counted is not None, scrape.text
            assert float(counted.group(1)) == sent
            # Both workers' gauges in every scrape, each labelled with its pid.
            workers = set(WORKER_INFO.findall(scrape.text))
            assert len(workers) == 2, scrape.text
            pids |= workers
        assert len(pids) == 2
        assert len(directories) == 1
        served = _served_by_each_worker(directories[0])
        assert len(served) == 2, served
        assert sum(served.values()) == sent, served

        # A worker killed outright never runs its shutdown; uvicorn starts another. The dead
        # one's gauges leave the scrape, its counts stay in the sum (a counter never goes back).
        killed = sorted(pids)[0]
        os.kill(int(killed), signal.SIGKILL)
        deadline = time.monotonic() + 20
        while True:
            scrape = _get(f"{base}/metrics")
            workers = set(WORKER_INFO.findall(scrape.text))
            if killed not in workers and len(workers) == 2:
                break
            assert time.monotonic() < deadline, scrape.text
            time.sleep(0.2)
        assert f'pid="{killed}"' not in scrape.text
        counted = ROUTE_COUNT.search(scrape.text)
        assert counted is not None
        assert float(counted.group(1)) == sent
    assert not directories[0].exists(), "the metrics directory outlives the run"
    assert "MENTORAPI_RATE_LIMIT_BACKEND" in stderr.read_text()


async def test_one_process_still_serves_its_metrics(tenant: Tenant) -> None:
    await tenant.client.get("/v1/skills")
    text = (await tenant.client.get("/metrics")).text
    assert ROUTE_COUNT.search(text) is not None
    assert f'mentorapi_worker_info{{pid="{os.getpid()}",version=' in text
    assert f'mentorapi_http_requests_in_flight{{pid="{os.getpid()}"}} 1.0' in text


def _settings(url: str, **values: object) -> Settings:
    return Settings(database_url=url, **values)  # type: ignore[arg-type]


SQLITE = "sqlite+aiosqlite:///x.db"
POSTGRES = "postgresql+asyncpg://u@h/db"


def test_memory_buckets_in_a_fleet_are_named_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mentorapi.startup"):
        log_fleet_warnings(_settings(POSTGRES, rate_limit_backend="memory"), 1)
        log_fleet_warnings(_settings(SQLITE), 2)
    assert len(caplog.records) == 2
    assert all("MENTORAPI_RATE_LIMIT_BACKEND" in r.getMessage() for r in caplog.records)
    assert "2 workers on SQLite" in caplog.records[1].getMessage()


def test_shared_or_single_buckets_raise_no_warning() -> None:
    assert fleet_warnings(_settings(SQLITE), 1) == []
    assert fleet_warnings(_settings(POSTGRES), 4) == []  # auto: postgres
    assert fleet_warnings(_settings(POSTGRES, rate_limit_backend="postgres"), 4) == []
    assert fleet_warnings(_settings(SQLITE, rate_limits_enabled=False), 4) == []
    assert (
        fleet_warnings(
            _settings(POSTGRES, rate_limits_enabled=False, rate_limit_backend="memory"), 4
        )
        == []
    )


def test_auto_backend_shares_buckets_on_postgresql_only() -> None:
    assert _settings(POSTGRES).rate_limit_store == "postgres"
    assert _settings(SQLITE).rate_limit_store == "memory"
    assert _settings(POSTGRES, rate_limit_backend="memory").rate_limit_store == "memory"


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_given_directory_is_kept_and_only_dead_processes_files_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "metrics"
    given.mkdir()
    dead, alive = _dead_pid(), os.getppid()
    for name in (f"counter_{dead}.db", f"gauge_liveall_{dead}.db"):
        (given / name).write_bytes(b"")
    for name in (f"counter_{alive}.db", f"gauge_liveall_{alive}.db", "notes.txt"):
        (given / name).write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    with fleet_metrics_directory(2) as directory:
        assert directory == str(given)
        left = sorted(f.name for f in given.iterdir())
        assert left == sorted([f"counter_{alive}.db", f"gauge_liveall_{alive}.db", "notes.txt"])
    assert given.exists()


def test_one_worker_needs_no_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with fleet_metrics_directory(1) as directory:
        assert directory is None
        assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
