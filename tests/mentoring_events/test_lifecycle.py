"""An event from draft to ended: statuses, counts, and the input the API refuses."""

from typing import Any

import pytest

from tests.conftest import Tenant
from tests.factories import as_member, mint_token
from tests.mentoring_events.conftest import (
    START,
    ManualClock,
    create_event,
    event_body,
    get,
    people,
    post,
    published_event,
    register_all,
)


async def test_from_draft_to_ended(tenant: Tenant, clock: ManualClock) -> None:
    created = await create_event(tenant.client, open_=False)
    assert created["status"] == "draft"
    assert created["registration_open"] is False
    assert created["counts"] == {"mentors": 0, "mentees": 0, "checked_in": 0, "no_shows": 0}
    assert created["schedule"] == {
        "status": "none",
        "version": 0,
        "published_at": None,
        "error": None,
    }
    # 4 rounds of 7 minutes, 2 between: 4 * 7 + 3 * 2 = 34 minutes.
    assert (created["starts_at"], created["ends_at"]) == (START, "2031-03-04T17:34:00Z")
    assert created["local_starts_at"] == "2031-03-04T18:00:00+01:00"

    opened = await post(tenant.client, f"/v1/mentoring-events/{created['id']}/open")
    assert (opened["status"], opened["registration_open"]) == ("open", True)
    assert opened["version"] == created["version"] + 1

    crowd = await people(tenant.client, 2, 3)
    await register_all(tenant.client, created["id"], crowd)
    seen = await get(tenant.client, f"/v1/mentoring-events/{created['id']}")
    assert seen["counts"] == {"mentors": 2, "mentees": 3, "checked_in": 0, "no_shows": 0}

    await post(tenant.client, f"/v1/mentoring-events/{created['id']}/schedule")
    await post(tenant.client, f"/v1/mentoring-events/{created['id']}/schedule/publish")
    seen = await get(tenant.client, f"/v1/mentoring-events/{created['id']}")
    assert (seen["status"], seen["registration_open"]) == ("scheduled", False)
    assert seen["schedule"]["status"] == "published"
    assert seen["schedule"]["version"] == 1

    for moment, status in (
        ("2031-03-04T16:59:59Z", "scheduled"),
        ("2031-03-04T17:00:00Z", "live"),
        ("2031-03-04T17:33:59Z", "live"),
        ("2031-03-04T17:34:00Z", "ended"),
    ):
        clock.set(moment)
        seen = await get(tenant.client, f"/v1/mentoring-events/{created['id']}")
        assert seen["status"] == status, moment


async def test_list_is_paginated_and_members_do_not_see_drafts(tenant: Tenant) -> None:
    ids = [(await create_event(tenant.client, open_=i > 0))["id"] for i in range(3)]
    first = await get(tenant.client, "/v1/mentoring-events", limit=2)
    assert [e["id"] for e in first["data"]] == ids[:2]
    rest = await get(tenant.client, "/v1/mentoring-events", limit=2, cursor=first["next_cursor"])
    assert [e["id"] for e in rest["data"]] == ids[2:]
    assert rest["next_cursor"] is None

    crowd = await people(tenant.client, 0, 1)
    token = await mint_token(tenant.client, crowd.mentees[0]["external_id"], "mentee")
    async with as_member(tenant.client, token) as member:
        seen = await get(member, "/v1/mentoring-events")
        assert [e["id"] for e in seen["data"]] == ids[1:]
        draft = await member.get(f"/v1/mentoring-events/{ids[0]}")
        assert draft.status_code == 404
        assert (await member.get(f"/v1/mentoring-events/{ids[1]}")).status_code == 200


async def test_only_the_api_key_runs_an_event(tenant: Tenant, clock: ManualClock) -> None:
    ready = await published_event(tenant, 2, 2, publish=False)
    mentee = ready.crowd.mentees[0]
    token = await mint_token(tenant.client, mentee["external_id"], "mentee")
    async with as_member(tenant.client, token) as member:
        base = f"/v1/mentoring-events/{ready.id}"
        refused = {
            "/v1/mentoring-events": event_body(),
            f"{base}/open": None,
            f"{base}/schedule": None,
            f"{base}/schedule/publish": None,
            f"{base}/check-ins": {"member_id": mentee["id"]},
            f"{base}/no-shows": {"member_id": mentee["id"]},
        }
        for path, body in refused.items():
            response = await member.post(path, json=body)
            assert response.status_code == 403, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")


async def test_another_apps_event_is_not_found(
    tenant: Tenant, other_tenant: Tenant, clock: ManualClock
) -> None:
    ready = await published_event(tenant, 2, 2)
    base = f"/v1/mentoring-events/{ready.id}"
    mentee_id = ready.crowd.mentee_ids[0]
    for method, path, body in (
        ("GET", base, None),
        ("GET", f"{base}/schedule", None),
        ("GET", f"{base}/registrations", None),
        ("GET", f"{base}/follow-ups", None),
        ("GET", f"{base}/live", None),
        ("POST", f"{base}/open", None),
        ("POST", f"{base}/schedule", None),
        ("POST", f"{base}/check-ins", {"member_id": mentee_id}),
        ("POST", f"{base}/registrations", {"mentee_id": mentee_id}),
    ):
        response = await other_tenant.client.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
    # Their own event with our people in it: our ids are unknown there.
    theirs = await create_event(other_tenant.client)
    response = await other_tenant.client.post(
        f"/v1/mentoring-events/{theirs['id']}/registrations", json={"mentee_id": mentee_id}
    )
    assert response.status_code == 404, response.text


BAD: list[tuple[dict[str, Any], str]] = [
    ({"rounds": 1}, "rounds"),
    ({"rounds": 13}, "rounds"),
    ({"round_minutes": 2}, "round_minutes"),
    ({"round_minutes": 21}, "round_minutes"),
    ({"table_capacity": 0}, "table_capacity"),
    ({"table_capacity": 5}, "table_capacity"),
    ({"transition_minutes": -1}, "transition_minutes"),
    ({"meetings_per_mentee": 5}, ""),  # more than the 4 rounds
    ({"registration_closes_at": "2031-03-04T17:01:00Z"}, ""),
    ({"starts_at": "2031-03-04T17:00:30Z"}, "starts_at"),
    ({"starts_at": "2031-03-04T17:00:00"}, "starts_at"),  # no offset
    (  # in the past
        {"starts_at": "2020-03-04T17:00:00Z", "registration_closes_at": "2020-03-04T12:00:00Z"},
        "starts_at",
    ),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": "nul\x00byte"}, ""),
    ({"mode": "random"}, "mode"),
    ({"rounds": "four"}, "rounds"),
    ({"surprise": True}, "surprise"),
]


@pytest.mark.parametrize(("change", "where"), BAD)
async def test_bad_input_is_a_422(
    tenant: Tenant, clock: ManualClock, change: dict[str, Any], where: str
) -> None:
    response = await tenant.client.post("/v1/mentoring-events", json=event_body(**change))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["status"] == 422
    if where:
        assert any(where in map(str, e["loc"]) for e in problem["errors"]), problem


async def test_ids_of_the_wrong_kind_and_huge_ones(tenant: Tenant) -> None:
    for bad in ("mtr_01JD8X7C2B3A4Z5Y6X7W8V9T0S", "x" * 10_000, "mev_short"):
        response = await tenant.client.get(f"/v1/mentoring-events/{bad}")
        assert response.status_code == 422, response.text
    unknown = await tenant.client.get("/v1/mentoring-events/mev_01JDD7K2M3N4P5Q6R7S8T9V0W1")
    assert unknown.status_code == 404


async def test_open_twice_and_if_match(tenant: Tenant) -> None:
    event = await create_event(tenant.client, open_=False)
    stale = await tenant.client.post(
        f"/v1/mentoring-events/{event['id']}/open", headers={"If-Match": '"7"'}
    )
    assert stale.status_code == 412
    assert stale.json()["current_version"] == event["version"]
    opened = await tenant.client.post(
        f"/v1/mentoring-events/{event['id']}/open", headers={"If-Match": f'"{event["version"]}"'}
    )
    assert opened.status_code == 200
    assert opened.headers["etag"] == f'"{event["version"] + 1}"'
    again = await tenant.client.post(f"/v1/mentoring-events/{event['id']}/open")
    assert again.status_code == 409
