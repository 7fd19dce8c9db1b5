"""Matching: recommendations for one ask, the app's weights, and a mentee's dismissals and
bookmarks. The scoring rule itself is scoring.py's (the same for cohorts and events).

Who may: the API key for any mentee of its app; a mentee member for themself only (another
mentee, like a mentor member, finds no such mentee: 404, mentee profiles being private); the
policy is the API key's (403 for members).

A recommendation runs in two steps. Retrieval: the database's text engine finds the mentors
the ask's words match (and, when skills are listed, the mentors offering them), keeps those
the hard filters it can check allow (active, language, format, length, levels, not dismissed),
checking them in order of relevance until CANDIDATES pass, and returns those. `excluded_count`
counts the mentors examined and left out: by those filters (the found ones ranked above the
last candidate kept, or all found ones when fewer pass) and by the slot engine.
Ranking: scoring.py scores each (their facts, rows, the mentee's marks and history read in
one statement), the slot engine drops those with no free slot in the window (or, with no
window, a full week), and the best `limit` are answered: their components and reasons (and
first slots) are made for those only (scoring.Evaluation). With the mentee and the app's weights
read first, a recommendation is three statements: one more for the records of the skills asked
for or sought, one more to check that listed skills exist.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import Caller, require_api_key, require_mentee
from mentorapi.availability.slots import from_us
from mentorapi.db.integrity import flush_or_conflict
from mentorapi.kit import timezones
from mentorapi.kit.errors import NotFound
from mentorapi.kit.versioning import check_version
from mentorapi.matching import repository, scoring
from mentorapi.matching.models import MatchFeedback, MatchingPolicy
from mentorapi.matching.repository import Filters, MentorFacts
from mentorapi.matching.schemas import MatchFeedbackCreate, MatchingPolicyPut, RecommendationRequest
from mentorapi.matching.scoring import Ask, Asked, Evaluation
from mentorapi.mentors.models import Format, MentorFields, SkillOffer

# How many retrieved mentors are scored for a request of `limit`: enough that the busy, the
# full and the far away can give way to others.
MIN_CANDIDATES = 20
CANDIDATES_PER_RESULT = 4
MAX_CANDIDATES = 200


def now() -> datetime:
    """The clock of recommendations (tests move it)."""
    return timezones.utcnow()


# --- policy ---


def defaults(app_id: str) -> MatchingPolicy:
    """The policy of an app that never set one (not saved: version 0)."""
    return MatchingPolicy(app_id=app_id, weights=dict(scoring.DEFAULT_WEIGHTS), version=0)


async def get_policy(*, db_session: AsyncSession, app_id: str, actor: Caller) -> MatchingPolicy:
    require_api_key(actor, "reading the matching policy")
    return await repository.get_policy(db_session, app_id) or defaults(app_id)


async def put_policy(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    data: MatchingPolicyPut,
    expected_version: int | None = None,
) -> MatchingPolicy:
    """Replace the app's weights; the next recommendation uses them."""
    require_api_key(actor, "changing the matching policy")
    policy = await repository.get_policy(db_session, app_id)
    if policy is None:
        check_version(0, expected_version, "the matching policy")
        policy = defaults(app_id)
        policy.version = 1
    else:
        check_version(policy.version, expected_version, "the matching policy")
        policy.version += 1
        policy.updated_at = timezones.utcnow()
    policy.weights = data.weights.model_dump()
    repository.add(db_session, policy)
    # Two first policies at once: one wins, the other is told to read it again.
    await flush_or_conflict(db_session, "the matching policy was just set by another request")
    return policy


# --- feedback ---


async def give_feedback(
    *, db_session: AsyncSession, app_id: str, actor: Caller, data: MatchFeedbackCreate
) -> MatchFeedback:
    """The mentee's word on a mentor (the last one counts)."""
    require_mentee(actor, data.mentee_id)
    if not await repository.mentees(db_session, app_id, [data.mentee_id]):
        raise NotFound(f"no mentee {data.mentee_id}")
    if not await repository.mentor_exists(db_session, app_id, data.mentor_id):
        raise NotFound(f"no mentor {data.mentor_id}")
    mark = await repository.get_mark(db_session, app_id, data.mentee_id, data.mentor_id)
    if mark is None:
        mark = MatchFeedback(
            app_id=app_id,
            mentee_id=data.mentee_id,
            mentor_id=data.mentor_id,
            action=data.action.value,
        )
    elif mark.action != data.action.value:
        mark.action = data.action.value
        mark.updated_at = timezones.utcnow()
    repository.add(db_session, mark)
    await flush_or_conflict(db_session, "feedback on this mentor was just given by another request")
    return mark


# --- recommendations ---


@dataclass(frozen=True)
class Recommended:
    mentor: MentorFields  # the mentor's row as read with their facts
    offers: list[SkillOffer]  # the skills shown (the row's copy, in display order)
    evaluation: Evaluation

    @property
    def first_slots(self) -> list[datetime]:
        return [from_us(s) for s in self.evaluation.free_starts[: scoring.FIRST_SLOTS]]


@dataclass(frozen=True)
class Recommendations:
    data: list[Recommended]
    excluded_count: int


def candidate_count(limit: int) -> int:
    return min(MAX_CANDIDATES, max(MIN_CANDIDATES, limit * CANDIDATES_PER_RESULT))


async def recommend(
    *, db_session: AsyncSession, app_id: str, actor: Caller, data: RecommendationRequest
) -> Recommendations:
    require_mentee(actor, data.mentee_id)
    mentee, weights = await repository.asker(db_session, app_id, data.mentee_id)
    if mentee is None:
        raise NotFound(f"no mentee {data.mentee_id}")
    asked_ids = [s.skill_id for s in data.skills]
    unknown = set(asked_ids) - await repository.known_skills(db_session, app_id, asked_ids)
    if unknown:
        raise NotFound(f"no skill {sorted(unknown)[0]}")
    current = now()
    if data.window is not None:
        start, end = data.window.from_, data.window.to
    else:
        start, end = current, current + scoring.DEFAULT_WINDOW
    languages = tuple(data.languages if data.languages is not None else mentee.languages)
    skills = (
        tuple(Asked(s.skill_id, s.min_level, explicit=True) for s in data.skills)
        if data.skills
        else scoring.seeking_skills(mentee)
    )
    filters = Filters(
        mentee_id=mentee.id,
        skills=[(s.skill_id, s.min_level) for s in data.skills],
        languages=languages,
        format=data.format.value if data.format else None,
        duration_minutes=data.duration_minutes,
    )
    found, excluded = await repository.candidates(
        db_session, app_id, data.ask, filters, candidate_count(data.limit)
    )
    if not found:
        return Recommendations([], excluded)
    ask = Ask(
        mentee=mentee,
        text=data.ask,
        skills=skills,
        languages=languages,
        start=start,
        end=end,
        duration_minutes=data.duration_minutes,
    )
    ranks = repository.relative(dict(found))
    context = await scoring.load_ask(
        db_session,
        app_id=app_id,
        ask=ask,
        mentor_ids=[mentor_id for mentor_id, _ in found],
        now=current,
        texts={(mentee.id, mentor_id): rank for mentor_id, rank in ranks.items()},
        weights=weights,
    )
    scorer = context.scorer(current)
    needs_slot = data.window is not None and data.format != Format.async_
    kept: list[tuple[MentorFacts, Evaluation]] = []
    for mentor in context.mentors:
        evaluation = scorer.evaluate(ask, mentor, context.pair(mentee.id, mentor.id))
        if (
            evaluation is None
            or (needs_slot and not len(evaluation.free_starts))
            or (data.window is None and evaluation.capacity_full)
        ):
            excluded += 1
            continue
        kept.append((mentor, evaluation))
    kept.sort(key=lambda item: (-item[1].value, item[0].id))
    return Recommendations(
        [
            Recommended(mentor.row, cast(list[SkillOffer], mentor.offers), evaluation)
            for mentor, evaluation in kept[: data.limit]
        ],
        excluded,
    )
