"""The job that builds a large event's schedule in the worker (jobs/registry.KINDS).

Read the problem (no lock), solve it in a thread (the process keeps serving meanwhile), then
store the provisional schedule in the transaction that marks the job succeeded, and only if
the event still waits for this job: a build asked for again meanwhile, or a job taken over
after a lost lease, writes nothing.
"""

import asyncio
import time
from typing import Any

from mentorapi.jobs.context import JobContext, JobFailed
from mentorapi.mentoring_events import planner, service


async def build_schedule(context: JobContext) -> dict[str, Any] | None:
    event_id = str(context.payload.get("event_id", ""))
    async with context.database.sessionmaker() as db_session:
        found = await service.read_build(db_session, context.app_id, event_id, context.job.id)
        await db_session.rollback()  # read only: end the transaction, return the connection
    if found is None:
        raise JobFailed("superseded", f"mentoring event {event_id} no longer waits for this build")
    problem, built_from = found
    await context.progress(0.1)
    started = time.perf_counter()
    solved = await asyncio.to_thread(planner.solve, problem)
    seconds = time.perf_counter() - started
    result = {"event_id": event_id, "meetings": len(solved.meetings), "seconds": round(seconds, 4)}
    async with context.complete(result) as db_session:
        await service.finish_build(
            db_session,
            context.app_id,
            event_id,
            context.job.id,
            problem,
            solved,
            built_from=built_from,
            seconds=seconds,
        )
    return result
