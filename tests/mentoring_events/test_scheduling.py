"""Speed-mentoring schedules (mentorapi.mentoring_events.scheduling), the solver alone: every
rule on random events, optimality against CP-SAT, late changes, the rotation."""

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ortools.sat.python import cp_model

from mentorapi.mentoring_events.pairing import FAIR_STEP, LOAD_STEP, REL_SCALE
from mentorapi.mentoring_events.scheduling import (
    EventProblem,
    Meeting,
    Schedule,
    build_schedule,
    reschedule,
)

Pair = tuple[str, str]


def check_rules(
    problem: EventProblem, schedule: Schedule, absent: Iterable[str] = (), from_round: int = 1
) -> None:
    """Every rule of a schedule, read from the schedule alone."""
    meetings = schedule.meetings
    assert meetings == sorted(meetings, key=lambda m: (m.round, m.table, m.mentee, m.mentor))
    gone = set(absent)
    pairs = [(m.mentee, m.mentor) for m in meetings]
    assert len(set(pairs)) == len(pairs), "a pair meets twice"
    for m in meetings:
        assert 1 <= m.round <= problem.rounds
        assert m.table >= 1
        assert m.mentee in problem.mentees
        assert m.mentor in problem.mentors
        assert (m.mentee, m.mentor) not in problem.no_thanks
        if m.round >= from_round:
            assert m.mentee not in gone
            assert m.mentor not in gone
    assert max(Counter((m.round, m.mentee) for m in meetings).values(), default=0) <= 1
    mentor_tables = Counter((m.round, m.mentor, m.table) for m in meetings)
    assert max(Counter((r, y) for r, y, _ in mentor_tables).values(), default=0) <= 1
    table_mentors = Counter((r, t) for r, _, t in mentor_tables)
    assert max(table_mentors.values(), default=0) <= 1, "two mentors at one table"
    seats = Counter((m.round, m.table) for m in meetings)
    assert max(seats.values(), default=0) <= problem.table_capacity
    per_mentee = Counter(m.mentee for m in meetings)
    assert max(per_mentee.values(), default=0) <= problem.meetings_per_mentee
    if problem.mode == "relevance":
        tables = {(m.mentor, m.table) for m in meetings}
        assert len({y for y, _ in tables}) == len(tables), "a mentor changed tables"
    met = set(pairs)
    assert schedule.unmet_must_meets == sorted(p for p in problem.must_meet if p not in met)
    expected = sum(problem.relevance.get(p, 0.0) for p in pairs)
    assert schedule.total_relevance == pytest.approx(expected)
    for m in meetings:
        assert ("must_meet" in m.reasons) == ((m.mentee, m.mentor) in problem.must_meet)


def _ladder(step: int, start: int, count: int) -> int:
    return sum(k * step for k in range(start, start + count))


def levels(
    problem: EventProblem,
    future: Sequence[Meeting],
    past: Sequence[Meeting] = (),
    keep: Iterable[Pair] = (),
) -> tuple[int, int, int, int]:
    """(must-meets, meetings, published kept, relevance net of ladders) of the future part."""
    pairs = [(m.mentee, m.mentor) for m in future]
    kept = set(keep)
    done_x = Counter(m.mentee for m in past)
    done_y = Counter(m.mentor for m in past)
    per_x = Counter(x for x, _ in pairs)
    per_y = Counter(y for _, y in pairs)
    base = sum(round(problem.relevance.get(p, 0.0) * REL_SCALE) for p in pairs)
    base -= sum(_ladder(FAIR_STEP, done_x[x], c) for x, c in per_x.items())
    base -= sum(_ladder(LOAD_STEP, done_y[y], c) for y, c in per_y.items())
    return (
        sum(p in problem.must_meet for p in pairs),
        len(pairs),
        sum(p in kept for p in pairs),
        base,
    )


def cp_sat_levels(
    problem: EventProblem,
    *,
    from_round: int = 1,
    past: Sequence[Meeting] = (),
    absent: Iterable[str] = (),
    keep: Iterable[Pair] = (),
) -> tuple[int, int, int, int]:
    """The lexicographic optimum by CP-SAT, one level at a time, each fixed before the next.

    Pairs only: a schedule of rounds exists for any choice within the degree limits (the
    scheduler proves it by building one), so the pairs' optimum is the schedule's optimum."""
    gone = set(absent)
    horizon = problem.rounds - from_round + 1
    met = {(m.mentee, m.mentor) for m in past}
    done_x = Counter(m.mentee for m in past)
    done_y = Counter(m.mentor for m in past)
    kept = set(keep)
    mentees = [x for x in problem.mentees if x not in gone]
    mentors = [y for y in problem.mentors if y not in gone]
    model = cp_model.CpModel()
    x = {
        (a, b): model.new_bool_var(f"{a}-{b}")
        for a in mentees
        for b in mentors
        if (a, b) not in problem.no_thanks and (a, b) not in met
    }
    ladders = []
    for a in mentees:
        mine = [v for p, v in x.items() if p[0] == a]
        cap = max(0, min(problem.meetings_per_mentee - done_x[a], horizon))
        rungs = [model.new_bool_var("") for _ in range(cap)]
        model.add(sum(mine) == sum(rungs))
        ladders += [(done_x[a] + k) * FAIR_STEP * r for k, r in enumerate(rungs)]
    for b in mentors:
        mine = [v for p, v in x.items() if p[1] == b]
        rungs = [model.new_bool_var("") for _ in range(problem.table_capacity * horizon)]
        model.add(sum(mine) == sum(rungs))
        ladders += [(done_y[b] + k) * LOAD_STEP * r for k, r in enumerate(rungs)]
    goals = [
        sum(v for p, v in x.items() if p in problem.must_meet),
        sum(x.values()),
        sum(v for p, v in x.items() if p in kept),
        sum(round(problem.relevance.get(p, 0.0) * REL_SCALE) * v for p, v in x.items())
        - sum(ladders),
    ]
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    best = []
    for goal in goals:
        model.maximize(goal)
        assert solver.solve(model) == cp_model.OPTIMAL
        value = round(solver.objective_value)
        best.append(value)
        model.add(goal >= value)
    return best[0], best[1], best[2], best[3]


GRID = st.integers(0, 10).map(lambda k: k / 10)


@st.composite
def events(draw: st.DrawFn, mode: str | None = None) -> EventProblem:
    mentors = [f"y{j}" for j in range(draw(st.integers(1, 5)))]
    mentees = [f"x{i}" for i in range(draw(st.integers(1, 9)))]
    every = [(x, y) for x in mentees for y in mentors]
    rounds = draw(st.integers(2, 5))
    return EventProblem(
        rounds=rounds,
        table_capacity=draw(st.integers(1, 3)),
        meetings_per_mentee=draw(st.integers(1, rounds)),
        mode=draw(st.sampled_from(["relevance", "everyone"])) if mode is None else mode,  # type: ignore[arg-type]
        mentors=draw(st.permutations(mentors)),
        mentees=draw(st.permutations(mentees)),
        relevance={p: draw(GRID) for p in draw(st.lists(st.sampled_from(every), unique=True))},
        must_meet=frozenset(draw(st.lists(st.sampled_from(every), unique=True, max_size=5))),
        no_thanks=frozenset(draw(st.lists(st.sampled_from(every), unique=True, max_size=5))),
        seed=draw(st.integers(0, 1000)),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_every_rule_on_random_events(problem: EventProblem) -> None:
    schedule = build_schedule(problem)
    check_rules(problem, schedule)
    assert build_schedule(problem) == schedule  # deterministic


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events(mode="relevance"))
def test_relevance_mode_is_optimal_against_cp_sat(problem: EventProblem) -> None:
    # Most must-meets honoured, then most meetings, then best relevance net of balancing:
    # the first level is "must-meets honoured whenever feasible".
    schedule = build_schedule(problem)
    assert levels(problem, schedule.meetings) == cp_sat_levels(problem)


@st.composite
def late_changes(
    draw: st.DrawFn, mode: str
) -> tuple[EventProblem, EventProblem, int, frozenset[str], frozenset[str]]:
    """(the published event, the event now, from_round, absent, arrived)."""
    now = draw(events(mode=mode))
    members = [*now.mentors, *now.mentees]
    arrived = frozenset(draw(st.lists(st.sampled_from(members), unique=True, max_size=2)))
    rest = [m for m in members if m not in arrived]
    absent = (
        frozenset(draw(st.lists(st.sampled_from(rest), unique=True, max_size=3)))
        if rest
        else frozenset()
    )
    before = replace(
        now,
        mentors=[y for y in now.mentors if y not in arrived],
        mentees=[x for x in now.mentees if x not in arrived],
        must_meet=frozenset(p for p in now.must_meet if not arrived & set(p)),
        no_thanks=frozenset(p for p in now.no_thanks if not arrived & set(p)),
    )
    return before, now, draw(st.integers(1, now.rounds)), absent, arrived


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(late_changes(mode="relevance"))
def test_relevance_reschedule_keeps_the_past_and_is_optimal(
    case: tuple[EventProblem, EventProblem, int, frozenset[str], frozenset[str]],
) -> None:
    before, now, from_round, absent, arrived = case
    published = build_schedule(before)
    schedule, changed = reschedule(
        now, published, from_round=from_round, absent=absent, arrived=arrived
    )
    check_rules(now, schedule, absent, from_round)
    past = [m for m in published.meetings if m.round < from_round]
    assert [m for m in schedule.meetings if m.round < from_round] == past
    old_future = [m for m in published.meetings if m.round >= from_round]
    future = [m for m in schedule.meetings if m.round >= from_round]
    keep = [(m.mentee, m.mentor) for m in old_future if not absent & {m.mentee, m.mentor}]
    assert levels(now, future, past, keep) == cp_sat_levels(
        now, from_round=from_round, past=past, absent=absent, keep=keep
    )
    old = {(m.mentee, m.mentor): (m.round, m.table) for m in old_future}
    new = {(m.mentee, m.mentor): (m.round, m.table) for m in future}
    assert changed == sum(old.get(p) != new.get(p) for p in old.keys() | new.keys())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(late_changes(mode="everyone"))
def test_everyone_reschedule_keeps_the_past_and_every_rule(
    case: tuple[EventProblem, EventProblem, int, frozenset[str], frozenset[str]],
) -> None:
    before, now, from_round, absent, arrived = case
    published = build_schedule(before)
    schedule, changed = reschedule(
        now, published, from_round=from_round, absent=absent, arrived=arrived
    )
    check_rules(now, schedule, absent, from_round)
    past = [m for m in published.meetings if m.round < from_round]
    assert [m for m in schedule.meetings if m.round < from_round] == past
    # What stays of the published future stays where it was.
    after = {(m.mentee, m.mentor, m.round, m.table) for m in schedule.meetings}
    for m in published.meetings:
        if m.round >= from_round and not absent & {m.mentee, m.mentor}:
            assert (m.mentee, m.mentor, m.round, m.table) in after
    assert changed >= sum(
        1 for m in published.meetings if m.round >= from_round and absent & {m.mentee, m.mentor}
    )


@settings(max_examples=60, deadline=None)
@given(events(mode="relevance"), st.integers(1, 5))
def test_nothing_changed_changes_nothing(problem: EventProblem, from_round: int) -> None:
    published = build_schedule(problem)
    again, changed = reschedule(problem, published, from_round=min(from_round, problem.rounds))
    assert changed == 0
    assert again.meetings == published.meetings


def _event(**overrides: object) -> EventProblem:
    base: dict[str, object] = {
        "rounds": 3,
        "table_capacity": 2,
        "meetings_per_mentee": 2,
        "mode": "relevance",
        "mentors": ["kim", "lee"],
        "mentees": ["ann", "bob", "cat"],
    }
    base.update(overrides)
    return EventProblem(**base)  # type: ignore[arg-type]


def test_relevance_decides_and_says_why() -> None:
    problem = _event(
        meetings_per_mentee=1,
        table_capacity=1,
        rounds=2,
        mentees=["ann", "bob"],
        relevance={
            ("ann", "kim"): 0.9,
            ("ann", "lee"): 0.2,
            ("bob", "kim"): 0.8,
            ("bob", "lee"): 0.7,
        },
        must_meet=frozenset({("bob", "lee")}),
    )
    schedule = build_schedule(problem)
    pairs = {(m.mentee, m.mentor): m for m in schedule.meetings}
    # bob's one meeting goes to his must-meet, not to the more relevant kim.
    assert set(pairs) == {("ann", "kim"), ("bob", "lee")}
    assert pairs[("bob", "lee")].reasons == ("must_meet", "relevance 0.70")
    assert pairs[("ann", "kim")].reasons == ("relevance 0.90",)
    assert pairs[("ann", "kim")].table == 1
    assert pairs[("bob", "lee")].table == 2
    assert schedule.unmet_must_meets == []
    assert schedule.total_relevance == pytest.approx(1.6)


def test_no_thanks_beats_must_meet_and_is_reported() -> None:
    problem = _event(must_meet=frozenset({("ann", "kim")}), no_thanks=frozenset({("ann", "kim")}))
    schedule = build_schedule(problem)
    assert ("ann", "kim") not in {(m.mentee, m.mentor) for m in schedule.meetings}
    assert schedule.unmet_must_meets == [("ann", "kim")]
    assert schedule.stats["must_meet_share"] == 0.0


def test_loads_are_balanced_when_relevance_allows() -> None:
    mentees = [f"x{i}" for i in range(8)]
    problem = _event(
        rounds=4,
        meetings_per_mentee=1,
        mentors=["kim", "lee"],
        mentees=mentees,
        relevance={**{(x, "kim"): 0.5 for x in mentees}, **{(x, "lee"): 0.49 for x in mentees}},
    )
    schedule = build_schedule(problem)
    assert schedule.stats["mentor_meetings_max"] == schedule.stats["mentor_meetings_min"] == 4


def test_short_seats_are_shared_out_evenly() -> None:
    # 1 mentor x 1 seat x 4 rounds for 3 mentees who each want 2: nobody gets 2 before all get 1.
    problem = _event(
        rounds=4,
        table_capacity=1,
        mentors=["kim"],
        relevance={("ann", "kim"): 1.0, ("bob", "kim"): 0.1, ("cat", "kim"): 0.0},
    )
    counts = Counter(m.mentee for m in build_schedule(problem).meetings)
    assert sorted(counts.values()) == [1, 1, 1]


def test_rounds_are_used_evenly() -> None:
    mentees = [f"x{i}" for i in range(12)]
    problem = _event(
        rounds=6, table_capacity=2, meetings_per_mentee=2, mentors=["kim", "lee"], mentees=mentees
    )
    per_round = Counter(m.round for m in build_schedule(problem).meetings)
    assert sorted(per_round.values()) == [4] * 6


def test_must_meets_in_everyone_mode_when_everyone_meets_everyone() -> None:
    mentors = [f"y{j}" for j in range(4)]
    mentees = [f"x{i}" for i in range(7)]
    rng = random.Random(7)
    problem = _event(
        mode="everyone",
        rounds=4,
        meetings_per_mentee=4,
        mentors=mentors,
        mentees=mentees,
        must_meet=frozenset((x, rng.choice(mentors)) for x in mentees),
    )
    schedule = build_schedule(problem)
    check_rules(problem, schedule)
    assert schedule.unmet_must_meets == []
    assert Counter(m.mentee for m in schedule.meetings) == dict.fromkeys(mentees, 4)


@settings(max_examples=100, deadline=None)
@given(events(mode="everyone"))
def test_everyone_mode_rotates_mentors_and_seats_groups(problem: EventProblem) -> None:
    schedule = build_schedule(problem)
    n, m, c = len(problem.mentees), len(problem.mentors), problem.table_capacity
    tables = max(m, min(n, max(math.ceil(n / c), m)))
    # A mentee stays at one table; a mentor moves one table on each round.
    assert all(
        len({t.table for t in schedule.meetings if t.mentee == x}) <= 1 for x in problem.mentees
    )
    for y in problem.mentors:
        assert len({(t.table - t.round) % tables for t in schedule.meetings if t.mentor == y}) <= 1
    for meeting in schedule.meetings:
        assert meeting.reasons[-1] == "rotation"


def test_a_no_show_frees_only_their_own_future() -> None:
    mentees = [f"x{i}" for i in range(6)]
    rng = random.Random(1)
    problem = _event(
        rounds=4,
        mentors=["kim", "lee", "max"],
        mentees=mentees,
        relevance={(x, y): rng.random() for x in mentees for y in ["kim", "lee", "max"]},
    )
    published = build_schedule(problem)
    schedule, changed = reschedule(problem, published, from_round=2, absent=frozenset({"x0"}))
    dropped = [m for m in published.meetings if m.mentee == "x0" and m.round >= 2]
    assert changed == len(dropped)
    assert set(schedule.meetings) == set(published.meetings) - set(dropped)


def test_an_arrival_is_fitted_in() -> None:
    before = _event(rounds=4, mentees=["ann", "bob"])
    published = build_schedule(before)
    now = _event(rounds=4, mentees=["ann", "bob", "cat"], must_meet=frozenset({("cat", "lee")}))
    schedule, changed = reschedule(now, published, from_round=3, arrived=frozenset({"cat"}))
    cat = [m for m in schedule.meetings if m.mentee == "cat"]
    assert len(cat) == 2
    assert {m.round for m in cat} == {3, 4}
    assert ("cat", "lee") in {(m.mentee, m.mentor) for m in cat}
    assert changed == 2  # room was free: nobody else moved


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rounds": 1}, "rounds must be between 2 and 12"),
        ({"rounds": 13}, "rounds must be between 2 and 12"),
        ({"table_capacity": 5}, "table_capacity must be between 1 and 4"),
        ({"meetings_per_mentee": 4}, "meetings_per_mentee must be between 1 and rounds"),
        ({"meetings_per_mentee": 0}, "meetings_per_mentee must be between 1 and rounds"),
        ({"mode": "random"}, "unknown mode"),
        ({"mentors": ["kim", "kim"]}, "mentor 'kim' is listed twice"),
        ({"mentees": ["ann", "kim"]}, "'kim' is both a mentor and a mentee"),
        ({"must_meet": frozenset({("zoe", "kim")})}, "'zoe' is not a mentee of the event"),
        ({"no_thanks": frozenset({("ann", "ann")})}, "'ann' is not a mentor of the event"),
        ({"relevance": {("ann", "kim"): float("nan")}}, "must be between 0 and 1"),
    ],
)
def test_invalid_events_are_value_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build_schedule(_event(**overrides))


def test_invalid_late_changes_are_value_errors() -> None:
    problem = _event()
    published = build_schedule(problem)
    with pytest.raises(ValueError, match="from_round must be between 1 and rounds"):
        reschedule(problem, published, from_round=4)
    with pytest.raises(ValueError, match="'zoe' is not a member of the event"):
        reschedule(problem, published, from_round=2, arrived=frozenset({"zoe"}))
    with pytest.raises(ValueError, match="'ann' is both absent and arrived"):
        reschedule(
            problem, published, from_round=2, absent=frozenset({"ann"}), arrived=frozenset({"ann"})
        )


def test_empty_events() -> None:
    for mode in ("relevance", "everyone"):
        assert build_schedule(_event(mode=mode, mentors=[])).meetings == []
        assert build_schedule(_event(mode=mode, mentees=[])).meetings == []


def test_everyone_mode_arrivals_take_vacancies_and_free_seats() -> None:
    mentors = ["y0", "y1", "y2", "y3"]
    mentees = [f"x{i}" for i in range(8)]
    before = _event(
        mode="everyone",
        rounds=4,
        table_capacity=3,
        meetings_per_mentee=4,
        mentors=mentors,
        mentees=mentees,
    )
    published = build_schedule(before)
    assert len(published.meetings) == 32  # four groups of two meet all four mentors
    now = replace(before, mentors=[*mentors, "y9"], mentees=[*mentees, "x9"])
    schedule, changed = reschedule(
        now, published, from_round=2, absent=frozenset({"y0"}), arrived=frozenset({"y9", "x9"})
    )
    check_rules(now, schedule, {"y0"}, 2)
    after = {(m.round, m.table, m.mentor, m.mentee) for m in schedule.meetings}
    vacated = [m for m in published.meetings if m.mentor == "y0" and m.round >= 2]
    # The arriving mentor sits where the absent one would have, with the same mentees.
    for m in vacated:
        assert (m.round, m.table, "y9", m.mentee) in after
    x9 = [m for m in schedule.meetings if m.mentee == "x9"]
    assert len({m.table for m in x9}) == 1  # seated at one table, like everyone else
    assert {m.round for m in x9} == {2, 3, 4}
    assert changed == 2 * len(vacated) + len(x9)


@settings(max_examples=60, deadline=None)
@given(events(mode="everyone"), st.integers(1, 5))
def test_everyone_mode_nothing_changed_changes_nothing(
    problem: EventProblem, from_round: int
) -> None:
    published = build_schedule(problem)
    seen = {name for m in published.meetings for name in (m.mentee, m.mentor)}
    again, changed = reschedule(problem, published, from_round=min(from_round, problem.rounds))
    check_rules(problem, again)
    if seen == {*problem.mentors, *problem.mentees}:
        assert changed == 0
        assert again.meetings == published.meetings
