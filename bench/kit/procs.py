"""Child processes that never outlive the benchmark, even when it fails or is interrupted.

Every child starts in its own session (process group), so stopping it also stops what it
spawned (uvicorn's worker processes). Whatever is still running at exit is stopped by atexit,
and SIGTERM/SIGHUP become SystemExit so `finally` blocks and atexit run for them too.
"""

import atexit
import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import IO

_live: set[subprocess.Popen[bytes]] = set()


def spawn(
    args: Sequence[str], *, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    out: IO[bytes] | int = log.open("wb") if log else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            list(args),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        if not isinstance(out, int):
            out.close()  # the child holds its own descriptor
    _live.add(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to the whole group, SIGKILL after `grace` seconds."""
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=grace)
        # The leader may be gone while children it forked linger in its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    finally:
        _live.discard(proc)


def stop_all() -> None:
    for proc in list(_live):
        stop(proc)


def run(args: Sequence[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    """Run to completion within `timeout` seconds; its stdout+stderr, or an error with them."""
    proc = subprocess.Popen(
        list(args),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _live.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{args[0]} did not finish within {timeout:.0f} s") from exc
    finally:
        stop(proc)
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{text[-2000:]}")
    return text


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    # Children first: a thread blocked on a running wrk (which asyncio.run would wait for
    # before it lets the exception out) returns as soon as wrk is gone.
    stop_all()
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    atexit.register(stop_all)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_IGN:
            continue  # e.g. SIGINT in a background job: keep ignoring it
        signal.signal(sig, _exit_on_signal)
