"""The pure slot engine, checked against brute force (no database needed)."""

import random
from datetime import UTC, datetime, timedelta

from mentorapi.availability.slots import calendar_of, rules_of
from mentorapi.kit.timezones import zone
from mentorapi.sessions.service import occurrences

T0 = datetime(2027, 3, 1, tzinfo=UTC)


def test_overlap_search_matches_brute_force() -> None:
    rng = random.Random(7)
    rules = rules_of(None, "Europe/Berlin")
    for _ in range(200):
        spans = []
        for _ in range(rng.randint(0, 30)):
            a = T0 + timedelta(minutes=5 * rng.randint(0, 2000))
            spans.append((a, a + timedelta(minutes=rng.choice([5, 10, 15, 30, 60]))))
        calendar = calendar_of(rules, spans, [a for a, _ in spans])
        buffer = timedelta(minutes=rng.choice([0, 5, 15, 240]))
        for _ in range(50):
            start = T0 + timedelta(minutes=5 * rng.randint(-10, 2100))
            end = start + timedelta(minutes=rng.choice([5, 30, 60]))
            brute = any(start < b + buffer and a < end + buffer for a, b in spans)
            assert calendar.overlaps(start, end, buffer) == brute


def test_hold_keeps_order_and_counts_weeks() -> None:
    rules = rules_of(None, "Europe/Berlin")
    calendar = calendar_of(rules, [], [])
    late = (T0 + timedelta(days=1), T0 + timedelta(days=1, minutes=60))
    early = (T0, T0 + timedelta(minutes=15))
    calendar.hold(*late, zone("Europe/Berlin"))
    calendar.hold(*early, zone("Europe/Berlin"))
    assert calendar.busy == [early, late]
    assert sum(calendar.week_counts.values()) == 2
    assert calendar.overlaps(
        late[0] + timedelta(minutes=59), late[1] + timedelta(hours=1), timedelta(0)
    )


def test_series_occurrences_keep_wall_time_in_both_directions() -> None:
    spring = occurrences(datetime(2027, 3, 22, 8, 0, tzinfo=UTC), "Europe/Berlin", 2, 1)
    assert spring[1] == datetime(2027, 3, 29, 7, 0, tzinfo=UTC)
    autumn = occurrences(datetime(2027, 10, 25, 7, 0, tzinfo=UTC), "Europe/Berlin", 2, 1)
    assert autumn[1] == datetime(2027, 11, 1, 8, 0, tzinfo=UTC)
    new_york = occurrences(datetime(2027, 3, 8, 14, 0, tzinfo=UTC), "America/New_York", 2, 1)
    assert new_york[1] == datetime(2027, 3, 15, 13, 0, tzinfo=UTC)
