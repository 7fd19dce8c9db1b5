"""Realistic data, fast: COPY straight into the tables (the bench may write SQL; src/ may not
gain bench-only paths). The app and its API key go through the real service."""

import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.kit.db import asyncpg_dsn
from mentorapi.apps import service as apps_service
from mentorapi.config import Settings
from mentorapi.db.engine import create_database
from mentorapi.kit.ids import new_id
from mentorapi.mentors.models import SkillOffer, make_offer
from mentorapi.mentors.repository import sort_offers

# (slug, name, category): a micro-mentoring taxonomy; cycled with a suffix past 50.
SKILLS = [
    ("pivot-tables", "Pivot tables", "data"),
    ("sql-basics", "SQL basics", "data"),
    ("data-visualisation", "Data visualisation", "data"),
    ("ab-testing", "A/B testing", "data"),
    ("python-for-analysts", "Python for analysts", "data"),
    ("code-review", "Code review", "engineering"),
    ("system-design", "System design interviews", "engineering"),
    ("debugging", "Debugging production incidents", "engineering"),
    ("writing-tests", "Writing good tests", "engineering"),
    ("git-workflows", "Git workflows", "engineering"),
    ("kubernetes-basics", "Kubernetes basics", "engineering"),
    ("api-design", "API design", "engineering"),
    ("frontend-performance", "Front-end performance", "engineering"),
    ("negotiating-offer", "Negotiating a first offer", "career"),
    ("salary-review", "Asking for a raise", "career"),
    ("career-switch", "Switching careers", "career"),
    ("promotion-case", "Building a promotion case", "career"),
    ("job-interviews", "Job interviews", "career"),
    ("cv-review", "CV review", "career"),
    ("linkedin-profile", "LinkedIn profile", "career"),
    ("first-time-manager", "First-time manager", "leadership"),
    ("one-on-ones", "Running one-on-ones", "leadership"),
    ("giving-feedback", "Giving feedback", "leadership"),
    ("hiring", "Hiring well", "leadership"),
    ("delegation", "Delegation", "leadership"),
    ("conflict-resolution", "Resolving conflict", "leadership"),
    ("okrs", "Setting OKRs", "leadership"),
    ("public-speaking", "Public speaking", "communication"),
    ("slide-decks", "Slide decks that land", "communication"),
    ("technical-writing", "Technical writing", "communication"),
    ("stakeholder-updates", "Stakeholder updates", "communication"),
    ("difficult-conversations", "Difficult conversations", "communication"),
    ("product-discovery", "Product discovery", "product"),
    ("roadmapping", "Roadmapping", "product"),
    ("user-interviews", "User interviews", "product"),
    ("pricing", "Pricing", "product"),
    ("prioritisation", "Prioritisation", "product"),
    ("ux-research", "UX research", "design"),
    ("figma-prototyping", "Prototyping in Figma", "design"),
    ("design-critique", "Design critique", "design"),
    ("accessibility", "Accessibility", "design"),
    ("seo-basics", "SEO basics", "marketing"),
    ("content-strategy", "Content strategy", "marketing"),
    ("growth-experiments", "Growth experiments", "marketing"),
    ("cold-outreach", "Cold outreach", "sales"),
    ("discovery-calls", "Discovery calls", "sales"),
    ("fundraising", "Fundraising", "founders"),
    ("pitch-decks", "Pitch decks", "founders"),
    ("bookkeeping", "Bookkeeping for freelancers", "finance"),
    ("personal-budgeting", "Personal budgeting", "finance"),
]
FIRST = [
    "Ada",
    "Grace",
    "Linus",
    "Margaret",
    "Alan",
    "Barbara",
    "Dennis",
    "Frances",
    "Ken",
    "Radia",
    "Tim",
    "Hedy",
    "Katherine",
    "Guido",
    "Yukihiro",
    "Anita",
    "Sophie",
    "Mateo",
    "Amara",
    "Chen",
    "Priya",
    "Olu",
    "Ingrid",
    "Lars",
    "Fatima",
    "Diego",
    "Hana",
    "Kofi",
    "Elena",
    "Ravi",
    "Zeynep",
    "Noah",
    "Aisha",
    "Luca",
    "Mei",
    "Tomasz",
    "Leila",
    "Jonas",
    "Ama",
    "Kenji",
    "Lucia",
    "Samir",
    "Nadia",
    "Oskar",
    "Yara",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Turing",
    "Liskov",
    "Ritchie",
    "Allen",
    "Thompson",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Johnson",
    "Rossum",
    "Matsumoto",
    "Borg",
    "Wilson",
    "Garcia",
    "Okafor",
    "Wei",
    "Sharma",
    "Adeyemi",
    "Nilsson",
    "Berg",
    "Haddad",
    "Fernandez",
    "Sato",
    "Mensah",
    "Petrova",
    "Iyer",
    "Kaya",
    "Levi",
    "Khan",
    "Rossi",
    "Lin",
    "Kowalski",
    "Farah",
    "Weber",
    "Boateng",
    "Tanaka",
    "Moreno",
    "Aziz",
    "Novak",
    "Lindqvist",
    "Mansour",
]
ROLES = [
    "Staff engineer",
    "Engineering manager",
    "Product manager",
    "Data analyst",
    "UX researcher",
    "Designer",
    "Head of sales",
    "Founder",
    "CFO",
    "Recruiter",
    "Technical writer",
    "Growth marketer",
    "SRE",
    "CTO",
]
COMPANIES = [
    "a fintech scale-up",
    "a public broadcaster",
    "an open-source foundation",
    "a logistics company",
    "a hospital group",
    "a games studio",
    "a climate start-up",
    "a university",
    "a bank",
    "an e-commerce shop",
]
BIO_PARTS = [
    "I have spent {years} years in {field} and love helping people take the next step.",
    "Bring one concrete question and we will leave with a plan you can try this week.",
    "I mentor because someone once gave me fifteen minutes that changed my career.",
    "Happy to look at real work: a query, a deck, a draft, a tricky email.",
    "I am direct, kind, and will ask what you already tried.",
    "Outside work I run, bake bread and read too much science fiction.",
]
FIELDS = [
    "data",
    "software",
    "product",
    "design",
    "sales",
    "marketing",
    "finance",
    "people management",
]
TIMEZONES = [
    "Europe/Berlin", "Europe/London", "Europe/Paris", "America/New_York", "America/Chicago",
    "America/Los_Angeles", "America/Sao_Paulo", "Asia/Tokyo", "Asia/Kolkata", "Asia/Singapore",
    "Africa/Lagos", "Africa/Nairobi", "Australia/Sydney",
]  # fmt: skip
LANGUAGES = ["en", "de", "fr", "es", "pt", "it", "nl", "pl", "ja", "hi", "sw", "ar"]
FORMATS = ["video", "phone", "chat", "in_person", "async"]
LENGTHS = [10, 15, 30, 45, 60]

MENTOR_COLUMNS = [
    "created_at", "updated_at", "app_id", "id", "external_id", "name", "headline", "bio",
    "timezone", "languages", "formats", "session_lengths", "sessions_completed",
    "minutes_mentored", "ratings_count", "rating_sum", "version", "offers",
]  # fmt: skip
SKILL_COLUMNS = [
    "created_at", "updated_at", "app_id", "id", "slug", "name", "category", "description",
    "version",
]  # fmt: skip
LINK_COLUMNS = ["mentor_id", "skill_id", "app_id", "level", "note"]


@dataclass(frozen=True)
class Seeded:
    database_url: str
    app_id: str
    api_key: str
    skill_slugs: list[str]  # most offered first
    mentors: int
    links: int
    seconds: float


def _skills(count: int) -> list[tuple[str, str, str]]:
    out = []
    for i in range(count):
        slug, name, category = SKILLS[i % len(SKILLS)]
        round_ = i // len(SKILLS)
        out.append((f"{slug}-{round_}", f"{name} {round_}", category) if round_ else SKILLS[i])
    return out


def _mentor(rng: random.Random, app_id: str, n: int, created: datetime) -> tuple[object, ...]:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    headline = f"{rng.choice(ROLES)} at {rng.choice(COMPANIES)}"
    bio = " ".join(rng.sample(BIO_PARTS, k=3)).format(
        years=rng.randint(3, 25), field=rng.choice(FIELDS)
    )
    languages = ["en", *rng.sample(LANGUAGES[1:], k=rng.choice([0, 0, 1, 1, 2]))]
    formats = rng.sample(FORMATS, k=rng.randint(1, 3))
    lengths = sorted(rng.sample(LENGTHS, k=rng.randint(1, 3)))
    completed = rng.choice([0, 0, 1, 3, 8, 20, 55])
    ratings = min(completed, rng.randint(0, completed + 1))
    return (
        created,
        created,
        app_id,
        new_id("mtr"),
        f"user-{n:06d}",
        name,
        headline,
        bio,
        rng.choice(TIMEZONES),
        json.dumps(languages),
        json.dumps(formats),
        json.dumps(lengths),
        completed,
        completed * rng.choice(LENGTHS),
        ratings,
        ratings * rng.randint(3, 5),
        1,
    )


async def create_bench_app(database_url: str) -> tuple[str, str]:
    db = create_database(Settings(database_url=database_url))
    try:
        async with db.sessionmaker() as session, session.begin():
            app, issued = await apps_service.create_app(db_session=session, name="bench")
            return app.id, issued.secret
    finally:
        await db.dispose()


async def seed_mentors(database_url: str, *, mentors: int, skills: int, seed: int = 42) -> Seeded:
    """One app with its key, `skills` skills and `mentors` mentors offering 1-5 skills each.

    Skill popularity is skewed (Zipf-like), as in real taxonomies, so the benchmark hits both
    skills offered by thousands of mentors and skills offered by a few dozen."""
    started = time.perf_counter()
    rng = random.Random(seed)
    app_id, api_key = await create_bench_app(database_url)
    now = datetime.now(UTC)
    skill_rows = [
        (now, now, app_id, new_id("skl"), slug, name, category, f"Sessions on {name.lower()}.", 1)
        for slug, name, category in _skills(skills)
    ]
    skill_ids = [row[3] for row in skill_rows]
    # id -> (id, slug, name, category), as make_offer takes them
    skill_of = {row[3]: row[3:7] for row in skill_rows}
    weights = [1 / (rank + 1) ** 0.8 for rank in range(skills)]
    mentor_rows, link_rows = [], []
    offered = dict.fromkeys(skill_ids, 0)
    for n in range(mentors):
        row = _mentor(rng, app_id, n, now - timedelta(seconds=mentors - n))
        chosen: set[str] = set()
        wanted = min(rng.randint(1, 5), skills)
        while len(chosen) < wanted:  # bounded: wanted <= skills, each draw can add one
            chosen.add(rng.choices(skill_ids, weights)[0])
        offers: list[SkillOffer] = []
        for skill_id in sorted(chosen):
            offered[skill_id] += 1
            note = rng.choice([None, None, "Bring a real example.", "Beginners welcome."])
            level = rng.randint(1, 5)
            link_rows.append((row[3], skill_id, app_id, level, note))
            offers.append(make_offer(*skill_of[skill_id], level, note))
        # The copy the service keeps on the mentor (Mentor.offers), in its display order.
        mentor_rows.append((*row, json.dumps(sort_offers(offers))))
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("skills", records=skill_rows, columns=SKILL_COLUMNS)
            await conn.copy_records_to_table("mentors", records=mentor_rows, columns=MENTOR_COLUMNS)
            await conn.copy_records_to_table(
                "mentor_skills", records=link_rows, columns=LINK_COLUMNS
            )
        # Statistics and the visibility map, as autovacuum would leave them on a live database
        # (without it, every index-only scan also reads the table).
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    slug_of = {row[3]: row[4] for row in skill_rows}
    by_popularity = sorted(skill_ids, key=lambda s: -offered[s])
    return Seeded(
        database_url=database_url,
        app_id=app_id,
        api_key=api_key,
        skill_slugs=[slug_of[s] for s in by_popularity],
        mentors=len(mentor_rows),
        links=len(link_rows),
        seconds=round(time.perf_counter() - started, 2),
    )


@dataclass(frozen=True)
class ApiBodies:
    """The same kind of data as seed_mentors, as request bodies for the API (a partner's import:
    POST /v1/skills, then POST /v1/mentors with skills by slug)."""

    skills: list[dict[str, object]]
    mentors: list[dict[str, object]]
    skill_slugs: list[str]  # most offered first


def api_bodies(*, mentors: int, skills: int, seed: int = 42) -> ApiBodies:
    rng = random.Random(seed)
    skill_bodies: list[dict[str, object]] = [
        {"slug": slug, "name": name, "category": category}
        for slug, name, category in _skills(skills)
    ]
    slugs = [str(body["slug"]) for body in skill_bodies]
    weights = [1 / (rank + 1) ** 0.8 for rank in range(skills)]
    offered = dict.fromkeys(slugs, 0)
    mentor_bodies: list[dict[str, object]] = []
    for n in range(mentors):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        bio = " ".join(rng.sample(BIO_PARTS, k=3)).format(
            years=rng.randint(3, 25), field=rng.choice(FIELDS)
        )
        chosen: set[str] = set()
        wanted = min(rng.randint(1, 5), skills)
        while len(chosen) < wanted:  # bounded: wanted <= skills, each draw can add one
            chosen.add(rng.choices(slugs, weights)[0])
        for slug in chosen:
            offered[slug] += 1
        mentor_bodies.append(
            {
                "external_id": f"import-{n:06d}",
                "name": name,
                "headline": f"{rng.choice(ROLES)} at {rng.choice(COMPANIES)}",
                "bio": bio,
                "timezone": rng.choice(TIMEZONES),
                "languages": ["en", *rng.sample(LANGUAGES[1:], k=rng.choice([0, 0, 1, 1, 2]))],
                "formats": rng.sample(FORMATS, k=rng.randint(1, 3)),
                "session_lengths": sorted(rng.sample(LENGTHS, k=rng.randint(1, 3))),
                "skills": [
                    {
                        "slug": slug,
                        "level": rng.randint(1, 5),
                        "note": rng.choice([None, None, "Bring a real example."]),
                    }
                    for slug in sorted(chosen)
                ],
            }
        )
    return ApiBodies(skill_bodies, mentor_bodies, sorted(slugs, key=lambda s: -offered[s]))
