"""Where an event is at any instant (the live feed's phases), for any shape of event: a
property test over rounds, lengths, starts across changes of the clocks, and instants."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from mentorapi.kit.timezones import zone
from mentorapi.mentoring_events.models import Phase, Timeline
from mentorapi.mentoring_events.schemas import local_text

# Around Berlin's and New York's changes of the clocks in 2031, and ordinary days.
STARTS = st.sampled_from(
    [
        datetime(2031, 3, 30, 0, 30, tzinfo=UTC),  # Berlin springs forward at 01:00Z
        datetime(2031, 10, 26, 0, 40, tzinfo=UTC),  # Berlin falls back at 01:00Z
        datetime(2031, 3, 9, 6, 45, tzinfo=UTC),  # New York springs forward at 07:00Z
        datetime(2031, 6, 1, 17, 0, tzinfo=UTC),
    ]
)
TIMELINES = st.builds(
    Timeline,
    starts_at=STARTS,
    rounds=st.integers(2, 12),
    round_minutes=st.integers(3, 20),
    transition_minutes=st.integers(0, 15),
)


@settings(max_examples=300, deadline=None)
@given(line=TIMELINES, offset=st.integers(-120 * 60, 500 * 60))
def test_every_instant_has_one_phase_and_the_next_change_is_ahead(
    line: Timeline, offset: int
) -> None:
    at = line.starts_at + timedelta(seconds=offset)
    moment = line.moment(at)
    if at >= line.ends_at:
        assert moment.phase is Phase.ended
        assert (moment.round, moment.next_change_at) == (None, None)
        return
    assert moment.round is not None
    assert moment.next_change_at is not None
    assert 1 <= moment.round <= line.rounds
    assert moment.next_change_at > at
    assert moment.round_starts_at == line.round_starts_at(moment.round)
    assert moment.round_ends_at == line.round_starts_at(moment.round) + timedelta(
        minutes=line.round_minutes
    )
    if moment.phase is Phase.in_round:
        assert moment.round_starts_at <= at < moment.round_ends_at
        assert moment.next_change_at == moment.round_ends_at
    else:
        assert moment.phase in (Phase.not_started, Phase.transition)
        assert at < moment.round_starts_at == moment.next_change_at
        assert (moment.phase is Phase.not_started) == (moment.round == 1)
    # Just before the next change it is still the same moment; at it, something else.
    before = line.moment(moment.next_change_at - timedelta(microseconds=1))
    assert (before.phase, before.round) == (moment.phase, moment.round)
    after = line.moment(moment.next_change_at)
    assert (after.phase, after.round) != (moment.phase, moment.round)


@settings(max_examples=200, deadline=None)
@given(line=TIMELINES, name=st.sampled_from(["Europe/Berlin", "America/New_York", "UTC"]))
def test_rounds_are_real_minutes_apart_and_shown_with_the_offset_of_their_moment(
    line: Timeline, name: str
) -> None:
    step = timedelta(minutes=line.round_minutes + line.transition_minutes)
    for number in range(1, line.rounds + 1):
        start = line.round_starts_at(number)
        assert start - line.starts_at == step * (number - 1)
        shown = datetime.fromisoformat(local_text(start, name))
        assert shown == start  # the same instant
        tz = zone(name)
        assert shown.utcoffset() == tz.fromutc(start.replace(tzinfo=tz)).utcoffset()
    assert line.ends_at == line.round_starts_at(line.rounds) + timedelta(minutes=line.round_minutes)
    assert line.first_round_after(line.ends_at) is None
    assert line.first_round_after(line.starts_at - timedelta(seconds=1)) == 1
