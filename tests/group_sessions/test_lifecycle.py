"""Group sessions over REST: create, read, list, seats, and the lifecycle of the whole session,
with the events each change writes in its own transaction (and a refusal writes none)."""

import pytest

from mentorapi.db.engine import Database
from tests.conftest import Tenant
from tests.group_sessions.conftest import (
    ASK,
    MONDAY_9,
    all_events,
    create_group,
    events_of,
    group_world,
    mentees,
    take_seat,
    travel,
)
from tests.test_directory import assert_problem


async def test_create_read_and_the_created_event(tenant: Tenant, db: Database) -> None:
    base = await group_world(tenant.client)
    response = await tenant.client.post(
        "/v1/group-sessions", json={**base, "starts_at": "2027-01-11T09:00:00+01:00"}
    )
    assert response.status_code == 201, response.text
    group = response.json()
    assert group["id"].startswith("grp_")
    assert group["status"] == "scheduled"
    assert group["starts_at"] == "2027-01-11T08:00:00Z"
    assert group["ends_at"] == "2027-01-11T08:30:00Z"
    assert (group["seats"], group["seats_taken"], group["seats_left"]) == (6, 0, 6)
    assert group["version"] == 1
    assert response.headers["etag"] == '"1"'
    got = await tenant.client.get(f"/v1/group-sessions/{group['id']}")
    assert got.json() == group
    events = await events_of(db, tenant.id, group["id"])
    assert [(e.type, e.sequence) for e in events] == [("group_session.created", 1)]
    assert events[0].data == group


async def test_seats_are_taken_listed_and_given_back(tenant: Tenant, db: Database) -> None:
    base = await group_world(tenant.client)
    group = await create_group(tenant.client, base, seats=2)
    ana, ben, cem = await mentees(tenant.client, 3)
    seat = await take_seat(tenant.client, group["id"], ana)
    assert seat["id"].startswith("sea_")
    assert (seat["status"], seat["ask"], seat["mentee_id"]) == ("taken", ASK, ana)
    await take_seat(tenant.client, group["id"], ben, ask="Running totals that reset each month?")
    after = (await tenant.client.get(f"/v1/group-sessions/{group['id']}")).json()
    assert (after["seats_taken"], after["seats_left"], after["version"]) == (2, 0, 1)

    full = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/seats", json={"mentee_id": cem, "ask": ASK}
    )
    problem = assert_problem(full, 409)
    assert (problem["seats"], problem["seats_taken"]) == (2, 2)
    assert "full" in problem["detail"]

    listed = (await tenant.client.get(f"/v1/group-sessions/{group['id']}/seats")).json()
    assert [s["mentee_id"] for s in listed["data"]] == [ana, ben]
    got = await tenant.client.get(f"/v1/group-sessions/{group['id']}/seats/{seat['id']}")
    assert got.json() == seat
    assert got.headers["etag"] == '"1"'

    stale = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/seats/{seat['id']}/cancel",
        json={"by": "mentee"},
        headers={"If-Match": '"7"'},
    )
    assert assert_problem(stale, 412)["current_version"] == 1
    cancelled = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/seats/{seat['id']}/cancel",
        json={"by": "mentee", "reason": "Solved it with my team"},
        headers={"If-Match": '"1"'},
    )
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["cancelled_by"], body["version"]) == ("cancelled", "mentee", 2)
    again = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/seats/{seat['id']}/cancel", json={"by": "mentee"}
    )
    assert assert_problem(again, 409)["seat_status"] == "cancelled"

    # The seat is free again: the third mentee takes it, the first may come back too later.
    await take_seat(tenant.client, group["id"], cem)
    taken = await tenant.client.get(
        f"/v1/group-sessions/{group['id']}/seats", params={"status": "taken"}
    )
    assert sorted(s["mentee_id"] for s in taken.json()["data"]) == sorted([ben, cem])
    events = await events_of(db, tenant.id, seat["id"])
    assert [e.type for e in events] == ["seat.taken", "seat.cancelled"]
    assert events[1].data["previous"] == {
        "status": "taken",
        "cancelled_by": None,
        "cancel_reason": None,
    }


async def test_one_seat_per_mentee_and_none_after_the_start(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await group_world(tenant.client)
    group = await create_group(tenant.client, base)
    (ana, ben) = await mentees(tenant.client, 2)
    await take_seat(tenant.client, group["id"], ana)
    twice = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/seats", json={"mentee_id": ana, "ask": ASK}
    )
    assert "already has a seat" in assert_problem(twice, 409)["detail"]
    travel(monkeypatch, MONDAY_9)
    late = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/seats", json={"mentee_id": ben, "ask": ASK}
    )
    assert "started" in assert_problem(late, 409)["detail"]


async def test_reschedule_moves_the_session_and_keeps_its_history(
    tenant: Tenant, db: Database
) -> None:
    base = await group_world(tenant.client)
    group = await create_group(tenant.client, base)
    (ana,) = await mentees(tenant.client, 1)
    await take_seat(tenant.client, group["id"], ana)
    stale = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/reschedule",
        json={"starts_at": "2027-01-12T10:00:00Z"},
        headers={"If-Match": '"2"'},
    )
    assert_problem(stale, 412)
    moved = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/reschedule",
        json={"starts_at": "2027-01-12T10:00:00Z"},
        headers={"If-Match": '"1"'},
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["starts_at"], body["ends_at"]) == ("2027-01-12T10:00:00Z", "2027-01-12T10:30:00Z")
    assert body["rescheduled_from"] == MONDAY_9
    assert [(h["starts_at"], h["ends_at"]) for h in body["history"]] == [
        (MONDAY_9, "2027-01-11T08:30:00Z")
    ]
    assert (body["version"], body["seats_taken"]) == (2, 1)
    outside = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/reschedule", json={"starts_at": "2027-01-12T20:00:00Z"}
    )
    assert assert_problem(outside, 409)["reason"] == "outside the mentor's availability"
    events = await events_of(db, tenant.id, group["id"])
    assert [e.type for e in events] == ["group_session.created", "group_session.rescheduled"]
    assert events[1].data["previous"]["starts_at"] == MONDAY_9


async def test_cancel_gives_every_seat_back(tenant: Tenant, db: Database) -> None:
    base = await group_world(tenant.client)
    group = await create_group(tenant.client, base)
    seats = [
        await take_seat(tenant.client, group["id"], m) for m in await mentees(tenant.client, 2)
    ]
    response = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/cancel", json={"reason": "Quarter close"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["cancel_reason"], body["seats_taken"]) == (
        "cancelled",
        "Quarter close",
        0,
    )
    for seat in seats:
        got = await tenant.client.get(f"/v1/group-sessions/{group['id']}/seats/{seat['id']}")
        assert (got.json()["status"], got.json()["cancelled_by"]) == ("cancelled", "mentor")
        assert [e.type for e in await events_of(db, tenant.id, seat["id"])] == [
            "seat.taken",
            "seat.cancelled",
        ]
    again = await tenant.client.post(f"/v1/group-sessions/{group['id']}/cancel")
    assert assert_problem(again, 409)["group_session_status"] == "cancelled"
    (late,) = await mentees(tenant.client, 1)
    refused = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/seats", json={"mentee_id": late, "ask": ASK}
    )
    assert assert_problem(refused, 409)["group_session_status"] == "cancelled"


async def test_complete_only_once_started(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await group_world(tenant.client)
    group = await create_group(tenant.client, base)
    path = f"/v1/group-sessions/{group['id']}"
    early = await tenant.client.post(f"{path}/complete")
    assert "not started" in assert_problem(early, 409)["detail"]
    travel(monkeypatch, "2027-01-11T08:31:00Z")
    done = await tenant.client.post(f"{path}/complete", json={"note": "Ranked by region"})
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["completion_note"]) == (
        "completed",
        "Ranked by region",
    )
    for move, body in (("cancel", {}), ("reschedule", {"starts_at": "2027-01-13T08:00:00Z"})):
        refused = await tenant.client.post(f"{path}/{move}", json=body)
        assert assert_problem(refused, 409)["group_session_status"] == "completed"
    assert [e.type for e in await events_of(db, tenant.id, group["id"])] == [
        "group_session.created",
        "group_session.completed",
    ]


async def test_a_refusal_writes_nothing(tenant: Tenant, db: Database) -> None:
    base = await group_world(tenant.client)
    group = await create_group(tenant.client, base, seats=2)
    for m in await mentees(tenant.client, 2):
        await take_seat(tenant.client, group["id"], m)
    before = await all_events(db, tenant.id)
    (late,) = await mentees(tenant.client, 1)
    refused = [
        await tenant.client.post(
            f"/v1/group-sessions/{group['id']}/seats", json={"mentee_id": late, "ask": ASK}
        ),
        await tenant.client.post("/v1/group-sessions", json={**base, "starts_at": MONDAY_9}),
        await tenant.client.post(f"/v1/group-sessions/{group['id']}/complete"),
    ]
    assert [r.status_code for r in refused] == [409, 409, 409]
    assert await all_events(db, tenant.id) == before
    seats = await tenant.client.get(f"/v1/group-sessions/{group['id']}/seats")
    assert len(seats.json()["data"]) == 2


async def test_list_filters_and_pages(tenant: Tenant) -> None:
    c = tenant.client
    base = await group_world(c)
    other = await group_world(c)
    days = ["2027-01-11", "2027-01-12", "2027-01-13"]
    mine = [await create_group(c, base, f"{d}T08:00:00Z") for d in days]
    theirs = await create_group(c, other, "2027-01-12T08:00:00Z")
    (ana,) = await mentees(c, 1)
    await take_seat(c, mine[1]["id"], ana)
    await c.post(f"/v1/group-sessions/{mine[2]['id']}/cancel")

    async def ids(**params: object) -> list[str]:
        response = await c.get("/v1/group-sessions", params=params)
        assert response.status_code == 200, response.text
        return [g["id"] for g in response.json()["data"]]

    assert await ids(mentor_id=base["mentor_id"]) == [g["id"] for g in mine]
    assert await ids(mentor_id=base["mentor_id"], **{"from": "2027-01-12T00:00:00Z"}) == [
        mine[1]["id"],
        mine[2]["id"],
    ]
    assert await ids(to="2027-01-12T00:00:00Z") == [mine[0]["id"]]
    assert await ids(mentee_id=ana) == [mine[1]["id"]]
    assert await ids(skill_id=other["skill_id"]) == [theirs["id"]]
    assert await ids(mentor_id=base["mentor_id"], status="cancelled") == [mine[2]["id"]]
    walked: list[str] = []
    cursor = None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await c.get("/v1/group-sessions", params=params)).json()
        walked += [g["id"] for g in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == [*(g["id"] for g in mine), theirs["id"]]


async def test_deleting_what_group_sessions_need_is_a_409(tenant: Tenant) -> None:
    c = tenant.client
    base = await group_world(c)
    group = await create_group(c, base)
    (ana,) = await mentees(c, 1)
    seat = await take_seat(c, group["id"], ana)
    mentee = assert_problem(await c.delete(f"/v1/mentees/{ana}"), 409)
    assert mentee["taken_seats"] == 1
    mentor = assert_problem(await c.delete(f"/v1/mentors/{base['mentor_id']}"), 409)
    assert mentor["group_sessions"] == 1
    skill = assert_problem(await c.delete(f"/v1/skills/{base['skill_id']}"), 409)
    assert skill["group_sessions"] == 1
    # Once the seat is given back the mentee may go (the seat goes with them), and once the
    # group session is cancelled the mentor may (their group sessions go with them).
    await c.post(
        f"/v1/group-sessions/{group['id']}/seats/{seat['id']}/cancel", json={"by": "mentee"}
    )
    assert (await c.delete(f"/v1/mentees/{ana}")).status_code == 204
    await c.post(f"/v1/group-sessions/{group['id']}/cancel")
    assert (await c.delete(f"/v1/mentors/{base['mentor_id']}")).status_code == 204
    assert (await c.get(f"/v1/group-sessions/{group['id']}")).status_code == 404


async def test_subscribed_endpoints_get_the_events_as_documented(
    tenant: Tenant, db: Database
) -> None:
    """Each event lands in the outbox with a delivery for the endpoints subscribed to its type
    (and none for the others), and its data reads as the documented payload."""
    from sqlmodel import col, select

    from mentorapi.group_sessions.schemas import GroupSessionEventData, SeatEventData
    from mentorapi.webhooks.models import Delivery, Event

    c = tenant.client
    seats_only = await c.post(
        "/v1/webhook-endpoints",
        json={"url": "https://example.com/seats", "events": ["seat.taken", "seat.cancelled"]},
    )
    everything = await c.post("/v1/webhook-endpoints", json={"url": "https://example.com/all"})
    assert seats_only.status_code == everything.status_code == 201
    base = await group_world(c)
    group = await create_group(c, base)
    (ana,) = await mentees(c, 1)
    await take_seat(c, group["id"], ana)
    await c.post(f"/v1/group-sessions/{group['id']}/cancel", json={"reason": "Sick"})
    async with db.sessionmaker() as s:
        rows = (
            await s.exec(
                select(Event.type, Event.data, Delivery.endpoint_id)
                .join(Delivery, col(Delivery.event_id) == col(Event.id))
                .where(col(Event.app_id) == tenant.id, col(Delivery.app_id) == tenant.id)
                .order_by(col(Event.id))
            )
        ).all()
    by_endpoint: dict[str, list[str]] = {}
    for type_, data, endpoint_id in rows:
        by_endpoint.setdefault(endpoint_id, []).append(type_)
        model = SeatEventData if type_.startswith("seat.") else GroupSessionEventData
        model.model_validate(data)
    # (Events written in one transaction may share a millisecond, so their ids need not be
    # in order: compared as sets of types.)
    assert sorted(by_endpoint[seats_only.json()["id"]]) == ["seat.cancelled", "seat.taken"]
    assert sorted(by_endpoint[everything.json()["id"]]) == [
        "group_session.cancelled",
        "group_session.created",
        "seat.cancelled",
        "seat.taken",
    ]
