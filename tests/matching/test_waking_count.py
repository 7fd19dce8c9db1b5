"""The availability component's count of free starts in the mentee's waking hours
(`scoring.waking_count`: two bisections a day) against its definition, a test per start
(`(start // US + offset) % 86_400` in [08:00, 20:00)), on the slot engine's own starts across
daylight-saving switches (tests/test_slots_dst_property.py's cases) and on starts placed on
and around the edges of the mentee's day. The scorer's starts are the engine's
(`availability.service.find_slots`, what GET /slots answers), and the component and its reason
are what the definition gives. A count that takes 20:00 itself for waking is caught.
"""

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mentorapi.availability import service, slots
from mentorapi.matching import scoring
from mentorapi.matching.repository import MenteeFacts, MentorFacts
from tests.test_slots_dst_property import cases

US = slots.US
PROPERTY = settings(max_examples=60, deadline=None)
# Offsets of real zones (seconds east of UTC), whole, half and quarter hours, both signs.
OFFSETS = [-12 * 3600, -9 * 3600 - 1800, -5 * 3600, -3600, 0, 3600, 5 * 3600 + 1800]
OFFSETS += [5 * 3600 + 2700, 9 * 3600 + 1800, 10 * 3600 + 1800, 12 * 3600 + 2700, 14 * 3600]


def by_definition(starts: Sequence[int], offset: int) -> int:
    low, high = scoring.WAKING_HOURS[0] * 3600, scoring.WAKING_HOURS[1] * 3600
    return sum(1 for start in starts if low <= (start // US + offset) % 86_400 < high)


def twenty_hundred_counts(starts: Sequence[int], offset: int) -> int:
    """Deliberately wrong: a start at 20:00 itself counted as waking."""
    if not starts:
        return 0
    low, high = scoring.WAKING_HOURS[0] * 3600, scoring.WAKING_HOURS[1] * 3600
    count = 0
    first = (starts[0] // US + offset) // 86_400
    for day in range(first, (starts[-1] // US + offset) // 86_400 + 1):
        midnight = day * 86_400 - offset
        count += bisect_right(starts, (midnight + high) * US) - bisect_left(
            starts, (midnight + low) * US
        )
    return count


def mentor_facts(case: dict[str, Any], held: list[tuple[bool, int, int | None]]) -> MentorFacts:
    return MentorFacts(
        id="mtr_1",
        timezone=case["zone"],
        languages=[],
        formats=["video"],
        session_lengths=[case["duration"]],
        offers=[],
        ratings_count=0,
        rating_sum=0,
        impact_stories=0,
        weekly=case["weekly"],
        overrides=[],
        buffer_before_minutes=case["before"],
        buffer_after_minutes=case["after"],
        min_notice_minutes=0,
        booking_horizon_days=case["horizon"],
        weekly_capacity=None,
        daily_limit_sessions=case["daily_sessions"],
        daily_limit_minutes=case["daily_minutes"],
        held=held,  # type: ignore[arg-type]
        active=True,
    )


@st.composite
def engine_starts(draw: st.DrawFn) -> tuple[list[int], int]:
    """The engine's free starts for a mentor in a zone that switches, in a range around the
    switch, and the offset of a mentee's clock."""
    case = draw(cases())
    rules = slots.rules_from(
        case["zone"],
        case["weekly"],
        [],
        buffer_before_minutes=case["before"],
        buffer_after_minutes=case["after"],
        daily_limit_sessions=case["daily_sessions"],
        daily_limit_minutes=case["daily_minutes"],
    )
    found = service.find_slots(
        rules,
        [],
        start=case["start"],
        end=case["end"],
        duration_minutes=case["duration"],
        display_timezone="UTC",
        now=case["start"] - timedelta(days=1),
    )
    return list(found.starts), draw(st.sampled_from(OFFSETS))


@st.composite
def edge_starts(draw: st.DrawFn) -> tuple[list[int], int]:
    """Starts on, just before and just after 08:00 and 20:00 of the mentee's days (to the
    microsecond and to the second), and anywhere between."""
    offset = draw(st.sampled_from(OFFSETS) | st.integers(-14 * 3600, 14 * 3600))
    base = draw(st.integers(19_000, 22_000)) * 86_400  # a day since 1970, mentee's clock
    found = set()
    for _ in range(draw(st.integers(0, 30))):
        day = base + draw(st.integers(0, 9)) * 86_400
        edge = draw(st.sampled_from([0, 8 * 3600, 20 * 3600]))
        second = day + edge - offset + draw(st.sampled_from([-1, 0, 0, 1]))
        found.add(second * US + draw(st.sampled_from([0, 0, 1, US - 1])))
    for _ in range(draw(st.integers(0, 10))):
        found.add(draw(st.integers(base * US, (base + 10 * 86_400) * US)))
    return sorted(found), offset


EXAMPLES = engine_starts() | edge_starts()


@PROPERTY
@given(example=EXAMPLES)
def test_the_count_is_the_definitions(example: tuple[list[int], int]) -> None:
    starts, offset = example
    assert scoring.waking_count(starts, offset) == by_definition(starts, offset)
    assert scoring.waking_count(tuple(starts), offset) == by_definition(starts, offset)


def test_a_count_that_takes_twenty_hundred_for_waking_is_caught() -> None:
    def agrees(count: Callable[[Sequence[int], int], int]) -> Callable[[], None]:
        @PROPERTY
        @given(example=EXAMPLES)
        def holds(example: tuple[list[int], int]) -> None:
            starts, offset = example
            assert count(starts, offset) == by_definition(starts, offset)

        return holds

    agrees(scoring.waking_count)()
    with pytest.raises(AssertionError):
        agrees(twenty_hundred_counts)()


@PROPERTY
@given(case=cases(), offset=st.sampled_from(OFFSETS), seed=st.integers(0, 2**16))
def test_the_scorer_answers_from_the_engines_starts(
    case: dict[str, Any], offset: int, seed: int
) -> None:
    """Across a switch: the scorer's free starts are the slots engine's (with held times),
    and the availability component and its reason are the definition's."""
    now = case["start"] - timedelta(days=30)
    held: list[tuple[bool, int, int | None]] = []
    at = slots.to_us(case["start"])
    for i in range(seed % 5):
        begins = at + ((seed * (i + 7)) % (3 * 1440)) * slots.MINUTE
        held.append((True, begins, begins + 30 * slots.MINUTE))
    mentor = mentor_facts(case, held)
    mentee = MenteeFacts("mte_1", "UTC", [], [])
    ask = scoring.Ask(
        mentee=mentee,
        text="",
        skills=(),
        languages=(),
        start=case["start"],
        end=case["end"],
        duration_minutes=case["duration"],
    )
    time = scoring._time(ask, mentor, now)
    rules = scoring._rules(mentor)
    engine = service.find_slots(
        rules,
        held,
        start=case["start"],
        end=case["end"],
        duration_minutes=case["duration"],
        display_timezone="UTC",
        now=now,
    )
    assert list(time.starts) == list(engine.starts)
    value, reasons = scoring._availability(ask, time, offset)
    count, waking = len(engine.starts), by_definition(engine.starts, offset)
    assert value == (0.5 * min(1.0, count / 8) + 0.5 * min(1.0, waking / 4) if count else 0.0)
    if count:
        assert reasons() == [
            f"{count} free {case['duration']}-minute slots in the window, "
            f"{waking} within 08:00-20:00 in your zone"
        ]
