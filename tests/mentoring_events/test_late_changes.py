"""No-shows and late arrivals after publishing: only the rounds not yet started change."""

from typing import Any

import pytest
from sqlmodel import col, select

from mentorapi.db.engine import Database
from mentorapi.mentoring_events import planner
from mentorapi.webhooks.models import Event
from tests.conftest import Tenant
from tests.mentoring_events.conftest import (
    ManualClock,
    check_rules,
    get,
    post,
    published_event,
)

Key = tuple[str, str]


def _placed(assignments: list[dict[str, Any]]) -> dict[Key, tuple[int, int]]:
    return {(a["mentee_id"], a["mentor_id"]): (a["round"], a["table"]) for a in assignments}


def _changed(before: list[dict[str, Any]], after: list[dict[str, Any]], from_round: int) -> int:
    """Meetings of the rounds from `from_round` dropped, added or moved (each once)."""
    old = _placed([a for a in before if a["round"] >= from_round])
    new = _placed([a for a in after if a["round"] >= from_round])
    return sum(1 for pair in old.keys() | new.keys() if old.get(pair) != new.get(pair))


async def _events(db: Database, app_id: str, type: str) -> list[Event]:
    async with db.sessionmaker() as s:
        query = (
            select(Event)
            .where(col(Event.app_id) == app_id, col(Event.type) == type)
            .order_by(col(Event.id))
        )
        return list((await s.exec(query)).all())


async def test_a_no_show_in_round_two_changes_only_rounds_three_on(
    tenant: Tenant, clock: ManualClock, db: Database
) -> None:
    # Room at every table (4 seats, 4 mentees): a late arrival certainly fits in again.
    ready = await published_event(tenant, 3, 4, rounds=4, meetings_per_mentee=3, table_capacity=4)
    base = f"/v1/mentoring-events/{ready.id}"
    before = (await get(tenant.client, f"{base}/schedule"))["assignments"]
    absent = ready.crowd.mentee_ids[0]
    assert any(a["mentee_id"] == absent and a["round"] >= 3 for a in before)

    clock.set("2031-03-04T17:10:00Z")  # round 2 runs from 17:09 to 17:16
    result = await post(tenant.client, f"{base}/no-shows", {"member_id": absent})
    assert result["registration"]["attendance"] == "no_show"
    change = result["schedule_change"]
    assert change["from_round"] == 3
    assert change["schedule_version"] == 2

    after = (await get(tenant.client, f"{base}/schedule"))["assignments"]
    assert [a for a in after if a["round"] < 3] == [a for a in before if a["round"] < 3]
    assert not any(a["mentee_id"] == absent and a["round"] >= 3 for a in after)
    assert change["changed_assignments"] == _changed(before, after, 3) > 0
    check_rules(after, rounds=4, capacity=4, per_mentee=3)

    [event] = await _events(db, tenant.id, "mentoring_event.schedule_changed")
    assert event.object_id == ready.id
    assert event.data["from_round"] == 3
    assert event.data["changed_assignments"] == change["changed_assignments"]
    assert event.data["assignments"] == len(after)
    assert event.data["counts"]["no_shows"] == 1
    assert event.data["status"] == "live"

    # Marked again: nothing to do.
    again = await post(tenant.client, f"{base}/no-shows", {"member_id": absent})
    assert again["schedule_change"] is None

    # She turns up during round 3: fitted in from round 4 on, rounds 1-3 as they were.
    clock.set("2031-03-04T17:19:00Z")  # round 3 runs from 17:18
    arrived = await post(tenant.client, f"{base}/check-ins", {"member_id": absent})
    assert arrived["registration"]["attendance"] == "checked_in"
    assert arrived["registration"]["checked_in_at"] == "2031-03-04T17:19:00Z"
    assert arrived["schedule_change"]["from_round"] == 4
    latest = (await get(tenant.client, f"{base}/schedule"))["assignments"]
    assert [a for a in latest if a["round"] < 4] == [a for a in after if a["round"] < 4]
    assert any(a["mentee_id"] == absent and a["round"] == 4 for a in latest)
    assert arrived["schedule_change"]["changed_assignments"] == _changed(after, latest, 4)
    check_rules(latest, rounds=4, capacity=4, per_mentee=3)
    seen = await get(tenant.client, base)
    assert seen["schedule"]["version"] == 3
    assert seen["counts"]["no_shows"] == 0
    assert seen["counts"]["checked_in"] == 1


async def test_a_mentor_missing_before_the_start_frees_every_round(
    tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 3, 6)
    base = f"/v1/mentoring-events/{ready.id}"
    mentor = ready.crowd.mentor_ids[0]
    result = await post(tenant.client, f"{base}/no-shows", {"member_id": mentor})
    assert result["schedule_change"]["from_round"] == 1
    after = (await get(tenant.client, f"{base}/schedule"))["assignments"]
    assert mentor not in {a["mentor_id"] for a in after}
    check_rules(after, rounds=4, capacity=2, per_mentee=3)


async def test_once_every_round_has_started_nothing_is_solved_again(
    tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 2, 3)
    base = f"/v1/mentoring-events/{ready.id}"
    before = (await get(tenant.client, f"{base}/schedule"))["assignments"]
    clock.set("2031-03-04T17:28:00Z")  # round 4 of 4 has started
    result = await post(tenant.client, f"{base}/no-shows", {"member_id": ready.crowd.mentee_ids[0]})
    assert result["schedule_change"] is None
    assert (await get(tenant.client, f"{base}/schedule"))["assignments"] == before
    clock.set("2031-03-04T17:34:00Z")  # ended
    late = await tenant.client.post(
        f"{base}/check-ins", json={"member_id": ready.crowd.mentee_ids[0]}
    )
    assert late.status_code == 409


async def test_before_publishing_a_no_show_makes_the_build_stale(
    tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 2, 3, publish=False)
    base = f"/v1/mentoring-events/{ready.id}"
    absent = ready.crowd.mentee_ids[0]
    result = await post(tenant.client, f"{base}/no-shows", {"member_id": absent})
    assert result["schedule_change"] is None
    assert (await tenant.client.post(f"{base}/schedule/publish")).status_code == 409
    rebuilt = await post(tenant.client, f"{base}/schedule")
    assert absent not in {a["mentee_id"] for a in rebuilt["assignments"]}
    # Checking in someone who was only registered changes nothing to build.
    present = await post(
        tenant.client, f"{base}/check-ins", {"member_id": ready.crowd.mentee_ids[1]}
    )
    assert present["schedule_change"] is None
    published = await post(tenant.client, f"{base}/schedule/publish")
    assert published["status"] == "published"


async def test_attendance_of_someone_not_registered_is_not_found(
    tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 1, 1)
    base = f"/v1/mentoring-events/{ready.id}"
    for body, status in (
        ({"member_id": "mte_01JD8X9E3F4G5H6J7K8M9N0P1Q"}, 404),
        ({"member_id": ready.id}, 422),
        ({"member_id": "x" * 1000}, 422),
        ({}, 422),
    ):
        response = await tenant.client.post(f"{base}/check-ins", json=body)
        assert response.status_code == status, response.text


async def test_a_late_change_solves_with_the_scores_of_the_build(
    tenant: Tenant, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = await published_event(tenant, 3, 6)
    asked: list[tuple[int, int]] = []
    scored = planner.score_pairs

    async def counting(db: Any, **kwargs: Any) -> Any:
        asked.append((len(kwargs["mentee_ids"]), len(kwargs["mentor_ids"])))
        return await scored(db, **kwargs)

    monkeypatch.setattr(planner, "score_pairs", counting)
    base = f"/v1/mentoring-events/{ready.id}"
    before = (await get(tenant.client, f"{base}/schedule"))["assignments"]
    absent = ready.crowd.mentor_ids[0]
    result = await post(tenant.client, f"{base}/no-shows", {"member_id": absent})
    assert result["schedule_change"]["changed_assignments"] > 0
    after = (await get(tenant.client, f"{base}/schedule"))["assignments"]
    # Not every pair scored again: at most the people of the meetings new to the schedule.
    new = {(a["mentee_id"], a["mentor_id"]) for a in after} - {
        (a["mentee_id"], a["mentor_id"]) for a in before
    }
    assert all(x <= len({m for m, _ in new}) and y <= 2 for x, y in asked), asked
    assert len(asked) == (1 if new else 0)
    # Kept meetings keep their reasons; new ones have the matching's too.
    reasons = {(a["mentee_id"], a["mentor_id"]): a["reasons"] for a in before}
    for a in after:
        pair = (a["mentee_id"], a["mentor_id"])
        if pair in reasons:
            assert a["reasons"] == reasons[pair]
        else:
            assert len(a["reasons"]) > 1, a
