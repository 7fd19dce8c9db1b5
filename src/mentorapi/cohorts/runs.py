"""The match run job (`match_run` in jobs/registry.KINDS): score the cohort's pairs, solve, and
write the proposals with the job's success.

1. Read the cohort as it is now (a mentee or mentor deleted since it was created has left it).
2. Score every pair (matching/scoring.py; a pair its hard filters exclude is absent, and so not
   allowed).
3. Solve (matching/assignment.py, OR-Tools min-cost flow, optimal) in a thread, so the worker
   keeps renewing its lease and answering while it works.
4. Write the proposals, the unmatched mentees and the stats in the transaction that marks the
   job succeeded (JobContext.complete): a run taken over by another worker after a lost lease
   is computed again from the same data and seed, and only one of the two commits.

Nothing is written before step 4, so every step may be done again. A cohort the solver refuses
(it says why) fails the run as `invalid_cohort`, at once and for good.
"""

import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.cohorts import repository
from mentorapi.cohorts.models import CohortObjective, PairKind
from mentorapi.cohorts.repository import Members
from mentorapi.cohorts.schemas import RunStats
from mentorapi.db.engine import write_intent
from mentorapi.jobs.context import JobContext, JobFailed
from mentorapi.kit.ids import new_id
from mentorapi.kit.timezones import utcnow
from mentorapi.matching.assignment import CohortProblem, CohortSolution, solve_cohort
from mentorapi.matching.scoring import PairScores, score_pairs

PINNED_REASON = "Pinned by the cohort"


@asynccontextmanager
async def _reading(ctx: JobContext) -> AsyncIterator[AsyncSession]:
    """A session that only reads (SQLite: a deferred BEGIN, so scoring a large cohort never
    holds the write lock)."""
    token = write_intent.set(False)
    try:
        async with ctx.database.read_sessionmaker() as s:
            yield s
    finally:
        write_intent.reset(token)


@dataclass
class _Input:
    problem: CohortProblem
    scores: PairScores  # a pair's components and reasons are made when looked up
    mentees: list[str]  # in the cohort's order
    capacity: dict[str, int]
    score_seconds: float


async def _load(ctx: JobContext, run_id: str) -> _Input:
    app_id = ctx.app_id
    async with _reading(ctx) as s:
        found = await repository.get_run(s, app_id, run_id)
        if found is None:
            raise JobFailed("not_found", f"no match run {run_id}")
        run, _ = found
        cohort = await repository.get_cohort(s, app_id, run.cohort_id)
        if cohort is None:
            raise JobFailed("not_found", f"no cohort {run.cohort_id}")
        members: Members = (await repository.members_of(s, app_id, [cohort.id]))[cohort.id]
    mentees = [m.mentee_id for m in members.mentees]
    mentors = [m.mentor_id for m in members.mentors]
    await ctx.progress(0.05)  # outside the read: it writes
    started = time.perf_counter()
    async with _reading(ctx) as s:
        scores = await score_pairs(s, app_id=app_id, mentee_ids=mentees, mentor_ids=mentors)
    scored_in = time.perf_counter() - started
    capacity = {m.mentor_id: m.capacity for m in members.mentors}
    pairs = {
        kind: [(p.mentee_id, p.mentor_id) for p in members.pairs if p.kind == kind]
        for kind in PairKind
    }
    problem = CohortProblem(
        mentees=mentees,
        mentors=mentors,
        scores=scores.scores(),
        capacity=capacity,
        mentors_per_mentee=cohort.mentors_per_mentee,
        objective="max_participation"
        if cohort.objective == CohortObjective.max_participation
        else "max_score",
        pins=pairs[PairKind.pin],
        forbids=pairs[PairKind.forbid],
        min_score=cohort.min_score,
        seed=run.seed,
    )
    return _Input(problem, scores, mentees, capacity, scored_in)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile by linear interpolation between closest ranks (numpy's default);
    None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def stats_of(given: _Input, solution: CohortSolution, seconds: float) -> RunStats:
    problem = given.problem
    scores = [given.scores[p].score if p in given.scores else 0.0 for p in solution.pairs]
    per_mentee = Counter(mentee for mentee, _ in solution.pairs)
    load = Counter(mentor for _, mentor in solution.pairs)
    utilisation = [load[m] / c for m, c in given.capacity.items() if c > 0]
    matched = sum(1 for m in given.mentees if per_mentee[m] > 0)
    return RunStats(
        matched=matched,
        partially_matched=sum(
            1 for m in given.mentees if 0 < per_mentee[m] < problem.mentors_per_mentee
        ),
        unmatched=len(given.mentees) - matched,
        pairs=len(solution.pairs),
        mean_score=_rounded(sum(scores) / len(scores)) if scores else None,
        min_score=_rounded(min(scores)) if scores else None,
        mentor_utilisation_p50=_rounded(percentile(utilisation, 50)),
        mentor_utilisation_p95=_rounded(percentile(utilisation, 95)),
        objective_value=round(solution.objective_value, 6),
        score_seconds=round(given.score_seconds, 3),
        solve_seconds=round(seconds, 3),
    )


def proposal_rows(
    app_id: str, run_id: str, given: _Input, solution: CohortSolution
) -> list[dict[str, Any]]:
    pinned = set(given.problem.pins)
    now = utcnow()
    rows = []
    for pair in solution.pairs:
        found = given.scores.get(pair)
        reasons = list(found.reasons) if found else []
        if pair in pinned:
            reasons.append(PINNED_REASON)
        rows.append(
            {
                "app_id": app_id,
                "id": new_id("mpr"),
                "run_id": run_id,
                "mentee_id": pair[0],
                "mentor_id": pair[1],
                "score": found.score if found else 0.0,
                "components": dict(found.components) if found else {},
                "reasons": reasons,
                "pinned": pair in pinned,
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def _solve(problem: CohortProblem) -> tuple[CohortSolution, float]:
    started = time.perf_counter()
    solution = solve_cohort(problem)
    return solution, time.perf_counter() - started


async def execute(ctx: JobContext) -> None:
    run_id = str(ctx.payload["match_run_id"])
    given = await _load(ctx, run_id)
    await ctx.progress(0.5)
    try:
        # The runner renews the lease while this thread works (jobs/runner.py).
        solution, seconds = await asyncio.to_thread(_solve, given.problem)
    except ValueError as refused:  # the solver's word on the data: pins, capacities
        raise JobFailed("invalid_cohort", str(refused)) from refused
    await ctx.progress(0.9)
    order = {m: i for i, m in enumerate(given.mentees)}
    unmatched = [
        {"mentee_id": mentee, "reason": reason}
        for mentee, reason in sorted(solution.unmatched.items(), key=lambda u: order.get(u[0], 0))
    ]
    stats = stats_of(given, solution, seconds)
    rows = proposal_rows(ctx.app_id, run_id, given, solution)
    async with ctx.complete({"match_run_id": run_id, "pairs": len(rows)}) as s:
        found = await repository.get_run(s, ctx.app_id, run_id)
        if found is None:
            raise JobFailed("not_found", f"no match run {run_id}")
        run, _ = found
        await repository.insert_proposals(s, rows)
        run.unmatched = unmatched
        run.stats = stats.model_dump(mode="json")
        run.updated_at = utcnow()
        await repository.save(s, run)
