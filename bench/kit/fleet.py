"""The fleet of `scripts/fleet.sh` (HAProxy, PgBouncer, two `serve --workers 1`), serving a
bench database, for the same load as a single server. The script and deploy/'s configs start it,
exactly as `make fleet` does; this only waits for its balancer, sorts its processes by role,
and holds /tmp/fleet.lock meanwhile (one fleet at a time on a machine: fixed ports, shared
binaries)."""

import asyncio
import contextlib
import fcntl
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from bench.kit import procs

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "fleet.sh"
LOCK = Path("/tmp/fleet.lock")
READY_SECONDS = 120.0
_BALANCER = re.compile(r"Balancer:\s+(http://127\.0\.0\.1:\d+)")


def require_binaries() -> None:
    missing = [
        b
        for b in ("haproxy", "pgbouncer")
        if not (shutil.which(b) or Path(f"/usr/sbin/{b}").exists())
    ]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} missing: apt-get install -y pgbouncer haproxy")


@contextlib.contextmanager
def fleet_lock(timeout: float = 1800.0) -> Iterator[None]:
    """flock(2) on /tmp/fleet.lock, as `flock /tmp/fleet.lock make fleet-test` takes it; waits
    (bounded) while another fleet runs. Do not wrap the bench in flock(1) as well: the lock
    would be held by the wrapper and this would wait for it to the end."""
    with LOCK.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {LOCK} (another fleet is running)", flush=True)
            # A blocking wait, in the queue with flock(1)'s waiters (polling would lose to
            # them every time); in a thread, so that it can be given up.
            locked = threading.Event()

            def wait() -> None:
                fcntl.flock(handle, fcntl.LOCK_EX)
                locked.set()

            threading.Thread(target=wait, daemon=True, name="fleet-lock").start()
            if not locked.wait(timeout):
                raise RuntimeError(f"{LOCK} held by another fleet for {timeout:.0f} s") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Fleet:
    """`async with Fleet(database) as fleet:` runs scripts/fleet.sh on `database` (no webhook
    workers: the load is API requests) until the block ends."""

    def __init__(self, database: str, *, env: dict[str, str] | None = None) -> None:
        self.database = database
        self.extra_env = env or {}
        self.base_url = ""
        self.log = Path(tempfile.gettempdir()) / f"mentorapi-bench-fleet-{os.getpid()}.log"
        self._proc: object = None

    def _env(self) -> dict[str, str]:
        bin_dir = Path(sys.executable).parent
        env = {k: v for k, v in os.environ.items() if not k.startswith("MENTORAPI_")}
        env.update(
            FLEET_DATABASE=self.database,
            FLEET_WORKERS="0",
            MENTORAPI=str(bin_dir / "mentorapi"),
            PYTHON=sys.executable,
            # As bench.kit.server.Server's: no rate limits, no webhook delivery.
            MENTORAPI_RATE_LIMITS_ENABLED="false",
            # Stopped at the end of a run: no balancer left to drain to.
            MENTORAPI_SHUTDOWN_DRAIN_SECONDS="0",
        )
        env.update(self.extra_env)
        return env

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def start(self) -> None:
        proc = procs.spawn(["bash", str(SCRIPT)], env=self._env(), log=self.log)
        self._proc = proc
        deadline = time.monotonic() + READY_SECONDS
        while True:  # bounded by the deadline
            found = _BALANCER.search(self.log.read_text(errors="replace"))
            if found:
                self.base_url = found.group(1)
                return
            if proc.poll() is not None:
                raise RuntimeError(f"fleet exited early:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"fleet not ready in time:\n{self.log_tail()}")
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self._proc is not None:
            procs.stop(self._proc)  # type: ignore[arg-type]
            self._proc = None

    def pids(self) -> dict[str, list[int]]:
        """The fleet's processes by role: api (the serve processes), haproxy, pgbouncer."""
        proc = self._proc
        if proc is None:
            return {}
        group = os.getpgid(proc.pid)  # type: ignore[attr-defined]
        roles: dict[str, list[int]] = {"api": [], "haproxy": [], "pgbouncer": []}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                if os.getpgid(pid) != group:
                    continue
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except (ProcessLookupError, OSError):
                continue
            name = Path(command[0].decode(errors="replace")).name
            if name in ("haproxy", "pgbouncer"):
                roles[name].append(pid)
            elif name.startswith("python") or name == "mentorapi":
                roles["api"].append(pid)  # serve and its uvicorn worker (fleet.sh: no others)
        return roles

    async def __aenter__(self) -> "Fleet":
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
