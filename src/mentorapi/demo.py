"""A demo client app with realistic data, so `make run` shows something worth calling."""

from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps import service as apps_service
from mentorapi.apps.caller import Caller
from mentorapi.availability import service as availability_service
from mentorapi.availability.schemas import AvailabilityPut, DateOverride, WeeklyWindow
from mentorapi.db.engine import Database
from mentorapi.kit.timezones import utcnow
from mentorapi.mentees import service as mentees_service
from mentorapi.mentees.schemas import MenteeCreate
from mentorapi.mentors import service as mentors_service
from mentorapi.mentors.models import Format
from mentorapi.mentors.schemas import MentorCreate
from mentorapi.sessions import service as sessions_service
from mentorapi.sessions.schemas import SessionCreate
from mentorapi.skills import service as skills_service
from mentorapi.skills.schemas import SkillChoice, SkillCreate

SKILLS = [
    ("pivot-tables", "Pivot tables", "data"),
    ("sql-basics", "SQL basics", "data"),
    ("python-pandas", "pandas for analysis", "data"),
    ("negotiating-first-offer", "Negotiating a first offer", "career"),
    ("giving-feedback", "Giving feedback", "leadership"),
    ("running-one-on-ones", "Running one-on-ones", "leadership"),
    ("public-speaking", "Public speaking", "communication"),
    ("writing-design-docs", "Writing design docs", "engineering"),
    ("code-review", "Code review", "engineering"),
    ("product-discovery", "Product discovery interviews", "product"),
    ("figma-prototyping", "Prototyping in Figma", "design"),
    ("salary-benchmarking", "Salary benchmarking", "career"),
]

MENTORS = [
    (
        "demo-m1",
        "Amara Okafor",
        "Staff data analyst",
        "Europe/London",
        ["en"],
        [("pivot-tables", 5), ("sql-basics", 4), ("python-pandas", 4)],
        [15, 30],
    ),
    (
        "demo-m2",
        "Lukas Schneider",
        "Engineering manager, 12 years",
        "Europe/Berlin",
        ["de", "en"],
        [("running-one-on-ones", 5), ("giving-feedback", 4), ("code-review", 4)],
        [15, 30, 60],
    ),
    (
        "demo-m3",
        "Priya Raman",
        "Recruiter turned career coach",
        "Asia/Kolkata",
        ["en", "hi"],
        [("negotiating-first-offer", 5), ("salary-benchmarking", 4)],
        [10, 15, 30],
    ),
    (
        "demo-m4",
        "Diego Fernández",
        "Principal engineer",
        "America/Mexico_City",
        ["es", "en"],
        [("writing-design-docs", 5), ("code-review", 5)],
        [30, 60],
    ),
    (
        "demo-m5",
        "Mei Chen",
        "Product lead",
        "America/Los_Angeles",
        ["en", "zh"],
        [("product-discovery", 5), ("public-speaking", 3)],
        [15, 30],
    ),
    (
        "demo-m6",
        "Sofia Rossi",
        "Design director",
        "Europe/Rome",
        ["it", "en"],
        [("figma-prototyping", 5), ("giving-feedback", 4)],
        [15, 30],
    ),
]

MENTEES = [
    ("demo-e1", "Noah Williams", "America/New_York", ["en"], ["pivot-tables", "sql-basics"]),
    ("demo-e2", "Fatima Zahra", "Africa/Casablanca", ["fr", "en"], ["negotiating-first-offer"]),
    ("demo-e3", "Jonas Berg", "Europe/Stockholm", ["sv", "en"], ["running-one-on-ones"]),
    ("demo-e4", "Ana Souza", "America/Sao_Paulo", ["pt-BR", "en"], ["product-discovery"]),
]


async def ensure_demo(db: Database, remembered_key: str | None) -> str:
    """The demo app's API key: the remembered one if it still works, else a new demo app's."""
    if remembered_key:
        async with db.sessionmaker() as s:
            if await apps_service.authenticate(db_session=s, api_key=remembered_key) is not None:
                return remembered_key
    async with db.sessionmaker() as s, s.begin():
        app, issued = await apps_service.create_app(db_session=s, name="Demo mentoring app")
        actor = Caller.api_key(app.id)
        for slug, name, category in SKILLS:
            await skills_service.create(
                db_session=s,
                app_id=app.id,
                actor=actor,
                data=SkillCreate(slug=slug, name=name, category=category),
            )
        mentors = []
        for ext, name, headline, tz, langs, skills, lengths in MENTORS:
            view = await mentors_service.create(
                db_session=s,
                app_id=app.id,
                actor=actor,
                data=MentorCreate(
                    external_id=ext,
                    name=name,
                    headline=headline,
                    timezone=tz,
                    languages=langs,
                    formats=[Format.video, Format.chat],
                    session_lengths=lengths,
                    skills=[SkillChoice(slug=slug, level=level) for slug, level in skills],
                ),
            )
            mentors.append(view)
        mentee_ids = []
        for ext, name, tz, langs, seeking in MENTEES:
            mentee = await mentees_service.create(
                db_session=s,
                app_id=app.id,
                actor=actor,
                data=MenteeCreate(
                    external_id=ext,
                    name=name,
                    timezone=tz,
                    languages=langs,
                    seeking=[SkillChoice(slug=slug, level=2) for slug in seeking],
                ),
            )
            mentee_ids.append(mentee.mentee.id)
        await _calendars(s, app.id, mentors, mentee_ids)
    return issued.secret


WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
ASKS = [
    "Review my first pivot table for the quarterly sales report",
    "How do I run my first one-on-one with a new report?",
    "I have an offer: how do I ask for more without losing it?",
    "Feedback on the outline of my first design doc",
]


async def _calendars(
    s: AsyncSession, app_id: str, mentors: list[mentors_service.MentorView], mentee_ids: list[str]
) -> None:
    """Working-hours availability for every mentor and a few sessions in the coming weeks."""
    actor = Caller.api_key(app_id)
    for index, view in enumerate(mentors):
        await availability_service.put(
            db_session=s,
            app_id=app_id,
            actor=actor,
            mentor_id=view.mentor.id,
            data=AvailabilityPut(
                weekly=[WeeklyWindow(day=d, start="09:00", end="12:00") for d in WORKDAYS]
                + [WeeklyWindow(day=d, start="14:00", end="17:00") for d in WORKDAYS],
                overrides=[DateOverride(date=(utcnow() + timedelta(days=10)).date(), windows=[])],
                buffer_before_minutes=5,
                buffer_after_minutes=5,
                min_notice_minutes=120,
                booking_horizon_days=90,
                weekly_capacity=5,
                daily_limit_sessions=3,
                auto_accept=index % 2 == 0,  # half book at once, half review requests
            ),
        )
    start = utcnow() + timedelta(days=1)
    for index, mentee_id in enumerate(mentee_ids):
        view = mentors[index % len(mentors)]
        length = view.mentor.session_lengths[0]
        free = await availability_service.slots(
            db_session=s,
            app_id=app_id,
            mentor_id=view.mentor.id,
            start=start,
            end=start + timedelta(days=14),
            duration_minutes=length,
        )
        if not free or not view.skills:
            continue
        await sessions_service.book(
            db_session=s,
            app_id=app_id,
            actor=actor,
            data=SessionCreate(
                mentor_id=view.mentor.id,
                mentee_id=mentee_id,
                topic=ASKS[index % len(ASKS)],
                questions=["What should I try first?"],
                skill_id=view.skills[0]["skill"]["id"],
                format=Format.video,
                duration_minutes=length,
                starts_at=free[min(index * 3, len(free) - 1)].starts_at,
            ),
        )
