"""The job queue: a job runs once to its end, its writes commit with its success, failures are
retried then given up, a stopping worker hands its job back, and a job taken over after a lost
lease commits once."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete
from sqlmodel import col, select

from mentorapi.db.engine import Database, create_database
from mentorapi.jobs import registry, service
from mentorapi.jobs.context import JobContext, JobFailed, LeaseLost
from mentorapi.jobs.models import Job, JobStatus
from mentorapi.jobs.runner import JobRunner
from tests.conftest import Tenant
from tests.conftest import test_settings as settings_for  # aliased: not collected as a test


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def enqueue(db: Database, app_id: str, kind: str, **payload: Any) -> str:
    async with db.sessionmaker() as s, s.begin():
        job = await service.enqueue(s, app_id=app_id, kind=kind, payload=payload)
        return job.id


async def read(db: Database, app_id: str, job_id: str) -> Job:
    async with db.sessionmaker() as s:
        job = await service.get(s, app_id=app_id, job_id=job_id)
    assert job is not None
    return job


async def children(db: Database, app_id: str, parent: str) -> list[Job]:
    """Jobs a test handler wrote inside its completing transaction (the stand-in for a
    domain's rows)."""
    async with db.sessionmaker() as s:
        query = select(Job).where(col(Job.app_id) == app_id, col(Job.kind) == "test.child")
        return [j for j in (await s.exec(query)).all() if j.payload.get("parent") == parent]


@pytest.fixture
async def kinds(
    db: Database, tenant: Tenant
) -> AsyncIterator[Callable[[str, registry.Handler], None]]:
    registry.register("test.child", _nothing)
    yield registry.register
    # The database is the suite's: a job left queued here (one handed back) must not be
    # claimed by a runner another test starts.
    async with db.sessionmaker() as s, s.begin():
        await s.exec(delete(Job).where(col(Job.app_id) == tenant.id))


async def _nothing(_: JobContext) -> None:
    return None


def runner(
    db: Database, database_url: str, clock: Clock | None = None, **overrides: Any
) -> JobRunner:
    settings = settings_for(database_url, **overrides)
    return JobRunner(db, settings, clock=clock or Clock())


async def test_a_job_runs_once_and_its_writes_commit_with_its_success(
    db: Database, database_url: str, tenant: Tenant, kinds: Any
) -> None:
    calls: list[dict[str, Any]] = []

    async def handler(ctx: JobContext) -> None:
        calls.append(ctx.payload)
        await ctx.progress(0.5)
        async with ctx.complete({"answer": 42}) as s:
            await service.enqueue(
                s, app_id=ctx.app_id, kind="test.child", payload={"parent": ctx.job.id}
            )

    kinds("test.ok", handler)
    job_id = await enqueue(db, tenant.id, "test.ok", n=1)
    assert (await read(db, tenant.id, job_id)).status == JobStatus.queued
    worker = runner(db, database_url)
    ran = await worker.run_once(app_id=tenant.id)
    assert ran is not None
    assert ran.id == job_id
    job = await read(db, tenant.id, job_id)
    assert (job.status, job.result, job.progress, job.attempts) == (
        JobStatus.succeeded,
        {"answer": 42},
        1.0,
        1,
    )
    assert job.lease_owner is None
    assert job.finished_at is not None
    assert calls == [{"n": 1}]
    assert len(await children(db, tenant.id, job_id)) == 1
    # The job is done: the next claims take the child its handler enqueued, then nothing.
    child = await worker.run_once(app_id=tenant.id)
    assert child is not None
    assert child.kind == "test.child"
    assert await worker.run_once(app_id=tenant.id) is None
    assert len(calls) == 1


async def test_a_handler_may_just_return_its_result(
    db: Database, database_url: str, tenant: Tenant, kinds: Any
) -> None:
    async def handler(ctx: JobContext) -> dict[str, Any]:
        return {"echo": ctx.payload["text"]}

    kinds("test.echo", handler)
    job_id = await enqueue(db, tenant.id, "test.echo", text="hi")
    await runner(db, database_url).run_once(app_id=tenant.id)
    job = await read(db, tenant.id, job_id)
    assert (job.status, job.result) == (JobStatus.succeeded, {"echo": "hi"})


async def test_a_refusal_fails_at_once_and_is_not_retried(
    db: Database, database_url: str, tenant: Tenant, kinds: Any
) -> None:
    calls = 0

    async def handler(_: JobContext) -> None:
        nonlocal calls
        calls += 1
        raise JobFailed("infeasible", "no mentor has room")

    kinds("test.refuse", handler)
    job_id = await enqueue(db, tenant.id, "test.refuse")
    worker = runner(db, database_url)
    await worker.run_once(app_id=tenant.id)
    job = await read(db, tenant.id, job_id)
    assert (job.status, job.error) == (
        JobStatus.failed,
        {"code": "infeasible", "detail": "no mentor has room"},
    )
    assert await worker.run_once(app_id=tenant.id) is None
    assert calls == 1


async def test_an_error_is_retried_after_a_back_off_then_given_up(
    db: Database, database_url: str, tenant: Tenant, kinds: Any
) -> None:
    calls = 0

    async def handler(ctx: JobContext) -> None:
        nonlocal calls
        calls += 1
        async with ctx.complete() as s:
            await service.enqueue(
                s, app_id=ctx.app_id, kind="test.child", payload={"parent": ctx.job.id}
            )
            raise RuntimeError("boom")  # after writing: the writes must roll back

    kinds("test.boom", handler)
    job_id = await enqueue(db, tenant.id, "test.boom")
    clock = Clock()
    worker = runner(db, database_url, clock, job_max_attempts=2)
    await worker.run_once(app_id=tenant.id)
    job = await read(db, tenant.id, job_id)
    assert (job.status, job.attempts, job.lease_owner) == (JobStatus.queued, 1, None)
    assert job.run_after == clock.now + timedelta(seconds=5)
    assert await worker.run_once(app_id=tenant.id) is None  # backing off
    clock.now += timedelta(seconds=5)
    await worker.run_once(app_id=tenant.id)
    job = await read(db, tenant.id, job_id)
    assert (job.status, job.attempts) == (JobStatus.failed, 2)
    assert job.error == {"code": "internal_error", "detail": "the job kept failing"}
    assert calls == 2
    assert await children(db, tenant.id, job_id) == []


async def test_an_unknown_kind_is_refused_at_enqueue(db: Database, tenant: Tenant) -> None:
    with pytest.raises(ValueError, match="no handler"):
        await enqueue(db, tenant.id, "test.never-registered")


async def test_a_job_taken_over_after_its_lease_expired_commits_once(
    db: Database, database_url: str, tenant: Tenant, kinds: Any
) -> None:
    """Worker A claims, stalls past its lease; worker B takes the job over and finishes it. A's
    late completion raises LeaseLost and writes nothing."""
    clock = Clock()
    first_started = asyncio.Event()
    let_first_go = asyncio.Event()
    outcomes: list[str] = []

    async def handler(ctx: JobContext) -> None:
        if ctx.job.attempts == 1:
            first_started.set()
            await let_first_go.wait()
        try:
            async with ctx.complete({"by": ctx.owner}) as s:
                await service.enqueue(
                    s, app_id=ctx.app_id, kind="test.child", payload={"parent": ctx.job.id}
                )
        except LeaseLost:
            outcomes.append("lost")
            raise
        outcomes.append("committed")

    kinds("test.slow", handler)
    job_id = await enqueue(db, tenant.id, "test.slow")
    a = runner(db, database_url, clock, job_lease_seconds=60)
    b = runner(db, database_url, clock, job_lease_seconds=60)
    first = asyncio.create_task(a.run_once(app_id=tenant.id))
    await asyncio.wait_for(first_started.wait(), 10)
    clock.now += timedelta(seconds=61)  # A's lease has run out (A never got to renew it)
    assert (await b.run_once(app_id=tenant.id)) is not None
    let_first_go.set()
    await asyncio.wait_for(first, 10)
    assert outcomes == ["committed", "lost"]
    job = await read(db, tenant.id, job_id)
    assert job.status == JobStatus.succeeded
    assert job.result == {"by": b.owner}
    assert len(await children(db, tenant.id, job_id)) == 1


async def test_a_stopping_worker_hands_its_job_back_at_once(
    db: Database, database_url: str, tenant: Tenant, kinds: Any
) -> None:
    started = asyncio.Event()

    async def handler(_: JobContext) -> None:
        started.set()
        await asyncio.sleep(3600)

    kinds("test.forever", handler)
    job_id = await enqueue(db, tenant.id, "test.forever")
    worker = runner(db, database_url, shutdown_timeout_seconds=1)
    worker_task = asyncio.create_task(worker.run_once(app_id=tenant.id))
    await asyncio.wait_for(started.wait(), 10)
    worker._handler_task.cancel()  # what stop() does once its grace has run out
    await asyncio.wait_for(worker_task, 10)
    job = await read(db, tenant.id, job_id)
    # Due again now, and the cut-short attempt does not count against the job.
    assert (job.status, job.attempts, job.lease_owner) == (JobStatus.queued, 0, None)
    assert job.run_after <= worker.clock()


async def test_a_started_runner_stops_within_its_grace(
    db: Database, database_url: str, tenant: Tenant, kinds: Any
) -> None:
    started = asyncio.Event()

    async def handler(_: JobContext) -> None:
        started.set()
        await asyncio.sleep(3600)

    kinds("test.forever2", handler)
    job_id = await enqueue(db, tenant.id, "test.forever2")
    worker = JobRunner(db, settings_for(database_url, shutdown_timeout_seconds=1))
    await worker.start()
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.wait_for(worker.stop(), 5)
    job = await read(db, tenant.id, job_id)
    assert (job.status, job.lease_owner) == (JobStatus.queued, None)


@pytest.fixture
async def own_databases(database_url: str) -> AsyncIterator[list[Database]]:
    made: list[Database] = []
    yield made
    for each in made:
        await each.dispose()


@pytest.mark.postgres_only
async def test_two_workers_run_every_job_exactly_once(
    database_url: str, db: Database, tenant: Tenant, kinds: Any, own_databases: list[Database]
) -> None:
    """Two runners, each on its own pool as separate processes would be, started for real:
    they are woken by NOTIFY (their look-again horizon is 30 s) and share 40 jobs."""
    ran: Counter[str] = Counter()
    by: Counter[str] = Counter()

    async def handler(ctx: JobContext) -> None:
        ran[ctx.job.id] += 1
        by[ctx.owner] += 1
        await asyncio.sleep(0.02)

    kinds("test.count", handler)
    settings = settings_for(database_url)
    runners = []
    for _ in range(2):
        own_databases.append(create_database(settings))
        runners.append(JobRunner(own_databases[-1], settings))
    for each in runners:
        await each.start()
    await asyncio.sleep(0.5)  # both listening
    async with db.sessionmaker() as s, s.begin():  # one commit, one notice: both wake
        ids = [
            (await service.enqueue(s, app_id=tenant.id, kind="test.count", payload={"n": n})).id
            for n in range(40)
        ]
    try:
        async with asyncio.timeout(15):
            while True:
                async with db.sessionmaker() as s:
                    done = (
                        await s.exec(
                            select(Job).where(
                                col(Job.app_id) == tenant.id,
                                col(Job.id).in_(ids),
                                col(Job.status) == JobStatus.succeeded,
                            )
                        )
                    ).all()
                if len(done) == len(ids):
                    break
                await asyncio.sleep(0.05)
    finally:
        for each in runners:
            await each.stop()
    assert set(ran) == set(ids)
    assert set(ran.values()) == {1}
    assert len(by) == 2  # both took part
