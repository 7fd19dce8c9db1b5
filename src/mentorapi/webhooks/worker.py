"""The delivery worker: claims due deliveries, signs them, POSTs them, records every attempt.

It runs inside `mentorapi serve` (the app's lifespan) and as `mentorapi worker`; any number
of workers may run against PostgreSQL, because each claims rows with `FOR UPDATE SKIP LOCKED`
and pushes their `next_attempt_at` forward as a lease. A worker that dies mid-delivery leaves
rows that fall due again when the lease ends: delivery is at least once, and nothing is lost.
A worker that is stopped (SIGTERM) leaves nothing to a lease: it starts no new attempt, lets
those in flight finish (up to MENTORAPI_SHUTDOWN_TIMEOUT_SECONDS) and saves them, and hands
back every other claim, due at once, waking the other workers.
Workers wake on PostgreSQL `NOTIFY` (sent by the outbox at commit) and poll as a fallback.
"""

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from mentorapi import __version__
from mentorapi.config import Settings
from mentorapi.db.engine import Database
from mentorapi.db.listen import listen
from mentorapi.kit.ids import new_id
from mentorapi.kit.timezones import utcnow
from mentorapi.webhooks import repository
from mentorapi.webhooks.models import AttemptKind, DeliveryStatus
from mentorapi.webhooks.repository import Job
from mentorapi.webhooks.signing import secret_key, signature_header
from mentorapi.webhooks.transport import GuardedTransport

log = logging.getLogger("mentorapi.webhooks")

# An endpoint that has not succeeded for this long is disabled.
DISABLE_AFTER = timedelta(days=5)
# Retry-After is honoured up to a day; a larger value is a misconfigured receiver.
MAX_RETRY_AFTER = 86400.0
EXCERPT_BYTES = 1024
SQLITE_POLL_SECONDS = 0.2
# With LISTEN working this only picks up retries falling due; without it, it is the wake-up.
POSTGRES_POLL_SECONDS = 0.5
JITTER = 0.1  # ±10 % on every retry delay, so a burst of failures does not retry in lockstep
RESULT_BATCH = 500
# Results wait this long to share a transaction: fewer commits per delivery under load. It
# delays only the bookkeeping, never a request.
RESULT_LINGER_SECONDS = 0.05


def parse_schedule(text: str) -> list[float]:
    """`MENTORAPI_WEBHOOK_RETRY_SCHEDULE`: comma-separated seconds between attempts."""
    delays: list[float] = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            delay = float(part)
        except ValueError:
            raise ValueError(f"webhook retry schedule: {part.strip()!r} is not a number") from None
        if not delay > 0:
            raise ValueError(f"webhook retry schedule: {part.strip()!r} must be positive")
        delays.append(delay)
    return delays


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    # A receiver may send anything: `isdigit` is also true of "²" and "٣" (float refuses the
    # first), and a date's year may be past what a datetime holds (OverflowError). Either
    # raised out of `send`, and the answer was recorded as our internal error, not the
    # receiver's 429 or 503.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _clip(text: str | None, limit: int) -> str | None:
    # PostgreSQL text cannot hold NUL; a receiver's body may.
    return None if text is None else text.replace("\x00", "")[:limit]


@dataclass(slots=True)
class Outcome:
    job: Job
    finished_at: datetime
    status_code: int | None
    duration_ms: int
    excerpt: str | None
    error: str | None
    retry_after: float | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def build_request(job: Job, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body (the same on every attempt) and the signed headers of this attempt."""
    body = json.dumps(
        {"type": job.event_type, "timestamp": _timestamp(job.event_created_at), "data": job.data},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    keys = [secret_key(job.secret)]
    if (
        job.previous_secret
        and job.previous_secret_expires_at is not None
        and job.previous_secret_expires_at > now
    ):
        keys.append(secret_key(job.previous_secret))
    stamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": f"mentorapi-webhooks/{__version__}",
        "webhook-id": job.event_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature_header(keys, job.event_id, stamp, body),
    }
    return body, headers


class Worker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        ssl_context: ssl.SSLContext | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.schedule = parse_schedule(settings.webhook_retry_schedule)
        self.concurrency = settings.webhook_worker_concurrency
        self.timeout = settings.webhook_timeout_seconds
        self.lease = timedelta(seconds=settings.webhook_lease_seconds)
        self.stop_timeout = settings.shutdown_timeout_seconds
        if settings.webhook_lease_seconds <= self.timeout:
            log.warning(
                "MENTORAPI_WEBHOOK_LEASE_SECONDS (%g) is not above the timeout (%g): a slow "
                "delivery may be claimed again by another worker and sent twice",
                settings.webhook_lease_seconds,
                self.timeout,
            )
        self.is_postgres = db.dialect == "postgresql"
        self.poll = poll_seconds or (
            POSTGRES_POLL_SECONDS if self.is_postgres else SQLITE_POLL_SECONDS
        )
        self.delivered = 0  # HTTP attempts finished, for benchmarks and logs
        self.released = 0  # claims handed back unfinished by stop()
        # Claimed and not yet finished (its outcome not queued for saving): what stop() hands
        # back if it is still here at the end.
        self._claimed: dict[str, Job] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._backlog = False
        # Endpoints this worker saw fail, until a success.
        self._seen_failing: set[repository.EndpointKey] = set()
        self._inflight: set[asyncio.Task[None]] = set()
        self._results: asyncio.Queue[Outcome | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: asyncio.Task[None] | None = None
        self._clients: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        self._all_clients: list[httpx.AsyncClient] = []
        # The system's CAs (or a given context: a private CA). Loading them costs ~50 ms: once.
        self._ssl = ssl_context or ssl.create_default_context()

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        # One small client per in-flight slot rather than one pool of `concurrency` connections:
        # httpcore scans its whole pool for every request it queues, which made one big pool
        # the worker's main cost at a few hundred deliveries per second.
        for _ in range(self.concurrency):
            client = self._new_client()
            self._all_clients.append(client)
            self._clients.put_nowait(client)
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="webhooks-claim"),
            asyncio.create_task(self._write_loop(), name="webhooks-write"),
        ]
        if self.is_postgres:
            self._listener = asyncio.create_task(self._listen_loop(), name="webhooks-listen")
        log.info("webhook worker started (concurrency %d)", self.concurrency)

    async def stop(self) -> None:
        """Claim nothing more and start no new attempt; let the attempts in flight finish (up to
        MENTORAPI_SHUTDOWN_TIMEOUT_SECONDS) and save their results; hand back the claims of the
        rest, due at once, rather than leave them to their leases; close."""
        self._stopping = True
        self._wake.set()
        claim_loop, write_loop = self._tasks
        await claim_loop
        if self._inflight:
            _done, pending = await asyncio.wait(self._inflight, timeout=self.stop_timeout)
            for task in pending:  # cut off: handed back below, and sent again (at least once)
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._results.put(None)
        await write_loop
        await self._release()
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        for client in self._all_clients:
            await client.aclose()
        log.info("webhook worker stopped")

    def _new_client(self) -> httpx.AsyncClient:
        # trust_env=False: proxies from the environment would connect for us, past the SSRF check.
        return httpx.AsyncClient(
            transport=GuardedTransport(
                allow_private=self.settings.webhook_allow_private_urls,
                max_connections=2,
                ssl_context=self._ssl,
            ),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(self.timeout),
        )

    # --- claiming -------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before claiming: a NOTIFY during the claim is not lost
            free = self.concurrency - len(self._inflight)
            jobs: list[Job] = []
            if free > 0:
                try:
                    jobs = await self.claim(free)
                except Exception:
                    log.exception("claiming webhook deliveries failed; retrying")
                    await asyncio.sleep(1.0)
                    continue
                for job in jobs:
                    self._claimed[job.delivery_id] = job
                    task = asyncio.create_task(self._deliver(job))
                    self._inflight.add(task)
                    task.add_done_callback(self._finished)
                self._backlog = len(jobs) == free
                if self._backlog:
                    continue  # maybe more is due right now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        # Refill in batches: with a backlog, claim again once half the slots are free.
        if self._backlog and len(self._inflight) <= self.concurrency // 2:
            self._wake.set()

    async def claim(self, limit: int) -> list[Job]:
        now = utcnow()
        async with self.db.sessionmaker() as s, s.begin():
            return await repository.claim_due(s, limit=limit, now=now, lease=now + self.lease)

    # --- delivering -----------------------------------------------------------------------------

    async def _deliver(self, job: Job) -> None:
        if self._stopping:
            return  # claimed just as the worker stops: never attempted, stop() hands it back
        client = await self._clients.get()  # never waits: at most `concurrency` in flight
        try:
            outcome = await self.send(job, client)
        except Exception as exc:  # a bug here must not kill the worker; the lease covers it
            log.exception("delivering %s failed unexpectedly", job.delivery_id)
            outcome = Outcome(job, utcnow(), None, 0, None, f"internal error: {exc!r}", None)
        finally:
            self._clients.put_nowait(client)
        self.delivered += 1
        self._claimed.pop(job.delivery_id, None)  # its result is saved, not handed back
        await self._results.put(outcome)

    async def send(self, job: Job, client: httpx.AsyncClient) -> Outcome:
        """One HTTP attempt. Never raises for the receiver's faults: they are the outcome."""
        body, headers = build_request(job, utcnow())
        started = time.perf_counter()
        status_code: int | None = None
        excerpt: str | None = None
        error: str | None = None
        retry_after: str | None = None
        try:
            async with (
                asyncio.timeout(self.timeout),
                client.stream("POST", job.url, content=body, headers=headers) as response,
            ):
                status_code = response.status_code
                retry_after = response.headers.get("retry-after")
                excerpt = await _read_excerpt(response)
        except TimeoutError:
            error = f"timed out after {self.timeout:g} s"
        except httpx.TimeoutException:
            error = f"timed out after {self.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except (ValueError, OSError) as exc:  # an unusable URL, a socket error httpx let through
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = round((time.perf_counter() - started) * 1000)
        finished = utcnow()
        if status_code is not None and not 200 <= status_code < 300 and error is None:
            error = f"HTTP {status_code}"
            if 300 <= status_code < 400:
                error += " (redirects are not followed)"
        return Outcome(
            job,
            finished,
            status_code,
            duration_ms,
            _clip(excerpt, EXCERPT_BYTES),
            _clip(error, 1000),
            parse_retry_after(retry_after, finished) if status_code in (429, 503) else None,
        )

    async def _release(self) -> None:
        """Hand back what was claimed and not finished: due now, for whichever worker is up."""
        jobs = list(self._claimed.values())
        self._claimed.clear()
        if not jobs:
            return
        now = utcnow()
        try:
            async with self.db.sessionmaker() as s, s.begin():
                await repository.release_claims(
                    s,
                    [{"b_app": j.app_id, "b_id": j.delivery_id, "b_lease": j.lease} for j in jobs],
                    now,
                )
                await repository.notify_workers(s)
        except Exception:
            # Their leases still end: another worker sends them then.
            log.exception("handing back %d claimed webhook deliveries failed", len(jobs))
            return
        self.released += len(jobs)
        log.info("handed back %d claimed webhook deliveries, due now", len(jobs))

    # --- recording ------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        done = False
        while not done:
            first = await self._results.get()
            if first is None:
                break
            batch = [first]
            if not self._stopping:
                await asyncio.sleep(RESULT_LINGER_SECONDS)
            while len(batch) < RESULT_BATCH and not self._results.empty():
                item = self._results.get_nowait()
                if item is None:
                    done = True
                    break
                batch.append(item)
            try:
                await self.save(batch)
            except Exception:
                # Unsaved results are safe: the leases end and the deliveries are sent again.
                log.exception("saving %d webhook delivery results failed", len(batch))

    def next_delay(self, attempts: int, retry_after: float | None) -> float | None:
        """Seconds until the next attempt after `attempts` failures; None: give up."""
        if attempts > len(self.schedule):
            return None
        delay = self.schedule[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        return delay

    async def save(self, batch: Sequence[Outcome]) -> None:
        """Write a batch of outcomes in one short transaction."""
        now = utcnow()
        updates: list[dict[str, Any]] = []
        attempts: list[dict[str, Any]] = []
        healthy: set[repository.EndpointKey] = set()
        failing: set[repository.EndpointKey] = set()
        gone: dict[repository.EndpointKey, Outcome] = {}
        for o in batch:
            job, count = o.job, o.job.attempts + 1
            next_at: datetime | None = None
            if o.ok:
                status = DeliveryStatus.succeeded
                # The clock is stopped only where it runs: it did at claim time, or this
                # worker has seen the endpoint fail since (the claim could predate that).
                if job.endpoint_failing or job.endpoint in self._seen_failing:
                    healthy.add(job.endpoint)
                    self._seen_failing.discard(job.endpoint)
            elif o.status_code == 410:
                status = DeliveryStatus.failed
                gone[job.endpoint] = o
            else:
                failing.add(job.endpoint)
                self._seen_failing.add(job.endpoint)
                delay = self.next_delay(count, o.retry_after)
                if delay is None:
                    status = DeliveryStatus.failed
                else:
                    status = DeliveryStatus.pending
                    next_at = o.finished_at + timedelta(seconds=delay)
            updates.append(
                {
                    "b_app": job.app_id,
                    "b_id": job.delivery_id,
                    "b_lease": job.lease,
                    "b_status": status.value,
                    "b_attempts": count,
                    "b_next": next_at,
                    "b_code": o.status_code,
                    "b_error": o.error,
                    "b_now": now,
                }
            )
            attempts.append(
                self._log_row(job, o.finished_at, AttemptKind.attempt, count, o.error)
                | {
                    "status_code": o.status_code,
                    "duration_ms": o.duration_ms,
                    "response_excerpt": o.excerpt,
                    "next_attempt_at": next_at,
                }
            )
        async with self.db.sessionmaker() as s, s.begin():
            await repository.save_delivery_results(s, updates)
            await repository.mark_endpoints_healthy(s, healthy)
            succeeded = {o.job.endpoint for o in batch if o.ok}
            clocks = await repository.mark_endpoints_failing(s, failing - succeeded, now)
            for endpoint, since in clocks.items():
                if now - since >= DISABLE_AFTER:
                    o = next(o for o in batch if o.job.endpoint == endpoint)
                    gone.setdefault(endpoint, o)
            for (_, endpoint_id), o in gone.items():
                reason = (
                    "the endpoint answered 410 Gone"
                    if o.status_code == 410
                    else f"no successful delivery for {DISABLE_AFTER.days} days"
                )
                if await repository.disable_endpoint(s, o.job.app_id, endpoint_id, reason, now):
                    log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
                    attempts.append(
                        self._log_row(o.job, now, AttemptKind.endpoint_disabled, 0, reason)
                    )
            await repository.insert_attempts(s, attempts)

    @staticmethod
    def _log_row(
        job: Job, at: datetime, kind: AttemptKind, attempt: int, error: str | None
    ) -> dict[str, Any]:
        return {
            "id": new_id("dla"),
            "app_id": job.app_id,
            "created_at": at,
            "updated_at": at,
            "delivery_id": job.delivery_id,
            "endpoint_id": job.endpoint_id,
            "event_id": job.event_id,
            "event_type": job.event_type,
            "kind": kind.value,
            "attempt": attempt,
            "status_code": None,
            "duration_ms": None,
            "response_excerpt": None,
            "error": error,
            "next_attempt_at": None,
        }

    # --- waking (PostgreSQL) --------------------------------------------------------------------

    async def _listen_loop(self) -> None:
        def wake() -> None:
            self._wake.set()

        # On (re)connecting too: anything committed while we were not listening.
        await listen(
            self.settings.session_database_url,  # LISTEN: never through PgBouncer
            repository.NOTIFY_CHANNEL,
            wake,
            name="mentorapi webhooks",
            on_up=wake,
        )


async def _read_excerpt(response: httpx.Response) -> str:
    """The first kilobyte of the body; the rest is not read (a receiver may send anything)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= EXCERPT_BYTES:
            break
    return b"".join(chunks)[:EXCERPT_BYTES].decode("utf-8", errors="replace")


async def run_worker(settings: Settings) -> None:
    """`mentorapi worker`: send time-driven events, deliver webhooks (and do the housekeeping,
    unless MENTORAPI_HOUSEKEEPING_ENABLED=false) until SIGINT or SIGTERM; then stop as
    `Worker.stop` says: what is in flight finishes, every other claim is handed back."""
    import signal

    import mentorapi.db.models  # noqa: F401 - every table: housekeeping's rows refer to them all
    from mentorapi import housekeeping
    from mentorapi.db.engine import create_database
    from mentorapi.jobs.runner import JobRunner
    from mentorapi.reminders.worker import Scheduler
    from mentorapi.retention import Retention

    db = create_database(settings)
    worker = Worker(db, settings)
    scheduler = Scheduler(db, settings)
    jobs = JobRunner(db, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await worker.start()
    await scheduler.start()
    await jobs.start()
    chores = (
        housekeeping.start(
            db, settings.housekeeping_interval_seconds, Retention.from_settings(settings)
        )
        if settings.housekeeping_enabled
        else None
    )
    try:
        await stop.wait()
        log.info("stopping: claiming nothing more")
    finally:
        await jobs.stop()
        await scheduler.stop()
        if chores is not None:
            await housekeeping.stop(chores)
        await worker.stop()
        await db.dispose()
