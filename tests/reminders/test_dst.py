"""Reminders are real minutes before the start instant, across every change of the clocks: a
reminder 1440 minutes before a session the day after the clocks change is 24 real hours
before it (23 or 25 on the wall clock). Through the API and the worker, on both databases."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentorapi.db.engine import Database
from mentorapi.reminders.worker import Scheduler
from tests.conftest import Tenant
from tests.factories import bookable
from tests.reminders.conftest import Clock, at, queued, sent, z
from tests.test_slots_dst_property import switches

ALL_DAY = [
    {"day": d, "start": "00:00", "end": "24:00"}
    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
]
# Zones that change their clocks in 2027: by an hour, at midnight (Santiago), by half an hour
# (Lord Howe), in either hemisphere.
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
]
SWITCHES = [(zone, s) for zone in ZONES for s in switches(zone, 2027)]
OFFSETS = [1, 15, 60, 90, 1380, 1440, 1500, 2880]
CLOCK_START = "2027-01-01T00:00:00Z"  # before every switch of 2027


async def _book(tenant: Tenant, zone: str, starts_at: datetime) -> dict[str, object]:
    base = await bookable(tenant.client, weekly=ALL_DAY)
    mentor = await tenant.client.patch(f"/v1/mentors/{base['mentor_id']}", json={"timezone": zone})
    assert mentor.status_code == 200, mentor.text
    response = await tenant.client.post(
        "/v1/sessions", json={**base, "duration_minutes": 15, "starts_at": z(starts_at)}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    switch=st.sampled_from(SWITCHES),
    minutes_from_switch=st.integers(min_value=-3 * 1440, max_value=3 * 1440),
    offsets=st.lists(st.sampled_from(OFFSETS), min_size=1, max_size=5, unique=True),
)
async def test_reminders_are_real_minutes_before_the_start_across_dst(
    tenant: Tenant,
    db: Database,
    clock: Clock,
    scheduler: Scheduler,
    switch: tuple[str, datetime],
    minutes_from_switch: int,
    offsets: list[int],
) -> None:
    zone, instant = switch
    clock.set(CLOCK_START)
    starts_at = instant + timedelta(minutes=minutes_from_switch)
    policy = await tenant.client.put("/v1/app/reminders", json={"offsets_minutes": offsets})
    assert policy.status_code == 200, policy.text
    session = await _book(tenant, zone, starts_at)
    rows = {
        r.minutes_before: r.due_at
        for r in await queued(db, tenant.id)
        if r.session_id == session["id"] and r.kind == "reminder"
    }
    assert sorted(rows) == sorted(offsets)
    for minutes, due in rows.items():
        assert (starts_at - due).total_seconds() == minutes * 60
    # And the worker sends each at that instant, on time.
    for minutes in sorted(offsets, reverse=True):
        clock.set(starts_at - timedelta(minutes=minutes))
        await scheduler.run_due()
    reminders = [
        e for e in await sent(db, tenant.id, "session.reminder") if e.object_id == session["id"]
    ]
    assert sorted(e.data["minutes_before"] for e in reminders) == sorted(offsets)
    for event in reminders:
        assert event.data["lateness_seconds"] == 0.0
        assert at(event.data["due_at"]) == starts_at - timedelta(
            minutes=event.data["minutes_before"]
        )


async def test_a_day_before_a_session_the_day_after_spring_forward_is_24_real_hours(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    """Berlin springs forward on Sunday 2027-03-28 at 02:00. A session on Sunday at 12:00
    (10:00 UTC) is reminded 1440 minutes before: Saturday 10:00 UTC, which is 11:00 in Berlin,
    not 12:00 (the same wall time a day earlier would be only 23 hours before)."""
    clock.set(CLOCK_START)
    berlin = ZoneInfo("Europe/Berlin")
    starts_at = datetime(2027, 3, 28, 12, 0, tzinfo=berlin).astimezone(UTC)
    session = await _book(tenant, "Europe/Berlin", starts_at)
    [day_before] = [
        r.due_at
        for r in await queued(db, tenant.id)
        if r.session_id == session["id"] and r.minutes_before == 1440
    ]
    assert day_before == at("2027-03-27T10:00:00Z")
    assert starts_at - day_before == timedelta(hours=24)
    assert day_before.astimezone(berlin).hour == 11
