"""Webhook delivery: deliveries per second of one worker, and commit-to-receipt latency.

PostgreSQL only (a fresh database, dropped afterwards). One `mentorapi worker` process delivers
to a receiver in another process on loopback, so the figures include the real claim, sign, POST,
record cycle and the LISTEN/NOTIFY wake-up. `python -m bench.webhooks` prints JSON.
Environment: BENCH_POSTGRES_URL (admin URL, default postgresql://postgres@127.0.0.1:5432/postgres),
BENCH_WEBHOOK_EVENTS (throughput run, 5000), BENCH_WEBHOOK_LATENCY_EVENTS (500, sent at 50/s).
"""

import asyncio
import json
import os
import signal
import statistics
import sys
import time
import uuid
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
EVENTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "5000"))
LATENCY_EVENTS = int(os.environ.get("BENCH_WEBHOOK_LATENCY_EVENTS", "500"))
LATENCY_RATE = 50.0  # events per second, one commit each

# A payload the size of a real session object.
SESSION = {
    "id": "ses_01JD8X4K8Y3N6Q2W5E7R9T1U3V",
    "mentor_id": "mtr_01JD8X4K8Y3N6Q2W5E7R9T1U3V",
    "mentee_id": "mte_01JD8X4K8Y3N6Q2W5E7R9T1U3V",
    "status": "booked",
    "topic": "Negotiating a first offer",
    "questions": ["How do I anchor?", "What if they say no?"],
    "skill_id": "skl_01JD8X4K8Y3N6Q2W5E7R9T1U3V",
    "format": "video",
    "duration_minutes": 15,
    "starts_at": "2026-12-01T09:00:00Z",
    "ends_at": "2026-12-01T09:15:00Z",
    "series_id": None,
    "rescheduled_from": None,
    "cancelled_by": None,
    "cancel_reason": None,
    "version": 2,
    "created_at": "2026-11-23T10:00:00Z",
    "updated_at": "2026-11-23T10:00:00Z",
}


# --- the receiver (a child process) -------------------------------------------------------------


async def _receiver() -> None:
    received: dict[str, float] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length", "0")))
                body = b"ok"
                if line.startswith(b"GET /stats"):
                    body = json.dumps(received).encode()
                else:
                    received.setdefault(headers.get("webhook-id", ""), time.time())
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)  # the parent reads the port
    async with server:
        await server.serve_forever()


# --- the benchmark ------------------------------------------------------------------------------


async def _stats(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    response = await client.get(url + "/stats")
    return dict(response.json())


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to report cost independent of load."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(report: Any = None) -> dict[str, Any]:
    from mentorapi.apps import service as apps_service
    from mentorapi.config import Settings
    from mentorapi.db.engine import create_database
    from mentorapi.db.migrate import upgrade_async
    from mentorapi.webhooks import outbox
    from mentorapi.webhooks.models import EventType, WebhookEndpoint
    from mentorapi.webhooks.signing import new_secret

    name = f"mentorapi_bench_webhooks_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = make_url(ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    database_url = url.render_as_string(hide_password=False)
    children: list[asyncio.subprocess.Process] = []
    settings = Settings(database_url=database_url, webhook_allow_private_urls=True)
    db = create_database(settings)
    try:
        await upgrade_async(database_url)
        receiver = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.webhooks", "--receiver", stdout=asyncio.subprocess.PIPE
        )
        children.append(receiver)
        assert receiver.stdout is not None
        port = int(await asyncio.wait_for(receiver.stdout.readline(), 20))
        receiver_url = f"http://127.0.0.1:{port}"
        async with db.sessionmaker() as s, s.begin():
            app, _key = await apps_service.create_app(db_session=s, name="bench")
            s.add(WebhookEndpoint(app_id=app.id, url=receiver_url + "/hook", secret=new_secret()))
        env = dict(
            os.environ,
            MENTORAPI_DATABASE_URL=database_url,
            MENTORAPI_WEBHOOK_ALLOW_PRIVATE_URLS="true",
        )
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mentorapi.cli", "worker", env=env
        )
        children.append(worker)
        await asyncio.sleep(2.0)  # the worker is up and LISTENing

        async with httpx.AsyncClient(timeout=30) as client:
            # Throughput: one commit of EVENTS events, then time until the last one arrives.
            cpu_before = _cpu_seconds(worker.pid)
            async with db.sessionmaker() as s, s.begin():
                for i in range(EVENTS):
                    await outbox.record(
                        s,
                        app_id=app.id,
                        type=EventType.session_booked,
                        data=dict(SESSION, version=i),
                    )
            committed = time.time()
            deadline = time.monotonic() + 120
            while len(received := await _stats(client, receiver_url)) < EVENTS:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {len(received)} of {EVENTS} delivered")
                await asyncio.sleep(0.25)
            elapsed = max(received.values()) - committed
            throughput = EVENTS / elapsed
            await asyncio.sleep(1.0)  # the last results are saved
            worker_cpu = _cpu_seconds(worker.pid) - cpu_before

            # Latency: one event per commit at a steady rate; commit returned -> receipt.
            commit_times: dict[str, float] = {}
            for _ in range(LATENCY_EVENTS):
                async with db.sessionmaker() as s, s.begin():
                    recorded = await outbox.record(
                        s, app_id=app.id, type=EventType.session_booked, data=dict(SESSION)
                    )
                commit_times[recorded.id] = time.time()
                await asyncio.sleep(1 / LATENCY_RATE)
            await asyncio.sleep(2.0)
            received = await _stats(client, receiver_url)
            latencies = [(received[i] - t) * 1000 for i, t in commit_times.items() if i in received]
        result = {
            "database": "postgresql",
            "deliveries": EVENTS,
            "deliveries_per_second": round(throughput, 1),
            "throughput_seconds": round(elapsed, 2),
            # Load-independent cost: what one worker can do with a whole core to itself.
            "worker_cpu_ms_per_delivery": round(worker_cpu * 1000 / EVENTS, 3),
            "deliveries_per_worker_cpu_second": round(EVENTS / worker_cpu, 1),
            "load_average_1min": os.getloadavg()[0],
            "latency_events": LATENCY_EVENTS,
            "latency_received": len(latencies),
            "latency_ms_p50": round(statistics.median(latencies), 1),
            "latency_ms_p99": round(_percentile(latencies, 99), 1),
            "latency_ms_max": round(max(latencies), 1),
            "targets": {"deliveries_per_second": 500, "latency_ms_p99": 250},
        }
        if callable(report):
            report("webhooks", result)
        return result
    finally:
        for child in reversed(children):
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(child.wait(), 15)
                except TimeoutError:
                    child.kill()
                    await child.wait()
        await db.dispose()
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--receiver"]:
        asyncio.run(_receiver())
    else:
        print(json.dumps(asyncio.run(run()), indent=2))
