"""All of matching's SQL: the facts scoring reads, in a fixed number of statements whatever the
number of mentors and mentees, the candidates of a recommendation, policies and feedback.

Text relevance is the databases' own: PostgreSQL ranks the weighted tsvector of each mentor's
document with `ts_rank_cd` and, for short asks, the trigram similarity (`word_similarity`,
pg_trgm) of the ask to the headline and skill names; SQLite ranks its FTS5 tables with `bm25`
(the porter-stemmed document; the trigram table for short asks). For short asks the two are
added up. The component is each rank over the best rank of its ask (`relative`): 1 for the best.
"""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, make_dataclass
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import (
    JSON,
    Select,
    String,
    Table,
    TextClause,
    and_,
    any_,
    bindparam,
    func,
    text,
    union_all,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.availability.models import Availability
from mentorapi.db import fast
from mentorapi.feedback.models import Author, Feedback
from mentorapi.goals.models import Goal
from mentorapi.group_sessions.models import GroupSession, GroupSessionStatus, Seat, SeatStatus
from mentorapi.kit.bounded import BoundedLRU
from mentorapi.matching.models import MatchFeedback, MatchingPolicy, MentorDocument
from mentorapi.mentees.models import Mentee, MenteeSkill
from mentorapi.mentors.models import Mentor
from mentorapi.sessions import repository as sessions_repository
from mentorapi.sessions.models import Session, SessionStatus
from mentorapi.skills.models import Skill

MENTORS = cast(Table, Mentor.__table__)  # type: ignore[attr-defined]
AVAILABILITIES = cast(Table, Availability.__table__)  # type: ignore[attr-defined]
DOCUMENTS = cast(Table, MentorDocument.__table__)  # type: ignore[attr-defined]
MENTEES = cast(Table, Mentee.__table__)  # type: ignore[attr-defined]
MENTEE_SKILLS = cast(Table, MenteeSkill.__table__)  # type: ignore[attr-defined]
SKILLS = cast(Table, Skill.__table__)  # type: ignore[attr-defined]
POLICIES = cast(Table, MatchingPolicy.__table__)  # type: ignore[attr-defined]
MARKS = cast(Table, MatchFeedback.__table__)  # type: ignore[attr-defined]
SESSIONS = cast(Table, Session.__table__)  # type: ignore[attr-defined]
FEEDBACK = cast(Table, Feedback.__table__)  # type: ignore[attr-defined]
SEATS = cast(Table, Seat.__table__)  # type: ignore[attr-defined]
GROUP_SESSIONS = cast(Table, GroupSession.__table__)  # type: ignore[attr-defined]

# The reads of a recommendation are statements built once per dialect and run on the driver
# (db/fast.py): building and compiling a statement, and SQLAlchemy's execution path, cost more
# CPU than PostgreSQL spends running most of them.
_statements: dict[tuple[str, ...], Any] = {}


def _ids_in(column: Any, name: str, dialect: str) -> Any:
    # db/fast.py takes no expanding IN list: an array on PostgreSQL.
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(String())))
    return column.in_(bindparam(name, expanding=True))


def _dialect(db_session: AsyncSession) -> str:
    return db_session.get_bind().dialect.name


# The most words of an ask the engines are asked about (a 2,000-character ask has ~350).
MAX_TERMS = 48
# Asks of at most this many words are also matched by trigrams (a misspelled skill name).
SHORT_ASK_WORDS = 3
# Weights of the document's parts, A to D (PostgreSQL's defaults for ts_rank_cd; bm25 takes the
# same as column weights): headline and skill names, skill notes, bio, session topics.
PART_WEIGHTS = (1.0, 0.4, 0.2, 0.1)
# `<%` finds the headlines and skill names whose word_similarity to a short ask is at least
# pg_trgm.word_similarity_threshold, which the matching migration sets to 0.3 for the database.

# English stop words (Snowball's list, which PostgreSQL's `english` configuration drops):
# SQLite's FTS5 keeps every word, and an OR query over "i", "to", "a" would match every mentor.
_STOP_WORDS = """i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will just
    don should now"""
# The words every ask is written with, which say nothing of its subject (they would make an
# OR query match most mentors, at a ranking cost for each).
_ASK_WORDS = """need needs help want wants would like someone anyone somebody please could get
getting make know learn learning trying try stuck done advice question questions tips thanks
really also think good better way start started use using much many lot bit look looking
find finding able"""
STOP_WORDS = frozenset(_STOP_WORDS.split()) | frozenset(_ASK_WORDS.split())
_WORD = re.compile(r"[^\W_]+")


def ask_terms(ask: str) -> list[str]:
    """The words of an ask the engines look for, lower-cased, each once, in order."""
    found: list[str] = []
    for word in _WORD.findall(ask.lower()):
        if len(word) > 1 and word not in STOP_WORDS and word not in found:
            found.append(word)
            if len(found) == MAX_TERMS:
                break
    return found


def _pg_query(terms: Sequence[str]) -> str:
    # websearch_to_tsquery's syntax: "or" between words; it never fails on odd input.
    return " or ".join(terms)


def _fts5_query(terms: Sequence[str]) -> str:
    # Words are letters and digits only: quoting makes each a plain term.
    return " OR ".join(f'"{t}"' for t in terms)


def _fts5_trigrams(terms: Sequence[str]) -> str | None:
    # The trigram tokenizer matches substrings: a misspelled word still shares most of them.
    grams = {t[i : i + 3] for t in terms for i in range(len(t) - 2)}
    return " OR ".join(f'"{g}"' for g in sorted(grams)) or None


# --- mentees ---


@dataclass(frozen=True, slots=True)
class Wanted:
    skill_id: str
    name: str
    level: int
    note: str | None


@dataclass(frozen=True, slots=True)
class MenteeFacts:
    id: str
    timezone: str
    languages: list[str]
    seeking: list[Wanted]


def _mentees_statement(dialect: str) -> Select[Any]:
    """The mentees with the skills they seek (as one JSON array of [skill, name, level,
    note]) and the app's policy weights (NULL: never set)."""
    key = ("mentees", dialect)
    found = _statements.get(key)
    if found is None:
        me, ms, sk, p = MENTEES.c, MENTEE_SKILLS.c, SKILLS.c, POLICIES.c
        pg = dialect == "postgresql"
        row = (func.json_build_array if pg else func.json_array)(
            ms.skill_id, sk.name, ms.level, ms.note
        )
        seeking = (
            sa_select((func.json_agg if pg else func.json_group_array)(row, type_=JSON))
            .select_from(
                MENTEE_SKILLS.join(SKILLS, and_(sk.app_id == ms.app_id, sk.id == ms.skill_id))
            )
            .where(ms.app_id == bindparam("app_id"), ms.mentee_id == me.id)
            .scalar_subquery()
        )
        weights = sa_select(p.weights).where(p.app_id == bindparam("app_id")).scalar_subquery()
        found = _statements[key] = (
            sa_select(
                me.id, me.timezone, me.languages, seeking.label("seeking"), weights.label("weights")
            )
            .where(me.app_id == bindparam("app_id"), _ids_in(me.id, "ids", dialect))
            .order_by(me.id)
        )
    return cast(Select[Any], found)


def _json(value: Any) -> Any:
    # SQLite's JSON functions answer text.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def _mentees(
    db_session: AsyncSession, app_id: str, mentee_ids: Sequence[str]
) -> tuple[dict[str, MenteeFacts], dict[str, float] | None]:
    ids = list(dict.fromkeys(mentee_ids))
    rows = await fast.fetch(
        db_session, _mentees_statement(_dialect(db_session)), {"app_id": app_id, "ids": ids}
    )
    found: dict[str, MenteeFacts] = {}
    weights: dict[str, float] | None = None
    for mentee_id, tz, languages, seeking, policy in rows:
        wanted = sorted(_json(seeking) or [], key=lambda w: w[0])
        found[mentee_id] = MenteeFacts(
            mentee_id, tz, list(_json(languages) or []), [Wanted(*w) for w in wanted]
        )
        weights = _json(policy)
    return found, weights


async def mentees(
    db_session: AsyncSession, app_id: str, mentee_ids: Sequence[str]
) -> dict[str, MenteeFacts]:
    """The mentees with the skills they seek (one statement), by id; unknown ids are left
    out."""
    if not mentee_ids:
        return {}
    return (await _mentees(db_session, app_id, mentee_ids))[0]


async def asker(
    db_session: AsyncSession, app_id: str, mentee_id: str
) -> tuple[MenteeFacts | None, dict[str, float] | None]:
    """One mentee (None: unknown) and the app's policy weights (None: never set), in one
    statement."""
    found, weights = await _mentees(db_session, app_id, [mentee_id])
    if not found:
        # The weights come with a mentee's row: none found, none read (a 404 follows).
        return None, None
    return found[mentee_id], weights


async def goals_text(
    db_session: AsyncSession, app_id: str, mentee_ids: Sequence[str]
) -> dict[str, str]:
    """The titles and descriptions of the mentees' goals, one text per mentee."""
    if not mentee_ids:
        return {}
    rows = await db_session.exec(
        select(Goal.mentee_id, Goal.title, Goal.description)
        .where(col(Goal.app_id) == app_id, col(Goal.mentee_id).in_(list(mentee_ids)))
        .order_by(col(Goal.mentee_id), col(Goal.id))
    )
    found: dict[str, list[str]] = {}
    for mentee_id, title, description in rows.all():
        found.setdefault(mentee_id, []).extend(t for t in (title, description) if t)
    return {k: "\n".join(v) for k, v in found.items()}


# --- mentors ---


@dataclass(frozen=True, slots=True)
class MentorFacts:
    """What scoring reads of a mentor: the row, their availability (None: never set) and the
    sessions held from `held_from` to `held_to` (sessions.repository.Held)."""

    id: str
    timezone: str
    languages: list[str]
    formats: list[str]
    session_lengths: list[int]
    offers: list[dict[str, Any]]
    ratings_count: int
    rating_sum: int
    impact_stories: int
    weekly: list[dict[str, Any]] | None
    overrides: list[dict[str, Any]]
    buffer_before_minutes: int
    buffer_after_minutes: int
    min_notice_minutes: int
    booking_horizon_days: int | None
    weekly_capacity: int | None
    daily_limit_sessions: int | None
    daily_limit_minutes: int | None
    held: list[sessions_repository.Held]
    active: bool  # offers a skill, a format and a session length (mentor_documents.active)
    # The mentor's row of the mentors table, as it is shown (MentorFields).
    row: Any = None

    @property
    def levels(self) -> dict[str, int]:
        return {o["skill"]["id"]: o["level"] for o in self.offers}


# A mentor's row as plain attributes (the mentors table's columns, in order), shown as
# MentorFields without an ORM entity.
MentorRow: Any = make_dataclass(
    "MentorRow", [c.name for c in MENTORS.columns], frozen=True, slots=True
)

# The mentor facts statement reads every column of the mentors table first (the candidates'
# rows, which a recommendation shows), then these.
_MENTOR_COLUMNS = len(MENTORS.columns)


def _facts_statement(dialect: str, *, mentee: bool) -> Select[Any]:
    """The mentors of `ids` with their availability, the sessions they hold from `held_from`
    to `held_to` (at `now`) and whether they are active; with `mentee`, also that mentee's
    last word on each (`mentee_id`) and their history together. Built once per shape."""
    key = ("facts", dialect, str(mentee))
    found = _statements.get(key)
    if found is not None:
        return cast(Select[Any], found)
    m, a, d = MENTORS.c, AVAILABILITIES.c, DOCUMENTS.c
    held = sessions_repository.held_times(
        dialect,
        app_id=m.app_id,
        mentor_id=m.id,
        start=bindparam("held_from", type_=SESSIONS.c.starts_at.type),
        end=bindparam("held_to", type_=SESSIONS.c.starts_at.type),
        now=bindparam("now", type_=SESSIONS.c.starts_at.type),
    )
    columns: list[Any] = [
        *MENTORS.columns,
        a.weekly,
        a.overrides,
        a.buffer_before_minutes,
        a.buffer_after_minutes,
        a.min_notice_minutes,
        a.booking_horizon_days,
        a.weekly_capacity,
        a.daily_limit_sessions,
        a.daily_limit_minutes,
        held.label("held"),
        d.active,
    ]
    joined = MENTORS.outerjoin(
        AVAILABILITIES, and_(a.app_id == m.app_id, a.mentor_id == m.id)
    ).outerjoin(DOCUMENTS, and_(d.app_id == m.app_id, d.mentor_id == m.id))
    if mentee:
        f = MARKS.c
        history = _history_query(
            bindparam("app_id"),
            lambda mentee, _mentor: mentee == bindparam("mentee_id"),
            lambda _mentee, mentor: _ids_in(mentor, "ids", dialect),
        ).subquery("history")
        h = history.c
        columns += [f.action, h.completed, h.rated, h.rating_sum]
        joined = joined.outerjoin(
            MARKS,
            and_(f.app_id == m.app_id, f.mentee_id == bindparam("mentee_id"), f.mentor_id == m.id),
        ).outerjoin(history, h.mentor_id == m.id)
    found = _statements[key] = (
        sa_select(*columns)
        .select_from(joined)
        .where(m.app_id == bindparam("app_id"), _ids_in(m.id, "ids", dialect))
    )
    return cast(Select[Any], found)


def _mentor_facts(dialect: str, row: Sequence[Any]) -> MentorFacts:
    mentor = MentorRow(*row[:_MENTOR_COLUMNS])
    (
        weekly,
        overrides,
        buffer_before,
        buffer_after,
        min_notice,
        horizon,
        capacity,
        daily_sessions,
        daily_minutes,
        held,
        active,
    ) = row[_MENTOR_COLUMNS : _MENTOR_COLUMNS + 11]
    return MentorFacts(
        id=mentor.id,
        timezone=mentor.timezone,
        languages=list(_json(mentor.languages) or []),
        formats=list(_json(mentor.formats) or []),
        session_lengths=list(_json(mentor.session_lengths) or []),
        offers=list(_json(mentor.offers) or []),
        ratings_count=mentor.ratings_count,
        rating_sum=mentor.rating_sum,
        impact_stories=mentor.impact_stories,
        weekly=_json(weekly),
        overrides=_json(overrides) or [],
        buffer_before_minutes=buffer_before or 0,
        buffer_after_minutes=buffer_after or 0,
        min_notice_minutes=min_notice or 0,
        booking_horizon_days=horizon,
        weekly_capacity=capacity,
        daily_limit_sessions=daily_sessions,
        daily_limit_minutes=daily_minutes,
        held=sessions_repository.decode_held(dialect, held),
        active=bool(active),
        row=mentor,
    )


def _held_params(held_from: datetime, held_to: datetime, now: datetime) -> dict[str, Any]:
    return {"held_from": held_from, "held_to": held_to, "now": now}


async def mentors(
    db_session: AsyncSession,
    app_id: str,
    mentor_ids: Sequence[str],
    *,
    held_from: datetime,
    held_to: datetime,
    now: datetime,
) -> list[MentorFacts]:
    """The mentors (one statement, their held sessions included), in the order asked;
    unknown ids are left out."""
    if not mentor_ids:
        return []
    ids = list(dict.fromkeys(mentor_ids))
    dialect = _dialect(db_session)
    rows = await fast.fetch(
        db_session,
        _facts_statement(dialect, mentee=False),
        {"app_id": app_id, "ids": ids, **_held_params(held_from, held_to, now)},
    )
    found = {facts.id: facts for facts in (_mentor_facts(dialect, row) for row in rows)}
    return [found[i] for i in ids if i in found]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A mentor's facts with one mentee's last word on them and their history together."""

    facts: "MentorFacts"
    mark: str | None
    history: "History | None"


async def candidate_facts(
    db_session: AsyncSession,
    app_id: str,
    mentee_id: str,
    mentor_ids: Sequence[str],
    *,
    held_from: datetime,
    held_to: datetime,
    now: datetime,
) -> list[Candidate]:
    """`mentors` with the mentee's mark and history on each, in one statement."""
    if not mentor_ids:
        return []
    ids = list(dict.fromkeys(mentor_ids))
    dialect = _dialect(db_session)
    rows = await fast.fetch(
        db_session,
        _facts_statement(dialect, mentee=True),
        {
            "app_id": app_id,
            "ids": ids,
            "mentee_id": mentee_id,
            **_held_params(held_from, held_to, now),
        },
    )
    found: dict[str, Candidate] = {}
    for row in rows:
        facts = _mentor_facts(dialect, row)
        action, completed, rated, rating_sum = row[_MENTOR_COLUMNS + 11 :]
        history = History(completed, rated, int(rating_sum or 0)) if completed else None
        found[facts.id] = Candidate(facts, action, history)
    return [found[i] for i in ids if i in found]


# --- pairs ---


async def marks(
    db_session: AsyncSession, app_id: str, mentee_ids: Sequence[str], mentor_ids: Sequence[str]
) -> dict[tuple[str, str], str]:
    """(mentee, mentor) -> the mentee's last word on the mentor (dismiss or bookmark)."""
    if not mentee_ids or not mentor_ids:
        return {}
    rows = await db_session.exec(
        select(MatchFeedback.mentee_id, MatchFeedback.mentor_id, MatchFeedback.action).where(
            col(MatchFeedback.app_id) == app_id,
            col(MatchFeedback.mentee_id).in_(list(mentee_ids)),
            col(MatchFeedback.mentor_id).in_(list(mentor_ids)),
        )
    )
    return {(mentee, mentor): action for mentee, mentor, action in rows.all()}


@dataclass(frozen=True, slots=True)
class History:
    """A mentee's completed sessions with a mentor and the ratings they gave them."""

    completed: int
    rated: int
    rating_sum: int


# A condition on the (mentee_id, mentor_id) columns of the pairs that met (`_history_query`).
PairCondition = Callable[[Any, Any], Any]


def _history_query(app_id: Any, mentee: PairCondition, mentor: PairCondition) -> Select[Any]:
    """(mentee, mentor, completed sessions, rated by the mentee, their ratings' sum) for the
    pairs that met, among those `mentee` and `mentor` (conditions on the mentee's and the
    mentor's id columns) keep. They met in a completed one-to-one session, or in a completed
    group session of the mentor's where the mentee kept a seat; the mentee's rating of either
    counts. Each arm of the union filters on its own columns, so either database reads only
    the pairs asked about."""
    s, f = SESSIONS.c, FEEDBACK.c
    one_to_one = (
        sa_select(s.mentee_id, s.mentor_id, f.rating)
        .select_from(
            SESSIONS.outerjoin(
                FEEDBACK,
                and_(f.app_id == s.app_id, f.session_id == s.id, f.author == Author.mentee.value),
            )
        )
        .where(
            s.app_id == app_id,
            s.status == SessionStatus.completed.value,
            mentee(s.mentee_id, s.mentor_id),
            mentor(s.mentee_id, s.mentor_id),
        )
    )
    seat, group = SEATS.c, GROUP_SESSIONS.c
    seated = (
        sa_select(seat.mentee_id, group.mentor_id, f.rating)
        .select_from(
            SEATS.join(
                GROUP_SESSIONS,
                and_(group.app_id == seat.app_id, group.id == seat.group_session_id),
            ).outerjoin(
                FEEDBACK,
                and_(
                    f.app_id == seat.app_id, f.seat_id == seat.id, f.author == Author.mentee.value
                ),
            )
        )
        .where(
            seat.app_id == app_id,
            seat.status == SeatStatus.taken.value,
            group.status == GroupSessionStatus.completed.value,
            mentee(seat.mentee_id, group.mentor_id),
            mentor(seat.mentee_id, group.mentor_id),
        )
    )
    met = union_all(one_to_one, seated).subquery("met")
    return (
        sa_select(
            met.c.mentee_id,
            met.c.mentor_id,
            func.count().label("completed"),
            func.count(met.c.rating).label("rated"),
            func.coalesce(func.sum(met.c.rating), 0).label("rating_sum"),
        )
        .select_from(met)
        .group_by(met.c.mentee_id, met.c.mentor_id)
    )


async def histories(
    db_session: AsyncSession, app_id: str, mentee_ids: Sequence[str], mentor_ids: Sequence[str]
) -> dict[tuple[str, str], History]:
    if not mentee_ids or not mentor_ids:
        return {}
    mentees, mentors = list(mentee_ids), list(mentor_ids)
    query = _history_query(
        app_id,
        lambda mentee, _mentor: mentee.in_(mentees),
        lambda _mentee, mentor: mentor.in_(mentors),
    )
    rows = await (await db_session.connection()).execute(query)
    return {(a, b): History(n, rated, int(total or 0)) for a, b, n, rated, total in rows.all()}


@dataclass(frozen=True, slots=True)
class SkillRecord:
    """A mentor's rated sessions on one skill: how many, the sum of their ratings, and how many
    of them came with an impact story."""

    rated: int
    rating_sum: int
    impacts: int


async def skill_records(
    db_session: AsyncSession, app_id: str, mentor_ids: Sequence[str], skill_ids: Iterable[str]
) -> dict[tuple[str, str], SkillRecord]:
    """Per mentor and skill, the mentees' feedback on sessions and on group sessions' seats of
    that skill (the one rule of the mentor's own counters, by skill), in one statement."""
    skills = sorted(set(skill_ids))
    if not mentor_ids or not skills:
        return {}
    f = Feedback
    parts: list[Any] = []
    for subject, key in ((Session, f.session_id), (GroupSession, f.group_session_id)):
        parts.append(
            sa_select(
                col(f.mentor_id).label("mentor_id"),
                col(subject.skill_id).label("skill_id"),
                func.count(col(f.rating)).label("rated"),
                func.coalesce(func.sum(col(f.rating)), 0).label("rating_sum"),
                func.count(col(f.id)).filter(col(f.impact) != "").label("impacts"),
            )
            .select_from(f)
            .join(
                subject,
                and_(col(subject.app_id) == col(f.app_id), col(subject.id) == col(key)),
            )
            .where(
                col(f.app_id) == app_id,
                col(subject.app_id) == app_id,
                col(f.author) == Author.mentee.value,
                col(f.mentor_id).in_(list(mentor_ids)),
                col(subject.skill_id).in_(skills),
            )
            .group_by(col(f.mentor_id), col(subject.skill_id))
        )
    rows = await (await db_session.connection()).execute(union_all(*parts))
    found: dict[tuple[str, str], SkillRecord] = {}
    for m, k, n, total, impacts in rows.all():
        was = found.get((m, k), SkillRecord(0, 0, 0))
        found[(m, k)] = SkillRecord(
            was.rated + n, was.rating_sum + int(total or 0), was.impacts + impacts
        )
    return found


# --- text ---


_PG_RANKS = text(
    """
    SELECT q.key, d.mentor_id,
           CASE WHEN d.search @@ q.query THEN ts_rank_cd(d.search, q.query) ELSE 0 END
           + CASE WHEN q.short THEN word_similarity(q.raw, d.head) ELSE 0 END AS rank
      FROM (SELECT t.key, t.raw, t.short, websearch_to_tsquery('english', t.terms) AS query
              FROM unnest(CAST(:keys AS text[]), CAST(:terms AS text[]), CAST(:raws AS text[]),
                          CAST(:shorts AS boolean[])) AS t(key, terms, raw, short)) AS q
      JOIN mentor_documents AS d
        ON d.app_id = :app_id AND d.mentor_id = ANY(CAST(:mentor_ids AS text[]))
     WHERE d.search @@ q.query OR (q.short AND q.raw OPERATOR(<%) d.head)
    """
)

# FTS5: the asks as rows of json_each, each matched against the index (MATCH takes the outer
# row's query); bm25 is negative, better is lower.
_SQLITE_RANKS = text(
    f"""
    SELECT json_extract(q.value, '$[0]') AS key, d.mentor_id,
           -bm25(mentor_documents_fts, {", ".join(map(str, PART_WEIGHTS))})
      FROM json_each(:asks) AS q
      JOIN mentor_documents_fts ON mentor_documents_fts MATCH json_extract(q.value, '$[1]')
      JOIN mentor_documents AS d ON d.fts_rowid = mentor_documents_fts.rowid
     WHERE d.app_id = :app_id AND d.mentor_id IN (SELECT value FROM json_each(:mentor_ids))
    """
)
_SQLITE_TRIGRAMS = text(
    """
    SELECT json_extract(q.value, '$[0]') AS key, d.mentor_id, -bm25(mentor_documents_trigram)
      FROM json_each(:asks) AS q
      JOIN mentor_documents_trigram ON mentor_documents_trigram MATCH json_extract(q.value, '$[1]')
      JOIN mentor_documents AS d ON d.fts_rowid = mentor_documents_trigram.rowid
     WHERE d.app_id = :app_id AND d.mentor_id IN (SELECT value FROM json_each(:mentor_ids))
    """
)


async def text_ranks(
    db_session: AsyncSession, app_id: str, asks: Mapping[str, str], mentor_ids: Sequence[str]
) -> dict[tuple[str, str], float]:
    """(ask key, mentor) -> the relevance of the ask to the mentor's document, in 0..1 (1 for
    the best match of the ask), for the pairs the engine matched (the others are 0). One
    statement on PostgreSQL, two on SQLite."""
    # Asks with the same words are asked once (a cohort's mentees seeking the same skill).
    keys_of: dict[tuple[str, ...], list[str]] = {}
    for key, ask in asks.items():
        terms = tuple(ask_terms(ask))
        if terms:
            keys_of.setdefault(terms, []).append(key)
    if not keys_of or not mentor_ids:
        return {}
    distinct = {str(i): terms for i, terms in enumerate(keys_of)}
    ranks = await _distinct_ranks(db_session, app_id, distinct, mentor_ids)
    return {
        (key, mentor_id): rank
        for (i, mentor_id), rank in ranks.items()
        for key in keys_of[distinct[i]]
    }


async def _distinct_ranks(
    db_session: AsyncSession,
    app_id: str,
    asks: Mapping[str, tuple[str, ...]],
    mentor_ids: Sequence[str],
) -> dict[tuple[str, str], float]:
    prepared = list(asks.items())
    dialect = db_session.get_bind().dialect.name
    connection = await db_session.connection()
    found: dict[tuple[str, str], float] = {}
    if dialect == "postgresql":
        rows = await connection.execute(
            _PG_RANKS,
            {
                "app_id": app_id,
                "keys": [key for key, _ in prepared],
                "terms": [_pg_query(terms) for _, terms in prepared],
                "raws": [" ".join(terms) for _, terms in prepared],
                "shorts": [len(terms) <= SHORT_ASK_WORDS for _, terms in prepared],
                "mentor_ids": list(mentor_ids),
            },
        )
        for key, mentor_id, rank in rows:
            found[(key, mentor_id)] = float(rank)
        return _relative(found)
    ids = orjson.dumps(list(mentor_ids)).decode()
    words = [[key, _fts5_query(terms)] for key, terms in prepared]
    for key, mentor_id, score in await connection.execute(
        _SQLITE_RANKS, {"app_id": app_id, "asks": orjson.dumps(words).decode(), "mentor_ids": ids}
    ):
        found[(key, mentor_id)] = max(0.0, float(score))
    grams = [
        [key, query]
        for key, terms in prepared
        if len(terms) <= SHORT_ASK_WORDS and (query := _fts5_trigrams(terms))
    ]
    if grams:
        for key, mentor_id, score in await connection.execute(
            _SQLITE_TRIGRAMS,
            {"app_id": app_id, "asks": orjson.dumps(grams).decode(), "mentor_ids": ids},
        ):
            pair = (key, mentor_id)
            found[pair] = found.get(pair, 0.0) + max(0.0, float(score))
    return _relative(found)


def _relative(ranks: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """Each rank over the best of its ask: 1 for the best match among the mentors asked about.
    The engines' ranks are comparable within one ask only (bm25's depend on the whole index,
    and a term in most documents weighs next to nothing there), and the component must not
    depend on the engine."""
    best: dict[str, float] = {}
    for (key, _), rank in ranks.items():
        best[key] = max(best.get(key, 0.0), rank)
    return {
        pair: (rank / best[pair[0]] if best[pair[0]] > 0 else 1.0) for pair, rank in ranks.items()
    }


# --- policy and feedback ---


async def get_policy(db_session: AsyncSession, app_id: str) -> MatchingPolicy | None:
    query = select(MatchingPolicy).where(col(MatchingPolicy.app_id) == app_id)
    return (await db_session.exec(query)).first()


def add(db_session: AsyncSession, row: MatchingPolicy | MatchFeedback) -> None:
    """Stage a new or changed row (the service flushes, to turn a lost race into a 409)."""
    db_session.add(row)


async def get_mark(
    db_session: AsyncSession, app_id: str, mentee_id: str, mentor_id: str
) -> MatchFeedback | None:
    query = select(MatchFeedback).where(
        col(MatchFeedback.app_id) == app_id,
        col(MatchFeedback.mentee_id) == mentee_id,
        col(MatchFeedback.mentor_id) == mentor_id,
    )
    return (await db_session.exec(query)).first()


# --- candidates of a recommendation ---


@dataclass(frozen=True, slots=True)
class Filters:
    """The hard filters a recommendation checks in the database."""

    mentee_id: str
    skills: Sequence[tuple[str, int]]  # (skill id, least level), each must be offered
    languages: Sequence[str]  # one of them must be spoken (a mentor listing none passes)
    format: str | None
    duration_minutes: int | None


def _eligible(dialect: str, filters: Filters, params: dict[str, Any]) -> str:
    """The hard filters, on a mentor's document `d` (the copy of what they filter on)."""
    pg = dialect == "postgresql"
    length = "jsonb_array_length" if pg else "json_array_length"
    parts = [
        "d.active",
        "NOT EXISTS (SELECT 1 FROM match_feedback AS f WHERE f.app_id = :app_id "
        "AND f.mentee_id = :mentee_id AND f.mentor_id = d.mentor_id AND f.action = 'dismiss')",
    ]
    params["mentee_id"] = filters.mentee_id
    if filters.languages:
        if pg:
            params["languages"] = list(filters.languages)
            spoken = "d.languages ?| CAST(:languages AS text[])"
        else:
            params["languages"] = orjson.dumps(list(filters.languages)).decode()
            spoken = (
                "EXISTS (SELECT 1 FROM json_each(d.languages) AS l "
                "WHERE l.value IN (SELECT value FROM json_each(:languages)))"
            )
        parts.append(f"({length}(d.languages) = 0 OR {spoken})")
    for column, name, value in (
        ("formats", "format", filters.format),
        ("session_lengths", "duration", filters.duration_minutes),
    ):
        if value is None:
            continue
        params[name] = value
        if pg:
            kind = "integer" if isinstance(value, int) else "text"
            parts.append(f"d.{column} @> jsonb_build_array(CAST(:{name} AS {kind}))")
        else:
            parts.append(
                f"EXISTS (SELECT 1 FROM json_each(d.{column}) AS x WHERE x.value = :{name})"
            )
    for i, (skill_id, level) in enumerate(filters.skills):
        params[f"skill_{i}"], params[f"level_{i}"] = skill_id, level
        parts.append(
            f"EXISTS (SELECT 1 FROM mentor_skills AS s{i} WHERE s{i}.app_id = :app_id "
            f"AND s{i}.mentor_id = d.mentor_id AND s{i}.skill_id = :skill_{i} "
            f"AND s{i}.level >= :level_{i})"
        )
    return " AND ".join(f"({p})" for p in parts)


def _offers_first_skill(filters: Filters) -> str:
    # Listed skills find mentors too (the eligibility then checks every one and its level).
    return (
        "EXISTS (SELECT 1 FROM mentor_skills AS k WHERE k.app_id = :app_id "
        "AND k.mentor_id = d.mentor_id AND k.skill_id = :skill_0)"
    )


# PostgreSQL examines the best max(MIN_WINDOW, WINDOW_PER_CANDIDATE x limit) found mentors
# first (`_windows`): ranking every found one is unavoidable (the order is by rank), sorting
# every one and carrying their filtered columns through the sort is not.
WINDOW_PER_CANDIDATE = 10
MIN_WINDOW = 100


# Both engines: the found mentors in order of relevance (`position`), and the hard filters
# checked on them in that order until `limit` pass (a filter on a window's rows is not pushed
# below the window, so PostgreSQL evaluates it only on the rows the LIMIT pulls). The first
# row carries the number found; the others the kept candidates with their position, from which
# `candidates` counts the examined and excluded.
_TAIL = """
    SELECT CAST(NULL AS text) AS id, CAST(NULL AS real) AS rank,
           CAST(count(*) AS bigint) AS position
      FROM matched
    UNION ALL
    SELECT {final_id}, {final}, {final_position}
      FROM (SELECT id, position FROM ordered AS d WHERE {eligible}
             ORDER BY {order} LIMIT :limit)
           AS b {join}
"""


def _pg_candidates(
    terms: Sequence[str], filters: Filters, params: dict[str, Any], window: int | None = None
) -> str:
    # Retrieval orders by ts_rank (no positions: a few microseconds a document); the
    # candidates kept are then ranked by ts_rank_cd, the component's measure (as text_ranks):
    # cover density costs ~50 us a document, too much for the thousands a common word matches.
    # Only the id, the rank and what the filters read go through the sort; the kept few are
    # read again by their key for ts_rank_cd. With a `window`, only the `window` best found
    # are kept (a bounded top-N sort, not a sort of every found mentor) and examined; the
    # first row then counts those, not every found mentor (`candidates` reads it).
    quick, final, match = "0", "0", []
    if terms:
        params["terms"] = _pg_query(terms)
        quick = "ts_rank(d.search, q.query)"
        final = "CASE WHEN d.search @@ q.query THEN ts_rank_cd(d.search, q.query) ELSE 0 END"
        match.append("d.search @@ q.query")
        if len(terms) <= SHORT_ASK_WORDS:
            params["raw"] = " ".join(terms)
            similar = "CAST(:raw AS text) OPERATOR(<%) d.head"
            similarity = (
                f"CASE WHEN {similar} THEN word_similarity(CAST(:raw AS text), d.head) ELSE 0 END"
            )
            quick = f"{quick} + {similarity}"
            final = f"{final} + {similarity}"
            match.append(similar)
    if filters.skills:
        match.append(_offers_first_skill(filters))
    query = "websearch_to_tsquery('english', :terms)" if terms else "NULL::tsquery"
    tail = _TAIL.format(
        final_id="b.id",
        final=final,
        final_position="b.position",
        eligible=_eligible("postgresql", filters, params),
        order="d.quick DESC, d.id",  # the window's order: no sort, the filter runs lazily
        join="JOIN mentor_documents AS d ON d.app_id = :app_id AND d.mentor_id = b.id CROSS JOIN q",
    )
    found = f"""
          FROM mentor_documents AS d
          CROSS JOIN q
         WHERE d.app_id = :app_id AND ({" OR ".join(match)})
    """
    if window is None:
        return f"""
        WITH q AS (SELECT {query} AS query),
        matched AS MATERIALIZED (
            SELECT d.mentor_id AS id, {quick} AS quick, d.mentor_id, d.app_id, d.active,
                   d.languages, d.formats, d.session_lengths
            {found}
        ),
        ordered AS (
            SELECT d.*, row_number() OVER (ORDER BY d.quick DESC, d.id) AS position
              FROM matched AS d
        )
        {tail}
        """
    # The window: the id and the rank alone through the top-N sort (the filtered columns
    # would be copied for every found mentor), the filtered columns read by key for the rows
    # the LIMIT pulls.
    params["window"] = window
    return f"""
    WITH q AS (SELECT {query} AS query),
    matched AS MATERIALIZED (
        SELECT d.mentor_id AS id, {quick} AS quick
        {found}
         ORDER BY quick DESC, d.mentor_id LIMIT :window
    ),
    ranked AS (
        SELECT m.*, row_number() OVER (ORDER BY m.quick DESC, m.id) AS position
          FROM matched AS m
    ),
    ordered AS (
        SELECT r.*, d.mentor_id, d.app_id, d.active, d.languages, d.formats, d.session_lengths
          FROM ranked AS r
          JOIN mentor_documents AS d ON d.app_id = :app_id AND d.mentor_id = r.id
    )
    {tail}
    """


def _sqlite_candidates(terms: Sequence[str], filters: Filters, params: dict[str, Any]) -> str:
    hits = []
    if terms:
        params["fts"] = _fts5_query(terms)
        weights = ", ".join(map(str, PART_WEIGHTS))
        hits.append(
            f"SELECT rowid AS r, -bm25(mentor_documents_fts, {weights}) AS score "
            "FROM mentor_documents_fts WHERE mentor_documents_fts MATCH :fts"
        )
        grams = _fts5_trigrams(terms) if len(terms) <= SHORT_ASK_WORDS else None
        if grams:
            params["grams"] = grams
            hits.append(
                "SELECT rowid AS r, -bm25(mentor_documents_trigram) AS score "
                "FROM mentor_documents_trigram WHERE mentor_documents_trigram MATCH :grams"
            )
    if not hits:
        hits.append("SELECT NULL AS r, 0.0 AS score WHERE 0")
    match = ["best.r IS NOT NULL"]
    if filters.skills:
        match.append(_offers_first_skill(filters))
    tail = _TAIL.format(
        final_id="b.id",
        final="b.rank",
        final_position="b.position",
        eligible=_eligible("sqlite", filters, params),
        order="d.rank DESC, d.id",
        join="",
    ).replace("SELECT id, position FROM", "SELECT id, rank, position FROM")
    return f"""
    WITH hits AS ({" UNION ALL ".join(hits)}),
    best AS (SELECT r, sum(max(score, 0.0)) AS rank FROM hits GROUP BY r),
    matched AS MATERIALIZED (
        SELECT d.mentor_id AS id, coalesce(best.rank, 0.0) AS rank, d.mentor_id, d.app_id,
               d.active,
               d.languages, d.formats, d.session_lengths
          FROM mentor_documents AS d
          LEFT JOIN best ON best.r = d.fts_rowid
         WHERE d.app_id = :app_id AND ({" OR ".join(match)})
    ),
    ordered AS (
        SELECT d.*, row_number() OVER (ORDER BY d.rank DESC, d.id) AS position
          FROM matched AS d
    )
    {tail}
    """


# The retrieval statements by their SQL: one per shape (short or long ask, the filters given,
# windowed or not), kept so that db/fast.py compiles each once.
_texts: BoundedLRU[str, TextClause] = BoundedLRU(
    max_entries=256, max_weight=256 * 16_384, weigh=lambda sql, _clause: 4 * len(sql)
)


def _text(sql: str) -> TextClause:
    found = _texts.get(sql)
    if found is None:
        found = text(sql)
        _texts.put(sql, found)
    return found


def _windows(dialect: str, limit: int) -> list[int | None]:
    """The windows `candidates` tries in turn (None: every found mentor). PostgreSQL: the best
    max(MIN_WINDOW, WINDOW_PER_CANDIDATE x limit) first, every found mentor only when fewer
    than `limit` of those pass the filters (then they are all examined anyway)."""
    if dialect == "postgresql":
        return [max(MIN_WINDOW, WINDOW_PER_CANDIDATE * limit), None]
    return [None]


async def candidates(
    db_session: AsyncSession, app_id: str, ask: str, filters: Filters, limit: int
) -> tuple[list[tuple[str, float]], int]:
    """The mentors the ask's words (or the listed skills) find and the hard filters keep, the
    most relevant first, at most `limit`: (mentor, the engine's rank); and how many the
    filters left out among those examined: the found mentors ranked above the last one kept
    (all of them when fewer than `limit` were kept). One statement."""
    terms = ask_terms(ask)
    if not terms and not filters.skills:
        return [], 0
    dialect = db_session.get_bind().dialect.name
    for window in _windows(dialect, limit):
        params: dict[str, Any] = {"app_id": app_id, "limit": limit}
        if dialect == "postgresql":
            sql = _pg_candidates(terms, filters, params, window)
        else:
            sql = _sqlite_candidates(terms, filters, params)
        matched = 0
        kept: list[tuple[int, str, float]] = []
        for mentor_id, rank, position in await fast.fetch(db_session, _text(sql), params):
            if mentor_id is None:
                matched = int(position or 0)
            else:
                kept.append((int(position), mentor_id, float(rank or 0.0)))
        if len(kept) == limit or window is None or matched < window:
            break  # enough passed, or every found mentor was in the window
    kept.sort()
    examined = kept[-1][0] if len(kept) == limit else matched
    return [(mentor_id, rank) for _, mentor_id, rank in kept], examined - len(kept)


def relative(ranks: Mapping[str, float]) -> dict[str, float]:
    """text_ranks' scale for one ask's candidates: each over the best."""
    best = max(ranks.values(), default=0.0)
    return {k: (v / best if best > 0 else 0.0) for k, v in ranks.items() if v > 0}


async def known_skills(db_session: AsyncSession, app_id: str, skill_ids: Sequence[str]) -> set[str]:
    if not skill_ids:
        return set()
    rows = await db_session.exec(
        select(Skill.id).where(col(Skill.app_id) == app_id, col(Skill.id).in_(list(skill_ids)))
    )
    return set(rows.all())


async def mentor_exists(db_session: AsyncSession, app_id: str, mentor_id: str) -> bool:
    rows = await db_session.exec(
        select(Mentor.id).where(col(Mentor.app_id) == app_id, col(Mentor.id) == mentor_id)
    )
    return rows.first() is not None
