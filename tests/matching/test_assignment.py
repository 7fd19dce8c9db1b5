"""Cohort matching (mentorapi.matching.assignment), the solver alone: optimal against brute force
on small random instances, every constraint, pins, forbids, min_score, reasons, determinism."""

import itertools
import math
import random
import re
from collections import Counter
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ortools.sat.python import cp_model

from mentorapi.matching.assignment import (
    CohortProblem,
    CohortSolution,
    penalty,
    penalty_units,
    score_units,
    solve_cohort,
)

Pair = tuple[str, str]


def _allowed(problem: CohortProblem) -> list[Pair]:
    forbidden = set(problem.forbids)
    pins = set(problem.pins)
    return [
        (x, y)
        for x in problem.mentees
        for y in problem.mentors
        if (x, y) in pins
        or (
            (x, y) in problem.scores
            and (x, y) not in forbidden
            and problem.scores[(x, y)] >= problem.min_score
        )
    ]


def _feasible(problem: CohortProblem, pairs: Iterable[Pair]) -> bool:
    chosen = list(pairs)
    per_mentee = Counter(x for x, _ in chosen)
    per_mentor = Counter(y for _, y in chosen)
    return (
        len(set(chosen)) == len(chosen)
        and set(problem.pins) <= set(chosen)
        and set(chosen) <= set(_allowed(problem))
        and all(c <= problem.mentors_per_mentee for c in per_mentee.values())
        and all(c <= problem.capacity[y] for y, c in per_mentor.items())
    )


def _value(problem: CohortProblem, pairs: Iterable[Pair]) -> tuple[int, float]:
    """(mentees matched if max_participation else 0, Σ score - Σ load penalty)."""
    chosen = list(pairs)
    loads = Counter(y for _, y in chosen)
    score = sum(problem.scores.get(p, 0.0) for p in chosen)
    score -= sum(penalty(c, problem.load_penalty) for c in loads.values())
    matched = len({x for x, _ in chosen}) if problem.objective == "max_participation" else 0
    return matched, score


def _brute_force(problem: CohortProblem) -> tuple[int, float]:
    free = [p for p in _allowed(problem) if p not in set(problem.pins)]
    best: tuple[int, float] | None = None
    for size in range(len(free) + 1):
        for subset in itertools.combinations(free, size):
            chosen = [*problem.pins, *subset]
            if _feasible(problem, chosen):
                value = _value(problem, chosen)
                if best is None or (value[0], round(value[1], 9)) > (best[0], round(best[1], 9)):
                    best = value
    assert best is not None  # the pins alone are feasible
    return best


def _check(problem: CohortProblem, solution: CohortSolution) -> None:
    assert solution.pairs == sorted(solution.pairs)
    assert _feasible(problem, solution.pairs)
    matched = {x for x, _ in solution.pairs}
    assert set(solution.unmatched) == set(problem.mentees) - matched
    assert solution.stats["matched"] == len(matched)
    assert solution.objective_value == pytest.approx(_value(problem, solution.pairs)[1], abs=1e-9)


# Scores and penalties on a grid of 0.05 scale to exact integers: brute force and the solver
# then compare the same numbers, with no rounding in between.
GRID = st.integers(0, 20).map(lambda k: k / 20)


@st.composite
def problems(draw: st.DrawFn, max_mentees: int = 4, max_mentors: int = 3) -> CohortProblem:
    mentees = [f"e{i}" for i in range(draw(st.integers(1, max_mentees)))]
    mentors = [f"m{j}" for j in range(draw(st.integers(1, max_mentors)))]
    every = [(x, y) for x in mentees for y in mentors]
    scored = draw(st.lists(st.sampled_from(every), unique=True))
    scores = {p: draw(GRID) for p in scored}
    capacity = {y: draw(st.integers(0, 3)) for y in mentors}
    per = draw(st.integers(1, 2))
    forbids = draw(st.lists(st.sampled_from(every), unique=True, max_size=3))
    # Pins that are valid by construction (the invalid ones are ValueError, tested apart).
    pins: list[Pair] = []
    for pair in draw(st.lists(st.sampled_from(every), unique=True, max_size=3)):
        x, y = pair
        if (
            pair not in forbids
            and sum(1 for p in pins if p[1] == y) < capacity[y]
            and sum(1 for p in pins if p[0] == x) < per
        ):
            pins.append(pair)
    return CohortProblem(
        mentees=draw(st.permutations(mentees)),
        mentors=draw(st.permutations(mentors)),
        scores=scores,
        capacity=capacity,
        mentors_per_mentee=per,
        objective=draw(st.sampled_from(["max_score", "max_participation"])),
        pins=pins,
        forbids=forbids,
        min_score=draw(st.sampled_from([0.0, 0.0, 0.3, 0.6])),
        load_penalty=draw(st.sampled_from([0.0, 0.05, 0.1, 0.25])),
        seed=draw(st.integers(0, 2**31)),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_optimal_against_brute_force(problem: CohortProblem) -> None:
    solution = solve_cohort(problem)
    _check(problem, solution)
    got = _value(problem, solution.pairs)
    best = _brute_force(problem)
    assert got[0] == best[0]
    assert got[1] == pytest.approx(best[1], abs=1e-9)


def _cp_sat_optimum(problem: CohortProblem) -> int:
    """The scaled max_score optimum by CP-SAT: Σ score units - Σ rung penalties."""
    model = cp_model.CpModel()
    allowed = _allowed(problem)
    x = {p: model.new_bool_var(str(p)) for p in allowed}
    objective = []
    for e in problem.mentees:
        model.add(sum(v for p, v in x.items() if p[0] == e) <= problem.mentors_per_mentee)
    for m in problem.mentors:
        mine = [v for p, v in x.items() if p[1] == m]
        rungs = [model.new_bool_var(f"{m}:{k}") for k in range(problem.capacity[m])]
        model.add(sum(mine) == sum(rungs))
        objective += [-penalty_units(k, problem.load_penalty) * r for k, r in enumerate(rungs)]
    for p in problem.pins:
        model.add(x[p] == 1)
    objective += [score_units(problem.scores.get(p, 0.0)) * v for p, v in x.items()]
    model.maximize(sum(objective))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    assert solver.solve(model) == cp_model.OPTIMAL
    return round(solver.objective_value)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_optimal_against_cp_sat_on_a_medium_instance(seed: int) -> None:
    rng = random.Random(seed)
    mentees = [f"e{i:02}" for i in range(40)]
    mentors = [f"m{j:02}" for j in range(12)]
    problem = CohortProblem(
        mentees=mentees,
        mentors=mentors,
        scores={(x, y): rng.random() for x in mentees for y in mentors if rng.random() < 0.5},
        capacity={y: rng.randint(0, 4) for y in mentors},
        mentors_per_mentee=2,
        forbids=[(rng.choice(mentees), rng.choice(mentors)) for _ in range(10)],
        min_score=0.2,
        seed=seed,
    )
    solution = solve_cohort(problem)
    _check(problem, solution)
    loads = Counter(y for _, y in solution.pairs)
    got = sum(score_units(problem.scores[p]) for p in solution.pairs) - sum(
        penalty_units(k, problem.load_penalty) for c in loads.values() for k in range(c)
    )
    assert got == _cp_sat_optimum(problem)


def _problem(**overrides: object) -> CohortProblem:
    base: dict[str, object] = {
        "mentees": ["ann", "bob"],
        "mentors": ["kim", "lee"],
        "scores": {("ann", "kim"): 0.9, ("ann", "lee"): 0.1, ("bob", "kim"): 0.5},
        "capacity": {"kim": 1, "lee": 1},
    }
    base.update(overrides)
    return CohortProblem(**base)  # type: ignore[arg-type]


def test_the_objectives_differ_where_they_should() -> None:
    # ann-kim alone scores 0.9; ann-lee + bob-kim match both mentees for 0.6.
    by_score = solve_cohort(_problem())
    assert by_score.pairs == [("ann", "kim")]
    assert by_score.unmatched == {"bob": "capacity_exhausted"}
    assert by_score.objective_value == pytest.approx(0.9)
    everyone = solve_cohort(_problem(objective="max_participation"))
    assert everyone.pairs == [("ann", "lee"), ("bob", "kim")]
    assert everyone.unmatched == {}
    assert everyone.objective_value == pytest.approx(0.6)


def test_participation_first_then_score() -> None:
    # Two ways to match both mentees; max_participation takes the better-scored one.
    scores = {("ann", "kim"): 0.9, ("ann", "lee"): 0.8, ("bob", "kim"): 0.2, ("bob", "lee"): 0.7}
    solution = solve_cohort(_problem(scores=scores, objective="max_participation"))
    assert solution.pairs == [("ann", "kim"), ("bob", "lee")]


def test_rising_load_cost_spreads_mentees() -> None:
    scores = {("ann", "kim"): 0.9, ("bob", "kim"): 0.9, ("ann", "lee"): 0.88, ("bob", "lee"): 0.88}
    capacity = {"kim": 2, "lee": 2}
    piled = solve_cohort(_problem(scores=scores, capacity=capacity, load_penalty=0.0))
    assert piled.pairs == [("ann", "kim"), ("bob", "kim")]
    spread = solve_cohort(_problem(scores=scores, capacity=capacity, load_penalty=0.05))
    assert Counter(y for _, y in spread.pairs) == {"kim": 1, "lee": 1}
    assert spread.objective_value == pytest.approx(1.78)
    assert spread.stats["utilisation_p50"] == 0.5


def test_pins_are_kept_even_below_min_score_and_without_a_score() -> None:
    solution = solve_cohort(
        _problem(
            pins=[("ann", "lee"), ("bob", "lee")], min_score=0.5, capacity={"kim": 1, "lee": 2}
        )
    )
    assert solution.pairs == [("ann", "lee"), ("bob", "lee")]
    # The pins take lee's first two rungs: 0.1 + 0 - 0.05.
    assert solution.objective_value == pytest.approx(0.05)


def test_pins_count_against_mentors_per_mentee_and_capacity() -> None:
    scores = {("ann", "kim"): 0.9, ("ann", "lee"): 0.1, ("bob", "kim"): 0.5, ("bob", "lee"): 0.4}
    solution = solve_cohort(_problem(scores=scores, pins=[("ann", "lee")]))
    assert solution.pairs == [("ann", "lee"), ("bob", "kim")]
    two = solve_cohort(
        _problem(
            scores=scores,
            pins=[("ann", "lee")],
            mentors_per_mentee=2,
            capacity={"kim": 2, "lee": 1},
        )
    )
    assert two.pairs == [("ann", "kim"), ("ann", "lee"), ("bob", "kim")]
    assert two.partially_matched == {"bob": 1}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"pins": [("ann", "kim")], "forbids": [("ann", "kim")]},
            "pin (ann, kim) is also forbidden",
        ),
        ({"pins": [("ann", "kim"), ("bob", "kim")]}, "mentor 'kim' has 2 pins but a capacity of 1"),
        (
            {"pins": [("ann", "kim"), ("ann", "lee")]},
            "mentee 'ann' has 2 pins but mentors_per_mentee is 1",
        ),
        ({"pins": [("zoe", "kim")]}, "'zoe' is not a mentee of the cohort"),
        ({"forbids": [("ann", "max")]}, "'max' is not a mentor of the cohort"),
        ({"capacity": {"kim": 1}}, "mentor 'lee' has no capacity"),
        ({"capacity": {"kim": 1, "lee": -1}}, "capacity must be a non-negative integer"),
        ({"scores": {("ann", "kim"): math.nan}}, "must be between 0 and 1"),
        ({"scores": {("ann", "kim"): 1.5}}, "must be between 0 and 1"),
        ({"mentees": ["ann", "ann"]}, "mentee 'ann' is listed twice"),
        ({"mentors_per_mentee": 0}, "mentors_per_mentee"),
        ({"min_score": 2.0}, "min_score"),
        ({"objective": "fastest"}, "unknown objective"),
    ],
)
def test_invalid_problems_are_value_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        solve_cohort(_problem(**overrides))


def test_forbids_and_min_score_are_never_crossed() -> None:
    solution = solve_cohort(_problem(forbids=[("ann", "kim")], min_score=0.3))
    assert solution.pairs == [("bob", "kim")]
    assert solution.unmatched == {"ann": "below_min_score"}


def test_unmatched_reasons() -> None:
    solution = solve_cohort(
        CohortProblem(
            mentees=["ann", "bob", "cat", "dan", "eve"],
            mentors=["kim", "lee", "max"],
            scores={
                ("ann", "kim"): 0.9,  # matched
                ("bob", "kim"): 0.8,  # kim is full (capacity 1)
                ("cat", "lee"): 0.1,  # below min_score
                ("dan", "max"): 0.5,  # forbidden: no eligible mentor
                ("eve", "max"): 0.2,  # max has room, but 0.2 pays for no second rung of 0.3
                ("ann", "max"): 0.95,
            },
            capacity={"kim": 1, "lee": 1, "max": 2},
            forbids=[("dan", "max")],
            min_score=0.15,
            load_penalty=0.3,
        )
    )
    assert solution.pairs == [("ann", "kim"), ("ann", "max")] or solution.pairs == [
        ("ann", "max"),
        ("bob", "kim"),
    ]
    assert solution.unmatched["cat"] == "below_min_score"
    assert solution.unmatched["dan"] == "no_eligible_mentor"
    assert solution.unmatched["eve"] == "load_penalty"


@given(problems(max_mentees=5, max_mentors=4), st.randoms(use_true_random=False))
@settings(max_examples=100, deadline=None)
def test_deterministic_whatever_the_order_of_the_inputs(
    problem: CohortProblem, rnd: random.Random
) -> None:
    first = solve_cohort(problem)
    shuffled = CohortProblem(
        mentees=rnd.sample(list(problem.mentees), len(problem.mentees)),
        mentors=rnd.sample(list(problem.mentors), len(problem.mentors)),
        scores=dict(rnd.sample(list(problem.scores.items()), len(problem.scores))),
        capacity=problem.capacity,
        mentors_per_mentee=problem.mentors_per_mentee,
        objective=problem.objective,
        pins=list(reversed(problem.pins)),
        forbids=list(reversed(problem.forbids)),
        min_score=problem.min_score,
        load_penalty=problem.load_penalty,
        seed=problem.seed,
    )
    assert solve_cohort(shuffled) == first


def test_the_seed_breaks_ties_only() -> None:
    mentees = [f"e{i}" for i in range(4)]
    mentors = [f"m{j}" for j in range(4)]
    scores = {(x, y): 0.5 for x in mentees for y in mentors}
    scores[("e0", "m0")] = 0.6  # the one strict preference every seed keeps
    outcomes = set()
    for seed in range(12):
        problem = CohortProblem(mentees, mentors, scores, dict.fromkeys(mentors, 1), seed=seed)
        solution = solve_cohort(problem)
        assert solution == solve_cohort(problem)
        assert ("e0", "m0") in solution.pairs
        assert solution.objective_value == pytest.approx(2.1)
        outcomes.add(tuple(solution.pairs))
    assert len(outcomes) > 1


def test_empty_cohorts() -> None:
    solution = solve_cohort(CohortProblem([], [], {}, {}))
    assert solution.pairs == []
    assert solution.unmatched == {}
    assert solution.objective_value == 0
    alone = solve_cohort(CohortProblem(["ann"], [], {}, {}))
    assert alone.unmatched == {"ann": "no_eligible_mentor"}
