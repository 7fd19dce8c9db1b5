"""All SQL of the job queue."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.db.pairs import pairs_in
from mentorapi.db.tenancy import CrossTenant, across_tenants
from mentorapi.jobs.models import Job, JobStatus

NOTIFY_CHANNEL = "mentorapi_jobs"
_NOTIFIED = "mentorapi_jobs_notified"


async def insert(db_session: AsyncSession, job: Job) -> Job:
    db_session.add(job)
    await db_session.flush()
    await _notify(db_session)
    return job


async def get(db_session: AsyncSession, *, app_id: str, job_id: str) -> Job | None:
    query = select(Job).where(col(Job.app_id) == app_id, col(Job.id) == job_id)
    return (await db_session.exec(query)).first()


async def _notify(db_session: AsyncSession) -> None:
    # Delivered at commit, dropped at rollback; one per transaction is enough.
    if db_session.sync_session.get_bind().dialect.name != "postgresql":
        return
    transaction = db_session.sync_session.get_transaction()
    if transaction is not None and db_session.info.get(_NOTIFIED) is transaction:
        return
    await db_session.exec(select(func.pg_notify(NOTIFY_CHANNEL, "")))
    db_session.info[_NOTIFIED] = transaction


# --- the worker ---------------------------------------------------------------------------------


def _due(now: datetime) -> Any:
    return or_(
        and_(col(Job.status) == JobStatus.queued, col(Job.run_after) <= now),
        and_(col(Job.status) == JobStatus.running, col(Job.lease_expires_at) <= now),
    )


async def claim(
    db_session: AsyncSession,
    *,
    now: datetime,
    owner: str,
    lease_until: datetime,
    app_id: str | None = None,
) -> Job | None:
    """The oldest due job of any app (or of `app_id`), now running under `owner`'s lease; None
    when none is due. A job another worker is claiming right now is skipped (SKIP LOCKED),
    never waited on."""
    query = (
        select(Job)
        .where(_due(now))
        .order_by(col(Job.run_after))
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if app_id is not None:
        query = query.where(col(Job.app_id) == app_id)
    else:
        query = across_tenants(query, CrossTenant.jobs)
    job = (await db_session.exec(query)).first()
    if job is None:
        return None
    job.status = JobStatus.running
    job.lease_owner = owner
    job.lease_expires_at = lease_until
    job.attempts += 1
    job.started_at = job.started_at or now
    job.updated_at = now
    await db_session.flush()
    return job


async def next_due(db_session: AsyncSession) -> datetime | None:
    """When the next queued job (a retry waiting out its back-off) or lease falls due."""
    query = across_tenants(
        select(func.min(func.coalesce(col(Job.lease_expires_at), col(Job.run_after)))).where(
            col(Job.status).in_([JobStatus.queued, JobStatus.running])
        ),
        CrossTenant.jobs,
    )
    due: datetime | None = (await db_session.exec(query)).first()
    return due


def _owned(job: Job, owner: str) -> Any:
    return and_(
        col(Job.app_id) == job.app_id,
        col(Job.id) == job.id,
        col(Job.status) == JobStatus.running,
        col(Job.lease_owner) == owner,
    )


async def renew(
    db_session: AsyncSession,
    job: Job,
    *,
    owner: str,
    lease_until: datetime,
    now: datetime,
    progress: float | None = None,
) -> bool:
    """Extend the lease (and record progress); False when the job is no longer ours."""
    values: dict[str, Any] = {"lease_expires_at": lease_until, "updated_at": now}
    if progress is not None:
        values["progress"] = progress
    result = await db_session.exec(update(Job).where(_owned(job, owner)).values(**values))
    return bool(result.rowcount)


async def finish(
    db_session: AsyncSession,
    job: Job,
    *,
    owner: str,
    now: datetime,
    status: JobStatus,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
) -> bool:
    """Mark the job finished if it is still ours; False (nothing changed) when it is not."""
    values: dict[str, Any] = {
        "status": status,
        "result": result,
        "error": error,
        "lease_owner": None,
        "lease_expires_at": None,
        "finished_at": now,
        "updated_at": now,
    }
    if status is JobStatus.succeeded:
        values["progress"] = 1.0
    done = await db_session.exec(update(Job).where(_owned(job, owner)).values(**values))
    return bool(done.rowcount)


async def release(
    db_session: AsyncSession,
    job: Job,
    *,
    owner: str,
    now: datetime,
    run_after: datetime,
    count_attempt: bool,
) -> bool:
    """Hand the job back to the queue (due at `run_after`). An attempt cut short by a stopping
    worker is not the job's fault and does not count towards its limit."""
    values: dict[str, Any] = {
        "status": JobStatus.queued,
        "lease_owner": None,
        "lease_expires_at": None,
        "run_after": run_after,
        "updated_at": now,
    }
    if not count_attempt:
        values["attempts"] = col(Job.attempts) - 1
    done = await db_session.exec(update(Job).where(_owned(job, owner)).values(**values))
    return bool(done.rowcount)


# --- retention (housekeeping, retention.py) -----------------------------------------------------

# A reference to a job from a domain's row: (its app_id column, its job id column). A job so
# named is the history of that row (a match run's status and error are its job's) and is kept.
JobReference = tuple[Any, Any]


def finished_before(*, before: datetime, limit: int, kept_by: Sequence[JobReference] = ()) -> Any:
    """The (app_id, id) of up to `limit` jobs that finished (succeeded or failed) before
    `before` and that no row in `kept_by` names, the oldest first, FOR UPDATE SKIP LOCKED. Read
    in `finished_at` order through ix_jobs_finished_at (jobs/models.py)."""
    conditions = [
        col(Job.status).in_([JobStatus.succeeded, JobStatus.failed]),
        col(Job.finished_at) < before,
    ]
    for app_column, job_column in kept_by:
        named = (
            select(job_column)
            .where(app_column == col(Job.app_id), job_column == col(Job.id))
            .exists()
        )
        conditions.append(~named)
    return across_tenants(
        select(col(Job.app_id), col(Job.id))
        .where(*conditions)
        .order_by(col(Job.finished_at))
        .limit(limit)
        .with_for_update(skip_locked=True),
        CrossTenant.housekeeping,
    )


async def prune_finished(
    db_session: AsyncSession,
    *,
    before: datetime,
    limit: int,
    kept_by: Sequence[JobReference] = (),
) -> int:
    """Delete the jobs `finished_before` picks. Picked FOR UPDATE SKIP LOCKED (another pruner
    takes other jobs) in the caller's transaction; a finished job never runs again, so nothing
    else waits on these rows."""
    picked = finished_before(before=before, limit=limit, kept_by=kept_by)
    keys = [(app_id, id_) for app_id, id_ in (await db_session.exec(picked)).all()]
    if not keys:
        return 0
    dialect = db_session.sync_session.get_bind().dialect.name
    done = await db_session.exec(
        across_tenants(
            delete(Job).where(pairs_in(dialect, col(Job.app_id), col(Job.id), keys)),
            CrossTenant.housekeeping,
        )
    )
    return int(done.rowcount or 0)
