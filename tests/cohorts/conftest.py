"""Cohort test helpers: a small world of mentors and mentees built through the API, cohorts,
and match runs run to their end by a job runner the test drives (the test app starts none)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from sqlmodel import col

from mentorapi.db.engine import Database
from mentorapi.jobs.models import Job
from mentorapi.jobs.runner import JobRunner
from tests.conftest import Tenant, test_settings
from tests.factories import create_mentee, create_mentor, create_skill


@pytest.fixture(autouse=True)
async def _no_jobs_left(db: Database, tenant: Tenant) -> AsyncIterator[None]:
    """The database is the suite's: a run left queued here must not be claimed by a runner
    another test starts (a job's deletion takes its match run with it)."""
    yield
    async with db.sessionmaker() as s, s.begin():
        await s.exec(delete(Job).where(col(Job.app_id) == tenant.id))  # type: ignore[call-overload]


@dataclass
class World:
    skill: dict[str, Any]
    mentees: list[dict[str, Any]]
    mentors: list[dict[str, Any]]

    @property
    def mentee_ids(self) -> list[str]:
        return [m["id"] for m in self.mentees]

    @property
    def mentor_ids(self) -> list[str]:
        return [m["id"] for m in self.mentors]


async def make_world(
    client: httpx.AsyncClient,
    mentees: int = 3,
    mentors: int = 2,
    *,
    mentee_languages: list[list[str]] | None = None,
    levels: list[int] | None = None,
) -> World:
    """Mentors teaching one skill at `levels` in turn (3, 4, 5, 3, ...; English); mentees
    seeking it at level 1 (English unless `mentee_languages` says otherwise: no shared language
    excludes a pair)."""
    levels = levels or [3, 4, 5]
    skill = await create_skill(client)
    made_mentors = [
        await create_mentor(
            client,
            name=f"Mentor {i}",
            headline=f"{skill['name']} for beginners",
            skills=[{"skill_id": skill["id"], "level": levels[i % len(levels)]}],
        )
        for i in range(mentors)
    ]
    made_mentees = [
        await create_mentee(
            client,
            name=f"Mentee {i}",
            languages=(mentee_languages[i] if mentee_languages else ["en"]),
            seeking=[{"skill_id": skill["id"], "level": 1}],
        )
        for i in range(mentees)
    ]
    return World(skill, made_mentees, made_mentors)


async def create_cohort(client: httpx.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    payload = {
        "name": "Spring cohort",
        "mentee_ids": world.mentee_ids,
        "mentor_ids": world.mentor_ids,
        **body,
    }
    response = await client.post("/v1/cohorts", json=payload)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def start_run(client: httpx.AsyncClient, cohort_id: str, seed: int = 0) -> dict[str, Any]:
    response = await client.post(f"/v1/cohorts/{cohort_id}/match-runs", json={"seed": seed})
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/match-runs/{response.json()['id']}"
    return response.json()  # type: ignore[no-any-return]


def runner(db: Database, database_url: str, **overrides: Any) -> JobRunner:
    return JobRunner(db, test_settings(database_url, **overrides))


async def run_jobs(db: Database, database_url: str, tenant: Tenant) -> int:
    """Run the tenant's due jobs to their end, as a worker would; how many ran."""
    worker = runner(db, database_url)
    ran = 0
    while await worker.run_once(app_id=tenant.id) is not None:
        ran += 1
    return ran


async def get_run(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/match-runs/{run_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def matched(
    db: Database, database_url: str, tenant: Tenant, cohort_id: str, seed: int = 0
) -> dict[str, Any]:
    """A run of the cohort, run to its end: the run as GET shows it."""
    run = await start_run(tenant.client, cohort_id, seed)
    await run_jobs(db, database_url, tenant)
    return await get_run(tenant.client, run["id"])


def pairs(run: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["mentee_id"], p["mentor_id"]) for p in run["proposals"]]
