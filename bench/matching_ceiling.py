"""A ceiling for recommendations, not mentorapi: the three statements of a recommendation (as
the product sends them at this commit for the `matching` bench's asks: the asker, the
retrieval, the candidates' facts) from a bare asyncpg handler behind bench.ceiling's HTTP/1.1
server (two processes, a pool of 20 each), answering the candidates' rows as JSON in retrieval
order: no scoring, no validation, no framework, no ORM. Copies of the SQL live here only.

    python -m bench.matching_ceiling --database-url postgresql://... --app-id app_... --port 8123
    python -m bench matching_ceiling   # wrk at 16 connections: this and mentorapi, alternating
"""

import asyncio
import json
import os
import resource
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench import ceiling
from bench.kit import report
from bench.kit.bookings import Ceiling
from bench.kit.db import backend_pids, fresh_database
from bench.kit.names import checkout_database
from bench.kit.options import options
from bench.kit.registry import Scenario
from bench.kit.server import Server, cpu_seconds, machine_busy_seconds
from bench.matching import CONNECTIONS, Population, _wrk, populate
from mentorapi.matching.repository import ask_terms  # the product's words of an ask

DATABASE = checkout_database("matching_ceiling")
PAIRS = 3
CORES = os.cpu_count() or 1

# Copies of the product's statements (printed from asyncpg at this commit); bench only.
ASKER = """SELECT mentees.id, mentees.timezone, mentees.languages, (SELECT json_agg(json_build_array(mentee_skills.skill_id, skills.name, mentee_skills.level, mentee_skills.note)) AS json_agg_1
FROM mentee_skills JOIN skills ON skills.app_id = mentee_skills.app_id AND skills.id = mentee_skills.skill_id
WHERE mentee_skills.app_id = $1::VARCHAR AND mentee_skills.mentee_id = mentees.id) AS seeking, (SELECT matching_policies.weights
FROM matching_policies
WHERE matching_policies.app_id = $1::VARCHAR) AS weights
FROM mentees
WHERE mentees.app_id = $1::VARCHAR AND mentees.id = ANY ($2::VARCHAR[]) ORDER BY mentees.id"""  # noqa: E501
# The retrieval of an ask of more than 3 words with no skill, format or duration filter (the
# bench's asks); its first row counts the found mentors in the window, the others are kept.
RETRIEVAL = """
    WITH q AS (SELECT websearch_to_tsquery('english', $1) AS query),
    matched AS MATERIALIZED (
        SELECT d.mentor_id AS id, ts_rank(d.search, q.query) AS quick
          FROM mentor_documents AS d
          CROSS JOIN q
         WHERE d.app_id = $2 AND (d.search @@ q.query)
         ORDER BY quick DESC, d.mentor_id LIMIT $3
    ),
    ranked AS (
        SELECT m.*, row_number() OVER (ORDER BY m.quick DESC, m.id) AS position
          FROM matched AS m
    ),
    ordered AS (
        SELECT r.*, d.mentor_id, d.app_id, d.active, d.languages, d.formats, d.session_lengths
          FROM ranked AS r
          JOIN mentor_documents AS d ON d.app_id = $2 AND d.mentor_id = r.id
    )
    SELECT CAST(NULL AS text) AS id, CAST(NULL AS real) AS rank,
           CAST(count(*) AS bigint) AS position
      FROM matched
    UNION ALL
    SELECT b.id, CASE WHEN d.search @@ q.query THEN ts_rank_cd(d.search, q.query) ELSE 0 END, b.position
      FROM (SELECT id, position FROM ordered AS d WHERE (d.active) AND (NOT EXISTS (SELECT 1 FROM match_feedback AS f WHERE f.app_id = $2 AND f.mentee_id = $4 AND f.mentor_id = d.mentor_id AND f.action = 'dismiss')) AND ((jsonb_array_length(d.languages) = 0 OR d.languages ?| CAST($5 AS text[])))
             ORDER BY d.quick DESC, d.id LIMIT $6)
           AS b JOIN mentor_documents AS d ON d.app_id = $2 AND d.mentor_id = b.id CROSS JOIN q
"""  # noqa: E501
FACTS = """SELECT mentors.created_at, mentors.updated_at, mentors.app_id, mentors.id, mentors.external_id, mentors.name, mentors.headline, mentors.bio, mentors.timezone, mentors.languages, mentors.formats, mentors.session_lengths, mentors.sessions_completed, mentors.minutes_mentored, mentors.ratings_count, mentors.rating_sum, mentors.rating_avg, mentors.mentees_helped, mentors.impact_stories, mentors.version, mentors.offers, availabilities.weekly, availabilities.overrides, availabilities.buffer_before_minutes, availabilities.buffer_after_minutes, availabilities.min_notice_minutes, availabilities.booking_horizon_days, availabilities.weekly_capacity, availabilities.daily_limit_sessions, availabilities.daily_limit_minutes, (SELECT string_agg(anon_1.record, ''::bytea) AS string_agg_1
FROM (SELECT (CASE WHEN (sessions.status IN ('requested', 'booked')) THEN '\\x01'::bytea ELSE '\\x00'::bytea END || timestamptz_send(sessions.starts_at)) || coalesce(timestamptz_send(sessions.ends_at), '\\x8000000000000000'::bytea) AS record
FROM sessions
WHERE sessions.app_id = mentors.app_id AND sessions.mentor_id = mentors.id AND sessions.status IN ('requested', 'booked', 'completed', 'no_show') AND sessions.starts_at >= $1::TIMESTAMP WITH TIME ZONE AND sessions.starts_at < $2::TIMESTAMP WITH TIME ZONE AND (sessions.status != 'requested' OR sessions.expires_at IS NULL OR sessions.expires_at > $3::TIMESTAMP WITH TIME ZONE) UNION ALL SELECT (CASE WHEN (group_sessions.status = 'scheduled') THEN '\\x01'::bytea ELSE '\\x00'::bytea END || timestamptz_send(group_sessions.starts_at)) || coalesce(timestamptz_send(group_sessions.ends_at), '\\x8000000000000000'::bytea) AS record
FROM group_sessions
WHERE group_sessions.app_id = mentors.app_id AND group_sessions.mentor_id = mentors.id AND group_sessions.status IN ('scheduled', 'completed') AND group_sessions.starts_at >= $1::TIMESTAMP WITH TIME ZONE AND group_sessions.starts_at < $2::TIMESTAMP WITH TIME ZONE) AS anon_1) AS held, mentor_documents.active, match_feedback.action, history.completed, history.rated, history.rating_sum AS rating_sum_1
FROM mentors LEFT OUTER JOIN availabilities ON availabilities.app_id = mentors.app_id AND availabilities.mentor_id = mentors.id LEFT OUTER JOIN mentor_documents ON mentor_documents.app_id = mentors.app_id AND mentor_documents.mentor_id = mentors.id LEFT OUTER JOIN match_feedback ON match_feedback.app_id = mentors.app_id AND match_feedback.mentee_id = $4::VARCHAR AND match_feedback.mentor_id = mentors.id LEFT OUTER JOIN (SELECT sessions.mentee_id AS mentee_id, sessions.mentor_id AS mentor_id, count(sessions.id) AS completed, count(feedback.rating) AS rated, coalesce(sum(feedback.rating), $5::INTEGER) AS rating_sum
FROM sessions LEFT OUTER JOIN feedback ON feedback.app_id = sessions.app_id AND feedback.session_id = sessions.id AND feedback.author = $6::VARCHAR
WHERE sessions.app_id = $7::VARCHAR AND sessions.status = $8::VARCHAR AND sessions.mentee_id = $4::VARCHAR AND sessions.mentor_id = ANY ($9::VARCHAR[]) GROUP BY sessions.mentee_id, sessions.mentor_id) AS history ON history.mentor_id = mentors.id
WHERE mentors.app_id = $7::VARCHAR AND mentors.id = ANY ($9::VARCHAR[])"""  # noqa: E501
# The product's constants (matching/service.py, repository.py, scoring.py) at this commit.
MIN_CANDIDATES, CANDIDATES_PER_RESULT, MAX_CANDIDATES = 20, 4, 200
MIN_WINDOW, WINDOW_PER_CANDIDATE = 100, 10
AROUND, WINDOW = timedelta(days=8), timedelta(days=7)
NOT_HERE = b'{"title":"not in the ceiling"}'


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


async def recommend(pool: asyncpg.Pool, app_id: str, raw: bytes) -> tuple[int, bytes]:
    body = json.loads(raw)
    if set(body) - {"mentee_id", "ask", "limit", "languages"}:
        return 400, NOT_HERE  # filters and windows change the statements: not copied here
    mentee_id, limit = body["mentee_id"], body.get("limit", 5)
    terms = ask_terms(body["ask"])
    if len(terms) <= 3:
        return 400, NOT_HERE  # short asks add trigram matching: not copied here
    count = min(MAX_CANDIDATES, max(MIN_CANDIDATES, limit * CANDIDATES_PER_RESULT))
    now = datetime.now(UTC)
    async with pool.acquire() as c:
        mentee = await c.fetchrow(ASKER, app_id, [mentee_id])
        if mentee is None:
            return 404, b'{"title":"Not found"}'
        languages = body.get("languages") or json.loads(mentee["languages"])
        rows = await c.fetch(
            RETRIEVAL,
            " or ".join(terms),
            app_id,
            max(MIN_WINDOW, WINDOW_PER_CANDIDATE * count),
            mentee_id,
            languages,
            count,
        )
        # The product tries every found mentor when fewer than `count` pass in the window;
        # the bench's asks never need it (3 statements each), so neither does this.
        kept = sorted((r["position"], r["id"]) for r in rows if r["id"] is not None)
        ids = [mentor_id for _, mentor_id in kept]
        facts = await c.fetch(
            FACTS,
            now - AROUND,
            now + WINDOW + AROUND,
            now,
            mentee_id,
            0,
            "mentee",
            app_id,
            "completed",
            ids,
        )
    by_id = {row["id"]: row for row in facts}
    data = [dict(by_id[i]) for i in ids[:limit] if i in by_id]
    return 200, json.dumps({"data": data}, default=_plain).encode()


def _recommendations(app_id: str) -> Callable[[asyncpg.Pool], ceiling.Handler]:
    def bound(pool: asyncpg.Pool) -> ceiling.Handler:
        async def answer(headers: dict[str, str], raw: bytes) -> tuple[int, bytes]:
            return await recommend(pool, app_id, raw)

        return answer

    return bound


async def _run(population: Population, target: Any, pids: list[int]) -> dict[str, Any]:
    """wrk at 16 connections (warm-up, then measured): latency and CPU per request."""
    opts = options()
    url = population.url
    await asyncio.to_thread(_wrk, target.base_url, population, opts.warmup)
    server_before = cpu_seconds(pids)
    db_before = {pid: cpu_seconds([pid]) for pid in await backend_pids(url)}
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the child that ends
    busy_before, load_before = machine_busy_seconds(), os.getloadavg()[0]
    found = await asyncio.to_thread(_wrk, target.base_url, population, opts.duration)
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    served = max(1, found["requests"])
    db_used = sum(cpu_seconds([p]) - db_before.get(p, 0.0) for p in await backend_pids(url))
    wrk_used = (wrk_after.ru_utime + wrk_after.ru_stime) - (
        wrk_before.ru_utime + wrk_before.ru_stime
    )
    found["server_cpu_ms"] = round(1000 * (cpu_seconds(pids) - server_before) / served, 2)
    found["db_cpu_ms"] = round(1000 * db_used / served, 2)
    found["wrk_cpu_ms"] = round(1000 * wrk_used / served, 2)
    found["cpu_ms"] = round(found["server_cpu_ms"] + found["db_cpu_ms"] + found["wrk_cpu_ms"], 2)
    found["busy_cores"] = round((machine_busy_seconds() - busy_before) / found["seconds"], 2)
    found["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return found


async def _check(population: Population, base_url: str) -> int:
    """One planted ask through the ceiling: 200 and the answer's length (not empty)."""
    body = {"mentee_id": population.asker, "ask": population.planted[0][0]}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post("/v1/matching/recommendations", json=body)
    if response.status_code != 200 or not response.json()["data"]:
        raise RuntimeError(f"ceiling: {response.status_code} {response.text[:300]}")
    return len(response.json()["data"])


async def run() -> dict[str, Any]:
    """Recommendations at 16 connections: mentorapi and a bare asyncpg ceiling, alternating."""
    opts = options()
    url = await fresh_database(DATABASE)
    population = await populate(url, opts.mentors, opts.skills)
    runs: dict[str, list[dict[str, Any]]] = {"mentorapi": [], "ceiling": []}
    for pair in range(max(PAIRS, opts.repeat)):
        # One at a time (their pools are 40 connections each); the order alternates per pair.
        for name in ("mentorapi", "ceiling") if pair % 2 == 0 else ("ceiling", "mentorapi"):
            if name == "mentorapi":
                async with Server(url, workers=2, name="matching-ceiling") as server:
                    runs[name].append(await _run(population, server, server.pids()))
                continue
            bare = Ceiling(url, population.app_id, "bench.matching_ceiling")
            try:
                await bare.ready()
                await _check(population, bare.base_url)
                runs[name].append(await _run(population, bare, bare.pids()))
            finally:
                bare.stop()
    keys = ["rps", "p50_ms", "p99_ms", "mean_ms", "server_cpu_ms", "db_cpu_ms", "wrk_cpu_ms"]
    keys += ["cpu_ms", "busy_cores"]
    medians = {
        name: {k: round(statistics.median(r[k] for r in found), 2) for k in keys}
        for name, found in runs.items()
    }
    for m in medians.values():
        # Closed loop: each of the 16 connections waits for its answer, so req/s = 16 / mean
        # latency; and no more than the cores' worth of CPU: req/s <= cores / CPU per request.
        m["rps_16_over_mean"] = round(CONNECTIONS * 1000 / m["mean_ms"], 1)
        m["rps_cpu_bound"] = round(CORES * 1000 / m["cpu_ms"], 1)
        m["mean_ms_at_cpu_bound"] = round(CONNECTIONS * m["cpu_ms"] / CORES, 1)
    rows = [
        [
            f"{name} {i + 1}",
            r["rps"],
            r["p50_ms"],
            r["p99_ms"],
            r["server_cpu_ms"],
            r["db_cpu_ms"],
            r["wrk_cpu_ms"],
            r["non_2xx"],
            f"{r['busy_cores']} / {r['load_average']}",
        ]
        for i in range(len(runs["ceiling"]))
        for name in ("mentorapi", "ceiling")
        for r in [runs[name][i]]
    ]
    columns = ["run", "req/s", "p50 ms", "p99 ms", "server", "pg", "wrk", "non-2xx"]
    shown = ["rps", "p99_ms", "mean_ms", "cpu_ms", "rps_16_over_mean", "rps_cpu_bound"]
    summary = [
        [name, *(m[k] for k in shown), m["mean_ms_at_cpu_bound"]] for name, m in medians.items()
    ]
    return {
        "cores": CORES,
        "medians": medians,
        "runs": runs,
        "tables": [
            report.table(
                f"matching_ceiling: {CONNECTIONS} conns, cpu ms/request by process group",
                [*columns, "busy cores / load"],
                rows,
            ),
            report.table(
                "medians (p99 target < 50 ms)",
                [
                    "server",
                    "req/s",
                    "p99",
                    "mean",
                    "cpu ms/req",
                    "16/mean",
                    "cores/cpu",
                    "mean at cpu bound",
                ],
                summary,
            ),
        ],
    }


SCENARIOS = [
    Scenario(
        "matching_ceiling",
        run,
        "recommendations at 16 conns: mentorapi vs bare asyncpg, alternating",
        default=False,
    )
]


def main() -> None:
    ceiling.start(__doc__.split("\n\n")[0], _recommendations)


if __name__ == "__main__":
    main()
