"""Between the stored event and the solver (mentoring_events/scheduling.py): the problem an
event's registrations pose, and the rows a schedule becomes.

- Pairs: in `relevance` mode each pair's relevance is its matching score (matching/scoring.py
  `score_pairs`, with the mentee's ask for the event as the ask), read at the build and kept
  with the schedule for its late changes (`Scores`); a pair the matching excludes (no shared
  language, a dismissal) is never scheduled, unless one of the two asked to meet the other. In
  `everyone` mode the solver's rotation decides and the matching is not asked.
- Wishes: `must_meet` and `no_thanks` of either side, between people still registered.
- Reasons: the solver's (must meet, rotation, ...) then the matching's, at most `MAX_REASONS`.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.matching.scoring import score_pairs
from mentorapi.mentoring_events import scheduling
from mentorapi.mentoring_events.models import (
    Assignment,
    Attendance,
    EventMode,
    EventRole,
    MentoringEvent,
    Registration,
    ScoresRow,
    Stage,
)

MAX_REASONS = 6
Pair = tuple[str, str]  # (mentee, mentor)
Solved = scheduling.Schedule


@dataclass(frozen=True)
class Scores:
    """The matching's relevance of the pairs of an event's people, read when its schedule is
    built, and kept with it (ScoresRow): a late change solves with the very scores the schedule
    was built from, without asking the matching for every pair again (most of a late change's
    time). A pair missing from `relevance` is one the matching excludes. `reasons` are those
    read (all of them at a build; none from the kept copy)."""

    relevance: dict[Pair, float] = field(default_factory=dict)
    reasons: dict[Pair, list[str]] = field(default_factory=dict)

    def kept(self) -> dict[str, Any]:
        """The row's columns: the people in order, and the scores row-major (mentee, mentor),
        -1 for an excluded pair."""
        mentees = sorted({x for x, _ in self.relevance})
        mentors = sorted({y for _, y in self.relevance})
        return {
            "mentees": mentees,
            "mentors": mentors,
            "relevance": [
                round(self.relevance.get((x, y), -1.0), 4) for x in mentees for y in mentors
            ],
        }

    @classmethod
    def from_kept(cls, row: ScoresRow | None) -> "Scores":
        if row is None:
            return cls()
        width = len(row.mentors)
        relevance = {
            (x, y): float(row.relevance[i * width + j])
            for i, x in enumerate(row.mentees)
            for j, y in enumerate(row.mentors)
            if row.relevance[i * width + j] >= 0
        }
        return cls(relevance)


@dataclass(frozen=True)
class Problem:
    solver: scheduling.EventProblem
    scores: Scores  # what a build keeps for its late changes
    reasons: dict[Pair, list[str]] = field(default_factory=dict)  # why each pair would meet


def _seed(event_id: str) -> int:
    """The same event, the same schedule: a seed from its id."""
    return int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:4], "big")


def _people(registrations: Sequence[Registration], role: EventRole) -> list[str]:
    return sorted(r.member_id for r in registrations if r.role == role.value)


async def score(
    db_session: AsyncSession,
    event: MentoringEvent,
    registrations: Sequence[Registration],
    *,
    pairs: Sequence[Pair] | None = None,
) -> Scores:
    """The matching's scores of every registered mentee with every registered mentor (absent
    ones too: they may arrive), each mentee's ask for the event as the ask; `pairs`: of the
    mentees and mentors of these pairs only. None in `everyone` mode."""
    if event.mode != EventMode.relevance:
        return Scores()
    mentees = _people(registrations, EventRole.mentee)
    mentors = _people(registrations, EventRole.mentor)
    if pairs is not None:
        mentees = sorted({x for x, _ in pairs} & set(mentees))
        mentors = sorted({y for _, y in pairs} & set(mentors))
    if not mentees or not mentors:
        return Scores()
    wanted = set(mentees)
    found = await score_pairs(
        db_session,
        app_id=event.app_id,
        mentee_ids=mentees,
        mentor_ids=mentors,
        asks={r.member_id: r.ask for r in registrations if r.ask and r.member_id in wanted},
    )
    return Scores(
        {pair: min(1.0, max(0.0, float(s.score))) for pair, s in found.items()},
        {pair: list(s.reasons) for pair, s in found.items()},
    )


def problem_of(
    event: MentoringEvent,
    registrations: Sequence[Registration],
    scores: Scores,
    *,
    with_absent: bool,
) -> Problem:
    """The event's problem; `with_absent`: people marked absent stay in it (a late change
    passes them to the solver as absent, so it knows whom it moves)."""
    present = [r for r in registrations if with_absent or r.attendance != Attendance.no_show.value]
    mentors = _people(present, EventRole.mentor)
    mentees = _people(present, EventRole.mentee)
    mentor_set, mentee_set = set(mentors), set(mentees)
    must_meet: set[Pair] = set()
    no_thanks: set[Pair] = set()
    for r in present:
        for wishes, into in ((r.must_meet, must_meet), (r.no_thanks, no_thanks)):
            for other in wishes:
                pair = (
                    (r.member_id, other)
                    if r.role == EventRole.mentee.value
                    else (other, r.member_id)
                )
                if pair[0] in mentee_set and pair[1] in mentor_set:
                    into.add(pair)
    must_meet -= no_thanks  # either side may refuse: no thanks wins
    relevance: dict[Pair, float] = {}
    if event.mode == EventMode.relevance:
        relevance = {
            (x, y): scores.relevance[(x, y)]
            for x in mentees
            for y in mentors
            if (x, y) in scores.relevance
        }
        for pair in must_meet:
            relevance.setdefault(pair, 0.0)  # asked for: met, whatever the matching says
        no_thanks |= {(x, y) for x in mentees for y in mentors if (x, y) not in relevance}
    problem = scheduling.EventProblem(
        rounds=event.rounds,
        table_capacity=event.table_capacity,
        meetings_per_mentee=event.meetings_per_mentee,
        mode="everyone" if event.mode == EventMode.everyone else "relevance",
        mentors=tuple(mentors),
        mentees=tuple(mentees),
        relevance=relevance,
        must_meet=frozenset(must_meet),
        no_thanks=frozenset(no_thanks),
        seed=_seed(event.id),
    )
    return Problem(problem, scores, dict(scores.reasons))


def solve(problem: Problem) -> Solved:
    return scheduling.build_schedule(problem.solver)


def as_schedule(rows: Sequence[Assignment]) -> Solved:
    """Stored rows as the solver's schedule (what `reschedule` keeps as much of as it can)."""
    meetings = [
        scheduling.Meeting(
            round=a.round,
            table=a.table_no,
            mentor=a.mentor_id,
            mentee=a.mentee_id,
            reasons=tuple(a.reasons),
        )
        for a in rows
    ]
    return scheduling.Schedule(
        meetings=meetings,
        unmet_must_meets=[],
        total_relevance=sum(a.relevance for a in rows),
        stats={},
    )


def solve_again(
    problem: Problem,
    published: Sequence[Assignment],
    *,
    from_round: int,
    absent: frozenset[str],
    arrived: frozenset[str],
) -> tuple[Solved, int]:
    return scheduling.reschedule(
        problem.solver,
        as_schedule(published),
        from_round=from_round,
        absent=absent,
        arrived=arrived,
    )


def _said(reason: str) -> str:
    """The solver's reason in words (its codes: must_meet, rotation, relevance 0.82)."""
    if reason == scheduling.MUST_MEET:
        return "asked to meet"
    if reason == scheduling.ROTATION:
        return "rotation: every mentor visits every table"
    if reason.startswith("relevance "):
        return "match score " + reason.removeprefix("relevance ")
    return reason


def _reasons(meeting: scheduling.Meeting, problem: Problem) -> list[str]:
    """The solver's reasons, then the matching's: why these two meet."""
    # A published meeting handed back to the solver (as_schedule) has its reasons in words
    # already: they pass through _said unchanged.
    found = [_said(r) for r in meeting.reasons]
    found += problem.reasons.get((meeting.mentee, meeting.mentor), [])
    return list(dict.fromkeys(found))[:MAX_REASONS]


def rows(
    event: MentoringEvent,
    stage: Stage,
    solved: Solved,
    problem: Problem,
    *,
    from_round: int = 1,
) -> list[dict[str, Any]]:
    """The schedule's meetings from `from_round` on, as rows of `stage`."""
    relevance = problem.solver.relevance
    return [
        {
            "app_id": event.app_id,
            "event_id": event.id,
            "stage": stage.value,
            "round": m.round,
            "mentee_id": m.mentee,
            "mentor_id": m.mentor,
            "table_no": m.table,
            "reasons": _reasons(m, problem),
            "relevance": float(relevance.get((m.mentee, m.mentor), 0.0)),
        }
        for m in solved.meetings
        if m.round >= from_round
    ]


def stats(
    problem: Problem, solved: Solved, *, built_at: datetime, seconds: float
) -> dict[str, Any]:
    """The figures of a build (ScheduleStats), as stored with the event."""
    per_mentor = dict.fromkeys(problem.solver.mentors, 0)
    met: set[str] = set()
    for m in solved.meetings:
        per_mentor[m.mentor] = per_mentor.get(m.mentor, 0) + 1
        met.add(m.mentee)
    loads = list(per_mentor.values()) or [0]
    return {
        "meetings": len(solved.meetings),
        "total_relevance": round(float(solved.total_relevance), 4),
        "unmet_must_meets": [
            {"mentee_id": mentee, "mentor_id": mentor}
            for mentee, mentor in sorted(solved.unmet_must_meets)
        ],
        "min_meetings_per_mentor": min(loads),
        "max_meetings_per_mentor": max(loads),
        "mentees_without_meetings": len(set(problem.solver.mentees) - met),
        "built_at": built_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "build_seconds": round(seconds, 4),
    }
