"""The bench's wrk bookings (bench.kit.bookings) against a server that answers at once: the open
loop sends at the offered rate, measures from each booking's due time, and the closed loop sends
each booking exactly once."""

import asyncio
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bench.kit.bookings import CLIENTS, run_bookings
from bench.kit.wrk import run_wrk

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


class EchoServer:
    """HTTP/1.1 keep-alive on loopback: each POST answered 201 at once with its body's mentor
    and start (what the bench's Lua matches a booking by); the times of the requests kept."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.seen: list[tuple[float, dict[str, Any]]] = []
        self.loop = asyncio.new_event_loop()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.sock = sock
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = json.loads(await reader.readexactly(length)) if length else {}
            self.seen.append((self.loop.time(), body))
            if self.delay:
                await asyncio.sleep(self.delay)
            answer = json.dumps(
                {"mentor_id": body.get("mentor_id"), "starts_at": body.get("starts_at")}
            ).encode()
            writer.write(
                b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        writer.close()

    def __enter__(self) -> "EchoServer":
        async def start() -> asyncio.Server:
            return await asyncio.start_server(self._serve, sock=self.sock)

        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        async def stop() -> None:
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _bodies(count: int) -> list[dict[str, Any]]:
    start = datetime(2030, 1, 7, 9, tzinfo=UTC)
    return [
        {
            "mentor_id": f"mtr_{i % 50}",
            "starts_at": (start + timedelta(minutes=15 * (i // 50))).isoformat(),
        }
        for i in range(count)
    ]


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


def test_open_loop_sends_at_the_offered_rate(echo: EchoServer) -> None:
    booked = run_bookings(f"http://127.0.0.1:{echo.port}", "Bearer x", _bodies(600), rate=200)
    assert booked.answered == booked.sent == 600
    assert booked.statuses == {201: 600}
    assert booked.unmatched == 0
    # 600 at 200/s: due over 2.995 s; a server that answers at once keeps the schedule.
    # (Bounds for a shared, loaded machine: wrk itself may wait for a core now and then.)
    assert 2.95 <= booked.seconds <= 4.0, booked.seconds
    assert booked.late <= 60, booked.late
    times = sorted(t for t, _ in echo.seen)
    # Evenly spread, not in bursts: any 0.5 s holds about 100 of them.
    halves = [
        sum(1 for t in times if times[0] + k / 2 <= t < times[0] + (k + 1) / 2) for k in range(5)
    ]
    assert all(80 <= n <= 120 for n in halves), halves
    assert max(booked.latencies_ms) < 500, max(booked.latencies_ms)


def test_open_loop_latency_counts_from_the_due_time() -> None:
    # Each answer takes 0.5 s: 100 connections serve at most 200/s, so at 400/s offered the
    # bookings queue for a connection, and that wait is part of their latency.
    with EchoServer(delay=0.5) as slow:
        booked = run_bookings(f"http://127.0.0.1:{slow.port}", "Bearer x", _bodies(800), rate=400)
    assert booked.answered == 800
    latencies = sorted(booked.latencies_ms)
    assert latencies[0] >= 495
    # The last ones waited for about 2 s (due by 2 s, served at 200/s until 4 s) on top of 0.5.
    assert latencies[-1] > 2000
    assert booked.late > 300
    assert 3.8 <= booked.seconds <= 8, booked.seconds


def test_closed_loop_sends_each_booking_once(echo: EchoServer) -> None:
    bodies = _bodies(1000)
    booked = run_bookings(f"http://127.0.0.1:{echo.port}", "Bearer x", bodies)
    assert booked.answered == booked.sent == 1000
    assert len(booked.latencies_ms) == 1000
    sent = sorted((b["mentor_id"], b["starts_at"]) for _, b in echo.seen)
    assert sent == sorted((b["mentor_id"], b["starts_at"]) for b in bodies)
    assert booked.late == 0
    assert CLIENTS == 100


def test_wrk_counts_answers_that_hold_the_failure_text(echo: EchoServer) -> None:
    body = json.dumps({"mentor_id": "mtr_1", "starts_at": "2030-01-07T09:00:00+00:00"})
    common = {"headers": {"Content-Type": "application/json"}, "connections": 4, "threads": 2}
    url = f"http://127.0.0.1:{echo.port}"
    failing = run_wrk(url, ["/x"], method="POST", body=body, fail_on="mtr_1", duration=1, **common)
    passing = run_wrk(url, ["/x"], method="POST", body=body, fail_on="errors", duration=1, **common)
    assert failing.requests > 0
    assert failing.failures == failing.requests
    assert passing.requests > 0
    assert passing.failures == 0
    assert all(b == json.loads(body) for _, b in echo.seen)
