"""After a round, a mentee follows up with a mentor she met: a normal session request."""

from typing import Any

from tests.conftest import Tenant
from tests.factories import as_member, mint_token, set_availability
from tests.mentoring_events.conftest import (
    ManualClock,
    Ready,
    at,
    get,
    post,
    published_event,
    z,
)

ASK = "Walk me through a pivot with a growth column, on my real data"


def _first_meeting(ready: Ready, mentee_id: str) -> dict[str, Any]:
    mine = [a for a in ready.schedule["assignments"] if a["mentee_id"] == mentee_id]
    return min(mine, key=lambda a: a["round"])


async def test_a_follow_up_becomes_a_session_request(tenant: Tenant, clock: ManualClock) -> None:
    ready = await published_event(tenant, 2, 3)
    mentee = ready.crowd.mentees[0]
    met = _first_meeting(ready, mentee["id"])
    await set_availability(tenant.client, met["mentor_id"], auto_accept=False)
    token = await mint_token(tenant.client, mentee["external_id"], "mentee")
    path = f"/v1/mentoring-events/{ready.id}/follow-ups"
    async with as_member(tenant.client, token) as her:
        clock.set(at(met["ends_at"]))  # the round is over
        created = await post(her, path, {"mentor_id": met["mentor_id"], "ask": ASK}, 201)
        assert created["outcome"] == "session_requested"
        assert created["recommendation"] is None
        session = created["session"]
        assert (session["status"], session["topic"]) == ("requested", ASK)
        assert (session["mentor_id"], session["mentee_id"]) == (met["mentor_id"], mentee["id"])
        assert session["skill_id"] == ready.crowd.skill["id"]
        assert (session["format"], session["duration_minutes"]) == ("video", 15)
        # The mentor's first free slot after the event: 09:00 in Berlin the next day.
        assert session["starts_at"] == "2031-03-05T08:00:00Z"
        assert await get(her, f"/v1/sessions/{session['id']}") == session

        again = await her.post(path, json={"mentor_id": met["mentor_id"], "ask": ASK})
        assert again.status_code == 409
        listed = await get(her, path)
        assert [f["session"]["id"] for f in listed["data"]] == [session["id"]]
    everyone = await get(tenant.client, path)
    assert [f["mentee_id"] for f in everyone["data"]] == [mentee["id"]]


async def test_only_with_a_mentor_met_in_a_round_that_is_over(
    tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 3, 3, meetings_per_mentee=2)
    mentee_id = ready.crowd.mentee_ids[0]
    met = _first_meeting(ready, mentee_id)
    path = f"/v1/mentoring-events/{ready.id}/follow-ups"
    body = {"mentee_id": mentee_id, "mentor_id": met["mentor_id"], "ask": ASK}
    clock.set(met["starts_at"])
    during = await tenant.client.post(path, json=body)
    assert during.status_code == 409
    assert f"round {met['round']}" in during.json()["detail"]
    clock.set("2031-03-04T18:00:00Z")  # everything is over
    never = {a["mentor_id"] for a in ready.schedule["assignments"] if a["mentee_id"] == mentee_id}
    [unmet] = [m for m in ready.crowd.mentor_ids if m not in never]  # 2 of the 3 mentors met
    response = await tenant.client.post(path, json={**body, "mentor_id": unmet})
    assert response.status_code == 409
    assert "met" in response.json()["detail"]
    # The API key names the mentee; without one it cannot tell whose follow-up it is.
    missing = await tenant.client.post(path, json={"mentor_id": met["mentor_id"], "ask": ASK})
    assert missing.status_code == 422
    for bad in (
        {**body, "ask": "short"},
        {**body, "mentor_id": mentee_id},
        {**body, "format": "smoke signals"},
        {**body, "duration_minutes": 90},
        {**body, "skill_id": "skl_01JD8X4K8Y3N6Q2W5E7R9T1V3V"},  # not the mentor's
        {**body, "format": "phone"},  # not offered by the mentor
    ):
        response = await tenant.client.post(path, json=bad)
        assert response.status_code == 422, (bad, response.text)


async def test_no_free_slot_is_a_recommendation_to_book(tenant: Tenant, clock: ManualClock) -> None:
    ready = await published_event(tenant, 2, 2)  # no availability: no slot
    mentee_id = ready.crowd.mentee_ids[0]
    met = _first_meeting(ready, mentee_id)
    clock.set("2031-03-04T18:00:00Z")
    created = await post(
        tenant.client,
        f"/v1/mentoring-events/{ready.id}/follow-ups",
        {"mentee_id": mentee_id, "mentor_id": met["mentor_id"], "ask": ASK},
        201,
    )
    assert created["outcome"] == "recommendation"
    assert created["session"] is None
    assert created["recommendation"] == {
        "reason": "no free slot of 15 minutes in the next 14 days",
        "skill_id": ready.crowd.skill["id"],
        "format": "video",
        "duration_minutes": 15,
    }
    listed = await get(tenant.client, f"/v1/mentoring-events/{ready.id}/follow-ups")
    assert listed["data"] == [created]


async def test_a_slot_asked_for_that_is_taken_is_a_conflict(
    tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 2, 2)
    first, second = ready.crowd.mentee_ids
    mentor = _first_meeting(ready, first)["mentor_id"]
    await set_availability(tenant.client, mentor)
    clock.set("2031-03-04T18:00:00Z")
    path = f"/v1/mentoring-events/{ready.id}/follow-ups"
    slot = "2031-03-06T09:00:00Z"
    booked = await post(
        tenant.client,
        path,
        {"mentee_id": first, "mentor_id": mentor, "ask": ASK, "starts_at": slot},
        201,
    )
    assert booked["outcome"] == "session_booked"  # the mentor auto-accepts
    assert booked["session"]["starts_at"] == slot
    # Two mentors, two mentees, three meetings each: both met both.
    assert {(second, mentor), (first, mentor)} <= {
        (a["mentee_id"], a["mentor_id"]) for a in ready.schedule["assignments"]
    }
    taken = await tenant.client.post(
        path, json={"mentee_id": second, "mentor_id": mentor, "ask": ASK, "starts_at": slot}
    )
    assert taken.status_code == 409
    # Nothing half-written: the follow-up can be made at another time.
    later = z(at(slot).replace(hour=10))
    await post(
        tenant.client,
        path,
        {"mentee_id": second, "mentor_id": mentor, "ask": ASK, "starts_at": later},
        201,
    )


async def test_members_follow_up_for_themselves_only(tenant: Tenant, clock: ManualClock) -> None:
    ready = await published_event(tenant, 2, 2)
    her, other = ready.crowd.mentees
    met = _first_meeting(ready, other["id"])
    clock.set("2031-03-04T18:00:00Z")
    path = f"/v1/mentoring-events/{ready.id}/follow-ups"
    mentee_token = await mint_token(tenant.client, her["external_id"], "mentee")
    mentor = next(m for m in ready.crowd.mentors if m["id"] == met["mentor_id"])
    mentor_token = await mint_token(tenant.client, mentor["external_id"], "mentor")
    body = {"mentee_id": other["id"], "mentor_id": met["mentor_id"], "ask": ASK}
    async with as_member(tenant.client, mentee_token) as member:
        assert (await member.post(path, json=body)).status_code == 404
    async with as_member(tenant.client, mentor_token) as member:
        assert (await member.post(path, json=body)).status_code == 404
        response = await member.post(path, json={"mentor_id": met["mentor_id"], "ask": ASK})
        assert response.status_code == 422
        await post(tenant.client, path, body, 201)
        # The mentor sees the follow-ups made to them.
        seen = await get(member, path)
        assert [f["mentee_id"] for f in seen["data"]] == [other["id"]]
    async with as_member(tenant.client, mentee_token) as member:
        assert (await get(member, path))["data"] == []
