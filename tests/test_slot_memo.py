"""Slot pages reused per process (availability/memo.py) are what computing them gives.

A page is kept without the notice and the horizon, and cut at `now + notice` and at
`now + horizon` on each use: on seeded random cases (DST zones, notice of an hour or three days,
horizons of days, capacity, daily limits, held times, display zones) and at many moments of
asking, that cut page must be byte for byte the page the engine finds with the notice and the
horizon. Through the API, on both databases: every change to what a page is computed from
shows at once.
"""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mentorapi.availability import memo, service, slots
from mentorapi.availability.memo import SlotPages
from mentorapi.availability.render import FreeSlots
from tests.conftest import Tenant
from tests.factories import book_session, bookable, set_availability
from tests.test_slot_equivalence import _case, find


@pytest.mark.parametrize("seed", range(4))
def test_a_kept_page_cut_at_the_notice_is_the_page_found_with_it(seed: int) -> None:
    rng = random.Random(500 + seed)
    for _ in range(100):
        case = _case(rng)
        notice = timedelta(minutes=case["notice"])
        kept = find({**case, "horizon": None}, case["start"] - notice).rendered()
        span = case["end"] - case["start"]
        moments = [case["start"] - timedelta(days=4), case["end"] + timedelta(hours=1)] + [
            case["start"]
            + timedelta(
                seconds=rng.randint(-3 * 86_400, int(span.total_seconds())),
                microseconds=rng.randint(0, 999_999),
            )
            for _ in range(4)
        ]
        if kept.starts:  # asked exactly as a slot comes within the notice
            moment = kept.starts[rng.randrange(len(kept.starts))]
            moments.append(slots.from_us(moment) - notice)
        for now in moments:
            cut = kept.starting_from(slots.to_us(now + notice))
            if case["horizon"] is not None:
                cut = cut.up_to(slots.to_us(now + timedelta(days=case["horizon"])))
            fresh = find(case, now)
            assert cut.starts == fresh.starts, (case, now)
            assert cut.page_json() == fresh.page_json(), (case, now)
            assert cut.rows() == fresh.rows(), (case, now)


def test_pages_are_bounded_by_entries_and_bytes() -> None:
    clock = slots.clock_around(slots.zone("UTC"), 0, slots.DAY, 0)

    def page(n: int) -> FreeSlots:
        return FreeSlots([i * slots.MINUTE for i in range(n)], slots.MINUTE, clock).rendered()

    one = memo.page_weight("a", page(4))
    kept = SlotPages(max_entries=10, max_bytes=int(2.5 * one))
    kept.put("a", page(4))
    kept.put("b", page(4))
    assert kept.get("a") is not None  # a is now the most recent
    kept.put("c", page(4))  # three pages weigh more than the bound: the oldest (b) goes
    assert kept.get("b") is None
    assert kept.get("a") is not None
    assert kept.get("c") is not None
    kept.put("huge", page(400))  # more than the whole bound: never kept
    assert kept.get("huge") is None
    assert len(kept) == 2
    # Empty pages weigh something too: the entry bound and the byte bound both hold.
    few = SlotPages(max_entries=3, max_bytes=10**9)
    for i in range(10):
        few.put(i, page(0))
    assert len(few) == 3


async def _slots(tenant: Tenant, mentor_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await tenant.client.get(f"/v1/mentors/{mentor_id}/slots", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def test_every_change_to_what_a_page_is_computed_from_shows_at_once(
    tenant: Tenant,
) -> None:
    base = await bookable(tenant.client, weekly_capacity=10)
    mentor = base["mentor_id"]
    week = {"start": "2027-01-11T00:00:00Z", "end": "2027-01-18T00:00:00Z", "duration": 30}
    first = await _slots(tenant, mentor, **week)
    assert await _slots(tenant, mentor, **week) == first  # kept, and the same
    assert len(memo.pages) > 0

    booked = await book_session(tenant.client, base, first[0]["starts_at"])
    after_booking = await _slots(tenant, mentor, **week)
    assert first[0] not in after_booking

    response = await tenant.client.post(
        f"/v1/sessions/{booked['id']}/cancel", json={"by": "mentee", "reason": "clash"}
    )
    assert response.status_code == 200, response.text
    assert await _slots(tenant, mentor, **week) == first

    await set_availability(
        tenant.client, mentor, weekly=[{"day": "mon", "start": "10:00", "end": "11:00"}]
    )
    narrowed = await _slots(tenant, mentor, **week)
    assert [s["local_start"][11:16] for s in narrowed] == ["10:00", "10:15", "10:30"]

    await set_availability(
        tenant.client,
        mentor,
        weekly=[{"day": "mon", "start": "10:00", "end": "11:00"}],
        overrides=[{"date": "2027-01-11", "windows": []}],
    )
    assert await _slots(tenant, mentor, **week) == []

    response = await tenant.client.patch(f"/v1/mentors/{mentor}", json={"timezone": "UTC"})
    assert response.status_code == 200, response.text
    await set_availability(
        tenant.client, mentor, weekly=[{"day": "mon", "start": "10:00", "end": "11:00"}]
    )
    in_utc = await _slots(tenant, mentor, **week)
    assert [s["starts_at"][11:16] for s in in_utc] == ["10:00", "10:15", "10:30"]


async def test_a_kept_page_follows_the_minimum_notice_as_time_passes(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await bookable(tenant.client, min_notice_minutes=60)
    mentor = base["mentor_id"]
    week = {"start": "2027-01-11T00:00:00Z", "end": "2027-01-12T00:00:00Z", "duration": 30}
    # Berlin 09:00-17:00 is 08:00-16:00Z, starts every 15 minutes; asked at 09:10Z with an
    # hour's notice: 10:15Z on.
    for now, first in (
        (datetime(2027, 1, 11, 9, 10, tzinfo=UTC), "2027-01-11T10:15:00Z"),
        (datetime(2027, 1, 11, 7, 0, tzinfo=UTC), "2027-01-11T08:00:00Z"),
        (datetime(2027, 1, 11, 14, 20, tzinfo=UTC), "2027-01-11T15:30:00Z"),
    ):
        monkeypatch.setattr(service, "utcnow", lambda now=now: now)
        found = await _slots(tenant, mentor, **week)
        assert found[0]["starts_at"] == first, now
    monkeypatch.setattr(service, "utcnow", lambda: datetime(2027, 1, 11, 15, 1, tzinfo=UTC))
    assert await _slots(tenant, mentor, **week) == []
