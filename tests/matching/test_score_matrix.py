"""The pair matrix of score_pairs (`scoring.score_all`) against the per-pair rule
(`Scorer.score`): on random mentees, mentors, texts, marks, histories and weights, the same
pairs are kept, every score is the same, and a looked-up pair's components and reasons are the
rule's. A divergence between the array path and the rule fails here."""

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentorapi.matching.repository import History, MenteeFacts, MentorFacts, SkillRecord, Wanted
from mentorapi.matching.scoring import (
    COMPONENTS,
    DEFAULT_WINDOW,
    Ask,
    Context,
    score_all,
    seeking_skills,
)
from mentorapi.mentors.models import make_offer

NOW = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
SKILLS = ["skl_a", "skl_b", "skl_c"]
LANGUAGES = ["en", "de", "fr"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

languages = st.lists(st.sampled_from(LANGUAGES), unique=True, max_size=2)
weights = st.fixed_dictionaries(
    {name: st.sampled_from([0.0, 0.05, 0.1, 0.35, 1.0]) for name in COMPONENTS}
).filter(lambda w: sum(w.values()) > 0)


@st.composite
def mentors(draw: st.DrawFn, index: int) -> MentorFacts:
    offered = draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=3))
    days = draw(st.lists(st.sampled_from(DAYS), unique=True, max_size=3))
    start = draw(st.integers(6, 18))
    held = [
        (False, int((NOW + timedelta(hours=h)).timestamp() * 1_000_000), None)
        for h in draw(st.lists(st.integers(1, 150), max_size=3))
    ]
    return MentorFacts(
        id=f"mtr_{index}",
        timezone=draw(st.sampled_from(ZONES)),
        languages=draw(languages),
        formats=["video"],
        session_lengths=draw(st.sampled_from([[15], [30, 60]])),
        offers=[
            make_offer(s, s, s.upper(), "data", draw(st.integers(1, 5)), None) for s in offered
        ],
        ratings_count=(rated := draw(st.integers(0, 20))),
        rating_sum=rated * draw(st.integers(1, 5)),
        impact_stories=draw(st.integers(0, 4)),
        weekly=[{"day": d, "start": f"{start:02d}:00", "end": f"{start + 3:02d}:00"} for d in days]
        or None,
        overrides=[],
        buffer_before_minutes=0,
        buffer_after_minutes=0,
        min_notice_minutes=0,
        booking_horizon_days=None,
        weekly_capacity=draw(st.none() | st.integers(1, 4)),
        daily_limit_sessions=None,
        daily_limit_minutes=None,
        held=held,
        active=draw(st.booleans()) or draw(st.booleans()),
    )


@st.composite
def mentees(draw: st.DrawFn, index: int) -> MenteeFacts:
    seeking = draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=2))
    return MenteeFacts(
        id=f"mte_{index}",
        timezone=draw(st.sampled_from(ZONES)),
        languages=draw(languages),
        seeking=[Wanted(s, s.upper(), draw(st.integers(1, 5)), None) for s in seeking],
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[Ask], Context]:
    team = [draw(mentors(i)) for i in range(draw(st.integers(1, 5)))]
    # Few distinct profiles, as in a cohort: several mentees share one.
    people = [draw(mentees(i)) for i in range(draw(st.integers(1, 6)))]
    asks = [
        Ask(
            mentee=m,
            text="",
            skills=seeking_skills(m),
            languages=tuple(m.languages),
            start=NOW,
            end=NOW + DEFAULT_WINDOW,
        )
        for m in people
    ]
    pairs = st.tuples(
        st.sampled_from([m.id for m in people]), st.sampled_from([m.id for m in team])
    )
    texts = draw(st.dictionaries(pairs, st.floats(0, 1, allow_nan=False)))
    marks = draw(st.dictionaries(pairs, st.sampled_from(["dismiss", "bookmark"]), max_size=3))
    histories = draw(
        st.dictionaries(
            pairs,
            st.builds(
                lambda n, r, total: History(n, min(r, n), min(r, n) * total),
                st.integers(1, 4),
                st.integers(0, 4),
                st.integers(1, 5),
            ),
            max_size=3,
        )
    )
    records = draw(
        st.dictionaries(
            st.tuples(st.sampled_from([m.id for m in team]), st.sampled_from(SKILLS)),
            st.builds(
                lambda n, s, i: SkillRecord(n, n * s, min(i, n)),
                st.integers(0, 9),
                st.integers(1, 5),
                st.integers(0, 3),
            ),
        )
    )
    context = Context(
        mentors=team,
        texts=texts,
        marks=marks,
        histories=histories,
        records=records,
        names={s: s.upper() for s in SKILLS},
        weights=draw(weights),
    )
    return asks, context


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_matrix_is_the_per_pair_rule(case: tuple[list[Ask], Context]) -> None:
    asks, context = case
    found = score_all(context, asks, context.scorer(NOW))
    rule = context.scorer(NOW)  # its own caches: nothing shared with the matrix's scorer
    expected = {}
    for ask in asks:
        for mentor in context.mentors:
            scored = rule.score(ask, mentor, context.pair(ask.mentee.id, mentor.id))
            if scored is not None:
                expected[(ask.mentee.id, mentor.id)] = scored[0]
    assert set(found) == set(expected)
    assert len(found) == len(expected)
    assert found.scores() == {pair: score.score for pair, score in expected.items()}
    for pair, score in expected.items():
        assert found[pair] == score  # components and reasons too
    for ask in asks:
        for mentor in context.mentors:
            pair = (ask.mentee.id, mentor.id)
            assert (pair in found) == (pair in expected)
