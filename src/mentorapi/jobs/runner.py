"""The job runner: claims one job at a time and runs it to the end, in any number of workers.

It runs wherever webhooks are delivered (inside `mentorapi serve` unless
MENTORAPI_WEBHOOK_WORKER_ENABLED=false, and in every `mentorapi worker`). A claim is a lease
(`MENTORAPI_JOB_LEASE_SECONDS`) renewed while the handler runs: a worker killed mid-job lets it
expire and another worker starts the job again; a worker that stops waits for the job in hand
at most `MENTORAPI_SHUTDOWN_TIMEOUT_SECONDS`, then hands it back at once. Handlers write their
results in the transaction that marks the job succeeded (JobContext.complete), and only while
the job is theirs, so a job run twice (taken over after a lost lease) commits once.

A handler that raises JobFailed fails the job with its code; any other error is retried after a
back-off, up to `MENTORAPI_JOB_MAX_ATTEMPTS` attempts, then the job fails as `internal_error`.
CPU-bound handlers (solvers) run their computation with `asyncio.to_thread`, so the process
keeps answering while they work.
"""

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

# Every table model loaded, as in an API process (a job's writes resolve their foreign keys).
import mentorapi.db.models  # noqa: F401
from mentorapi.config import Settings
from mentorapi.db.engine import Database
from mentorapi.db.listen import listen
from mentorapi.jobs import repository
from mentorapi.jobs.context import JobContext, JobFailed, LeaseLost
from mentorapi.jobs.models import Job, JobStatus
from mentorapi.jobs.registry import handler_for
from mentorapi.kit.timezones import utcnow

log = logging.getLogger("mentorapi.jobs")

SQLITE_POLL_SECONDS = 0.25
# On PostgreSQL a NOTIFY wakes the runner for new jobs; it looks anyway this often (expired
# leases, retries whose back-off ended, a NOTIFY missed while reconnecting).
HORIZON_SECONDS = 30.0
ERROR_PAUSE_SECONDS = 1.0
RETRY_BASE_SECONDS = 5.0


def retry_delay(attempt: int) -> timedelta:
    """5 s, 10 s, 20 s, … after the first, second, third failed attempt."""
    return timedelta(seconds=RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1))


class JobRunner:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:64]
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        self.max_attempts = settings.job_max_attempts
        self.is_postgres = db.dialect == "postgresql"
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._handler_task: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(), name="jobs")]
        if self.is_postgres:
            self._tasks.append(asyncio.create_task(self._listen(), name="jobs-listen"))
        log.info("job runner started (%s)", self.owner)

    async def stop(self) -> None:
        """Let the job in hand finish for a while, then hand it back; stop."""
        self._stopping = True
        self._wake.set()
        loop, *listener = self._tasks
        try:
            await asyncio.wait_for(
                asyncio.shield(loop), timeout=self.settings.shutdown_timeout_seconds
            )
        except TimeoutError:
            if self._handler_task is not None:
                self._handler_task.cancel()  # _run hands the job back
            await loop
        for task in listener:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        log.info("job runner stopped")

    def wake(self) -> None:
        self._wake.set()

    # --- one job --------------------------------------------------------------------------------

    async def run_once(self, *, app_id: str | None = None) -> Job | None:
        """Claim the oldest due job (of any app, or of `app_id`) and run it to its end; None
        when no job was due."""
        now = self.clock()
        async with self.db.sessionmaker() as s, s.begin():
            job = await repository.claim(
                s, now=now, owner=self.owner, lease_until=now + self.lease, app_id=app_id
            )
            if job is not None:
                s.expunge(job)
        if job is not None:
            await self._run(job)
        return job

    async def _run(self, job: Job) -> None:
        handler = handler_for(job.kind)
        if handler is None:
            await self._finish(job, JobStatus.failed, error=_error("unknown_kind", job.kind))
            return
        context = JobContext(
            job=job, database=self.db, owner=self.owner, lease=self.lease, clock=self.clock
        )
        task = asyncio.create_task(handler(context), name=f"job {job.id}")
        self._handler_task = task
        try:
            if not await self._keep_lease(job, task):
                log.warning("job %s was taken over by another worker; dropped here", job.id)
                return
            outcome = task.result()
        except asyncio.CancelledError:
            await self._hand_back(job, count_attempt=False)
            return
        except JobFailed as refused:
            await self._finish(job, JobStatus.failed, error=_error(refused.code, refused.detail))
            return
        except LeaseLost:
            log.warning("job %s was taken over by another worker; its result dropped", job.id)
            return
        except Exception:
            log.exception("job %s (%s) failed on attempt %d", job.id, job.kind, job.attempts)
            if job.attempts >= self.max_attempts:
                await self._finish(
                    job, JobStatus.failed, error=_error("internal_error", "the job kept failing")
                )
            else:
                await self._hand_back(job, count_attempt=True)
            return
        finally:
            self._handler_task = None
        if not context.completed:
            await self._finish(job, JobStatus.succeeded, result=outcome)

    async def _keep_lease(self, job: Job, task: asyncio.Task[Any]) -> bool:
        """Renew the lease while the handler runs; False (the handler cancelled) if it was
        lost."""
        every = self.lease.total_seconds() / 3
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return True
            now = self.clock()
            try:
                async with self.db.sessionmaker() as s, s.begin():
                    ours = await repository.renew(
                        s, job, owner=self.owner, lease_until=now + self.lease, now=now
                    )
            except Exception:
                log.exception("renewing the lease of job %s failed; trying again", job.id)
                continue
            if not ours:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return False

    async def _finish(
        self,
        job: Job,
        status: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        async with self.db.sessionmaker() as s, s.begin():
            await repository.finish(
                s,
                job,
                owner=self.owner,
                now=self.clock(),
                status=status,
                result=result,
                error=error,
            )

    async def _hand_back(self, job: Job, *, count_attempt: bool) -> None:
        now = self.clock()
        run_after = now + retry_delay(job.attempts) if count_attempt else now
        async with self.db.sessionmaker() as s, s.begin():
            await repository.release(
                s,
                job,
                owner=self.owner,
                now=now,
                run_after=run_after,
                count_attempt=count_attempt,
            )

    # --- the loop -------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before looking: a NOTIFY meanwhile is not lost
            try:
                job = await self.run_once()
                if job is not None:
                    continue
                async with self.db.sessionmaker() as s:
                    upcoming = await repository.next_due(s)
            except Exception:
                log.exception("running jobs failed; retrying")
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            delay = HORIZON_SECONDS if self.is_postgres else SQLITE_POLL_SECONDS
            if upcoming is not None:
                delay = min(delay, max(0.05, (upcoming - self.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _listen(self) -> None:
        await listen(
            self.settings.session_database_url,  # LISTEN: never through PgBouncer
            repository.NOTIFY_CHANNEL,
            self.wake,
            name="mentorapi jobs",
            on_up=self.wake,
        )


def _error(code: str, detail: str) -> dict[str, Any]:
    return {"code": code, "detail": detail}
