"""Who may register, when, and with which wishes."""

import pytest

from tests.conftest import Tenant
from tests.factories import as_member, create_mentee, create_skill, mint_token
from tests.mentoring_events.conftest import (
    ManualClock,
    create_event,
    get,
    people,
    post,
    published_event,
)


async def _register(tenant: Tenant, event_id: str, body: dict[str, object]) -> tuple[int, dict]:
    response = await tenant.client.post(f"/v1/mentoring-events/{event_id}/registrations", json=body)
    return response.status_code, response.json() if response.content else {}


async def test_a_registration_carries_its_wishes(tenant: Tenant, clock: ManualClock) -> None:
    crowd = await people(tenant.client, 2, 1)
    event = await create_event(tenant.client)
    a, b = crowd.mentor_ids
    await post(
        tenant.client,
        f"/v1/mentoring-events/{event['id']}/registrations",
        {"mentor_id": a, "skills": [crowd.skill["id"]]},
        201,
    )
    await post(
        tenant.client, f"/v1/mentoring-events/{event['id']}/registrations", {"mentor_id": b}, 201
    )
    body = {
        "mentee_id": crowd.mentee_ids[0],
        "ask": "  How do I refresh a pivot without losing my formatting?  ",
        "skills": [crowd.skill["id"]],
        "must_meet": [a],
        "no_thanks": [b],
    }
    created = await post(
        tenant.client, f"/v1/mentoring-events/{event['id']}/registrations", body, 201
    )
    assert created == {
        "event_id": event["id"],
        "member_id": crowd.mentee_ids[0],
        "role": "mentee",
        "mentor_id": None,
        "mentee_id": crowd.mentee_ids[0],
        "ask": "How do I refresh a pivot without losing my formatting?",
        "skills": [crowd.skill["id"]],
        "must_meet": [a],
        "no_thanks": [b],
        "attendance": "registered",
        "checked_in_at": None,
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
    }
    one = await get(
        tenant.client, f"/v1/mentoring-events/{event['id']}/registrations/{crowd.mentee_ids[0]}"
    )
    assert one == created
    mentors = await get(
        tenant.client, f"/v1/mentoring-events/{event['id']}/registrations", role="mentor"
    )
    assert [r["member_id"] for r in mentors["data"]] == sorted([a, b])


async def test_registration_is_taken_only_while_open(tenant: Tenant, clock: ManualClock) -> None:
    crowd = await people(tenant.client, 1, 2)
    draft = await create_event(tenant.client, open_=False)
    status, problem = await _register(tenant, draft["id"], {"mentor_id": crowd.mentor_ids[0]})
    assert (status, problem["detail"]) == (409, "registration is not open yet")

    event = await create_event(tenant.client)
    await post(
        tenant.client,
        f"/v1/mentoring-events/{event['id']}/registrations",
        {"mentor_id": crowd.mentor_ids[0]},
        201,
    )
    ready = await published_event(tenant, 1, 1)
    status, problem = await _register(tenant, ready.id, {"mentee_id": crowd.mentee_ids[1]})
    assert status == 409
    assert "published" in problem["detail"]

    clock.set("2031-03-04T12:00:00Z")  # registration_closes_at
    status, problem = await _register(tenant, event["id"], {"mentee_id": crowd.mentee_ids[0]})
    assert (status, problem["detail"]) == (409, "registration closed at 2031-03-04T12:00:00Z")
    seen = await get(tenant.client, f"/v1/mentoring-events/{event['id']}")
    assert seen["registration_open"] is False


async def test_a_second_registration_is_a_conflict(tenant: Tenant, clock: ManualClock) -> None:
    crowd = await people(tenant.client, 1, 0)
    event = await create_event(tenant.client)
    body = {"mentor_id": crowd.mentor_ids[0]}
    assert (await _register(tenant, event["id"], body))[0] == 201
    status, problem = await _register(tenant, event["id"], body)
    assert (status, problem["detail"]) == (
        409,
        f"{crowd.mentor_ids[0]} is already registered for this event",
    )


async def test_wishes_name_registered_people_of_the_other_side(
    tenant: Tenant, other_tenant: Tenant, clock: ManualClock
) -> None:
    crowd = await people(tenant.client, 2, 2)
    event = await create_event(tenant.client)
    registered, unregistered = crowd.mentor_ids
    await post(
        tenant.client,
        f"/v1/mentoring-events/{event['id']}/registrations",
        {"mentor_id": registered},
        201,
    )
    foreign = (await people(other_tenant.client, 1, 0)).mentor_ids[0]
    unknown = "mtr_01JD8X7C2B3A4Z5Y6X7W8V9T0S"
    mentee = crowd.mentee_ids[0]
    for field, ids, index, says in (
        ("must_meet", [registered, unregistered], 1, "is not registered"),
        ("no_thanks", [unknown], 0, "is not registered"),
        ("must_meet", [foreign], 0, "is not registered"),  # another app's: unknown here
        ("must_meet", [crowd.mentee_ids[1]], 0, "names mentors"),  # a mentee names mentors
    ):
        status, problem = await _register(tenant, event["id"], {"mentee_id": mentee, field: ids})
        assert status == 422, problem
        [error] = problem["errors"]
        assert error["loc"] == ["body", field, index]
        assert says in error["msg"]
    for body in (
        {"mentee_id": mentee, "must_meet": [registered], "no_thanks": [registered]},
        {"mentee_id": mentee, "must_meet": [registered, registered]},
        {"mentee_id": mentee, "must_meet": ["ses_01JDB2R5S6T7V8W9X0Y1Z2A3B4"]},
        {"mentee_id": mentee, "must_meet": ["x" * 5000]},
        {"mentee_id": mentee, "skills": ["skl_01JD8X4K8Y3N6Q2W5E7R9T1V3V"]},  # unknown skill
        {"mentee_id": mentee, "ask": "too short"},
        {"mentee_id": mentee, "ask": "x" * 501},
        {"mentor_id": registered, "mentee_id": mentee},
        {},
        {"mentor_id": crowd.mentor_ids[1], "ask": "A mentor has no ask to bring here"},
    ):
        status, problem = await _register(tenant, event["id"], body)
        assert status == 422, (body, problem)
    # Nothing half-written: the mentee can still register, cleanly.
    status, _ = await _register(tenant, event["id"], {"mentee_id": mentee})
    assert status == 201
    # A mentor's wishes name mentees.
    status, problem = await _register(
        tenant, event["id"], {"mentor_id": unregistered, "no_thanks": [mentee]}
    )
    assert status == 201, problem
    assert problem["no_thanks"] == [mentee]


async def test_unknown_people_are_not_found(tenant: Tenant, clock: ManualClock) -> None:
    event = await create_event(tenant.client)
    for body in (
        {"mentor_id": "mtr_01JD8X7C2B3A4Z5Y6X7W8V9T0S"},
        {"mentee_id": "mte_01JD8X9E3F4G5H6J7K8M9N0P1Q"},
    ):
        status, _ = await _register(tenant, event["id"], body)
        assert status == 404


async def test_members_register_only_themselves(tenant: Tenant, clock: ManualClock) -> None:
    crowd = await people(tenant.client, 2, 2)
    event = await create_event(tenant.client)
    base = f"/v1/mentoring-events/{event['id']}/registrations"
    her, other = crowd.mentees
    mentee_token = await mint_token(tenant.client, her["external_id"], "mentee")
    mentor_token = await mint_token(tenant.client, crowd.mentors[0]["external_id"], "mentor")
    async with as_member(tenant.client, mentor_token) as mentor:
        response = await mentor.post(base, json={"mentor_id": crowd.mentor_ids[1]})
        assert response.status_code == 403  # another mentor: public, not theirs
        response = await mentor.post(base, json={"mentee_id": her["id"]})
        assert response.status_code == 404  # a mentee: private
        response = await mentor.post(base, json={"mentor_id": crowd.mentor_ids[0]})
        assert response.status_code == 201
    async with as_member(tenant.client, mentee_token) as member:
        response = await member.post(base, json={"mentee_id": other["id"]})
        assert response.status_code == 404
        response = await member.post(
            base, json={"mentee_id": her["id"], "must_meet": [crowd.mentor_ids[0]]}
        )
        assert response.status_code == 201, response.text
        # Her own registrations only, however many there are.
        await post(tenant.client, base, {"mentee_id": other["id"]}, 201)
        seen = await get(member, base)
        assert [r["member_id"] for r in seen["data"]] == [her["id"]]
        assert (await member.get(f"{base}/{other['id']}")).status_code == 404
        assert (await member.get(f"{base}/{her['id']}")).status_code == 200
        # Withdrawing: herself only.
        assert (await member.delete(f"{base}/{other['id']}")).status_code == 404
        assert (await member.delete(f"{base}/{her['id']}")).status_code == 204
    seen = await get(tenant.client, f"/v1/mentoring-events/{event['id']}")
    assert seen["counts"]["mentees"] == 1


async def test_withdrawing_after_publishing_is_a_conflict(
    tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 1, 2)
    response = await tenant.client.delete(
        f"/v1/mentoring-events/{ready.id}/registrations/{ready.crowd.mentee_ids[0]}"
    )
    assert response.status_code == 409


@pytest.mark.parametrize("role", ["mentor", "mentee"])
async def test_a_deleted_member_leaves_the_event(
    tenant: Tenant, clock: ManualClock, role: str
) -> None:
    crowd = await people(tenant.client, 1, 1)
    event = await create_event(tenant.client)
    member_id = crowd.mentor_ids[0] if role == "mentor" else crowd.mentee_ids[0]
    await post(
        tenant.client,
        f"/v1/mentoring-events/{event['id']}/registrations",
        {f"{role}_id": member_id},
        201,
    )
    response = await tenant.client.delete(f"/v1/{role}s/{member_id}")
    assert response.status_code == 204, response.text
    seen = await get(tenant.client, f"/v1/mentoring-events/{event['id']}")
    assert seen["counts"][f"{role}s"] == 0


async def test_skills_are_the_apps(tenant: Tenant, clock: ManualClock) -> None:
    event = await create_event(tenant.client)
    mentee = await create_mentee(tenant.client)
    skill = await create_skill(tenant.client)
    status, problem = await _register(
        tenant, event["id"], {"mentee_id": mentee["id"], "skills": [skill["id"], skill["id"]]}
    )
    assert status == 422, problem
    status, created = await _register(
        tenant, event["id"], {"mentee_id": mentee["id"], "skills": [skill["id"]]}
    )
    assert (status, created["skills"]) == (201, [skill["id"]])
