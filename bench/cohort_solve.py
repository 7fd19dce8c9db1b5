"""Cohort matching, the solver alone: 1,000 mentees x 300 mentors (capacity 3), time and gap.

No database, no server: `mentorapi.matching.assignment.solve_cohort` on a generated cohort whose
scores come from a topic model (mentees and mentors have interests in a few of 12 topics, some
mentors are better rated than others), so good mentors are contested as in a real program.
Every mentee x mentor pair has a score (300,000 pairs). For each objective it reports the solve
time (median of `BENCH_COHORT_REPEAT` runs, 3; target < 2 s; wall and the process's CPU) and
the optimality gap against an independent optimum: the same integer-scaled objective solved as
a linear programme by GLOP (OR-Tools' simplex). For `max_score` the constraint matrix is totally
unimodular (two nonzeros per column, one on each side), so the LP optimum is the integer optimum;
`max_participation` takes two LPs, the most pairs, then the best score among them, and with that
extra row the LP is a relaxation: its optimum bounds the integer one from above. Either way a
gap of 0 (in units of 1e-6 of a score) proves the solver's answer optimal.

`measure()` is the function the `matching` bench calls; `python -m bench cohort-solve` (or
`python -m bench.cohort_solve`, which prints JSON) runs it alone. Environment:
BENCH_COHORT_MENTEES (1000), BENCH_COHORT_MENTORS (300), BENCH_COHORT_CAPACITY (3),
BENCH_COHORT_REPEAT (3).
"""

import json
import os
import statistics
import time
from collections import Counter
from typing import Any

import numpy as np
from ortools.linear_solver import pywraplp

from bench.kit.registry import Scenario
from bench.kit.report import table
from mentorapi.matching.assignment import (
    SCALE,
    CohortProblem,
    CohortSolution,
    Objective,
    penalty_units,
    score_units,
    solve_cohort,
)

TARGET_SECONDS = 2.0
TOPICS = 12


def generate(mentees: int, mentors: int, capacity: int, seed: int = 15) -> CohortProblem:
    """A cohort with every pair scored: interest overlap x the mentor's rating, plus noise."""
    rng = np.random.default_rng(seed)
    wants = rng.dirichlet(np.full(TOPICS, 0.3), size=mentees)
    offers = rng.dirichlet(np.full(TOPICS, 0.5), size=mentors)
    wants /= np.linalg.norm(wants, axis=1, keepdims=True)
    offers /= np.linalg.norm(offers, axis=1, keepdims=True)
    rating = rng.uniform(0.6, 1.0, size=mentors)
    raw = (wants @ offers.T) * rating + rng.normal(0, 0.03, size=(mentees, mentors))
    scores = np.round(np.clip(raw, 0.0, 1.0), 4)
    mentee_ids = [f"mte_{i:05}" for i in range(mentees)]
    mentor_ids = [f"mtr_{j:04}" for j in range(mentors)]
    return CohortProblem(
        mentees=mentee_ids,
        mentors=mentor_ids,
        scores={
            (x, y): float(s)
            for x, row in zip(mentee_ids, scores.tolist(), strict=True)
            for y, s in zip(mentor_ids, row, strict=True)
        },
        capacity=dict.fromkeys(mentor_ids, capacity),
    )


def scaled_value(problem: CohortProblem, solution: CohortSolution) -> int:
    """The solver's objective in integer units, recomputed from its pairs."""
    loads = Counter(y for _, y in solution.pairs)
    return sum(score_units(problem.scores[p]) for p in solution.pairs) - sum(
        penalty_units(k, problem.load_penalty) for c in loads.values() for k in range(c)
    )


def lp_optimum(problem: CohortProblem) -> tuple[int, float]:
    """(most pairs, best scaled objective) by GLOP; the first only counts for max_participation.

    Written for this bench's cohorts (no pins, forbids or min_score; one mentor per mentee)."""
    assert problem.mentors_per_mentee == 1
    assert not problem.pins
    assert not problem.forbids
    assert problem.min_score == 0
    solver = pywraplp.Solver.CreateSolver("GLOP")
    pairs = list(problem.scores)
    x = [solver.NumVar(0, 1, "") for _ in pairs]
    by_mentee: dict[str, list[Any]] = {}
    by_mentor: dict[str, list[Any]] = {}
    for (e, m), var in zip(pairs, x, strict=True):
        by_mentee.setdefault(e, []).append(var)
        by_mentor.setdefault(m, []).append(var)
    for vars_ in by_mentee.values():
        solver.Add(solver.Sum(vars_) <= 1)
    penalty_terms = []
    for m, vars_ in by_mentor.items():
        rungs = [solver.NumVar(0, 1, "") for _ in range(problem.capacity[m])]
        solver.Add(solver.Sum(vars_) == solver.Sum(rungs))
        penalty_terms += [penalty_units(k, problem.load_penalty) * r for k, r in enumerate(rungs)]
    most = 0
    if problem.objective == "max_participation":
        solver.Maximize(solver.Sum(x))
        assert solver.Solve() == pywraplp.Solver.OPTIMAL
        most = round(solver.Objective().Value())
        solver.Add(solver.Sum(x) >= most)
    units = [score_units(problem.scores[p]) for p in pairs]
    solver.Maximize(
        solver.Sum([u * v for u, v in zip(units, x, strict=True)]) - solver.Sum(penalty_terms)
    )
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    return most, solver.Objective().Value()


def measure(
    mentees: int | None = None,
    mentors: int | None = None,
    capacity: int | None = None,
    repeat: int | None = None,
) -> dict[str, Any]:
    """Solve times and gaps for both objectives; a dict with a `tables` entry and the figures."""
    mentees = mentees or int(os.environ.get("BENCH_COHORT_MENTEES", "1000"))
    mentors = mentors or int(os.environ.get("BENCH_COHORT_MENTORS", "300"))
    capacity = capacity or int(os.environ.get("BENCH_COHORT_CAPACITY", "3"))
    repeat = repeat or int(os.environ.get("BENCH_COHORT_REPEAT", "3"))
    base = generate(mentees, mentors, capacity)
    rows: list[list[Any]] = []
    figures: dict[str, Any] = {"mentees": mentees, "mentors": mentors, "capacity": capacity}
    objectives: list[Objective] = ["max_score", "max_participation"]
    for objective in objectives:
        problem = CohortProblem(
            mentees=base.mentees,
            mentors=base.mentors,
            scores=base.scores,
            capacity=base.capacity,
            objective=objective,
        )
        times, cpus = [], []
        for _ in range(repeat):
            started, cpu = time.perf_counter(), time.process_time()
            solution = solve_cohort(problem)
            times.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
        started = time.perf_counter()
        most, best = lp_optimum(problem)
        lp_seconds = time.perf_counter() - started
        gap_units = round(best) - scaled_value(problem, solution)
        matched = int(solution.stats["matched"])
        figure = {
            "solve_seconds": round(statistics.median(times), 3),
            "solve_cpu_seconds": round(statistics.median(cpus), 3),
            "target_met": statistics.median(times) < TARGET_SECONDS,
            "gap_units": gap_units,
            "gap": gap_units / SCALE,
            "lp_seconds": round(lp_seconds, 1),
            "matched": matched,
            "participation_optimal": objective == "max_score" or matched == most,
            "objective_value": round(solution.objective_value, 6),
            "mean_score": round(solution.stats["mean_score"], 4),
            "utilisation_p50": solution.stats["utilisation_p50"],
            "utilisation_p95": solution.stats["utilisation_p95"],
        }
        figures[objective] = figure
        rows.append(
            [
                objective,
                figure["solve_seconds"],
                figure["solve_cpu_seconds"],
                figure["target_met"],
                gap_units,
                matched,
                figure["participation_optimal"],
                figure["mean_score"],
                figure["lp_seconds"],
            ]
        )
    columns = ["objective", "solve s", "cpu s", "< 2 s", "gap (1e-6)", "matched", "most matched"]
    figures["tables"] = [
        table(
            f"cohort: {mentees} mentees x {mentors} mentors, capacity {capacity}, "
            f"every pair scored (median of {repeat})",
            [*columns, "mean score", "GLOP s"],
            rows,
        )
    ]
    return figures


async def run() -> dict[str, Any]:
    return measure()


SCENARIOS = [
    Scenario(
        "cohort-solve",
        run,
        "cohort matching solver alone: 1,000 x 300, capacity 3; time and gap to the LP optimum",
        default=False,  # the `matching` bench runs it as part of its figures
    )
]


if __name__ == "__main__":
    result = measure()
    result.pop("tables")
    print(json.dumps(result, indent=2))
