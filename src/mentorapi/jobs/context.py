"""What a job's handler is given: its job, progress reports, and the transaction that ends it."""

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.db.engine import Database
from mentorapi.jobs import repository
from mentorapi.jobs.models import Job, JobStatus

# Progress is written at most this often (each write is a transaction).
PROGRESS_SPACING_SECONDS = 0.5


class JobFailed(Exception):
    """A refusal the job's own data explains (an infeasible cohort, say): the job fails at
    once with this code and detail, never retried."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class LeaseLost(Exception):
    """The job is no longer this worker's (its lease expired and another took it over)."""


@dataclass
class JobContext:
    job: Job
    database: Database
    owner: str
    lease: timedelta
    clock: Callable[[], datetime]
    completed: bool = False
    _last_progress: datetime | None = field(default=None, repr=False)

    @property
    def app_id(self) -> str:
        return self.job.app_id

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    async def progress(self, fraction: float) -> None:
        """Report progress (0..1), renewing the lease; raises LeaseLost if the job was taken
        over."""
        now = self.clock()
        spacing = timedelta(seconds=PROGRESS_SPACING_SECONDS)
        if self._last_progress is not None and now - self._last_progress < spacing:
            return
        self._last_progress = now
        async with self.database.sessionmaker() as s, s.begin():
            still_ours = await repository.renew(
                s,
                self.job,
                owner=self.owner,
                lease_until=now + self.lease,
                now=now,
                progress=max(0.0, min(1.0, fraction)),
            )
        if not still_ours:
            raise LeaseLost(self.job.id)

    @contextlib.asynccontextmanager
    async def complete(self, result: dict[str, Any] | None = None) -> AsyncIterator[AsyncSession]:
        """The transaction in which the handler writes what the job produced; the job is marked
        succeeded in it, so the two commit together or not at all (if the job is no longer
        ours, LeaseLost and nothing is written)."""
        async with self.database.sessionmaker() as s, s.begin():
            yield s
            done = await repository.finish(
                s,
                self.job,
                owner=self.owner,
                now=self.clock(),
                status=JobStatus.succeeded,
                result=result,
            )
            if not done:
                raise LeaseLost(self.job.id)
        self.completed = True
