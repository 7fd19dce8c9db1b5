"""The job queue: one row per job, claimed by a worker under a lease.

A job is `queued` until a worker claims it (`running`, with `lease_owner` and
`lease_expires_at`), then `succeeded` or `failed`. A worker that dies leaves its lease to
expire; a worker that stops hands the job back at once (`queued` again). The domain that
enqueued a job keeps its own row (a match run, an event's schedule) and reads the job's status,
progress and result through it; what the job writes, it writes in the same transaction as its
success (jobs/runner.py), so a job that is taken over half-way leaves nothing behind.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field

from mentorapi.db.base import TenantOwned
from mentorapi.db.types import JSONList, UTCDateTime
from mentorapi.kit.enums import NamedStrEnum
from mentorapi.kit.ids import new_id


class JobStatus(NamedStrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


FINISHED = "finished_at IS NOT NULL"


class Job(TenantOwned, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        # The claim: the oldest job that is due (queued and past `run_after`, or running with an
        # expired lease), of any app.
        Index("ix_jobs_status_run_after", "status", "run_after"),
        # Retention: the oldest finished jobs first (jobs/repository.py, prune_finished). Only
        # finished jobs have a `finished_at`; the predicate follows from the prune's
        # `finished_at < :before`, so even a generic plan (prepared statement) uses it.
        Index(
            "ix_jobs_finished_at",
            "finished_at",
            postgresql_where=text(FINISHED),
            sqlite_where=text(FINISHED),
        ),
    )

    id: str = Field(default_factory=lambda: new_id("job"), primary_key=True, max_length=30)
    kind: str = Field(max_length=40)
    status: str = Field(default=JobStatus.queued, max_length=16)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONList, nullable=False)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSONList, nullable=True)
    # {"code": ..., "detail": ...} when failed: a domain refusal (JobFailed) or "internal_error".
    error: dict[str, Any] | None = Field(default=None, sa_type=JSONList, nullable=True)
    progress: float = Field(default=0.0)
    attempts: int = Field(default=0)
    # Not claimed before this (a retry's back-off).
    run_after: datetime = Field(sa_type=UTCDateTime, nullable=False)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
