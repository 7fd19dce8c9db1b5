"""wrk: install it if missing, drive a rotation of paths, read its numbers back as JSON."""

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from bench.kit import procs
from bench.kit.options import LOOPBACK

MARK = "BENCH_JSON "

# Each wrk thread runs its own copy of this script. `done` runs once, on the merged statistics;
# latencies are in microseconds.
LUA = """
local paths = {%(paths)s}
local counter = 0
%(headers)s
function setup(thread)
  thread:set("offset", math.random(1, #paths))
end
function request()
  counter = counter + 1
  return wrk.format(nil, paths[((counter + (offset or 0)) %% #paths) + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  local failures = 0  -- answers whose body held the `fail_on` text (FAIL_ON below), if any
  for _, t in ipairs(bench_threads or {}) do failures = failures + t:get("bench_failures") end
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"bytes":%%d,'
    .. '"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d,'
    .. '"p50_us":%%d,"p75_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f,'
    .. '"failures":%%d}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, failures))
end
"""

# One path, with `fail_on`: every answer's body is searched for that text (a GraphQL answer
# with "errors" comes with status 200). Each thread counts in its own Lua state; done() adds
# them up through the threads setup() kept.
FAIL_ON = """
bench_threads = {}
function setup(thread)
  table.insert(bench_threads, thread)
end
bench_failures = 0
function response(status, headers, body)
  if body:find(%(needle)s, 1, true) then
    bench_failures = bench_failures + 1
  end
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    non_2xx: int  # non-2xx/3xx responses
    socket_errors: int  # connect, read, write errors and timeouts
    failures: int = 0  # answers whose body held `fail_on`

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package first if it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("wrk is not installed: run `sudo apt-get install -y wrk`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "wrk"]
    try:
        procs.run(install, timeout=600, env=env)
    except RuntimeError:  # stale package lists: refresh once, then try again
        procs.run(["apt-get", "update"], timeout=600, env=env)
        procs.run(install, timeout=600, env=env)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is still missing after apt-get install")
    return found


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII


# One path: no request() function, so wrk sends its one prebuilt request (a Lua call and a
# string format per request cost the load generator CPU that the server, on the same cores,
# then lacks).
_DONE = "function done(summary, latency, requests)"
LUA_ONE_PATH = """
wrk.path = %(path)s
%(headers)s
%(check)s
""" + LUA[LUA.index(_DONE) :]


def script(
    paths: list[str],
    headers: dict[str, str],
    *,
    method: str = "GET",
    body: str | None = None,
    fail_on: str | None = None,
) -> str:
    if not paths:
        raise ValueError("wrk needs at least one path")
    lines = [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()]
    lines.append(f"wrk.method = {_lua_string(method)}")
    if body is not None:
        lines.append(f"wrk.body = {_lua_string(body)}")
    if len(paths) == 1:
        return LUA_ONE_PATH % {
            "path": _lua_string(paths[0]),
            "headers": "\n".join(lines),
            "check": FAIL_ON % {"needle": _lua_string(fail_on)} if fail_on else "",
            "mark": MARK,
        }
    if fail_on:
        raise ValueError("fail_on is for one path")  # LUA's setup() is the rotation's
    return LUA % {
        "paths": ", ".join(_lua_string(p) for p in paths),
        "headers": "\n".join(lines),
        "mark": MARK,
    }


def parse(output: str) -> WrkResult:
    line = next((ln for ln in output.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"no summary in wrk's output:\n{output[-2000:]}")
    raw = json.loads(line[len(MARK) :])
    seconds = raw["duration_us"] / 1e6
    return WrkResult(
        requests=raw["requests"],
        seconds=round(seconds, 2),
        rps=round(raw["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        mean_ms=round(raw["mean_us"] / 1000, 3),
        non_2xx=raw["status"],
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        failures=raw.get("failures", 0),
    )


def run_wrk(
    base_url: str,
    paths: list[str],
    *,
    headers: dict[str, str],
    duration: float,
    connections: int,
    threads: int,
    method: str = "GET",
    body: str | None = None,
    fail_on: str | None = None,
) -> WrkResult:
    """Load `base_url` (loopback only) rotating through `paths` for `duration` seconds: GETs,
    or `method` with `body`; `fail_on` (one path only): answers whose body holds that text
    are counted as `failures`."""
    if urlsplit(base_url).hostname not in LOOPBACK:
        raise ValueError(f"benchmarks load loopback only, not {base_url}")
    wrk = ensure_wrk()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="mentorapi-bench-") as lua:
        lua.write(script(paths, headers, method=method, body=body, fail_on=fail_on))
        lua.flush()
        args = [wrk, "--latency", "-t", str(threads), "-c", str(connections)]
        args += ["-d", f"{max(1, round(duration))}s", "--timeout", "10s", "-s", lua.name]
        output = procs.run([*args, base_url], timeout=duration + 60)
    return parse(output)
