"""mentorapi served by uvicorn in a separate process group, on a free loopback port."""

import asyncio
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from bench.kit import procs

HOST = "127.0.0.1"
STARTED = "Application startup complete."


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """`async with Server(url, workers=2) as server:` starts, waits until every worker is up
    and the database answers /readyz, and stops the whole process group on the way out."""

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        name: str = "server",
        ready_timeout: float = 60.0,
    ) -> None:
        self.database_url = database_url
        self.workers = workers
        self.extra_env = env or {}
        self.name = name
        self.ready_timeout = ready_timeout
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log = Path(tempfile.gettempdir()) / f"mentorapi-bench-{name}-{self.port}.log"
        self._proc: object = None

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MENTORAPI_")}
        env.update(
            MENTORAPI_DATABASE_URL=self.database_url,
            MENTORAPI_RATE_LIMITS_ENABLED="false",
            MENTORAPI_WEBHOOK_WORKER_ENABLED="false",
        )
        env.update(self.extra_env)
        return env

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def start(self) -> None:
        args = [sys.executable, "-m", "mentorapi.cli", "serve", "--host", HOST]
        args += ["--port", str(self.port), "--workers", str(self.workers)]
        proc = procs.spawn(args, env=self._env(), log=self.log)
        self._proc = proc
        deadline = time.monotonic() + self.ready_timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while True:  # bounded by the deadline
                if proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready in time:\n{self.log_tail()}")
                # Every worker logs its own startup; /readyz proves the database answers.
                started = self.log.read_text(errors="replace").count(STARTED)
                if started >= self.workers:
                    try:
                        if (await client.get("/readyz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self._proc is not None:
            procs.stop(self._proc)  # type: ignore[arg-type]
            self._proc = None

    def pids(self) -> list[int]:
        """The server's processes (the uvicorn parent and its workers), for CPU accounting."""
        proc = self._proc
        if proc is None:
            return []
        group = os.getpgid(proc.pid)  # type: ignore[attr-defined]
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == group:
                        found.append(int(entry.name))
                except ProcessLookupError:
                    continue
        return found

    async def __aenter__(self) -> "Server":
        try:
            await self.start()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU seconds used so far by these processes (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (Linux /proc/stat): a delta over a run,
    set against the server's own, shows how much else was competing for the CPUs."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
