"""Bookings driven by wrk: a fixed list of request bodies, each POSTed once with its own key,
either as a closed loop (every connection sends its next booking when the last is answered) or
as an open loop (a fixed total rate, each booking due at its place on the schedule, latency
measured from that time); the CPU the server and its PostgreSQL backends spent meanwhile; and
the bare asyncpg ceiling (`bench.ceiling`) as a server to send them to.

Used by `sessions` (the default run's booking figures) and `bookings_load`.
"""

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from bench.kit import procs
from bench.kit.db import backend_pids
from bench.kit.options import LOOPBACK
from bench.kit.server import cpu_seconds, free_port
from bench.kit.wrk import LUA as WRK_LUA
from bench.kit.wrk import MARK, WrkResult, ensure_wrk, parse

CLIENTS = 100  # the 100 clients: wrk connections


class Target(Protocol):
    """A server to load: mentorapi's `Server` or a `Ceiling`."""

    base_url: str

    def pids(self) -> list[int]: ...


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


@dataclass
class Load:
    """One write path driven by concurrent clients: latencies, statuses, CPU of the server and
    of the PostgreSQL backends serving it."""

    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    server_cpu: float = 0.0
    database_cpu: float = 0.0
    bodies: list[tuple[int, dict[str, Any], httpx.Headers]] = field(default_factory=list)

    def summary(self, per: str) -> dict[str, Any]:
        per_request = 1000 / self.requests if self.requests else 0.0
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            f"{per}_per_second": round(self.requests / self.seconds, 1) if self.seconds else 0,
            "p50_ms": percentile(self.latencies, 0.50),
            "p99_ms": percentile(self.latencies, 0.99),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            f"server_cpu_ms_per_{per}": round(self.server_cpu * per_request, 2),
            f"database_cpu_ms_per_{per}": round(self.database_cpu * per_request, 2),
        }


async def with_cpu(load: Load, server: Target, url: str, work: Awaitable[Any]) -> None:
    """Await `work`, setting the seconds it took and the CPU the server and its PostgreSQL
    backends spent meanwhile on `load`."""
    pids, database_pids = server.pids(), await backend_pids(url)
    cpu_before, database_before = cpu_seconds(pids), cpu_seconds(database_pids)
    started = time.perf_counter()
    await work
    load.seconds = time.perf_counter() - started
    load.server_cpu = cpu_seconds(pids) - cpu_before
    # Backends the pools opened meanwhile count from their start.
    load.database_cpu = cpu_seconds(await backend_pids(url)) - database_before


class Ceiling:
    """A ceiling (bench.ceiling, or `module` built on it) in a process group of its own, for
    CPU accounting like `Server`."""

    def __init__(self, url: str, app_id: str, module: str = "bench.ceiling") -> None:
        self.module = module
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", module, "--database-url", url),
                *("--app-id", app_id, "--port", str(self.port)),
            ],
            start_new_session=True,
        )

    async def ready(self) -> None:
        deadline = time.monotonic() + 30.0
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.module} did not start") from None
                await asyncio.sleep(0.2)
                continue
            writer.close()
            await asyncio.sleep(1)  # the pools of both processes
            return

    def pids(self) -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getpgid(int(entry)) == self.proc.pid:
                        found.append(int(entry))
                except OSError:
                    continue
        return found

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)


BOOKINGS_MARK = "BENCH_BOOKINGS "
WRK_CAP_SECONDS = 180  # wrk stops itself when the last booking is answered; this is a backstop

# One wrk thread (one Lua state, so one list, one counter and one schedule). wrk calls delay()
# before each request of a connection (after connecting, after each answer), then request()
# when that many ms have passed.
#
# Closed loop (rate 0): delay() is 0, so each connection sends its next booking as soon as its
# last is answered; a booking's latency runs from its request() to the response naming its
# mentor and start (the span httpx measured).
#
# Open loop (rate > 0 bookings/s in all): delay() gives each booking the next place on one
# schedule (the first at the first call, then one every 1000/rate ms) and waits until then; a
# booking's latency runs from that *intended* time, not from when it was sent, so a server
# that falls behind is charged for the wait of every booking due meanwhile (what wrk2 calls
# the correction for coordinated omission). A booking that finds every connection busy is sent
# late, and its lateness counts too.
#
# Either way a connection that finds no booking left idles in delay(), so no slot is asked for
# twice, and the last answer prints the figures and sends wrk SIGINT, which ends its run. A
# connection reset with a booking in flight (a worker killed) loses that booking: wrk
# reconnects and asks for a request, which is the next booking, or once none is left a GET
# answered 404 that is not counted; the run then ends at WRK_CAP_SECONDS, as an error. wrk's
# `timeout` errors count connections idle past --timeout at each of its 2 s checks (those
# waiting in delay() too), not lost requests.
# wrk's own histogram (from each send, with synthetic samples under slow ones) is reported
# apart.
WRK_BOOKINGS_LUA = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec_t;
int clock_gettime(int clock, bench_timespec_t *now);
int getpid(void);
int kill(int pid, int sig);
]]
local clock = ffi.new("bench_timespec_t")
local function now_ms()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
local jobs = dofile(%(jobs)s)
local rate = %(rate)s
local interval = rate > 0 and 1000 / rate or 0
local sending = {["Content-Type"] = "application/json", ["Authorization"] = %(auth)s}
local reserved, sent, answered, unmatched, late, fillers = 0, 0, 0, 0, 0, 0
local first, last, schedule = nil, nil, nil
local due, due_first, due_last = {}, 1, 0  -- open loop: places reserved, not yet sent
local sent_at, latencies, statuses = {}, {}, {}

function delay()
  if reserved >= #jobs then
    return 3600000
  end
  reserved = reserved + 1
  if rate == 0 then
    return 0
  end
  local now = now_ms()
  schedule = schedule or now
  local at = schedule + (reserved - 1) * interval
  due_last = due_last + 1
  due[due_last] = at
  if at <= now then
    return 0
  end
  return math.ceil(at - now)  -- whole ms, never early
end

function request()
  if reserved == 0 then  -- wrk's check of the script before the run: never sent
    return wrk.format("POST", "/v1/sessions", sending, jobs[1][3])
  end
  if sent >= #jobs then  -- only after a reconnect: nothing left to book
    fillers = fillers + 1
    return wrk.format("GET", "/bench-no-bookings-left")
  end
  sent = sent + 1
  local job = jobs[sent]
  sending["Idempotency-Key"] = job[2]
  local now = now_ms()
  local from = now
  if rate > 0 then
    if due_first <= due_last then
      -- The earliest place not yet sent: timers fire in order, so it is this one's.
      from = due[due_first]
      due[due_first] = nil
      due_first = due_first + 1
    else
      -- Sent without a delay() first: wrk reconnected a connection that had a request in
      -- flight. It takes the next place, or goes now if that is still to come.
      reserved = reserved + 1
      schedule = schedule or now
      from = math.min(now, schedule + (reserved - 1) * interval)
    end
    if now - from > 10 then
      late = late + 1
    end
  end
  first = first or from
  sent_at[job[1]] = from
  return wrk.format("POST", "/v1/sessions", sending, job[3])
end

function response(status, headers, body)
  local now = now_ms()
  local mentor = body:match('"mentor_id":%%s*"([^"]+)"')
  local starts = body:match('"starts_at":%%s*"([^"]+)"')
  local match = mentor and starts and (mentor .. starts:sub(1, 16))
  if status == 404 and not match and fillers > 0 then  -- a filler's answer, not a booking's
    fillers = fillers - 1
    return
  end
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if match and sent_at[match] then
    latencies[#latencies + 1] = string.format("%%.3f", now - sent_at[match])
    sent_at[match] = nil
  else
    unmatched = unmatched + 1
  end
  last = now
  if answered == #jobs then
    local codes = {}
    for code, n in pairs(statuses) do codes[#codes + 1] = string.format('"%%d":%%d', code, n) end
    io.write(string.format(
      '%(bookings_mark)s{"sent":%%d,"answered":%%d,"unmatched":%%d,"late":%%d,"seconds":%%.4f,'
      .. '"statuses":{%%s},"latencies_ms":[%%s]}\\n',
      sent, answered, unmatched, late, (last - first) / 1000, table.concat(codes, ","),
      table.concat(latencies, ",")))
    io.flush()
    ffi.C.kill(ffi.C.getpid(), 2)
  end
end
""" + WRK_LUA[WRK_LUA.index("function done(") :]


@dataclass(frozen=True)
class Booked:
    """What wrk's Lua saw of one list of bookings, and the CPU seconds wrk used."""

    sent: int
    answered: int
    unmatched: int  # answers that named no booking sent (so no latency)
    late: int  # open loop: sent over 10 ms after their due time (every connection was busy)
    seconds: float  # from the first booking's send (closed) or due time (open) to the last answer
    statuses: dict[int, int]
    latencies_ms: list[float]
    wrk_cpu_seconds: float
    wrk: WrkResult  # wrk's own summary (its histogram runs from each send)


def run_bookings(
    base_url: str,
    auth: str,
    bodies: list[dict[str, Any]],
    rate: float = 0.0,
    clients: int = CLIENTS,
) -> Booked:
    """`bodies` POSTed once each to `base_url`/v1/sessions from wrk over `clients` connections,
    as a closed loop (`rate` 0) or offered at `rate` bookings per second in all."""
    if urlsplit(base_url).hostname not in LOOPBACK:
        raise ValueError(f"benchmarks load loopback only, not {base_url}")
    with tempfile.TemporaryDirectory(prefix="mentorapi-bench-") as folder:
        jobs = os.path.join(folder, "jobs.lua")
        with open(jobs, "w") as out:
            out.write("return {\n")
            for body in bodies:
                match = body["mentor_id"] + body["starts_at"][:16]
                job = (match, str(uuid.uuid4()), json.dumps(body))
                out.write("{" + ", ".join(json.dumps(v) for v in job) + "},\n")
            out.write("}\n")
        script = os.path.join(folder, "bookings.lua")
        with open(script, "w") as out:
            out.write(
                WRK_BOOKINGS_LUA
                % {
                    "jobs": json.dumps(jobs),
                    "rate": repr(float(rate)),
                    "auth": json.dumps(auth),
                    "bookings_mark": BOOKINGS_MARK,
                    "mark": MARK,
                }
            )
        args = [ensure_wrk(), "--latency", "-t", "1", "-c", str(clients)]
        args += ["-d", f"{WRK_CAP_SECONDS}s", "--timeout", "30s", "-s", script, base_url]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        output = procs.run(args, timeout=WRK_CAP_SECONDS + 60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((ln for ln in output.splitlines() if ln.startswith(BOOKINGS_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk did not answer every booking:\n{output[-2000:]}")
    seen = json.loads(line[len(BOOKINGS_MARK) :])
    return Booked(
        sent=seen["sent"],
        answered=seen["answered"],
        unmatched=seen["unmatched"],
        late=seen["late"],
        seconds=seen["seconds"],
        statuses={int(k): v for k, v in seen["statuses"].items()},
        latencies_ms=seen["latencies_ms"],
        wrk_cpu_seconds=after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        wrk=parse(output),
    )


async def wrk_bookings(
    target: Target,
    url: str,
    auth: str,
    bodies: list[dict[str, Any]],
    rate: float = 0.0,
    clients: int = CLIENTS,
) -> tuple[Load, float, dict[str, Any]]:
    """`run_bookings` against `target`, with the CPU of the server and of its PostgreSQL
    backends (database `url`) meanwhile: the load, wrk's CPU seconds, and what else wrk
    reported."""
    load = Load()
    ran: list[Booked] = []

    async def work() -> None:
        ran.append(
            await asyncio.to_thread(run_bookings, target.base_url, auth, bodies, rate, clients)
        )

    await with_cpu(load, target, url, work())
    booked = ran[0]
    load.requests, load.seconds = booked.answered, booked.seconds
    load.latencies = booked.latencies_ms
    load.statuses = booked.statuses
    extra: dict[str, Any] = {
        "sent": booked.sent,
        "non_2xx": sum(v for k, v in load.statuses.items() if not 200 <= k < 300),
        "answers_without_a_latency": booked.unmatched,
        "wrk_socket_errors": booked.wrk.socket_errors,
        "wrk_own_p50_p99_ms_corrected": [booked.wrk.p50_ms, booked.wrk.p99_ms],
    }
    if rate:
        extra["offered_per_second"] = rate
        extra["sent_over_10ms_late"] = booked.late
    return load, booked.wrk_cpu_seconds, extra
