"""PgBouncer as a child process of the test: its own config in a temporary directory, on a
free port, in front of the test database, in transaction mode (never the system service)."""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

# Debian installs it in /usr/sbin, which is not on every user's PATH.
BINARY = shutil.which("pgbouncer") or next(
    (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
)
# The first PgBouncer that keeps prepared statements apart per client in transaction mode.
PREPARED_STATEMENTS_SINCE = (1, 21)


def version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"PgBouncer (\d+)\.(\d+)", out.stdout + out.stderr)
    if found is None:
        raise RuntimeError(f"cannot read the version of {binary}: {out.stdout!r}")
    return int(found[1]), int(found[2])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(upstream_host: str, upstream_port: int, port: int, users: Path, extra: str) -> str:
    return f"""\
[databases]
* = host={upstream_host} port={upstream_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = transaction
max_client_conn = 500
; Fewer server connections than the app's pool has clients: server connections are shared
; between clients, as in production, so whatever assumes a session of its own breaks here.
default_pool_size = 4
reserve_pool_size = 0
ignore_startup_parameters = extra_float_digits
{extra}
"""


@contextlib.contextmanager
def running(database_url: str, *, binary: str, max_prepared_statements: int = 0) -> Iterator[str]:
    """Start PgBouncer in front of `database_url`'s server; yield the same URL through it."""
    url = make_url(database_url)
    port = _free_port()
    extra = (
        f"max_prepared_statements = {max_prepared_statements}" if max_prepared_statements else ""
    )
    with tempfile.TemporaryDirectory(prefix="mentorapi-pgbouncer-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)  # PgBouncer refuses root: as root it runs as postgres (-u below)
        users = folder / "users.txt"
        users.write_text(f'"{url.username or "postgres"}" ""\n')
        users.chmod(0o644)
        ini = folder / "pgbouncer.ini"
        ini.write_text(_config(url.host or "127.0.0.1", url.port or 5432, port, users, extra))
        ini.chmod(0o644)
        command = [binary, str(ini)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "postgres"]
        log = (folder / "log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _until_accepting(port, process, folder / "log")
            yield url.set(port=port).render_as_string(hide_password=False)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def _until_accepting(port: int, process: "subprocess.Popen[bytes]", log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited ({process.returncode}): {log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not listen on {port}: {log.read_text()}")
