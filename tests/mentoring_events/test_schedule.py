"""Building, publishing and reading the schedule: the rules held by what is stored, who sees
what, local times across a change of the clocks, and large events built by a job."""

from typing import Any

import pytest
from fastapi import FastAPI

from mentorapi.db.engine import Database
from mentorapi.jobs.runner import JobRunner
from mentorapi.mentoring_events import service
from tests import conftest
from tests.conftest import Tenant, count_statements, own
from tests.factories import as_member, mint_token
from tests.mentoring_events.conftest import (
    ManualClock,
    check_rules,
    create_event,
    get,
    people,
    post,
    published_event,
    register_all,
)


async def _schedule(tenant: Tenant, event_id: str, **params: Any) -> dict[str, Any]:
    return await get(tenant.client, f"/v1/mentoring-events/{event_id}/schedule", **params)  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["relevance", "everyone"])
async def test_the_stored_schedule_keeps_every_rule(
    tenant: Tenant, clock: ManualClock, mode: str
) -> None:
    crowd = await people(tenant.client, 4, 9)
    event = await create_event(
        tenant.client, mode=mode, rounds=5, table_capacity=2, meetings_per_mentee=3
    )
    m = crowd.mentor_ids
    x = crowd.mentee_ids
    wishes = {
        x[0]: {"must_meet": [m[0], m[1]]},
        x[1]: {"no_thanks": [m[0]], "must_meet": [m[2]]},
    }
    # A mentor's no-thanks too.
    no_thanks = {(x[1], m[0]), (x[2], m[3])}
    for mentor_id in m:
        body: dict[str, Any] = {"mentor_id": mentor_id}
        await post(tenant.client, f"/v1/mentoring-events/{event['id']}/registrations", body, 201)
    for mentee_id in x:
        body = {"mentee_id": mentee_id, **wishes.get(mentee_id, {})}
        await post(tenant.client, f"/v1/mentoring-events/{event['id']}/registrations", body, 201)
    # The mentor's wish names a mentee registered after them: a second registration round.
    await tenant.client.delete(f"/v1/mentoring-events/{event['id']}/registrations/{m[3]}")
    await post(
        tenant.client,
        f"/v1/mentoring-events/{event['id']}/registrations",
        {"mentor_id": m[3], "no_thanks": [x[2]]},
        201,
    )
    built = await post(tenant.client, f"/v1/mentoring-events/{event['id']}/schedule")
    assert built["status"] == "provisional"
    stored = await _schedule(tenant, event["id"])
    assert stored["assignments"] == built["assignments"]
    check_rules(stored["assignments"], rounds=5, capacity=2, per_mentee=3, no_thanks=no_thanks)
    pairs = {(a["mentee_id"], a["mentor_id"]) for a in stored["assignments"]}
    must_meets = {(x[0], m[0]), (x[0], m[1]), (x[1], m[2])}
    stats = stored["stats"]
    unmet = {(u["mentee_id"], u["mentor_id"]) for u in stats["unmet_must_meets"]}
    # Each must-meet is met or said to be unmet; in relevance mode these are all feasible.
    assert must_meets - pairs == unmet
    if mode == "relevance":
        assert unmet == set()
    assert stats["meetings"] == len(stored["assignments"])
    assert stats["mentees_without_meetings"] == 0
    for a in stored["assignments"]:
        assert a["reasons"], a
    for a in stored["assignments"]:
        if (a["mentee_id"], a["mentor_id"]) in must_meets:
            assert "asked to meet" in a["reasons"]
        if mode == "everyone":
            assert "rotation: every mentor visits every table" in a["reasons"]
    # Times: round k starts (k - 1) * 9 minutes after 17:00Z.
    for a in stored["assignments"]:
        minutes = (a["round"] - 1) * 9
        assert a["starts_at"] == f"2031-03-04T17:{minutes:02d}:00Z"
        assert a["ends_at"] == f"2031-03-04T17:{minutes + 7:02d}:00Z"
        assert a["local_start"] == f"2031-03-04T18:{minutes:02d}:00+01:00"


async def test_a_schedule_across_the_change_of_the_clocks(
    tenant: Tenant, clock: ManualClock
) -> None:
    # Berlin springs forward at 01:00Z on 30 March 2031: 01:50 local (+01:00), then 03:00.
    ready = await published_event(
        tenant,
        2,
        3,
        starts_at="2031-03-30T00:50:00Z",
        registration_closes_at="2031-03-29T12:00:00Z",
        rounds=3,
        round_minutes=5,
        transition_minutes=1,
        table_capacity=1,
        meetings_per_mentee=2,
    )
    shown = {a["round"]: (a["starts_at"], a["local_start"]) for a in ready.schedule["assignments"]}
    expected = {
        1: ("2031-03-30T00:50:00Z", "2031-03-30T01:50:00+01:00"),
        2: ("2031-03-30T00:56:00Z", "2031-03-30T01:56:00+01:00"),
        3: ("2031-03-30T01:02:00Z", "2031-03-30T03:02:00+02:00"),
    }
    # 3 mentees x 2 meetings on 2 single seats: every round is used.
    assert shown == expected
    event = await get(tenant.client, f"/v1/mentoring-events/{ready.id}")
    assert event["ends_at"] == "2031-03-30T01:07:00Z"  # real minutes: 17 after the start


async def test_members_see_their_own_published_rounds(tenant: Tenant, clock: ManualClock) -> None:
    ready = await published_event(tenant, 3, 6, publish=False)
    mentee = ready.crowd.mentees[0]
    mentor = ready.crowd.mentors[0]
    mentee_token = await mint_token(tenant.client, mentee["external_id"], "mentee")
    mentor_token = await mint_token(tenant.client, mentor["external_id"], "mentor")
    base = f"/v1/mentoring-events/{ready.id}/schedule"
    async with as_member(tenant.client, mentee_token) as her:
        provisional = await get(her, base)
        assert (provisional["status"], provisional["assignments"]) == ("provisional", [])
        assert provisional["stats"] is None

        await post(tenant.client, f"{base}/publish")
        mine = await get(her, base)
        assert mine["status"] == "published"
        assert mine["assignments"]
        assert {a["mentee_id"] for a in mine["assignments"]} == {mentee["id"]}
        assert mine["stats"] is None
        assert mine == await get(her, base, member_id=mentee["id"])
        other = ready.crowd.mentee_ids[1]
        assert (await her.get(base, params={"member_id": other})).status_code == 404
        assert (await her.get(base, params={"member_id": mentor["id"]})).status_code == 403
    async with as_member(tenant.client, mentor_token) as him:
        his = await get(him, base)
        assert his["assignments"]
        assert {a["mentor_id"] for a in his["assignments"]} == {mentor["id"]}
    everyone = await _schedule(tenant, ready.id)
    assert everyone["stats"] is not None
    assert [a for a in everyone["assignments"] if a["mentee_id"] == mentee["id"]] == mine[
        "assignments"
    ]
    assert (await _schedule(tenant, ready.id, member_id=mentee["id"]))["assignments"] == mine[
        "assignments"
    ]
    # An id of someone not registered (or of another kind): 404 / 422.
    stranger = (await people(tenant.client, 0, 1)).mentee_ids[0]
    assert (await tenant.client.get(base, params={"member_id": stranger})).status_code == 404
    wrong = await tenant.client.get(base, params={"member_id": ready.id})
    assert wrong.status_code == 422


async def test_publishing_needs_a_fresh_schedule(tenant: Tenant, clock: ManualClock) -> None:
    crowd = await people(tenant.client, 2, 3)
    event = await create_event(tenant.client)
    base = f"/v1/mentoring-events/{event['id']}"
    nothing = await tenant.client.post(f"{base}/schedule/publish")
    assert nothing.status_code == 409
    empty = await tenant.client.post(f"{base}/schedule")
    assert empty.status_code == 409  # nobody registered
    await register_all(tenant.client, event["id"], crowd)
    await post(tenant.client, f"{base}/schedule")
    late = (await people(tenant.client, 0, 1)).mentee_ids[0]
    await post(tenant.client, f"{base}/registrations", {"mentee_id": late}, 201)
    stale = await tenant.client.post(f"{base}/schedule/publish")
    assert stale.status_code == 409
    assert "build it again" in stale.json()["detail"]
    rebuilt = await post(tenant.client, f"{base}/schedule")
    assert late in {a["mentee_id"] for a in rebuilt["assignments"]}
    published = await post(tenant.client, f"{base}/schedule/publish")
    assert published["status"] == "published"
    assert published["assignments"] == rebuilt["assignments"]
    again = await tenant.client.post(f"{base}/schedule")
    assert again.status_code == 409
    # Once started, nothing is built or published.
    other = await create_event(tenant.client)
    await register_all(tenant.client, other["id"], crowd)
    await post(tenant.client, f"/v1/mentoring-events/{other['id']}/schedule")
    clock.set("2031-03-04T17:00:00Z")
    started = await tenant.client.post(f"/v1/mentoring-events/{other['id']}/schedule/publish")
    assert started.status_code == 409


async def test_the_schedule_view_reads_a_fixed_number_of_statements(
    tenant: Tenant, clock: ManualClock
) -> None:
    small = await published_event(tenant, 2, 3)
    large = await published_event(tenant, 5, 12)
    counts = []
    for ready in (small, large):
        with count_statements() as statements:
            await _schedule(tenant, ready.id)
        counts.append(len(own(statements)))
        mentee = ready.crowd.mentee_ids[0]
        with count_statements() as statements:
            await _schedule(tenant, ready.id, member_id=mentee)
        counts.append(len(own(statements)))
    # Everyone's: the event and the assignments; one member's: their registration too.
    assert counts == [2, 3, 2, 3], counts


async def test_a_large_event_is_built_by_a_job(
    tenant: Tenant,
    clock: ManualClock,
    db: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "SYNC_BUILD_LIMIT", 4)
    ready = await published_event(tenant, 2, 4, publish=False, built=202)  # 6 people > 4
    assert ready.schedule["status"] == "building"
    assert ready.schedule["assignments"] == []
    base = f"/v1/mentoring-events/{ready.id}"
    again = await tenant.client.post(f"{base}/schedule")
    assert again.status_code == 409
    assert (await _schedule(tenant, ready.id))["status"] == "building"
    runner = JobRunner(db, conftest.test_settings(database_url), clock=clock)
    job = await runner.run_once(app_id=tenant.id)
    assert job is not None
    assert job.kind == "mentoring_event.schedule"
    built = await _schedule(tenant, ready.id)
    assert built["status"] == "provisional"
    check_rules(built["assignments"], rounds=4, capacity=2, per_mentee=3)
    assert built["stats"]["meetings"] == len(built["assignments"]) > 0
    published = await post(tenant.client, f"{base}/schedule/publish")
    assert published["assignments"] == built["assignments"]


async def test_a_build_job_that_fails_shows_as_failed_and_can_be_asked_again(
    tenant: Tenant,
    clock: ManualClock,
    db: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    app: FastAPI,
) -> None:
    monkeypatch.setattr(service, "SYNC_BUILD_LIMIT", 2)
    ready = await published_event(tenant, 1, 2, publish=False, built=202)
    assert ready.schedule["status"] == "building"

    def broken(_problem: object) -> None:
        raise RuntimeError("the solver fell over")

    monkeypatch.setattr("mentorapi.mentoring_events.planner.solve", broken)
    runner = JobRunner(db, conftest.test_settings(database_url, job_max_attempts=1), clock=clock)
    await runner.run_once(app_id=tenant.id)
    failed = await _schedule(tenant, ready.id)
    assert failed["status"] == "failed"
    assert failed["error"]
    monkeypatch.undo()
    monkeypatch.setattr(service, "SYNC_BUILD_LIMIT", 10)
    rebuilt = await post(tenant.client, f"/v1/mentoring-events/{ready.id}/schedule")
    assert rebuilt["status"] == "provisional"
