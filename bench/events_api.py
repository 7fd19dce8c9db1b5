"""Speed-mentoring events through the API: 300 mentees x 50 mentors, built, published, read.

The same size as `events` (the solver alone), end to end over HTTP against `mentorapi serve`
(one worker, its job runner on) and PostgreSQL: 50 mentors offering 1-3 of 10 skills, 300
mentees seeking 1-2 of them, each registered with an ask, must-meets for 20% of the mentees
(one or two mentors), an event of 8 rounds, 2 per table, 3 meetings per mentee.
- build: `POST .../schedule` (202: more people than SYNC_BUILD_LIMIT, so a job in the worker)
  until `GET .../schedule` says `provisional`: the matching's scores of the 15,000 pairs, the
  solve, 900 rows written; and the solver's own seconds (`stats.build_seconds`);
- events built in the request (up to SYNC_BUILD_LIMIT, 120 people): 6 mentors x 12 mentees,
  and 20 x 100, the largest built there;
- publish; `GET .../schedule` of everyone (900 assignments) and of one member (median of
  BENCH_EVENTS_API_READS, 30), with their sizes;
- a late change: `POST .../no-shows` for 10 mentees one by one before the start (each solves
  every round again, with the scores kept from the build, and writes the meetings that
  changed): median and max.
`python -m bench events-api`; BENCH_EVENTS_API_MENTEES (300), BENCH_EVENTS_API_MENTORS (50).
"""

import asyncio
import json
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.kit.db import fresh_database
from bench.kit.names import checkout_database
from bench.kit.registry import Scenario
from bench.kit.report import table
from bench.kit.seed import create_bench_app
from bench.kit.server import Server

ROUNDS = 8
SEATS = 2
MEETINGS = 3
NO_SHOWS = 10
SKILLS = 10


def _z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _ok(response: httpx.Response, *statuses: int) -> Any:
    if response.status_code not in (statuses or (200, 201)):
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json() if response.content else None


async def _people(
    client: httpx.AsyncClient, mentors: int, mentees: int, rng: random.Random
) -> tuple[list[str], list[str]]:
    skills = []
    for i in range(SKILLS):
        created = await _ok(
            await client.post("/v1/skills", json={"slug": f"topic-{i}", "name": f"Topic {i}"})
        )
        skills.append(created["id"])
    mentor_ids = []
    for j in range(mentors):
        offered = rng.sample(skills, rng.randint(1, 3))
        body = {
            "external_id": f"mentor-{j}",
            "name": f"Mentor {j}",
            "timezone": "Europe/Berlin",
            "languages": ["en"],
            "skills": [{"skill_id": s, "level": rng.randint(3, 5)} for s in offered],
        }
        mentor_ids.append((await _ok(await client.post("/v1/mentors", json=body)))["id"])
    mentee_ids = []
    for i in range(mentees):
        sought = rng.sample(skills, rng.randint(1, 2))
        body = {
            "external_id": f"mentee-{i}",
            "name": f"Mentee {i}",
            "timezone": "Europe/London",
            "languages": ["en"],
            "seeking": [{"skill_id": s, "level": rng.randint(1, 3)} for s in sought],
        }
        mentee_ids.append((await _ok(await client.post("/v1/mentees", json=body)))["id"])
    return mentor_ids, mentee_ids


async def _event(
    client: httpx.AsyncClient, mentor_ids: list[str], mentee_ids: list[str], rng: random.Random
) -> str:
    starts = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=2)
    body = {
        "title": "Bench speed mentoring",
        "starts_at": _z(starts),
        "timezone": "Europe/Berlin",
        "rounds": ROUNDS,
        "round_minutes": 8,
        "transition_minutes": 2,
        "table_capacity": SEATS,
        "meetings_per_mentee": MEETINGS,
        "mode": "relevance",
    }
    event_id = str((await _ok(await client.post("/v1/mentoring-events", json=body)))["id"])
    await _ok(await client.post(f"/v1/mentoring-events/{event_id}/open"))
    path = f"/v1/mentoring-events/{event_id}/registrations"
    for mentor_id in mentor_ids:
        await _ok(await client.post(path, json={"mentor_id": mentor_id}))
    wishers = set(rng.sample(range(len(mentee_ids)), len(mentee_ids) // 5))
    for i, mentee_id in enumerate(mentee_ids):
        registration: dict[str, Any] = {
            "mentee_id": mentee_id,
            "ask": f"How do I get better at topic {i % SKILLS} in my day-to-day work?",
        }
        if i in wishers:
            registration["must_meet"] = rng.sample(mentor_ids, rng.choice([1, 1, 2]))
        await _ok(await client.post(path, json=registration))
    return event_id


async def _timed_get(
    client: httpx.AsyncClient, path: str, reads: int, **params: Any
) -> tuple[float, int]:
    """(median seconds, bytes) of `reads` GETs."""
    times, size = [], 0
    for _ in range(reads):
        started = time.perf_counter()
        response = await client.get(path, params=params)
        times.append(time.perf_counter() - started)
        await _ok(response)
        size = len(response.content)
    return statistics.median(times), size


async def measure() -> dict[str, Any]:
    mentees = int(os.environ.get("BENCH_EVENTS_API_MENTEES", "300"))
    mentors = int(os.environ.get("BENCH_EVENTS_API_MENTORS", "50"))
    reads = int(os.environ.get("BENCH_EVENTS_API_READS", "30"))
    rng = random.Random(16)
    url = await fresh_database(checkout_database("events_api"))
    _, key = await create_bench_app(url)
    figures: dict[str, Any] = {"mentees": mentees, "mentors": mentors, "rounds": ROUNDS}
    env = {"MENTORAPI_WEBHOOK_WORKER_ENABLED": "true"}  # the job runner builds large schedules
    async with (
        Server(url, workers=1, env=env, name="events-api") as server,
        httpx.AsyncClient(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
        ) as client,
    ):
        started = time.perf_counter()
        mentor_ids, mentee_ids = await _people(client, mentors, mentees, rng)
        event_id = await _event(client, mentor_ids, mentee_ids, rng)
        figures["setup_seconds"] = round(time.perf_counter() - started, 1)
        base = f"/v1/mentoring-events/{event_id}"

        started = time.perf_counter()
        asked = await client.post(f"{base}/schedule")
        queued = await _ok(asked, 202)
        assert queued["status"] == "building", queued
        while True:
            schedule = await _ok(await client.get(f"{base}/schedule"))
            if schedule["status"] != "building":
                break
            await asyncio.sleep(0.05)
        figures["build_seconds"] = round(time.perf_counter() - started, 3)
        if schedule["status"] != "provisional":
            raise RuntimeError(f"the build failed: {schedule}")
        stats = schedule["stats"]
        figures["solver_seconds"] = stats["build_seconds"]
        figures["meetings"] = stats["meetings"]
        figures["unmet_must_meets"] = len(stats["unmet_must_meets"])
        figures["mentor_meetings_max_min"] = [
            stats["max_meetings_per_mentor"],
            stats["min_meetings_per_mentor"],
        ]

        started = time.perf_counter()
        await _ok(await client.post(f"{base}/schedule/publish"))
        figures["publish_seconds"] = round(time.perf_counter() - started, 3)
        everyone, everyone_bytes = await _timed_get(client, f"{base}/schedule", reads)
        one, one_bytes = await _timed_get(
            client, f"{base}/schedule", reads, member_id=mentee_ids[0]
        )
        figures["read_all_ms"] = round(everyone * 1000, 1)
        figures["read_all_bytes"] = everyone_bytes
        figures["read_member_ms"] = round(one * 1000, 1)
        figures["read_member_bytes"] = one_bytes

        changes, changed = [], []
        for mentee_id in rng.sample(mentee_ids, NO_SHOWS):
            started = time.perf_counter()
            result = await _ok(await client.post(f"{base}/no-shows", json={"member_id": mentee_id}))
            changes.append(time.perf_counter() - started)
            changed.append(result["schedule_change"]["changed_assignments"])
        figures["no_show_median_seconds"] = round(statistics.median(changes), 3)
        figures["no_show_max_seconds"] = round(max(changes), 3)
        figures["no_show_changed"] = changed

        for label, (m, x) in (("small", (6, 12)), ("limit", (20, 100))):
            # Built in the request: at most SYNC_BUILD_LIMIT (120) people.
            event = await _event(client, mentor_ids[:m], mentee_ids[:x], rng)
            started = time.perf_counter()
            built = await _ok(await client.post(f"/v1/mentoring-events/{event}/schedule"))
            figures[f"{label}_build_in_request_seconds"] = round(time.perf_counter() - started, 3)
            figures[f"{label}_meetings"] = len(built["assignments"])
    figures["tables"] = [
        table(
            f"events-api: {mentees} mentees x {mentors} mentors x {ROUNDS} rounds through HTTP "
            "(one server process, PostgreSQL)",
            ["step", "seconds / ms", "notes"],
            [
                [
                    "build (job: scores + solve + rows)",
                    figures["build_seconds"],
                    f"solver {figures['solver_seconds']} s, {figures['meetings']} meetings, "
                    f"{figures['unmet_must_meets']} must-meets unmet",
                ],
                ["publish", figures["publish_seconds"], "copy to published, events, timed rows"],
                [
                    "GET schedule, everyone (ms)",
                    figures["read_all_ms"],
                    f"{figures['read_all_bytes']} bytes",
                ],
                [
                    "GET schedule, one member (ms)",
                    figures["read_member_ms"],
                    f"{figures['read_member_bytes']} bytes",
                ],
                [
                    "no-show before the start (median / max)",
                    f"{figures['no_show_median_seconds']} / {figures['no_show_max_seconds']}",
                    f"changed {figures['no_show_changed']}",
                ],
                [
                    "6 x 12 built in the request",
                    figures["small_build_in_request_seconds"],
                    f"{figures['small_meetings']} meetings",
                ],
                [
                    "20 x 100 (the limit) built in the request",
                    figures["limit_build_in_request_seconds"],
                    f"{figures['limit_meetings']} meetings",
                ],
            ],
        )
    ]
    return figures


SCENARIOS = [
    Scenario(
        "events-api",
        measure,
        "Speed-mentoring events through HTTP: build (a job), publish, read, late changes",
    )
]


if __name__ == "__main__":
    result = asyncio.run(measure())
    result.pop("tables")
    print(json.dumps(result, indent=2))
