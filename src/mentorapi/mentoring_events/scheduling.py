"""Speed-mentoring schedules: who meets whom, in which round, at which table.

The rules, whatever the mode: no pair meets twice; no mentee or mentor in two places in one
round; no table holds more than `table_capacity` mentees (one mentor per table); no mentee gets
more than `meetings_per_mentee` meetings; no-thanks pairs never meet; must-meets are honoured
whenever the rules allow.

`relevance` mode (pairing.py, colouring.py): a min-cost flow chooses the pairs, optimal for
must-meets first, then the number of meetings, then relevance net of the costs that balance
mentors' loads and share meetings out evenly. Every mentor keeps one table; the table's
`table_capacity` seats are copies of the mentor, and a mentor's meetings (at most
rounds x table_capacity) are dealt to its seats, none more than `rounds`. Mentees have at most
`rounds` meetings too, so the pairs form a bipartite graph (mentees x seats) of degree <= rounds:
a proper edge colouring with `rounds` colours — the rounds — exists (König), and the
alternating-path algorithm builds it without ever failing.

`everyone` mode: a rotation. Mentees sit in groups of at most `table_capacity`, one group per
table, and stay there; mentors move one table per round, so a group meets a different mentor
each round. There are max(#mentors, #groups) tables, #groups = min(#mentees,
max(ceil(#mentees / table_capacity), #mentors)); groups and mentors are spread evenly over them.
Which mentee joins which group is a min-cost flow (most must-meets covered, then most meetings,
then relevance), so must-meets are honoured as far as the rotation reaches.

`reschedule` keeps the rounds before `from_round` exactly, drops absent members from the rest,
fits in arrivals and keeps as much of the published future as it can. In `relevance` mode the
flow is solved again with a bonus for each published meeting kept (below must-meets and the
number of meetings, above relevance), then the published colouring is repaired: kept meetings
start at their published rounds, each new meeting is placed by the alternating-path swap that
moves the fewest of them. In `everyone` mode the rotation stays as published: an arriving
mentee joins the table with room whose coming mentors suit them best, an arriving mentor takes
the table-rounds left without a mentor (an absent one's), visiting each table at most once.
The count of changes is per meeting: dropped, added, or moved to another round or table.
"""

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from ortools.graph.python import min_cost_flow

from mentorapi.mentoring_events import pairing
from mentorapi.mentoring_events.colouring import EdgeColouring

Mode = Literal["relevance", "everyone"]
Pair = tuple[str, str]  # (mentee, mentor)

MUST_MEET = "must_meet"
ROTATION = "rotation"


@dataclass(frozen=True)
class EventProblem:
    rounds: int  # 2..12
    table_capacity: int  # mentees per table (one mentor per table), 1..4
    meetings_per_mentee: int  # <= rounds
    mode: Mode
    mentors: Sequence[str]  # a mentor's table is its place in this list (relevance mode)
    mentees: Sequence[str]
    relevance: Mapping[Pair, float] = field(default_factory=dict)  # (mentee, mentor) -> 0..1
    must_meet: frozenset[Pair] = frozenset()  # (mentee, mentor)
    no_thanks: frozenset[Pair] = frozenset()  # (mentee, mentor): never paired
    seed: int = 0


@dataclass(frozen=True)
class Meeting:
    round: int  # 1-based
    table: int  # 1-based
    mentor: str
    mentee: str
    reasons: tuple[str, ...]  # why paired: "must_meet", "relevance 0.82", "rotation"


@dataclass(frozen=True)
class Schedule:
    meetings: list[Meeting]  # sorted by (round, table, mentee)
    unmet_must_meets: list[Pair]
    total_relevance: float
    stats: dict[str, float]


def _unique(values: Sequence[str], what: str) -> list[str]:
    listed = list(values)
    repeated = [v for v, k in Counter(listed).items() if k > 1]
    if repeated:
        raise ValueError(f"{what} {sorted(repeated)[0]!r} is listed twice")
    return listed


def _validate(problem: EventProblem) -> None:
    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not whole(problem.rounds) or not 2 <= problem.rounds <= 12:
        raise ValueError("rounds must be between 2 and 12")
    if not whole(problem.table_capacity) or not 1 <= problem.table_capacity <= 4:
        raise ValueError("table_capacity must be between 1 and 4")
    if not whole(problem.meetings_per_mentee) or not (
        1 <= problem.meetings_per_mentee <= problem.rounds
    ):
        raise ValueError("meetings_per_mentee must be between 1 and rounds")
    if problem.mode not in ("relevance", "everyone"):
        raise ValueError(f"unknown mode {problem.mode!r}")
    mentors = set(_unique(problem.mentors, "mentor"))
    mentees = set(_unique(problem.mentees, "mentee"))
    both = mentors & mentees
    if both:
        raise ValueError(f"{sorted(both)[0]!r} is both a mentor and a mentee")
    for what, pairs in (("must_meet", problem.must_meet), ("no_thanks", problem.no_thanks)):
        for x, y in pairs:
            if x not in mentees:
                raise ValueError(f"{what} ({x}, {y}): {x!r} is not a mentee of the event")
            if y not in mentors:
                raise ValueError(f"{what} ({x}, {y}): {y!r} is not a mentor of the event")
    for (x, y), value in problem.relevance.items():
        if x in mentees and y in mentors and not 0.0 <= value <= 1.0:  # NaN fails too
            raise ValueError(f"relevance of ({x}, {y}) must be between 0 and 1, not {value!r}")


def _relevance(problem: EventProblem, pair: Pair) -> float:
    return float(problem.relevance.get(pair, 0.0))


def _reasons(problem: EventProblem, pair: Pair, how: str) -> tuple[str, ...]:
    first = (MUST_MEET,) if pair in problem.must_meet else ()
    if how == ROTATION:
        return (*first, ROTATION)
    return (*first, f"relevance {_relevance(problem, pair):.2f}")


def _finish(
    problem: EventProblem,
    meetings: Iterable[Meeting],
    absent: frozenset[str] = frozenset(),
) -> Schedule:
    ordered = sorted(meetings, key=lambda m: (m.round, m.table, m.mentee, m.mentor))
    pairs = {(m.mentee, m.mentor) for m in ordered}
    must = sorted(problem.must_meet)
    unmet = [p for p in must if p not in pairs]
    mentors = [y for y in problem.mentors if y not in absent]
    mentees = [x for x in problem.mentees if x not in absent]
    per_mentor = Counter(m.mentor for m in ordered)
    per_mentee = Counter(m.mentee for m in ordered)
    mentor_counts = [per_mentor[y] for y in mentors]
    mentee_counts = [per_mentee[x] for x in mentees]
    stats: dict[str, float] = {
        "meetings": float(len(ordered)),
        "rounds_used": float(len({m.round for m in ordered})),
        "tables": float(max((m.table for m in ordered), default=0)),
        "mentor_meetings_max": float(max(mentor_counts, default=0)),
        "mentor_meetings_min": float(min(mentor_counts, default=0)),
        "mentee_meetings_max": float(max(mentee_counts, default=0)),
        "mentee_meetings_min": float(min(mentee_counts, default=0)),
        "mentee_meetings_mean": float(np.mean(mentee_counts)) if mentee_counts else 0.0,
        "mentees_short": float(sum(c < problem.meetings_per_mentee for c in mentee_counts)),
        "must_meets": float(len(must)),
        "must_meets_honoured": float(len(must) - len(unmet)),
        "must_meet_share": (len(must) - len(unmet)) / len(must) if must else 1.0,
    }
    total = sum(_relevance(problem, (m.mentee, m.mentor)) for m in ordered)
    return Schedule(meetings=ordered, unmet_must_meets=unmet, total_relevance=total, stats=stats)


# --- relevance mode -------------------------------------------------------------------------


def _relevance_future(
    problem: EventProblem,
    *,
    from_round: int,
    past: Sequence[Meeting],
    published: Sequence[Meeting],
    present_mentees: Sequence[str],
    present_mentors: Sequence[str],
    tables: Mapping[str, int],
) -> list[Meeting]:
    """The meetings of rounds from_round..rounds, given the past and a published future."""
    horizon = problem.rounds - from_round + 1
    seats = problem.table_capacity
    quota = problem.meetings_per_mentee
    mentees = sorted(present_mentees)
    mentors = sorted(present_mentors)
    mentee_index = {x: i for i, x in enumerate(mentees)}
    mentor_index = {y: j for j, y in enumerate(mentors)}
    met = {(m.mentee, m.mentor) for m in past}
    mentee_done = Counter(m.mentee for m in past)
    mentor_done = Counter(m.mentor for m in past)
    keep = {
        (m.mentee, m.mentor): m
        for m in published
        if m.mentee in mentee_index
        and m.mentor in mentor_index
        and from_round <= m.round <= problem.rounds
    }

    n, m = len(mentees), len(mentors)
    rel = np.zeros((n, m), dtype=np.int64)
    allowed = np.ones((n, m), dtype=np.bool_)
    must = np.zeros((n, m), dtype=np.bool_)
    kept = np.zeros((n, m), dtype=np.bool_)
    cells: list[tuple[int, int]] = []
    values: list[float] = []
    for (x, y), value in problem.relevance.items():
        i, j = mentee_index.get(x), mentor_index.get(y)
        if i is not None and j is not None:
            cells.append((i, j))
            values.append(value)
    if cells:
        at = np.asarray(cells, dtype=np.int64)
        rel[at[:, 0], at[:, 1]] = np.rint(np.asarray(values) * pairing.REL_SCALE)
    for x, y in [*problem.no_thanks, *met]:
        if x in mentee_index and y in mentor_index:
            allowed[mentee_index[x], mentor_index[y]] = False
    for x, y in problem.must_meet:
        if x in mentee_index and y in mentor_index:
            must[mentee_index[x], mentor_index[y]] = True
    for x, y in keep:
        kept[mentee_index[x], mentor_index[y]] = True
    pair_mentee, pair_mentor = np.nonzero(allowed)
    pair_mentee = pair_mentee.astype(np.int64)
    pair_mentor = pair_mentor.astype(np.int64)
    pair_keep = kept[pair_mentee, pair_mentor]
    done_x = np.asarray([mentee_done[x] for x in mentees], dtype=np.int64)
    chosen = pairing.select(
        pairing.PairingInput(
            mentee_cap=np.clip(np.minimum(quota - done_x, horizon), 0, None),
            mentee_done=done_x,
            mentor_cap=np.full(m, seats * horizon, dtype=np.int64),
            mentor_done=np.asarray([mentor_done[y] for y in mentors], dtype=np.int64),
            pair_mentee=pair_mentee,
            pair_mentor=pair_mentor,
            pair_rel=rel[pair_mentee, pair_mentor],
            pair_must=must[pair_mentee, pair_mentor],
            pair_keep=pair_keep,
        ),
        problem.seed,
    )

    # Vertices: mentee i is i; seat k of mentor j is n + j*seats + k. Colours are rounds.
    colouring = EdgeColouring(horizon)
    new: list[tuple[int, int]] = []
    kept_at: dict[tuple[str, int], list[str]] = defaultdict(list)
    for p in np.flatnonzero(chosen):
        i, j = int(pair_mentee[p]), int(pair_mentor[p])
        if pair_keep[p]:
            kept_at[(mentors[j], keep[(mentees[i], mentors[j])].round)].append(mentees[i])
        else:
            new.append((i, j))
    for (y, rnd), xs in sorted(kept_at.items()):
        if len(xs) > seats:
            raise ValueError(f"published schedule: {y!r} has {len(xs)} mentees in round {rnd}")
        for k, x in enumerate(sorted(xs)):
            seat = n + mentor_index[y] * seats + k
            try:
                colouring.place(mentee_index[x], seat, rnd - from_round)
            except ValueError:
                raise ValueError(
                    f"published schedule: {x!r} has two meetings in round {rnd}"
                ) from None
    random.Random(problem.seed).shuffle(new)
    for i, j in new:
        free = set(colouring.missing(i))
        seat = min(
            (n + j * seats + k for k in range(seats)),
            key=lambda s: (
                colouring.degree(s) >= horizon,
                -len(free.intersection(colouring.missing(s))),
                colouring.degree(s),
                s,
            ),
        )
        colouring.add(i, seat)

    meetings: list[Meeting] = []
    for (u, v), colour in zip(colouring.ends, colouring.colour, strict=True):
        if colour < 0:
            continue  # removed
        x, y = mentees[u], mentors[(v - n) // seats]
        meetings.append(
            Meeting(colour + from_round, tables[y], y, x, _reasons(problem, (x, y), "relevance"))
        )
    return meetings


# --- everyone mode --------------------------------------------------------------------------


def _rotation(problem: EventProblem) -> list[Meeting]:
    mentors, mentees = list(problem.mentors), sorted(problem.mentees)
    n, m = len(mentees), len(mentors)
    if not n or not m:
        return []
    rounds, seats = problem.rounds, problem.table_capacity
    groups = min(n, max(math.ceil(n / seats), m))
    tables = max(m, groups)
    sizes = [n // groups + (1 if g < n % groups else 0) for g in range(groups)]
    # Groups and mentors are spread evenly over the tables (one of them fills every table):
    # group g sits at table_of[g] for the whole event; mentor i starts at the table where
    # mentor_starting_at says, and moves
    # one table per round. A group meets, from its own starting round on (staggered, so rests
    # and mentors' idle turns are spread), each mentor who comes by and it has not met, up to
    # meetings_per_mentee.
    table_of = [g * tables // groups for g in range(groups)]
    mentor_starting_at = {i * tables // m: i for i in range(m)}
    visits: list[list[tuple[int, int]]] = []
    for g in range(groups):
        seen: list[tuple[int, int]] = []
        met: set[int] = set()
        for step in range(rounds):
            r = (g + step) % rounds
            i = mentor_starting_at.get((table_of[g] - r) % tables)
            if i is not None and i not in met and len(seen) < problem.meetings_per_mentee:
                seen.append((r, i))
                met.add(i)
        visits.append(seen)

    # Which mentee in which group: most must-meets covered, then most meetings, then relevance.
    allowed = np.ones((n, m), dtype=np.int64)
    must = np.zeros((n, m), dtype=np.int64)
    rel = np.zeros((n, m), dtype=np.int64)
    mentor_index = {y: j for j, y in enumerate(mentors)}
    mentee_index = {x: i for i, x in enumerate(mentees)}
    for x, y in problem.no_thanks:
        allowed[mentee_index[x], mentor_index[y]] = 0
    for x, y in problem.must_meet:
        must[mentee_index[x], mentor_index[y]] = 1
    for (x, y), value in problem.relevance.items():
        if x in mentee_index and y in mentor_index:
            rel[mentee_index[x], mentor_index[y]] = round(value * pairing.REL_SCALE)
    per_mentee = min(problem.meetings_per_mentee, rounds)
    w_meet = n * per_mentee * pairing.REL_SCALE + 1
    w_must = n * per_mentee * w_meet + 1
    sees = np.zeros((groups, m), dtype=np.int64)
    for g, seen in enumerate(visits):
        for _, i in seen:
            sees[g, i] = 1
    if w_must * per_mentee * (n + groups + 3) >= 1 << 62:
        raise ValueError("the event is too large to seat exactly (costs would overflow)")
    worth = ((w_must * must + w_meet + rel) * allowed) @ sees.T  # mentees x groups

    order = np.random.default_rng(problem.seed % (1 << 64)).permutation(n * groups)
    seat_mentee, seat_group = np.divmod(order, groups)
    source, sink = n + groups, n + groups + 1
    tails = np.concatenate([np.full(n, source), seat_mentee, n + np.arange(groups)])
    heads = np.concatenate([np.arange(n), n + seat_group, np.full(groups, sink)])
    caps = np.concatenate([np.ones(n + len(order), dtype=np.int64), sizes])
    costs = np.concatenate([np.zeros(n), -worth[seat_mentee, seat_group], np.zeros(groups)])
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int64), heads.astype(np.int64), caps, costs.astype(np.int64)
    )
    flow.set_node_supply(source, n)
    flow.set_node_supply(sink, -n)
    if flow.solve() != flow.OPTIMAL:
        raise RuntimeError("min-cost flow failed while seating the groups")
    used = flow.flows(np.arange(n, n + len(order), dtype=np.int64)) > 0
    meetings: list[Meeting] = []
    for xi, g in zip(seat_mentee[used].tolist(), seat_group[used].tolist(), strict=True):
        for r, i in visits[g]:
            pair = (mentees[xi], mentors[i])
            if pair not in problem.no_thanks:
                meetings.append(
                    Meeting(
                        r + 1, table_of[g] + 1, pair[1], pair[0], _reasons(problem, pair, ROTATION)
                    )
                )
    return meetings


def _best_assignment(values: Mapping[tuple[int, int], int]) -> list[tuple[int, int]]:
    """A maximum-value set of (row, column) cells, each row and column used at most once."""
    cells = [cell for cell, v in values.items() if v > 0]
    if not cells:
        return []
    rows = sorted({r for r, _ in cells})
    cols = sorted({c for _, c in cells})
    row_node = {r: k for k, r in enumerate(rows)}
    col_node = {c: len(rows) + k for k, c in enumerate(cols)}
    source, sink = len(rows) + len(cols), len(rows) + len(cols) + 1
    tails = [source] * len(rows) + [row_node[r] for r, _ in cells] + list(col_node.values())
    tails.append(source)
    heads = list(row_node.values()) + [col_node[c] for _, c in cells] + [sink] * len(cols)
    heads.append(sink)
    costs = [0] * len(rows) + [-values[cell] for cell in cells] + [0] * len(cols) + [0]
    caps = [1] * (len(tails) - 1) + [len(rows)]
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.asarray(tails, dtype=np.int64),
        np.asarray(heads, dtype=np.int64),
        np.asarray(caps, dtype=np.int64),
        np.asarray(costs, dtype=np.int64),
    )
    flow.set_node_supply(source, len(rows))
    flow.set_node_supply(sink, -len(rows))
    if flow.solve() != flow.OPTIMAL:
        raise RuntimeError("min-cost flow failed while placing an arrival")
    used = flow.flows(np.arange(len(rows), len(rows) + len(cells), dtype=np.int64))
    return [cell for arc, cell in enumerate(cells) if used[arc] > 0]


def _rotation_repair(
    problem: EventProblem,
    *,
    from_round: int,
    past: Sequence[Meeting],
    published: Sequence[Meeting],
    present_mentees: Sequence[str],
    present_mentors: Sequence[str],
    arrived: frozenset[str],
) -> list[Meeting]:
    """Everyone mode: the published rotation minus absentees, arrivals fitted where it has room.

    Mentees keep the table they sat at; an arriving mentee joins the table with room whose
    coming mentors suit them best; an arriving mentor takes, round by round, tables left
    without a mentor (an absent one's, or a group's resting turn), visiting each table once."""
    rounds, seats, quota = problem.rounds, problem.table_capacity, problem.meetings_per_mentee
    mentees, mentors = set(present_mentees), set(present_mentors)
    future = [
        m
        for m in published
        if m.round >= from_round
        and m.round <= rounds
        and m.mentee in mentees
        and m.mentor in mentors
        and (m.mentee, m.mentor) not in problem.no_thanks
    ]
    kept: list[Meeting] = []
    busy: set[tuple[str, int]] = set()  # (member, round)
    met: dict[str, set[str]] = defaultdict(set)
    count: Counter[str] = Counter()
    for m in [*past, *sorted(future, key=lambda m: (m.round, m.table, m.mentee))]:
        if m.round >= from_round:
            if (m.mentee, m.round) in busy or m.mentor in met[m.mentee] or count[m.mentee] >= quota:
                continue
            kept.append(m)
        busy.add((m.mentee, m.round))
        busy.add((m.mentor, m.round))
        met[m.mentee].add(m.mentor)
        count[m.mentee] += 1
    # Arrivals: members the published schedule does not know, and members back (`arrived`)
    # with nothing left in it.
    booked = {name for m in kept for name in (m.mentee, m.mentor)}
    known = {name for m in published for name in (m.mentee, m.mentor)}
    fresh = {name for name in mentees | mentors if name not in known}
    fresh |= {name for name in arrived if name not in booked}
    home: dict[str, int] = {}
    for m in sorted(published, key=lambda m: m.round):
        if m.mentee in mentees and m.mentee not in fresh:
            home[m.mentee] = m.table
    mentor_at: dict[tuple[int, int], str] = {(m.round, m.table): m.mentor for m in kept}
    mentor_at.update(
        {
            (m.round, m.table): m.mentor
            for m in published
            if from_round <= m.round <= rounds and m.mentor in mentors
        }
    )
    future_rounds = range(from_round, rounds + 1)
    w_meet = (rounds + 1) * pairing.REL_SCALE
    w_must = (rounds + 1) * w_meet

    def worth(x: str, y: str) -> int:
        pair = (x, y)
        if pair in problem.no_thanks or y in met[x]:
            return 0
        return (
            w_meet
            + round(_relevance(problem, pair) * pairing.REL_SCALE)
            + (w_must if pair in problem.must_meet else 0)
        )

    meetings = list(kept)

    def meet(x: str, y: str, rnd: int, table: int) -> None:
        meetings.append(Meeting(rnd, table, y, x, _reasons(problem, (x, y), ROTATION)))
        busy.add((x, rnd))
        busy.add((y, rnd))
        met[x].add(y)
        count[x] += 1

    tables = max([m.table for m in published] + [0])
    arrivals = sorted(x for x in mentees if x in fresh)
    random.Random(problem.seed).shuffle(arrivals)
    for x in arrivals:
        best: tuple[int, int, list[tuple[int, str]]] | None = None
        for table in range(1, tables + 2):
            sitting = sum(1 for t in home.values() if t == table)
            if sitting >= seats:
                continue
            offers = sorted(
                (
                    (worth(x, y), rnd, y)
                    for rnd in future_rounds
                    if (y := mentor_at.get((rnd, table))) is not None
                ),
                reverse=True,
            )
            taken: list[tuple[int, str]] = []
            value, mentors_seen = 0, set()
            for v, rnd, y in offers:
                if v > 0 and y not in mentors_seen and len(taken) < quota - count[x]:
                    taken.append((rnd, y))
                    mentors_seen.add(y)
                    value += v
            if best is None or value > best[0]:
                best = (value, table, taken)
        if best is None:
            continue  # every table is full: the arrival cannot be seated
        _, table, taken = best
        home[x] = table
        tables = max(tables, table)
        for rnd, y in taken:
            meet(x, y, rnd, table)

    newcomers = sorted(y for y in mentors if y in fresh)
    random.Random(problem.seed).shuffle(newcomers)
    for y in newcomers:
        values: dict[tuple[int, int], int] = {}
        for rnd in future_rounds:
            for table in sorted(set(home.values())):
                if (rnd, table) in mentor_at:
                    continue
                values[(rnd, table)] = sum(
                    worth(x, y)
                    for x, t in home.items()
                    if t == table and (x, rnd) not in busy and count[x] < quota
                )
        for rnd, table in sorted(_best_assignment(values)):
            mentor_at[(rnd, table)] = y
            busy.add((y, rnd))
            for x in sorted(x for x, t in home.items() if t == table):
                if (x, rnd) not in busy and count[x] < quota and worth(x, y) > 0:
                    meet(x, y, rnd, table)
    return meetings


# --- the API --------------------------------------------------------------------------------


def build_schedule(problem: EventProblem) -> Schedule:
    _validate(problem)
    if problem.mode == "everyone":
        return _finish(problem, _rotation(problem))
    tables = {y: t for t, y in enumerate(problem.mentors, start=1)}
    meetings = _relevance_future(
        problem,
        from_round=1,
        past=[],
        published=[],
        present_mentees=problem.mentees,
        present_mentors=problem.mentors,
        tables=tables,
    )
    return _finish(problem, meetings)


def _changed(old: Iterable[Meeting], new: Iterable[Meeting]) -> int:
    """Meetings dropped, added, or moved to another round or table (each counts once)."""
    before = {(m.mentee, m.mentor): (m.round, m.table) for m in old}
    after = {(m.mentee, m.mentor): (m.round, m.table) for m in new}
    return sum(1 for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def reschedule(
    problem: EventProblem,
    published: Schedule,
    *,
    from_round: int,
    absent: frozenset[str] = frozenset(),
    arrived: frozenset[str] = frozenset(),
) -> tuple[Schedule, int]:
    """The schedule re-solved from `from_round` on; and how many assignments changed.

    `problem` lists everyone who may take part (arrivals included); `absent` members are left
    out from `from_round` on; `arrived` members (who must be in `problem`) are fitted in, as is
    anyone in `problem` the published schedule does not know."""
    _validate(problem)
    if not 1 <= from_round <= problem.rounds:
        raise ValueError("from_round must be between 1 and rounds")
    members = set(problem.mentors) | set(problem.mentees)
    for what, names in (("absent", absent), ("arrived", arrived)):
        unknown = sorted(set(names) - members)
        if unknown:
            raise ValueError(f"{what}: {unknown[0]!r} is not a member of the event")
    if absent & arrived:
        raise ValueError(f"{sorted(absent & arrived)[0]!r} is both absent and arrived")
    past = [m for m in published.meetings if m.round < from_round]
    before = [m for m in published.meetings if m.round >= from_round]
    present_mentees = [x for x in problem.mentees if x not in absent]
    present_mentors = [y for y in problem.mentors if y not in absent]
    if problem.mode == "everyone":
        future = _rotation_repair(
            problem,
            from_round=from_round,
            past=past,
            published=published.meetings,
            present_mentees=present_mentees,
            present_mentors=present_mentors,
            arrived=arrived,
        )
    else:
        tables: dict[str, int] = {}
        taken: set[int] = set()
        for m in sorted(published.meetings, key=lambda m: m.round):
            if m.mentor in present_mentors and m.mentor not in tables and m.table not in taken:
                tables[m.mentor] = m.table
                taken.add(m.table)
        free = (t for t in range(1, len(problem.mentors) + len(taken) + 2) if t not in taken)
        for y in present_mentors:
            if y not in tables:
                tables[y] = next(free)
        future = _relevance_future(
            problem,
            from_round=from_round,
            past=past,
            published=[m for m in before if tables.get(m.mentor) is not None],
            present_mentees=present_mentees,
            present_mentors=present_mentors,
            tables=tables,
        )
    schedule = _finish(problem, [*past, *future], absent)
    return schedule, _changed(before, future)
