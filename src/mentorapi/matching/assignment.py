"""Cohort matching: many mentees to many mentors at once, each mentor with a capacity.

A min-cost flow (OR-Tools) over source → mentee → mentor → sink, solved to optimality:
- source → mentee carries the mentors a mentee still needs (`mentors_per_mentee` minus pins);
- mentee → mentor, capacity 1, for every allowed pair (a score, not forbidden, not below
  `min_score`), costs minus the score;
- mentor → sink is a ladder of parallel unit arcs, the k-th (0-based) costing
  `k * load_penalty`: the cost of a mentor's load is convex, so the solver fills the cheap rungs
  first and spreads mentees rather than piling them on the best-scored mentor;
- a source → sink bypass at cost 0 makes every unit of flow optional, so `max_score`
  maximises Σ score - Σ load penalties (a pair worth less than its load penalty is left out).

`max_participation` is lexicographic: first the number of mentees matched (a max flow over
unit mentee arcs gives that number, N), then the same score objective among the solutions that
match exactly N mentees (a hub node with supply N feeds each unpinned mentee's first mentor).

Costs are integers: scores and penalties scaled by `SCALE`, then multiplied by `M` so that a
seed-derived tie-break `eps` in [1, E] per pair arc (summed over at most T pairs, T·E < M) can
only choose among solutions of equal scaled objective. Ties lean towards matching (eps is
subtracted), and the arcs are fed to the solver in a canonical (sorted) order, so the result
depends on the problem and the seed only, never on the order of the inputs.

Pins are pre-assigned: they take their mentor's capacity (and the lowest rungs of its ladder)
and the mentee's slots before the flow runs; a pin needs no score (it counts 0 without one) and
ignores `min_score`. Invalid input (a forbidden pin, pins over a capacity, unknown ids, scores
outside 0..1) raises ValueError with a message meant for the caller.
"""

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import max_flow, min_cost_flow

Objective = Literal["max_score", "max_participation"]

SCALE = 1_000_000  # scores and penalties are compared to 1e-6
_MAX_TIE = 4096
_COST_BUDGET = 1 << 62  # OR-Tools scales costs by the node count: keep |cost|·(nodes+1) below

NO_ELIGIBLE_MENTOR = "no_eligible_mentor"  # no mentor with a score that is not forbidden
BELOW_MIN_SCORE = "below_min_score"  # every such mentor scores below min_score
CAPACITY_EXHAUSTED = "capacity_exhausted"  # every eligible mentor is full
LOAD_PENALTY = "load_penalty"  # an eligible mentor had room, but the score was below its rung


@dataclass(frozen=True)
class CohortProblem:
    mentees: Sequence[str]
    mentors: Sequence[str]
    scores: Mapping[
        tuple[str, str], float
    ]  # (mentee, mentor) -> 0..1; an absent pair is not allowed
    capacity: Mapping[str, int]  # per mentor (0 allowed)
    mentors_per_mentee: int = 1
    objective: Objective = "max_score"
    pins: Sequence[tuple[str, str]] = ()  # (mentee, mentor) that must be in the result
    forbids: Sequence[tuple[str, str]] = ()
    min_score: float = 0.0  # pairs below are not allowed (pins excepted)
    load_penalty: float = 0.05  # rising cost of each extra mentee on one mentor
    seed: int = 0


@dataclass(frozen=True)
class CohortSolution:
    pairs: list[tuple[str, str]]  # sorted, deterministic
    unmatched: dict[str, str]  # mentee -> reason code
    objective_value: float  # Σ score - Σ load penalties, pins included
    stats: dict[str, float]  # matched, pairs, mean_score, min_score, utilisation_p50/p95, ...
    # Mentees matched to some mentors but fewer than mentors_per_mentee -> how many they got.
    partially_matched: dict[str, int] = field(default_factory=dict)


@dataclass
class _Prepared:
    """The validated problem in index form, mentees and mentors in sorted order."""

    mentees: list[str]
    mentors: list[str]
    capacity: NDArray[np.int64]  # per mentor
    pinned: list[tuple[int, int]]
    pin_scores: list[float]
    # Allowed, unpinned pairs in canonical (mentee, mentor) order.
    arc_mentee: NDArray[np.int64]
    arc_mentor: NDArray[np.int64]
    arc_score: NDArray[np.float64]
    has_candidate: NDArray[np.bool_]  # some mentor with a score, not forbidden
    has_eligible: NDArray[np.bool_]  # ... and not below min_score


def penalty(load: int, load_penalty: float) -> float:
    """The load penalty of a mentor with `load` mentees: 0 + p + 2p + ... (convex)."""
    return load_penalty * load * (load - 1) / 2


def penalty_units(rung: int, load_penalty: float) -> int:
    """The scaled cost of a mentor's rung-th (0-based) mentee."""
    return round(rung * load_penalty * SCALE)


def score_units(score: float) -> int:
    return round(score * SCALE)


def _unique(values: Sequence[str], what: str) -> list[str]:
    ordered = sorted(values)
    for a, b in itertools.pairwise(ordered):
        if a == b:
            raise ValueError(f"{what} {a!r} is listed twice")
    return ordered


def _prepare(problem: CohortProblem) -> _Prepared:
    mentees = _unique(problem.mentees, "mentee")
    mentors = _unique(problem.mentors, "mentor")
    mentee_index = {x: i for i, x in enumerate(mentees)}
    mentor_index = {y: j for j, y in enumerate(mentors)}
    per = problem.mentors_per_mentee
    if isinstance(per, bool) or not isinstance(per, int) or per < 1:
        raise ValueError("mentors_per_mentee must be an integer of at least 1")
    if problem.objective not in ("max_score", "max_participation"):
        raise ValueError(f"unknown objective {problem.objective!r}")
    if not 0.0 <= problem.min_score <= 1.0:
        raise ValueError("min_score must be between 0 and 1")
    if not 0.0 <= problem.load_penalty <= 1.0:
        raise ValueError("load_penalty must be between 0 and 1")

    capacity = np.zeros(len(mentors), dtype=np.int64)
    for j, y in enumerate(mentors):
        c = problem.capacity.get(y)
        if c is None:
            raise ValueError(f"mentor {y!r} has no capacity")
        if isinstance(c, bool) or not isinstance(c, int | np.integer) or c < 0:
            raise ValueError(f"mentor {y!r}: capacity must be a non-negative integer")
        capacity[j] = c

    def indices(pair: tuple[str, str], what: str) -> tuple[int, int]:
        x, y = pair
        i, j = mentee_index.get(x), mentor_index.get(y)
        if i is None:
            raise ValueError(f"{what} ({x}, {y}): {x!r} is not a mentee of the cohort")
        if j is None:
            raise ValueError(f"{what} ({x}, {y}): {y!r} is not a mentor of the cohort")
        return i, j

    width = len(mentors)
    forbidden = {i * width + j for i, j in (indices(p, "forbid") for p in problem.forbids)}
    pinned: list[tuple[int, int]] = sorted({indices(p, "pin") for p in problem.pins})
    pinned_keys = {i * width + j for i, j in pinned}
    pins_per_mentor = np.zeros(len(mentors), dtype=np.int64)
    pins_per_mentee = np.zeros(len(mentees), dtype=np.int64)
    for i, j in pinned:
        if i * width + j in forbidden:
            raise ValueError(f"pin ({mentees[i]}, {mentors[j]}) is also forbidden")
        pins_per_mentor[j] += 1
        pins_per_mentee[i] += 1
    for over in np.flatnonzero(pins_per_mentor > capacity):
        raise ValueError(
            f"mentor {mentors[over]!r} has {pins_per_mentor[over]} pins"
            f" but a capacity of {capacity[over]}"
        )
    for over in np.flatnonzero(pins_per_mentee > per):
        raise ValueError(
            f"mentee {mentees[over]!r} has {pins_per_mentee[over]} pins"
            f" but mentors_per_mentee is {per}"
        )

    has_candidate = np.zeros(len(mentees), dtype=np.bool_)
    has_eligible = np.zeros(len(mentees), dtype=np.bool_)
    arc_i: list[int] = []
    arc_j: list[int] = []
    arc_s: list[float] = []
    pin_scores = [0.0] * len(pinned)
    pin_position = {i * width + j: k for k, (i, j) in enumerate(pinned)}
    min_score = problem.min_score
    for (x, y), score in problem.scores.items():
        si, sj = mentee_index.get(x), mentor_index.get(y)
        if si is None or sj is None:
            continue  # a wider score table than the cohort is fine
        i, j = si, sj
        if not 0.0 <= score <= 1.0:  # NaN fails too
            raise ValueError(f"score of ({x}, {y}) must be between 0 and 1, not {score!r}")
        key = i * width + j
        if key in forbidden:
            continue
        has_candidate[i] = True
        if key in pinned_keys:
            pin_scores[pin_position[key]] = float(score)
            continue
        if score < min_score:
            continue
        has_eligible[i] = True
        arc_i.append(i)
        arc_j.append(j)
        arc_s.append(float(score))
    order = np.lexsort((np.asarray(arc_j, dtype=np.int64), np.asarray(arc_i, dtype=np.int64)))
    return _Prepared(
        mentees=mentees,
        mentors=mentors,
        capacity=capacity,
        pinned=pinned,
        pin_scores=pin_scores,
        arc_mentee=np.asarray(arc_i, dtype=np.int64)[order],
        arc_mentor=np.asarray(arc_j, dtype=np.int64)[order],
        arc_score=np.asarray(arc_s, dtype=np.float64)[order],
        has_candidate=has_candidate,
        has_eligible=has_eligible,
    )


def _max_participation(
    prep: _Prepared,
    need: NDArray[np.int64],
    room: NDArray[np.int64],
    pinned_mentee: NDArray[np.bool_],
) -> int:
    """How many mentees without a pin can get at least one mentor (a max flow)."""
    n, m = len(prep.mentees), len(prep.mentors)
    source, sink = 0, 1
    flow = max_flow.SimpleMaxFlow()
    takers = np.flatnonzero(~pinned_mentee & (need > 0))
    flow.add_arcs_with_capacity(
        np.full(len(takers), source), takers + 2, np.ones(len(takers), dtype=np.int64)
    )
    flow.add_arcs_with_capacity(
        prep.arc_mentee + 2, prep.arc_mentor + 2 + n, np.ones(len(prep.arc_mentee), dtype=np.int64)
    )
    flow.add_arcs_with_capacity(np.arange(m) + 2 + n, np.full(m, sink), room)
    status = flow.solve(source, sink)
    if status != flow.OPTIMAL:
        raise RuntimeError(f"max flow failed: {status}")
    return int(flow.optimal_flow())


def solve_cohort(problem: CohortProblem) -> CohortSolution:
    prep = _prepare(problem)
    n, m = len(prep.mentees), len(prep.mentors)
    per = problem.mentors_per_mentee
    lp = problem.load_penalty

    pinned_count_mentee = np.zeros(n, dtype=np.int64)
    pinned_load = np.zeros(m, dtype=np.int64)
    for i, j in prep.pinned:
        pinned_count_mentee[i] += 1
        pinned_load[j] += 1
    need = per - pinned_count_mentee
    room = prep.capacity - pinned_load
    pinned_mentee = pinned_count_mentee > 0

    # Node ids: 0 source, 1 sink, 2 hub (max_participation), then mentees, then mentors.
    source, sink, hub = 0, 1, 2
    mentee_node = np.arange(n, dtype=np.int64) + 3
    mentor_node = np.arange(m, dtype=np.int64) + 3 + n
    nodes = 3 + n + m

    arcs_per_mentor = np.bincount(prep.arc_mentor, minlength=m).astype(np.int64)
    arcs_per_mentee = np.bincount(prep.arc_mentee, minlength=n).astype(np.int64)
    usable_room = np.minimum(room, arcs_per_mentor)  # rungs no flow could reach are left out
    taken = np.minimum(need, arcs_per_mentee)
    total = int(min(taken.sum(), usable_room.sum()))  # T: most pair arcs any solution uses

    top_rung = int((pinned_load + usable_room).max(initial=0))
    base = max(SCALE, penalty_units(max(top_rung - 1, 0), lp), 1)
    tie = min(_MAX_TIE, _COST_BUDGET // (base * (total + 1) * (nodes + 1)) - 1)
    if tie < 1:
        raise ValueError("the cohort is too large to solve exactly (costs would overflow)")
    mult = total * tie + 1  # M: any Σ eps of a solution stays below one scaled unit

    tails: list[NDArray[np.int64]] = []
    heads: list[NDArray[np.int64]] = []
    caps: list[NDArray[np.int64]] = []
    costs: list[NDArray[np.int64]] = []

    def add(
        t: NDArray[np.int64], h: NDArray[np.int64], c: NDArray[np.int64], u: NDArray[np.int64]
    ) -> None:
        tails.append(t)
        heads.append(h)
        caps.append(c)
        costs.append(u)

    participation = 0
    if problem.objective == "max_participation":
        participation = _max_participation(prep, taken, room, pinned_mentee)
        firsts = np.flatnonzero(~pinned_mentee & (taken > 0))
        add(
            np.full(len(firsts), hub, dtype=np.int64),
            mentee_node[firsts],
            np.ones(len(firsts), dtype=np.int64),
            np.zeros(len(firsts), dtype=np.int64),
        )
        from_source = np.where(pinned_mentee, taken, np.maximum(taken - 1, 0))
    else:
        from_source = taken
    feeding = np.flatnonzero(from_source > 0)
    add(
        np.full(len(feeding), source, dtype=np.int64),
        mentee_node[feeding],
        from_source[feeding],
        np.zeros(len(feeding), dtype=np.int64),
    )
    supply = int(from_source.sum())

    rng = np.random.default_rng(problem.seed % (1 << 64))  # any int, negative too
    eps = rng.integers(1, tie + 1, size=len(prep.arc_score), dtype=np.int64)
    units = np.rint(prep.arc_score * SCALE).astype(np.int64)
    pair_first = sum(len(t) for t in tails)
    add(
        mentee_node[prep.arc_mentee],
        mentor_node[prep.arc_mentor],
        np.ones(len(units), dtype=np.int64),
        -units * mult - eps,
    )

    rung_tail: list[int] = []
    rung_cost: list[int] = []
    for mentor in np.flatnonzero(usable_room > 0):
        for rung in range(int(pinned_load[mentor]), int(pinned_load[mentor] + usable_room[mentor])):
            rung_tail.append(int(mentor_node[mentor]))
            rung_cost.append(penalty_units(rung, lp) * mult)
    add(
        np.asarray(rung_tail, dtype=np.int64),
        np.full(len(rung_tail), sink, dtype=np.int64),
        np.ones(len(rung_tail), dtype=np.int64),
        np.asarray(rung_cost, dtype=np.int64),
    )
    add(
        np.array([source], dtype=np.int64),
        np.array([sink], dtype=np.int64),
        np.array([supply], dtype=np.int64),
        np.array([0], dtype=np.int64),
    )

    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.concatenate(tails), np.concatenate(heads), np.concatenate(caps), np.concatenate(costs)
    )
    supplies = np.zeros(nodes, dtype=np.int64)
    supplies[source] = supply
    supplies[hub] = participation
    supplies[sink] = -(supply + participation)
    flow.set_nodes_supplies(np.arange(nodes, dtype=np.int64), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed: {status}")
    pair_arcs = np.arange(pair_first, pair_first + len(units), dtype=np.int64)
    used = flow.flows(pair_arcs) > 0
    return _solution(problem, prep, used)


def _solution(problem: CohortProblem, prep: _Prepared, used: NDArray[np.bool_]) -> CohortSolution:
    n, m = len(prep.mentees), len(prep.mentors)
    chosen_i = np.concatenate([prep.arc_mentee[used], [i for i, _ in prep.pinned]]).astype(np.int64)
    chosen_j = np.concatenate([prep.arc_mentor[used], [j for _, j in prep.pinned]]).astype(np.int64)
    chosen_s = np.concatenate([prep.arc_score[used], prep.pin_scores]).astype(np.float64)
    load = np.bincount(chosen_j, minlength=m)
    got = np.bincount(chosen_i, minlength=n)

    pairs = sorted(
        zip((prep.mentees[i] for i in chosen_i), (prep.mentors[j] for j in chosen_j), strict=True)
    )
    # Why a mentee is left without a mentor: said from the data, in the order of the rules.
    with_room = np.zeros(n, dtype=np.bool_)
    open_arcs = load[prep.arc_mentor] < prep.capacity[prep.arc_mentor]
    with_room[prep.arc_mentee[open_arcs]] = True
    unmatched: dict[str, str] = {}
    for i in np.flatnonzero(got == 0):
        if not prep.has_candidate[i]:
            reason = NO_ELIGIBLE_MENTOR
        elif not prep.has_eligible[i]:
            reason = BELOW_MIN_SCORE
        elif with_room[i]:
            reason = LOAD_PENALTY
        else:
            reason = CAPACITY_EXHAUSTED
        unmatched[prep.mentees[i]] = reason
    partial = {
        prep.mentees[i]: int(got[i])
        for i in np.flatnonzero((got > 0) & (got < problem.mentors_per_mentee))
    }

    objective = float(chosen_s.sum()) - sum(penalty(int(x), problem.load_penalty) for x in load)
    open_mentors = prep.capacity > 0
    utilisation = load[open_mentors] / prep.capacity[open_mentors]
    stats = {
        "mentees": float(n),
        "mentors": float(m),
        "matched": float((got > 0).sum()),
        "unmatched": float((got == 0).sum()),
        "pairs": float(len(pairs)),
        "mean_score": float(chosen_s.mean()) if len(chosen_s) else 0.0,
        "min_score": float(chosen_s.min()) if len(chosen_s) else 0.0,
        "utilisation_p50": float(np.percentile(utilisation, 50)) if len(utilisation) else 0.0,
        "utilisation_p95": float(np.percentile(utilisation, 95)) if len(utilisation) else 0.0,
        "max_load": float(load.max(initial=0)),
    }
    return CohortSolution(
        pairs=pairs,
        unmatched=unmatched,
        objective_value=objective,
        stats=stats,
        partially_matched=partial,
    )
