"""What a process keeps for itself stays bounded, in entries and in bytes, whatever callers send.

- The slot-page memo (availability/memo.py) counted a page by its slots, so an empty page was
  free, and keyed the range by the microsecond: asking for the same empty week with another
  microsecond each time grew it without end.
- db/fast.py's compiled statements were a plain dict keyed by statement identity: each compiled
  form holds its statement, so every shape of the mentor search a caller tried (sorts x filters
  x page sizes) stayed in memory after the statement builder's LRU had let it go.

Each is filled here with hostile inputs; the bounds must hold and the answers stay right.
"""

import gc
import itertools
import random
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from mentorapi.availability import memo, service, slots
from mentorapi.availability.render import FreeSlots
from mentorapi.db import fast
from mentorapi.kit.bounded import MIN_WEIGHT, BoundedLRU
from mentorapi.mentors import repository as mentors_repository
from mentorapi.mentors.schemas import MentorSort
from tests.conftest import Tenant
from tests.factories import bookable, create_mentor
from tests.test_slot_equivalence import _case, find

# --- the bounded map itself -----------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    operations=st.lists(
        st.tuples(st.integers(0, 60), st.integers(-1000, 5000), st.booleans()), max_size=300
    ),
    max_entries=st.integers(1, 20),
    max_weight=st.integers(MIN_WEIGHT, 20_000),
)
def test_a_bounded_map_never_exceeds_its_bounds_and_never_answers_wrong(
    operations: list[tuple[int, int, bool]], max_entries: int, max_weight: int
) -> None:
    """Weights may be negative, zero or huge (what a careless `weigh` might say): each entry
    still weighs at least MIN_WEIGHT and the map keeps to both bounds."""
    kept: BoundedLRU[int, tuple[int, int]] = BoundedLRU(
        max_entries=max_entries, max_weight=max_weight, weigh=lambda key, value: value[1]
    )
    latest: dict[int, tuple[int, int]] = {}
    for key, weight, read in operations:
        if read:
            found = kept.get(key)
            assert found is None or found == latest[key]
        else:
            value = (key, weight)
            stored = kept.put(key, value)
            assert stored == (max(MIN_WEIGHT, weight) <= max_weight)
            latest[key] = value
            if stored:
                assert kept.get(key) == value  # what was just put is there
        assert len(kept) <= max_entries
        assert kept.weight <= max_weight
        assert kept.weight >= MIN_WEIGHT * len(kept)


# --- the slot pages --------------------------------------------------------------------------


def _empty_page() -> FreeSlots:
    clock = slots.clock_around(slots.zone("Europe/Berlin"), 0, slots.DAY, 0)
    return FreeSlots([], 30 * slots.MINUTE, clock).rendered()


def _hostile_key(i: int) -> tuple[Any, ...]:
    # What the service keys a page by, the start one microsecond later each time.
    return (
        "app_01JD0000000000000000000000",
        "mtr_01JD0000000000000000000000",
        "Europe/Berlin",
        (15, 30),
        b'[{"day":"mon","start":"09:00","end":"17:00"}]' * 10,
        b"[]",
        0,
        0,
        None,
        "postgresql",
        None,
        1_800_000_000_000_000 + i,
        1_800_604_800_000_000 + i,
        30,
        "Europe/Berlin",
    )


def test_empty_pages_fill_the_memo_no_further_than_its_bounds() -> None:
    pages = memo.SlotPages(max_entries=10**9, max_bytes=256 * 1024)
    page = _empty_page()
    for i in range(50_000):
        pages.put(_hostile_key(i), page)
        assert pages.weight <= pages.max_weight
    assert 0 < len(pages) < 50_000
    assert pages.get(_hostile_key(49_999)) is page  # the newest are kept, and right
    assert pages.get(_hostile_key(0)) is None

    by_count = memo.SlotPages(max_entries=100, max_bytes=10**12)
    for i in range(10_000):
        by_count.put(_hostile_key(i), page)
    assert len(by_count) == 100


def test_the_memo_weighs_what_it_holds() -> None:
    """The byte bound is real memory, not a count: fill a memo bounded at 512 kB with pages of
    every size and measure what it holds with tracemalloc."""
    rng = random.Random(7)
    clock = slots.clock_around(slots.zone("Europe/Berlin"), 0, 40 * slots.DAY, 0)
    bound = 512 * 1024
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        pages = memo.SlotPages(max_entries=10**9, max_bytes=bound)
        for i in range(800):
            n = rng.choice([0, 0, 1, 10, 300])
            starts = sorted(rng.sample(range(0, 40 * slots.DAY, slots.MINUTE), n))
            page = FreeSlots(starts, 30 * slots.MINUTE, clock).rendered()
            pages.put(_hostile_key(i), page)
            del page, starts
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert pages.weight <= bound
    assert held <= 1.5 * bound, held


def _week(start: datetime) -> dict[str, Any]:
    end = start + timedelta(days=7)
    return {"start": start.isoformat(), "end": end.isoformat(), "duration": 30}


async def test_asking_with_another_microsecond_each_time_keeps_one_page(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = memo.SlotPages(max_entries=5, max_bytes=memo.MAX_BYTES)
    monkeypatch.setattr(memo, "pages", pages)
    base = await bookable(tenant.client)
    url = f"/v1/mentors/{base['mentor_id']}/slots"
    monday = datetime(2031, 3, 3, 8, 0, 0, 1, tzinfo=UTC)
    bodies = set()
    for us in range(0, 400_000, 20_000):
        response = await tenant.client.get(url, params=_week(monday + timedelta(microseconds=us)))
        assert response.status_code == 200, response.text
        bodies.add(response.content)
    assert len(pages) == 1  # every one of them is 08:00:01
    assert len(bodies) == 1

    # Other seconds are other pages: bounded all the same, and each still right.
    for s in range(12):
        params = _week(monday + timedelta(seconds=s * 900 + 1))
        kept = await tenant.client.get(url, params=params)
        monkeypatch.setattr(memo, "pages", memo.SlotPages())  # a fresh memo: computed anew
        fresh = await tenant.client.get(url, params=params)
        monkeypatch.setattr(memo, "pages", pages)
        assert kept.status_code == fresh.status_code == 200
        assert kept.content == fresh.content
        assert len(pages) <= 5


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), micro=st.integers(1, 999_999))
def test_a_range_and_its_whole_seconds_have_the_same_slots(seed: int, micro: int) -> None:
    """Why the service may key a page by whole seconds: every candidate is a whole second."""
    case = _case(random.Random(seed))
    case["start"] = case["start"].replace(microsecond=micro)
    case["end"] = case["end"].replace(microsecond=(micro * 7) % 1_000_000)
    rounded = dict(case)
    rounded["start"] = service._whole_second(case["start"])
    rounded["end"] = service._whole_second(case["end"])
    for now in (case["start"] - timedelta(minutes=case["notice"]), case["now"]):
        assert find(rounded, now).page_json() == find(case, now).page_json()


# --- compiled statements ---------------------------------------------------------------------


def _shapes(dialect: str) -> Iterator[Any]:
    # Every page size of every sort, with and without filters: what callers choose freely.
    for limit, sort, skills, q in itertools.product(
        range(2, 102), MentorSort, (0, 1, 10), (False, True)
    ):
        yield mentors_repository._Shape(dialect, sort, skills, q, q, q, q, True, limit)


def test_compiled_statements_stay_within_their_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """More shapes than the caches hold, compiled one after another (as the mentor list does):
    the statement cache and the compiled cache each keep to their bounds, and a statement
    asked for again is compiled to the same SQL."""
    dialects = {"postgresql": postgresql.asyncpg.dialect(), "sqlite": sqlite.aiosqlite.dialect()}
    shapes = list(itertools.islice(_shapes("postgresql"), 0, None, 37))  # ~100 of 3,600
    shapes += list(itertools.islice(_shapes("sqlite"), 0, None, 37))
    assert len(shapes) > 2 * 60
    monkeypatch.setattr(
        fast,
        "_prepared",
        BoundedLRU(max_entries=60, max_weight=fast.MAX_BYTES, weigh=fast._prepared._weigh),
    )
    statements = mentors_repository._statements
    monkeypatch.setattr(
        mentors_repository,
        "_statements",
        BoundedLRU(max_entries=50, max_weight=2 * 2**20, weigh=statements._weigh),
    )
    for shape in shapes:
        statement = mentors_repository._search_statement(shape)
        fast._prepare(statement, dialects[shape.dialect])
        assert len(fast._prepared) <= 60
        assert fast._prepared.weight <= fast.MAX_BYTES
        assert len(mentors_repository._statements) <= mentors_repository._statements.max_entries
        weight = mentors_repository._statements.weight
        assert weight <= mentors_repository._statements.max_weight
    first = shapes[0]
    again = fast._prepare(mentors_repository._search_statement(first), dialects[first.dialect])
    fresh = mentors_repository._build_search_statement(first).compile(
        dialect=dialects[first.dialect]
    )
    assert again.sql == fresh.string


def test_compiled_statements_weigh_what_they_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """db/fast.py's byte bound is real memory: compile far more than a 1 MB bound holds (each
    statement let go by its builder, as the LRU above it would) and measure what stays."""
    dialect = postgresql.asyncpg.dialect()
    bound = 1024 * 1024
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        prepared = BoundedLRU(max_entries=10**9, max_weight=bound, weigh=fast._prepared._weigh)
        monkeypatch.setattr(fast, "_prepared", prepared)
        for shape in itertools.islice(_shapes("postgresql"), 0, None, 43):
            fast._prepare(mentors_repository._build_search_statement(shape), dialect)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert prepared.weight <= bound
    assert held <= 1.5 * bound, held


async def test_the_mentor_list_answers_right_through_evictions(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tiny caches on the hot path: every page size is a new shape and evicts another; each
    page is still the right one."""
    monkeypatch.setattr(
        fast,
        "_prepared",
        BoundedLRU(max_entries=3, max_weight=fast.MAX_BYTES, weigh=fast._prepared._weigh),
    )
    monkeypatch.setattr(
        mentors_repository,
        "_statements",
        BoundedLRU(
            max_entries=3,
            max_weight=fast.MAX_BYTES,
            weigh=mentors_repository._statements._weigh,
        ),
    )
    ids = [(await create_mentor(tenant.client, name=f"M{i:02d}"))["id"] for i in range(12)]
    for limit in [*range(1, 13), 5, 3, 1]:
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": limit, "sort": "name"}
            if cursor:
                params["cursor"] = cursor
            page = (await tenant.client.get("/v1/mentors", params=params)).json()
            seen += [m["id"] for m in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids, limit
        assert len(fast._prepared) <= 3
        assert len(mentors_repository._statements) <= 3
