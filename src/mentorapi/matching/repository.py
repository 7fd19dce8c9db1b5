"""All of matching's SQL: the facts scoring reads, in a fixed number of statements whatever the
number of mentors and mentees, the candidates of a recommendation, policies and feedback.

Text relevance is the databases' own: PostgreSQL ranks the weighted tsvector of each mentor's
document with `ts_rank_cd` and, for short asks, the trigram similarity (`word_similarity`,
pg_trgm) of the ask to the headline and skill names; SQLite ranks its FTS5 tables with `bm25`
(the porter-stemmed document; the trigram table for short asks). Both answer a rank in 0..1.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import Table, and_, func, text
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.availability.models import Availability
from mentorapi.feedback.models import Author, Feedback
from mentorapi.goals.models import Goal
from mentorapi.matching.models import MatchFeedback, MatchingPolicy
from mentorapi.mentees.models import Mentee, MenteeSkill
from mentorapi.mentors.models import Mentor
from mentorapi.sessions import repository as sessions_repository
from mentorapi.sessions.models import Session, SessionStatus
from mentorapi.skills.models import Skill

MENTORS = cast(Table, Mentor.__table__)  # type: ignore[attr-defined]
AVAILABILITIES = cast(Table, Availability.__table__)  # type: ignore[attr-defined]

# The most words of an ask the engines are asked about (a 2,000-character ask has ~350).
MAX_TERMS = 48
# Asks of at most this many words are also matched by trigrams (a misspelled skill name).
SHORT_ASK_WORDS = 3
# Weights of the document's parts, A to D (PostgreSQL's defaults for ts_rank_cd; bm25 takes the
# same as column weights): headline and skill names, skill notes, bio, session topics.
PART_WEIGHTS = (1.0, 0.4, 0.2, 0.1)
# pg_trgm's word_similarity below this is noise.
TRIGRAM_THRESHOLD = 0.3

# English stop words (Snowball's list, as PostgreSQL's `english` configuration drops them):
# SQLite's FTS5 keeps every word, and an OR query over "i", "to", "a" would match every mentor.
_STOP_WORDS = """i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will just
    don should now"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
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


async def mentees(
    db_session: AsyncSession, app_id: str, mentee_ids: Sequence[str]
) -> dict[str, MenteeFacts]:
    """The mentees with the skills they seek (two statements); unknown ids are left out."""
    if not mentee_ids:
        return {}
    ids = list(dict.fromkeys(mentee_ids))
    rows = await db_session.exec(
        select(Mentee.id, Mentee.timezone, Mentee.languages).where(
            col(Mentee.app_id) == app_id, col(Mentee.id).in_(ids)
        )
    )
    found = list(rows.all())
    if not found:
        return {}
    connection = await db_session.connection()
    wanted = await connection.execute(
        sa_select(
            col(MenteeSkill.mentee_id),
            col(MenteeSkill.skill_id),
            col(Skill.name),
            col(MenteeSkill.level),
            col(MenteeSkill.note),
        )
        .join(
            Skill,
            and_(
                col(Skill.app_id) == col(MenteeSkill.app_id),
                col(Skill.id) == col(MenteeSkill.skill_id),
            ),
        )
        .where(
            col(MenteeSkill.app_id) == app_id,
            col(Skill.app_id) == app_id,
            col(MenteeSkill.mentee_id).in_([r[0] for r in found]),
        )
        .order_by(col(MenteeSkill.mentee_id), col(MenteeSkill.skill_id))
    )
    seeking: dict[str, list[Wanted]] = {}
    for mentee_id, skill_id, name, level, note in wanted.all():
        seeking.setdefault(mentee_id, []).append(Wanted(skill_id, name, level, note))
    return {
        mentee_id: MenteeFacts(mentee_id, tz, list(languages or []), seeking.get(mentee_id, []))
        for mentee_id, tz, languages in found
    }


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

    @property
    def levels(self) -> dict[str, int]:
        return {o["skill"]["id"]: o["level"] for o in self.offers}

    @property
    def active(self) -> bool:
        """Offers something that can be booked: a skill, a format and a session length."""
        return bool(self.offers and self.formats and self.session_lengths)


def _mentor_statement(dialect: str, held_from: Any, held_to: Any, now: Any) -> Any:
    m, a = MENTORS.c, AVAILABILITIES.c
    held = sessions_repository.held_times(
        dialect, app_id=m.app_id, mentor_id=m.id, start=held_from, end=held_to, now=now
    )
    return sa_select(
        m.id,
        m.timezone,
        m.languages,
        m.formats,
        m.session_lengths,
        m.offers,
        m.ratings_count,
        m.rating_sum,
        m.impact_stories,
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
    ).select_from(
        MENTORS.outerjoin(AVAILABILITIES, and_(a.app_id == m.app_id, a.mentor_id == m.id))
    )


def _mentor_facts(dialect: str, row: Sequence[Any]) -> MentorFacts:
    offers = row[5]
    if isinstance(offers, str):  # SQLite's JSON text
        offers = orjson.loads(offers)
    return MentorFacts(
        id=row[0],
        timezone=row[1],
        languages=list(row[2] or []),
        formats=list(row[3] or []),
        session_lengths=list(row[4] or []),
        offers=list(offers or []),
        ratings_count=row[6],
        rating_sum=row[7],
        impact_stories=row[8],
        weekly=row[9],
        overrides=row[10] or [],
        buffer_before_minutes=row[11] or 0,
        buffer_after_minutes=row[12] or 0,
        min_notice_minutes=row[13] or 0,
        booking_horizon_days=row[14],
        weekly_capacity=row[15],
        daily_limit_sessions=row[16],
        daily_limit_minutes=row[17],
        held=sessions_repository.decode_held(dialect, row[18]),
    )


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
    dialect = db_session.get_bind().dialect.name
    query = _mentor_statement(dialect, held_from, held_to, now).where(
        MENTORS.c.app_id == app_id, MENTORS.c.id.in_(ids)
    )
    connection = await db_session.connection()
    found = {row[0]: _mentor_facts(dialect, row) for row in (await connection.execute(query))}
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


async def histories(
    db_session: AsyncSession, app_id: str, mentee_ids: Sequence[str], mentor_ids: Sequence[str]
) -> dict[tuple[str, str], History]:
    if not mentee_ids or not mentor_ids:
        return {}
    s, f = Session, Feedback
    query = (
        sa_select(
            col(s.mentee_id),
            col(s.mentor_id),
            func.count(col(s.id)),
            func.count(col(f.rating)),
            func.coalesce(func.sum(col(f.rating)), 0),
        )
        .select_from(s)
        .outerjoin(
            f,
            and_(
                col(f.app_id) == col(s.app_id),
                col(f.session_id) == col(s.id),
                col(f.author) == Author.mentee.value,
            ),
        )
        .where(
            col(s.app_id) == app_id,
            col(s.status) == SessionStatus.completed.value,
            col(s.mentee_id).in_(list(mentee_ids)),
            col(s.mentor_id).in_(list(mentor_ids)),
        )
        .group_by(col(s.mentee_id), col(s.mentor_id))
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
    skills = sorted(set(skill_ids))
    if not mentor_ids or not skills:
        return {}
    s, f = Session, Feedback
    query = (
        sa_select(
            col(f.mentor_id),
            col(s.skill_id),
            func.count(col(f.rating)),
            func.coalesce(func.sum(col(f.rating)), 0),
            func.count(col(f.id)).filter(col(f.impact) != ""),
        )
        .select_from(f)
        .join(s, and_(col(s.app_id) == col(f.app_id), col(s.id) == col(f.session_id)))
        .where(
            col(f.app_id) == app_id,
            col(s.app_id) == app_id,
            col(f.author) == Author.mentee.value,
            col(f.mentor_id).in_(list(mentor_ids)),
            col(s.skill_id).in_(skills),
        )
        .group_by(col(f.mentor_id), col(s.skill_id))
    )
    rows = await (await db_session.connection()).execute(query)
    return {
        (m, k): SkillRecord(n, int(total or 0), impacts) for m, k, n, total, impacts in rows.all()
    }


# --- text ---


_PG_RANKS = text(
    """
    SELECT q.key, d.mentor_id,
           greatest(
               CASE WHEN d.search @@ q.query THEN ts_rank_cd(d.search, q.query, 32) ELSE 0 END,
               CASE WHEN q.short THEN word_similarity(q.raw, d.head) ELSE 0 END
           ) AS rank
      FROM (SELECT t.key, t.raw, t.short, websearch_to_tsquery('english', t.terms) AS query
              FROM unnest(CAST(:keys AS text[]), CAST(:terms AS text[]), CAST(:raws AS text[]),
                          CAST(:shorts AS boolean[])) AS t(key, terms, raw, short)) AS q
      JOIN mentor_documents AS d
        ON d.app_id = :app_id AND d.mentor_id = ANY(CAST(:mentor_ids AS text[]))
     WHERE d.search @@ q.query OR (q.short AND q.raw OPERATOR(<%) d.head)
    """
)

# `<%` (word_similarity at least the threshold, served by the trigram index) reads its
# threshold from a setting: this transaction's, not the connection's (a pooled connection goes
# back to others).
_PG_TRIGRAM_THRESHOLD = text(
    "SELECT set_config('pg_trgm.word_similarity_threshold', :threshold, true)"
)

# FTS5: the asks as rows of json_each, each matched against the index (MATCH takes the outer
# row's query); bm25 is negative, better is lower: -bm25 / (1 - bm25) is in 0..1.
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


def _unit(score: float) -> float:
    return score / (1.0 + score) if score > 0 else 0.0


async def text_ranks(
    db_session: AsyncSession, app_id: str, asks: Mapping[str, str], mentor_ids: Sequence[str]
) -> dict[tuple[str, str], float]:
    """(ask key, mentor) -> the relevance of the ask to the mentor's document, in 0..1 (1 for
    the best match of the ask), for the pairs the engine matched (the others are 0). One
    statement on PostgreSQL, two on SQLite."""
    prepared = [(key, ask_terms(ask)) for key, ask in asks.items()]
    prepared = [(key, terms) for key, terms in prepared if terms]
    if not prepared or not mentor_ids:
        return {}
    dialect = db_session.get_bind().dialect.name
    connection = await db_session.connection()
    found: dict[tuple[str, str], float] = {}
    if dialect == "postgresql":
        if any(len(terms) <= SHORT_ASK_WORDS for _, terms in prepared):
            await connection.execute(_PG_TRIGRAM_THRESHOLD, {"threshold": str(TRIGRAM_THRESHOLD)})
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
        found[(key, mentor_id)] = _unit(float(score))
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
            found[pair] = max(found.get(pair, 0.0), _unit(float(score)))
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


async def save(db_session: AsyncSession, *rows: object) -> None:
    db_session.add_all(rows)
    await db_session.flush()


async def get_mark(
    db_session: AsyncSession, app_id: str, mentee_id: str, mentor_id: str
) -> MatchFeedback | None:
    query = select(MatchFeedback).where(
        col(MatchFeedback.app_id) == app_id,
        col(MatchFeedback.mentee_id) == mentee_id,
        col(MatchFeedback.mentor_id) == mentor_id,
    )
    return (await db_session.exec(query)).first()
