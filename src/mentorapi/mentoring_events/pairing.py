"""Which mentee meets which mentor: a min-cost flow (OR-Tools), optimal for a lexicographic goal.

source → mentee → mentor → sink, every unit a meeting:
- source → mentee is a ladder of unit arcs, the k-th meeting of a mentee (counting meetings
  already held) costing k·FAIR_STEP: meetings are shared out evenly when seats are short;
- mentee → mentor, capacity 1, for every pair allowed (not no-thanks, not met before);
- mentor → sink is a ladder too, the k-th meeting of a mentor costing k·LOAD_STEP: mentors'
  loads are balanced, a little relevance is given up for it;
- a source → sink bypass at cost 0 makes every meeting optional.

A pair arc is worth, from the most to the least important level:
  must-meet (W_must) > one meeting more (W_meet) > keeping a published meeting (W_keep)
  > relevance (0..1000) minus the ladders' costs.
Each weight is larger than what the levels below can change along any simple cycle of the
residual network (see `weights`), so the optimum is lexicographic: the most must-meets honoured;
then the most meetings; then (when re-solving) the most published meetings kept; then the best
relevance net of the balancing costs.
All costs are integers, and the weights are derived from the instance; an instance so large
that they would overflow the solver's 64-bit arithmetic is refused with ValueError.

The seed orders the arcs as the solver sees them, which only decides between equal optima.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow

REL_SCALE = 1000  # relevance 0..1 in units of 0.001
LOAD_STEP = 50  # a mentor's k-th meeting (0-based) costs k x 0.05 relevance
FAIR_STEP = 1000  # a mentee's k-th meeting (0-based) costs k x 1.0 relevance
_BUDGET = 1 << 62


@dataclass(frozen=True)
class Weights:
    must: int
    meet: int
    keep: int


Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]


@dataclass(frozen=True)
class PairingInput:
    """Index form: mentees 0..n-1, mentors 0..m-1, candidate pairs in parallel arrays."""

    mentee_cap: Ints  # meetings a mentee may still get
    mentee_done: Ints  # meetings a mentee already has (where its ladder starts)
    mentor_cap: Ints
    mentor_done: Ints
    pair_mentee: Ints
    pair_mentor: Ints
    pair_rel: Ints  # relevance units, 0..REL_SCALE
    pair_must: Bools
    pair_keep: Bools


def weights(problem: PairingInput) -> Weights:
    """Weights that make the flow's optimum lexicographic, as small as the argument allows.

    The flow is optimal iff its residual network has no negative cycle, and any better
    solution differs from it by a sum of simple residual cycles. A simple cycle visits each
    node once: it has at most 2·min(mentees, mentors) pair arcs (so changes the must-meets and
    the kept meetings by at most that), passes the source and the sink once each (so uses at
    most four ladder or bypass arcs, and changes the number of meetings by at most one). Each
    weight beats everything the levels below can change along one such cycle, so a cycle that
    gains at a level and loses below it always has a negative cost: none is left at the optimum.
    """
    n, m = len(problem.mentee_cap), len(problem.mentor_cap)
    arcs = 2 * min(n, m)  # pair arcs on a simple cycle
    top_mentee = int((problem.mentee_done + problem.mentee_cap).max(initial=1))
    top_mentor = int((problem.mentor_done + problem.mentor_cap).max(initial=1))
    ladders = 2 * FAIR_STEP * max(top_mentee - 1, 0) + 2 * LOAD_STEP * max(top_mentor - 1, 0)
    below = arcs * REL_SCALE + ladders  # relevance and ladders along one cycle
    keep = below + 1
    below += arcs * keep
    meet = below + 1
    below += meet  # one meeting more or less per cycle
    must = below + 1
    top = must + meet + keep + REL_SCALE  # the most a pair arc costs
    meetings = int(min(problem.mentee_cap.sum(), problem.mentor_cap.sum()))
    if top * (n + m + 3) >= _BUDGET or top * meetings >= _BUDGET:
        raise ValueError("the event is too large to schedule exactly (costs would overflow)")
    return Weights(must=must, meet=meet, keep=keep)


def _ladders(tails: Ints, caps: Ints, done: Ints, step: int) -> tuple[Ints, Ints]:
    """Unit arcs from each `tails[i]`, `caps[i]` of them, the k-th costing (done[i] + k)·step."""
    owner = np.repeat(np.arange(len(caps)), caps)
    first = np.cumsum(caps) - caps
    rung = np.arange(int(caps.sum()), dtype=np.int64) - first[owner] + done[owner]
    return tails[owner], rung * step


def select(problem: PairingInput, seed: int) -> Bools:
    """Which candidate pairs meet, optimal for the lexicographic goal above."""
    n, m = len(problem.mentee_cap), len(problem.mentor_cap)
    w = weights(problem)
    source, sink = n + m, n + m + 1
    order = np.random.default_rng(seed % (1 << 64)).permutation(len(problem.pair_mentee))
    pair_cost = -(
        w.meet
        + problem.pair_rel
        + np.where(problem.pair_must, w.must, 0)
        + np.where(problem.pair_keep, w.keep, 0)
    )
    mentee_rungs = np.minimum(problem.mentee_cap, np.bincount(problem.pair_mentee, minlength=n))
    mentor_rungs = np.minimum(problem.mentor_cap, np.bincount(problem.pair_mentor, minlength=m))
    mentee_tails, mentee_costs = _ladders(
        np.arange(n, dtype=np.int64), mentee_rungs, problem.mentee_done, FAIR_STEP
    )
    mentor_tails, mentor_costs = _ladders(
        np.arange(n, n + m, dtype=np.int64), mentor_rungs, problem.mentor_done, LOAD_STEP
    )
    supply = int(mentee_rungs.sum())
    tails = np.concatenate(
        [problem.pair_mentee[order], np.full(len(mentee_tails), source), mentor_tails, [source]]
    )
    heads = np.concatenate(
        [n + problem.pair_mentor[order], mentee_tails, np.full(len(mentor_tails), sink), [sink]]
    )
    costs = np.concatenate([pair_cost[order], mentee_costs, mentor_costs, [0]])
    caps = np.ones(len(tails), dtype=np.int64)
    caps[-1] = supply

    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int64), heads.astype(np.int64), caps, costs.astype(np.int64)
    )
    flow.set_node_supply(source, supply)
    flow.set_node_supply(sink, -supply)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed: {status}")
    used = flow.flows(np.arange(len(order), dtype=np.int64)) > 0
    chosen = np.zeros(len(order), dtype=np.bool_)
    chosen[order] = used
    return chosen
