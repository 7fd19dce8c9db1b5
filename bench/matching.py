"""Recommendations: recall@5 of planted mentors from the ask alone, load balance, p99 at 16 conns.

A generated population (`--mentors`, 10,000 by default): every skill has a vocabulary of
words its mentors' bios and notes are written from, mentors offer 1-3 skills at levels 1-5,
speak English and maybe more, live in 13 zones, keep office hours on a few days a week with a
weekly capacity, and have ratings. Popularity is skewed (Zipf): the most popular mentors are
the best rated and the most booked this week. Then:

1. Recall: for PLANTED_ASKS asks, three "right" mentors per ask are written a bio on the very
   words of the ask (four words of their skill's vocabulary); the ask alone (no skills, no
   filters) must put them in the top 5. Target: recall@5 >= 0.9.
2. Load balance: generic asks ("help with <skill>") for every skill, twice each; the share of
   top-1 answers held by the 1% busiest mentors (most sessions this week), with the default
   policy and with the load weight at 0 (what the load component changes).
3. Latency: POST /v1/matching/recommendations for the planted asks, rotating, at 16
   connections (wrk), on a server with a worker per core (at most 2). Target: p99 < 50 ms on
   PostgreSQL. The statements of one request (MENTORAPI_DEBUG_SQL_COUNT) are reported too.
4. Cohorts: `score_pairs` over COHORT_MENTEES x COHORT_MENTORS pairs, in process (what cohort
   matching reads before it solves); COHORT_HOOKS run after it with the same population, for
   the figures a later step adds (the solver for 1,000 mentees x 300 mentors, capacity 3).
"""

import asyncio
import json
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.kit import procs, report
from bench.kit.db import asyncpg_dsn, backend_pids, fresh_database
from bench.kit.names import checkout_database
from bench.kit.options import options
from bench.kit.seed import COMPANIES, FIRST, LAST, ROLES, TIMEZONES, _skills, create_bench_app
from bench.kit.server import Server, cpu_seconds, machine_busy_seconds
from bench.kit.wrk import MARK, ensure_wrk, parse
from mentorapi.config import Settings
from mentorapi.db.engine import create_database
from mentorapi.kit.ids import new_id
from mentorapi.matching.scoring import score_pairs
from mentorapi.mentors.models import SkillOffer, make_offer
from mentorapi.mentors.repository import sort_offers

DATABASE = checkout_database("matching")
PLANTED_ASKS = 100
PLANTED_PER_ASK = 3
CONNECTIONS = 16
COHORT_MENTEES = 1000
COHORT_MENTORS = 300
COHORT_CAPACITY = 3

# Words a category's mentors write with; each skill draws its vocabulary from its category's.
VOCABULARY = {
    "data": "spreadsheet dashboard forecast regression cohort churn warehouse query pipeline "
    "metric funnel outlier inventory margin segment retention sampling schema lookup chart "
    "quarterly revenue anomaly baseline benchmark",
    "engineering": "deployment latency refactor monolith microservice container cluster "
    "incident rollback cache database migration compiler linter concurrency thread memory "
    "profiler endpoint gateway queue scheduler logging tracing",
    "career": "resume recruiter interview salary offer promotion portfolio referral network "
    "manager raise contract notice relocation sabbatical mentor visa freelance equity bonus "
    "title ladder reference headhunter",
    "leadership": "delegation retrospective offsite roadmap headcount hiring onboarding "
    "motivation burnout conflict accountability coaching calibration ritual standup morale "
    "trust autonomy budget escalation succession culture",
    "communication": "storytelling slide audience keynote rehearsal memo newsletter briefing "
    "persuasion clarity pitch podcast webinar rhetoric outline headline summary workshop "
    "facilitation negotiation apology announcement tone",
    "product": "discovery persona backlog prioritisation experiment prototype launch pricing "
    "subscription onboarding activation feedback survey interview hypothesis milestone "
    "stakeholder requirement beta adoption feature",
    "design": "typography palette wireframe prototype accessibility contrast usability "
    "layout grid component iconography illustration motion critique moodboard sketch "
    "heuristic persona journey storyboard",
    "marketing": "campaign newsletter keyword backlink conversion landing audience brand "
    "influencer referral copywriting retargeting analytics attribution positioning launch "
    "social content calendar",
    "sales": "prospect pipeline quota objection demo proposal renewal upsell territory "
    "discount procurement champion forecast outreach cadence voicemail referral closing",
    "founders": "investor valuation runway dilution term sheet accelerator angel pitch "
    "cofounder traction revenue burn bootstrap incorporation cap table",
    "finance": "invoice receipt expense deduction pension savings mortgage budget ledger "
    "payroll audit dividend inflation allowance insurance debt",
}


@dataclass(frozen=True)
class Population:
    url: str
    app_id: str
    api_key: str
    skills: list[tuple[str, str, str]]  # (id, name, category)
    mentors: list[str]
    busiest: set[str]  # the 1% with most sessions this week
    planted: list[tuple[str, list[str]]]  # (ask, its right mentors)
    generic: list[str]  # asks with no planted answer
    mentees: list[str]
    asker: str
    seconds: float


def _words(category: str) -> list[str]:
    return VOCABULARY.get(category, VOCABULARY["product"]).split()


_SYLLABLES = [
    "ka",
    "ro",
    "mi",
    "ten",
    "vu",
    "sal",
    "dor",
    "pex",
    "lin",
    "qua",
    "bre",
    "tos",
    "mav",
    "fen",
    "gol",
    "zur",
    "nis",
    "pra",
    "hel",
    "cob",
]


def _jargon(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """Words of one skill only (its jargon: tool names, techniques), made up so that no two
    skills share one."""
    found: list[str] = []
    while len(found) < count:  # bounded: 20^3 words, a few hundred drawn
        word = "".join(rng.sample(_SYLLABLES, k=3))
        if word not in taken:
            taken.add(word)
            found.append(word)
    return found


def _monday(now: datetime) -> datetime:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


async def populate(url: str, mentors: int, skills: int, seed: int = 7) -> Population:
    started = time.perf_counter()
    rng = random.Random(seed)
    app_id, api_key = await create_bench_app(url)
    now = datetime.now(UTC)
    skill_rows = [
        (now, now, app_id, new_id("skl"), slug, name, category, f"Sessions on {name.lower()}.", 1)
        for slug, name, category in _skills(skills)
    ]
    skill_list = [(row[3], row[5], row[6]) for row in skill_rows]
    # A skill's vocabulary: 12 words of its field, shared with the field's other skills, and 8
    # of its own.
    coined: set[str] = set()
    vocab = {
        sid: rng.sample(_words(category), k=min(12, len(_words(category))))
        + _jargon(rng, 8, coined)
        for sid, _, category in skill_list
    }
    weights = [1 / (rank + 1) ** 0.8 for rank in range(skills)]
    # Popularity: Zipf over a random order; the most popular are rated best (star mentors).
    popularity = [1 / (rank + 1) ** 1.1 for rank in range(mentors)]
    rng.shuffle(popularity)
    mentor_rows, link_rows, availability_rows = [], [], []
    firsts: dict[str, list[int]] = {}
    ids: list[str] = []
    for n in range(mentors):
        mentor_id = new_id("mtr")
        ids.append(mentor_id)
        chosen: list[str] = []
        while len(chosen) < rng.randint(1, 3):  # bounded: at most 3 distinct draws kept
            sid = rng.choices([s[0] for s in skill_list], weights)[0]
            if sid not in chosen:
                chosen.append(sid)
        firsts.setdefault(chosen[0], []).append(n)
        star = popularity[n] > 0.01
        offers: list[SkillOffer] = []
        bio_words: list[str] = []
        for sid in chosen:
            level = rng.randint(4, 5) if star else rng.randint(1, 5)
            note = " ".join(rng.sample(vocab[sid], k=2))
            link_rows.append((mentor_id, sid, app_id, level, note))
            _, name, category = next(s for s in skill_list if s[0] == sid)
            offers.append(
                make_offer(sid, name.lower().replace(" ", "-"), name, category, level, note)
            )
            bio_words += rng.sample(vocab[sid], k=4)
        bio = (
            f"I help with {' and '.join(w for w in bio_words)}. Bring a real example and we "
            "will leave with a plan."
        )
        ratings = rng.randint(5, 40) if star else rng.randint(0, 6)
        rating_sum = sum(rng.randint(4, 5) if star else rng.randint(2, 5) for _ in range(ratings))
        tz = rng.choice(TIMEZONES)
        mentor_rows.append(
            [now, now, app_id, mentor_id, f"user-{n:06d}",
             f"{rng.choice(FIRST)} {rng.choice(LAST)}",
             f"{rng.choice(ROLES)} at {rng.choice(COMPANIES)}", bio, tz,
             json.dumps(["en", *rng.sample(["de", "fr", "es", "pt", "ja"], k=rng.randint(0, 1))]),
             json.dumps(["video", "chat"]), json.dumps([15, 30]), ratings, ratings * 30,
             ratings, rating_sum, rating_sum / ratings if ratings else 0.0, 1,
             json.dumps(sort_offers(offers))]
        )  # fmt: skip
        days = rng.sample(["mon", "tue", "wed", "thu", "fri", "sat"], k=rng.randint(2, 5))
        start = rng.choice([8, 9, 10, 13, 16])
        weekly = [
            {"day": d, "start": f"{start:02d}:00", "end": f"{start + 3:02d}:00"} for d in days
        ]
        availability_rows.append(
            (now, now, app_id, mentor_id, json.dumps(weekly), "[]", 0, 0, 0, None,
             rng.randint(4, 10), None, None, True, 1)
        )  # fmt: skip
    # Planted: PLANTED_PER_ASK mentors of a skill get a headline and a bio on four words of its
    # vocabulary (two of the skill's own, a pair no other ask uses, and two of its field).
    planted: list[tuple[str, list[str]]] = []
    taken: set[int] = set()
    pairs: set[tuple[str, ...]] = set()
    # Skills that are the first of over 20 mentors (of at least PLANTED_PER_ASK in a small
    # population, e.g. --mentors 300): an ask whose skill has no mentors or pairs of its own
    # words left is skipped, so a small population gets fewer asks (at 10,000, all 100).
    skills_with_mentors = [s for s in skill_list if len(firsts.get(s[0], [])) > 20] or [
        s for s in skill_list if len(firsts.get(s[0], [])) >= PLANTED_PER_ASK
    ]
    asks_of: dict[str, int] = {}
    for i in range(PLANTED_ASKS if skills_with_mentors else 0):
        sid, name, _ = skills_with_mentors[i % len(skills_with_mentors)]
        own_words = len(vocab[sid][12:])
        left = sum(1 for n in firsts[sid] if n not in taken)
        if asks_of.get(sid, 0) >= own_words * (own_words - 1) // 2 or left < PLANTED_PER_ASK:
            continue
        asks_of[sid] = asks_of.get(sid, 0) + 1
        while True:  # bounded: a pair of the skill's own words is left (checked above)
            own = tuple(sorted(rng.sample(vocab[sid][12:], k=2)))
            if own not in pairs:
                pairs.add(own)
                break
        words = [*own, *rng.sample(vocab[sid][:12], k=2)]
        pool = [n for n in firsts[sid] if n not in taken]
        right = rng.sample(pool, k=PLANTED_PER_ASK)
        taken.update(right)
        for n in right:
            mentor_rows[n][6] = f"{rng.choice(ROLES)}: {words[0]} and {words[1]}"
            mentor_rows[n][7] = (
                f"Most of my sessions are about {words[0]} and {words[1]}, with some "
                f"{words[2]} and {words[3]} along the way."
            )
        ask = (
            f"I am stuck on {words[0]} and {words[1]} for my {name.lower()} work, and I "
            f"would like someone who has done {words[2]} with {words[3]} before"
        )
        planted.append((ask, [ids[n] for n in right]))
    generic = [
        phrase.format(name.lower())
        for _, name, _ in skill_list
        for phrase in ("Can someone help me with {}?", "Looking for advice on {} this week")
    ]
    # This week's bookings, by popularity: the busiest take most of them (never past capacity).
    monday = _monday(now)
    mentee_rows = [
        (now, now, app_id, new_id("mte"), f"mentee-{i:05d}", f"Mentee {i}", "Europe/Berlin",
         json.dumps(["en"]), 1)
        for i in range(COHORT_MENTEES)
    ]  # fmt: skip
    # The one who asks in the quality and latency runs: no skills sought, so the ask alone
    # decides (the cohort's mentees seek one skill each).
    asker = (now, now, app_id, new_id("mte"), "asker", "Asker", "Europe/Berlin", '["en"]', 1)
    mentee_ids = [row[3] for row in mentee_rows]
    session_rows = []
    booked: dict[int, int] = {}
    for n in rng.choices(range(mentors), popularity, k=min(mentors, 3000)):
        capacity = availability_rows[n][10]
        # Busy, not full: a full week would leave the mentor out, not test the load component.
        if booked.get(n, 0) >= capacity - 1:
            continue
        slot = booked[n] = booked.get(n, 0) + 1
        starts = monday + timedelta(days=slot % 7, hours=6 + slot // 7)
        session_rows.append((n, starts))
    first_skill = {}
    for mentor_id, sid, *_ in link_rows:
        first_skill.setdefault(mentor_id, sid)
    sessions = [
        (now, now, app_id, new_id("ses"), ids[n], rng.choice(mentee_ids), "booked",
         "Weekly check-in on my work", "[]", first_skill[ids[n]], "video", 30, starts,
         starts + timedelta(minutes=30), starts, "[]", 1)
        for n, starts in session_rows
    ]  # fmt: skip
    busiest_n = sorted(booked, key=lambda n: -booked[n])[: max(1, mentors // 100)]
    mentee_skill_rows = [
        (mentee_id, rng.choice(skill_list)[0], app_id, rng.randint(1, 3), None)
        for mentee_id in mentee_ids
    ]
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "skills",
                records=skill_rows,
                columns=["created_at", "updated_at", "app_id", "id", "slug", "name", "category",
                         "description", "version"],
            )  # fmt: skip
            await conn.copy_records_to_table(
                "mentors",
                records=[tuple(r) for r in mentor_rows],
                columns=["created_at", "updated_at", "app_id", "id", "external_id", "name",
                         "headline", "bio", "timezone", "languages", "formats", "session_lengths",
                         "sessions_completed", "minutes_mentored", "ratings_count", "rating_sum",
                         "rating_avg", "version", "offers"],
            )  # fmt: skip
            await conn.copy_records_to_table(
                "mentor_skills",
                records=link_rows,
                columns=["mentor_id", "skill_id", "app_id", "level", "note"],
            )
            await conn.copy_records_to_table(
                "availabilities",
                records=availability_rows,
                columns=["created_at", "updated_at", "app_id", "mentor_id", "weekly", "overrides",
                         "buffer_before_minutes", "buffer_after_minutes", "min_notice_minutes",
                         "booking_horizon_days", "weekly_capacity", "daily_limit_sessions",
                         "daily_limit_minutes", "auto_accept", "version"],
            )  # fmt: skip
            await conn.copy_records_to_table(
                "mentees",
                records=[*mentee_rows, asker],
                columns=["created_at", "updated_at", "app_id", "id", "external_id", "name",
                         "timezone", "languages", "version"],
            )  # fmt: skip
            await conn.copy_records_to_table(
                "mentee_skills",
                records=mentee_skill_rows,
                columns=["mentee_id", "skill_id", "app_id", "level", "note"],
            )
            await conn.copy_records_to_table(
                "sessions",
                records=sessions,
                columns=["created_at", "updated_at", "app_id", "id", "mentor_id", "mentee_id",
                         "status", "topic", "questions", "skill_id", "format", "duration_minutes",
                         "starts_at", "ends_at", "expires_at", "history", "version"],
            )  # fmt: skip
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return Population(
        url=url,
        app_id=app_id,
        api_key=api_key,
        skills=skill_list,
        mentors=ids,
        busiest={ids[n] for n in busiest_n},
        planted=planted,
        generic=generic,
        mentees=mentee_ids,
        asker=asker[3],
        seconds=round(time.perf_counter() - started, 1),
    )


async def _recommend(
    client: httpx.AsyncClient, mentee_id: str, ask: str, limit: int = 5
) -> list[str]:
    response = await client.post(
        "/v1/matching/recommendations", json={"mentee_id": mentee_id, "ask": ask, "limit": limit}
    )
    if response.status_code != 200:
        raise RuntimeError(f"recommendations: {response.status_code} {response.text[:300]}")
    return [item["mentor"]["id"] for item in response.json()["data"]]


async def quality(server: Server, population: Population) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {population.api_key}"}
    mentee = population.asker
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as c:
        hits = total = 0
        for ask, right in population.planted:
            top = set(await _recommend(c, mentee, ask))
            hits += len(top & set(right))
            total += len(right)

        async def busy_share() -> float:
            tops = [await _recommend(c, mentee, ask, limit=1) for ask in population.generic]
            firsts = [t[0] for t in tops if t]
            return sum(1 for m in firsts if m in population.busiest) / max(1, len(firsts))

        with_load = await busy_share()
        policy = (await c.get("/v1/matching/policy")).json()
        weights = {**policy["weights"], "load": 0.0}
        put = await c.put("/v1/matching/policy", json={"weights": weights})
        put.raise_for_status()
        without_load = await busy_share()
        put = await c.put(
            "/v1/matching/policy",
            json={"weights": policy["weights"]},
            headers={"If-Match": put.headers["ETag"]},
        )
        put.raise_for_status()
        response = await c.post(
            "/v1/matching/recommendations",
            json={"mentee_id": mentee, "ask": population.planted[0][0]},
        )
        statements = response.headers.get("X-SQL-Statements")
    return {
        "recall_at_5": round(hits / total, 3),
        "busiest_1pct_top1_share": round(with_load, 3),
        "busiest_1pct_top1_share_without_load": round(without_load, 3),
        "statements_per_request": statements,
    }


LUA = """
local bodies = {%(bodies)s}
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = %(auth)s
function setup(thread)
  thread:set("offset", math.random(1, #bodies))
end
function request()
  counter = counter + 1
  return wrk.format(nil, "/v1/matching/recommendations", nil,
                    bodies[((counter + (offset or 0)) %% #bodies) + 1])
end
""" + (
    "function done(summary, latency, requests)\n"
    "  local e = summary.errors\n"
    "  io.write(string.format(\n"
    '    \'%(mark)s{"requests":%%d,"duration_us":%%d,"bytes":%%d,\'\n'
    '    .. \'"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d,\'\n'
    '    .. \'"p50_us":%%d,"p75_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,'
    '"mean_us":%%.1f}\\n\',\n'
    "    summary.requests, summary.duration, summary.bytes,\n"
    "    e.connect, e.read, e.write, e.status, e.timeout,\n"
    "    latency:percentile(50), latency:percentile(75), latency:percentile(90),\n"
    "    latency:percentile(99), latency.max, latency.mean))\n"
    "end\n"
)


def _wrk(base_url: str, population: Population, duration: float) -> dict[str, Any]:
    bodies = [
        json.dumps({"mentee_id": population.asker, "ask": ask}) for ask, _ in population.planted
    ]
    script = LUA % {
        "bodies": ", ".join(json.dumps(b) for b in bodies),
        "auth": json.dumps(f"Bearer {population.api_key}"),
        "mark": MARK,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="mentorapi-bench-") as lua:
        lua.write(script)
        lua.flush()
        args = [ensure_wrk(), "--latency", "-t", "2", "-c", str(CONNECTIONS)]
        args += ["-d", f"{max(1, round(duration))}s", "--timeout", "10s", "-s", lua.name]
        output = procs.run([*args, base_url], timeout=duration + 60)
    return parse(output).as_dict()


# A later step (cohort matching) appends its measurements here: each gets the population and
# returns figures for the report (1,000 mentees x 300 mentors, capacity COHORT_CAPACITY).
CohortHook = Callable[[Population], Awaitable[dict[str, Any]]]
COHORT_HOOKS: list[CohortHook] = []


async def cohort(population: Population) -> dict[str, Any]:
    db = create_database(Settings(database_url=population.url))
    mentors = population.mentors[:COHORT_MENTORS]
    try:
        async with db.sessionmaker() as session:
            started = time.perf_counter()
            pairs = await score_pairs(
                session,
                app_id=population.app_id,
                mentee_ids=population.mentees,
                mentor_ids=mentors,
            )
            seconds = time.perf_counter() - started
    finally:
        await db.dispose()
    found: dict[str, Any] = {
        "score_pairs_pairs": len(pairs),
        "score_pairs_seconds": round(seconds, 2),
        "cohort_solver": "not measured yet (cohort matching: a later step, COHORT_HOOKS)",
    }
    for hook in COHORT_HOOKS:
        found.update(await hook(population))
    return found


async def run() -> dict[str, Any]:
    """Recommendations: recall@5 of planted mentors, load balance, p99 at 16 connections."""
    opts = options()
    url = await fresh_database(DATABASE)
    population = await populate(url, opts.mentors, opts.skills)
    workers = min(2, max(opts.workers))
    env = {"MENTORAPI_DEBUG_SQL_COUNT": "true"}
    async with Server(url, workers=workers, env=env, name="matching") as server:
        figures = await quality(server, population)
        await asyncio.to_thread(_wrk, server.base_url, population, opts.warmup)
        # CPU per request (the server's processes, PostgreSQL's backends) and how busy the
        # machine was: on a shared machine req/s follows the other load, these much less.
        pids = server.pids()
        server_before = cpu_seconds(pids)
        # Per backend: the pools may open connections during the run (counted from 0).
        db_before = {pid: cpu_seconds([pid]) for pid in await backend_pids(url)}
        busy_before, load_before = machine_busy_seconds(), os.getloadavg()[0]
        latency = await asyncio.to_thread(_wrk, server.base_url, population, opts.duration)
        served = max(1, latency["requests"])
        figures["server_cpu_ms_per_request"] = round(
            1000 * (cpu_seconds(pids) - server_before) / served, 2
        )
        db_used = sum(
            cpu_seconds([pid]) - db_before.get(pid, 0.0) for pid in await backend_pids(url)
        )
        figures["db_cpu_ms_per_request"] = round(1000 * db_used / served, 2)
        figures["machine_busy_cores"] = round(
            (machine_busy_seconds() - busy_before) / max(latency["seconds"], 1), 2
        )
        figures["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    figures.update(await cohort(population))
    rows = [
        ["mentors", opts.mentors],
        ["seeded in s", population.seconds],
        ["recall@5 (target >= 0.9)", figures["recall_at_5"]],
        ["top-1 held by busiest 1%", figures["busiest_1pct_top1_share"]],
        ["... with load weight 0", figures["busiest_1pct_top1_share_without_load"]],
        ["statements per request", figures["statements_per_request"]],
        [f"req/s at {CONNECTIONS} conns", latency["rps"]],
        ["p50 ms", latency["p50_ms"]],
        ["p99 ms (target < 50)", latency["p99_ms"]],
        ["non-2xx", latency["non_2xx"]],
        ["server cpu ms/req", figures["server_cpu_ms_per_request"]],
        ["db cpu ms/req", figures["db_cpu_ms_per_request"]],
        [
            "machine busy cores / load",
            f"{figures['machine_busy_cores']} / {figures['load_average']}",
        ],
        [f"score_pairs {COHORT_MENTEES}x{COHORT_MENTORS} s", figures["score_pairs_seconds"]],
        ["cohort solver", figures["cohort_solver"]],
    ]
    return {
        **figures,
        "latency": latency,
        "workers": workers,
        "tables": [report.table("matching", ["figure", "value"], rows)],
    }
