"""Retention of jobs: finished ones go after the window, except a match run's (its status and
error are its job's, and `match_runs.job_id` cascades from `jobs`: deleting the job would
delete the run) and a speed-mentoring event's that it still names; queued and running ones
stay whatever their age."""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, update
from sqlmodel import col

from mentorapi.db.engine import Database
from mentorapi.jobs.models import Job, JobStatus
from mentorapi.kit.timezones import utcnow
from mentorapi.mentoring_events.models import MentoringEvent
from tests.cohorts.conftest import create_cohort, get_run, make_world, run_jobs, start_run
from tests.conftest import Tenant
from tests.retention.conftest import OLD, RECENT, prune_all, rows


@pytest.fixture(autouse=True)
async def _no_jobs_left(db: Database, tenant: Tenant) -> AsyncIterator[None]:
    yield  # a queued job of this app must not outlive the test (tests/cohorts/conftest.py)
    async with db.sessionmaker() as s, s.begin():
        await s.exec(delete(Job).where(col(Job.app_id) == tenant.id))  # type: ignore[call-overload]


async def _job(db: Database, tenant: Tenant, status: JobStatus, ago: timedelta) -> str:
    at = utcnow() - ago
    finished = status in (JobStatus.succeeded, JobStatus.failed)
    job = Job(
        app_id=tenant.id,
        kind="match_run",
        status=status,
        run_after=at,
        created_at=at,
        updated_at=at,
        finished_at=at if finished else None,
    )
    async with db.sessionmaker() as s, s.begin():
        s.add(job)
    return job.id


async def test_finished_jobs_go_after_the_window_but_a_match_runs_stays(
    db: Database, database_url: str, tenant: Tenant
) -> None:
    world = await make_world(tenant.client)
    cohort = await create_cohort(tenant.client, world)
    run = await start_run(tenant.client, cohort["id"])
    assert await run_jobs(db, database_url, tenant) == 1
    async with db.sessionmaker() as s, s.begin():
        await s.exec(
            update(Job)
            .where(col(Job.app_id) == tenant.id)
            .values(finished_at=utcnow() - OLD, created_at=utcnow() - OLD)
        )
    (run_job,) = await rows(db, tenant, Job)
    before = await get_run(tenant.client, run["id"])
    assert before["status"] == "succeeded"
    succeeded = await _job(db, tenant, JobStatus.succeeded, OLD)
    failed = await _job(db, tenant, JobStatus.failed, OLD)
    recent = await _job(db, tenant, JobStatus.succeeded, RECENT)
    queued = await _job(db, tenant, JobStatus.queued, OLD)  # not run yet, however old
    waited_on = await _job(db, tenant, JobStatus.failed, OLD)

    # A speed-mentoring event whose build failed names its job (its reason is the job's).
    await _mentoring_event_naming(db, tenant, waited_on)

    pruned = await prune_all(db)

    left = {j.id for j in await rows(db, tenant, Job)}
    assert succeeded not in left
    assert failed not in left
    assert {run_job.id, recent, queued} <= left
    assert waited_on in left
    assert pruned.jobs >= 2
    assert await get_run(tenant.client, run["id"]) == before


async def _mentoring_event_naming(db: Database, tenant: Tenant, job_id: str) -> None:
    """A speed-mentoring event of the tenant (through the API) that names `job_id`."""
    response = await tenant.client.post(
        "/v1/mentoring-events",
        json={
            "title": "Speed mentoring",
            "starts_at": (utcnow() + timedelta(days=10))
            .replace(second=0, microsecond=0)
            .isoformat(),
            "timezone": "UTC",
            "rounds": 2,
            "round_minutes": 10,
            "transition_minutes": 2,
            "table_capacity": 1,
            "meetings_per_mentee": 1,
            "mode": "everyone",
        },
    )
    assert response.status_code == 201, response.text
    async with db.sessionmaker() as s, s.begin():
        await s.exec(
            update(MentoringEvent)
            .where(
                col(MentoringEvent.app_id) == tenant.id,
                col(MentoringEvent.id) == response.json()["id"],
            )
            .values(schedule_job_id=job_id)
        )
