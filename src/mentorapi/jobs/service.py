"""Enqueue a job and read it back; the domain that enqueues owns what the job is about."""

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.jobs import repository
from mentorapi.jobs.models import Job
from mentorapi.jobs.registry import KINDS, handler_for
from mentorapi.kit.timezones import utcnow


async def enqueue(
    db_session: AsyncSession, *, app_id: str, kind: str, payload: dict[str, Any]
) -> Job:
    """A new queued job, due now; the workers hear of it when the caller commits."""
    if kind not in KINDS and handler_for(kind) is None:
        raise ValueError(f"no handler for job kind {kind!r}")
    now = utcnow()
    job = Job(app_id=app_id, kind=kind, payload=payload, run_after=now, created_at=now)
    return await repository.insert(db_session, job)


async def get(db_session: AsyncSession, *, app_id: str, job_id: str) -> Job | None:
    return await repository.get(db_session, app_id=app_id, job_id=job_id)
