"""Booking and the session lifecycle: every legal and illegal move, versions, events, expiry."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import col, select

from mentorapi.db.engine import Database
from mentorapi.sessions import service as sessions_service
from mentorapi.webhooks.models import Event
from tests.conftest import Tenant
from tests.factories import book_session, bookable, create_mentee

MONDAY_9 = "2027-01-11T08:00:00Z"  # 09:00 in Berlin


async def event_log(db: Database, app_id: str, object_id: str) -> list[Event]:
    async with db.sessionmaker() as s:
        query = (
            select(Event)
            .where(col(Event.app_id) == app_id, col(Event.object_id) == object_id)
            .order_by(col(Event.sequence))
        )
        return list((await s.exec(query)).all())


async def event_types(db: Database, app_id: str, object_id: str) -> list[str]:
    return [e.type for e in await event_log(db, app_id, object_id)]


def travel(monkeypatch: pytest.MonkeyPatch, to: str) -> None:
    """Move the sessions clock (completion and expiry look at it)."""
    moment = datetime.fromisoformat(to.replace("Z", "+00:00"))
    monkeypatch.setattr(sessions_service, "now", lambda: moment)


async def test_book_auto_accept_is_booked(tenant: Tenant, db: Database) -> None:
    base = await bookable(tenant.client)
    response = await tenant.client.post("/v1/sessions", json={**base, "starts_at": MONDAY_9})
    assert response.status_code == 201, response.text
    session = response.json()
    assert session["id"].startswith("ses_")
    assert session["status"] == "booked"
    assert session["starts_at"] == MONDAY_9
    assert session["ends_at"] == "2027-01-11T08:30:00Z"
    assert session["questions"] == ["Which fields go in rows?"]
    assert session["version"] == 1
    assert session["series_id"] is None
    assert session["rescheduled_from"] is None
    assert response.headers["etag"] == '"1"'
    events = await event_log(db, tenant.id, session["id"])
    assert [e.type for e in events] == ["session.booked"]
    assert events[0].data["id"] == session["id"]
    assert events[0].data["status"] == "booked"
    got = await tenant.client.get(f"/v1/sessions/{session['id']}")
    assert got.json() == session


async def test_book_with_offset_input_and_request_without_auto_accept(tenant: Tenant) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    session = await book_session(tenant.client, base, "2027-01-11T09:00:00+01:00")
    assert session["status"] == "requested"
    assert session["starts_at"] == MONDAY_9
    assert session["expires_at"] == MONDAY_9


async def test_slot_not_free_is_409_and_records_nothing(tenant: Tenant, db: Database) -> None:
    base = await bookable(tenant.client)
    first = await book_session(tenant.client, base, MONDAY_9)
    other_mentee = await create_mentee(tenant.client)
    for starts_at in (MONDAY_9, "2027-01-11T08:15:00Z", "2027-01-11T08:29:00Z"):
        response = await tenant.client.post(
            "/v1/sessions", json={**base, "mentee_id": other_mentee["id"], "starts_at": starts_at}
        )
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "overlaps" in response.json()["reason"]
    outside = await tenant.client.post(
        "/v1/sessions", json={**base, "starts_at": "2027-01-11T20:00:00Z"}
    )
    assert outside.status_code == 409
    assert "outside" in outside.json()["detail"]
    past = await tenant.client.post(
        "/v1/sessions", json={**base, "starts_at": "2020-01-06T08:00:00Z"}
    )
    assert past.status_code == 409
    listed = await tenant.client.get("/v1/sessions", params={"mentor_id": base["mentor_id"]})
    assert [s["id"] for s in listed.json()["data"]] == [first["id"]]
    async with db.sessionmaker() as s:
        count = len((await s.exec(select(Event).where(col(Event.app_id) == tenant.id))).all())
    assert count == 1


async def _walk(tenant: Tenant, session_id: str, move: str, body: Any = None) -> Any:
    path = f"/v1/sessions/{session_id}/{move}"
    return (
        await tenant.client.post(path, json=body)
        if body is not None
        else (await tenant.client.post(path))
    )


CANCEL = {"by": "mentee", "reason": "something came up"}
ALL_MOVES = [
    ("accept", None),
    ("decline", {}),
    ("cancel", CANCEL),
    ("complete", {}),
    ("no-show", None),
    ("reschedule", {"starts_at": "2027-01-14T08:00:00Z"}),
]


async def test_requested_to_booked_to_completed(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    session = await book_session(tenant.client, base, MONDAY_9)
    sid = session["id"]
    accepted = await _walk(tenant, sid, "accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "booked"
    assert accepted.json()["version"] == 2
    assert accepted.json()["expires_at"] is None
    early = await _walk(tenant, sid, "complete", {"note": "went well"})
    assert early.status_code == 409
    assert "not started" in early.json()["detail"]
    travel(monkeypatch, "2027-01-11T08:31:00Z")
    done = await _walk(tenant, sid, "complete", {"note": "went well"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert done.json()["completion_note"] == "went well"
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    assert mentor["stats"]["sessions_completed"] == 1
    assert mentor["stats"]["minutes_mentored"] == 30
    events = await event_log(db, tenant.id, sid)
    assert [e.type for e in events] == ["session.requested", "session.booked", "session.completed"]
    assert events[1].data["previous"] == {"status": "requested", "expires_at": MONDAY_9}
    assert events[2].data["previous"] == {"status": "booked", "completion_note": None}
    assert "previous" not in events[0].data
    assert [e.sequence for e in events] == [1, 2, 3]
    # A completed session moves no further.
    for move, body in [("accept", None), ("decline", {}), ("cancel", CANCEL),
                       ("complete", {}), ("no-show", None),
                       ("reschedule", {"starts_at": "2027-01-12T08:00:00Z"})]:  # fmt: skip
        response = await _walk(tenant, sid, move, body)
        assert response.status_code == 409, (move, response.text)
        assert response.json()["session_status"] == "completed"
    assert len(await event_log(db, tenant.id, sid)) == 3


@pytest.mark.parametrize(
    ("auto_accept", "move", "body", "expected", "event"),
    [
        (False, "accept", None, "booked", "session.booked"),
        (False, "decline", {"reason": "not my area"}, "declined", "session.declined"),
        (False, "cancel", CANCEL, "cancelled", "session.cancelled"),
        (True, "cancel", CANCEL, "cancelled", "session.cancelled"),
        (False, "reschedule", {"starts_at": "2027-01-12T08:00:00Z"}, "requested",
         "session.rescheduled"),
        (True, "reschedule", {"starts_at": "2027-01-12T08:00:00Z"}, "booked",
         "session.rescheduled"),
    ],
)  # fmt: skip
async def test_legal_moves(
    tenant: Tenant,
    db: Database,
    auto_accept: bool,
    move: str,
    body: Any,
    expected: str,
    event: str,
) -> None:
    base = await bookable(tenant.client, auto_accept=auto_accept)
    session = await book_session(tenant.client, base, MONDAY_9)
    response = await _walk(tenant, session["id"], move, body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == expected
    assert response.json()["version"] == 2
    assert (await event_types(db, tenant.id, session["id"]))[-1] == event


@pytest.mark.parametrize(
    ("auto_accept", "move", "body"),
    [
        (True, "accept", None),
        (True, "decline", {}),
        (False, "complete", {}),
        (False, "no-show", None),
    ],
)
async def test_illegal_moves_are_409(
    tenant: Tenant, db: Database, auto_accept: bool, move: str, body: Any
) -> None:
    base = await bookable(tenant.client, auto_accept=auto_accept)
    session = await book_session(tenant.client, base, MONDAY_9)
    before = await event_types(db, tenant.id, session["id"])
    response = await _walk(tenant, session["id"], move, body)
    assert response.status_code == 409, response.text
    assert await event_types(db, tenant.id, session["id"]) == before
    assert (await tenant.client.get(f"/v1/sessions/{session['id']}")).json()["version"] == 1


async def test_no_show_and_terminal_states(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    a = await book_session(tenant.client, base, MONDAY_9)
    b = await book_session(tenant.client, base, "2027-01-12T08:00:00Z")
    c = await book_session(tenant.client, base, "2027-01-13T08:00:00Z")
    await _walk(tenant, a["id"], "accept")
    travel(monkeypatch, "2027-01-11T09:00:00Z")
    marked = await _walk(tenant, a["id"], "no-show")
    assert marked.status_code == 200
    assert marked.json()["status"] == "no_show"
    assert (await _walk(tenant, b["id"], "decline", {"reason": "busy"})).json()[
        "decline_reason"
    ] == "busy"
    cancelled = (await _walk(tenant, c["id"], "cancel", {"by": "mentor", "reason": "ill"})).json()
    assert cancelled["cancelled_by"] == "mentor"
    assert cancelled["cancel_reason"] == "ill"
    d = await book_session(tenant.client, base, "2027-01-15T08:00:00Z")
    async with db.sessionmaker() as s, s.begin():
        await sessions_service.expire_due(
            db_session=s, app_id=tenant.id, at=datetime(2027, 1, 15, 8, tzinfo=UTC)
        )
    terminal = ((a, "no_show"), (b, "declined"), (c, "cancelled"), (d, "expired"))
    for session, status in terminal:
        before = await event_types(db, tenant.id, session["id"])
        for move, body in ALL_MOVES:
            response = await _walk(tenant, session["id"], move, body)
            assert response.status_code == 409, (status, move, response.text)
            assert response.json()["session_status"] == status
        assert await event_types(db, tenant.id, session["id"]) == before
    assert (await event_types(db, tenant.id, a["id"]))[-1] == "session.no_show"
    # The freed slots of declined and cancelled sessions can be booked again.
    await book_session(tenant.client, base, "2027-01-12T08:00:00Z")
    await book_session(tenant.client, base, "2027-01-13T08:00:00Z")


async def test_reschedule_keeps_history(tenant: Tenant, db: Database) -> None:
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    moved = await _walk(tenant, session["id"], "reschedule", {"starts_at": "2027-01-12T10:00:00Z"})
    assert moved.status_code == 200, moved.text
    data = moved.json()
    assert data["status"] == "booked"
    assert data["starts_at"] == "2027-01-12T10:00:00Z"
    assert data["ends_at"] == "2027-01-12T10:30:00Z"
    assert data["rescheduled_from"] == MONDAY_9
    assert data["history"][0]["starts_at"] == MONDAY_9
    again = await _walk(tenant, session["id"], "reschedule", {"starts_at": "2027-01-13T10:00:00Z"})
    assert again.json()["rescheduled_from"] == "2027-01-12T10:00:00Z"
    assert [h["starts_at"] for h in again.json()["history"]] == [MONDAY_9, "2027-01-12T10:00:00Z"]
    events = await event_log(db, tenant.id, session["id"])
    assert events[-1].type == "session.rescheduled"
    assert events[-1].data["previous"] == {
        "starts_at": "2027-01-12T10:00:00Z",
        "ends_at": "2027-01-12T10:30:00Z",
        "rescheduled_from": MONDAY_9,
    }
    # The old time is free again; moving onto a taken or unavailable time is a 409.
    other = await book_session(tenant.client, base, MONDAY_9)
    far = await _walk(
        tenant, session["id"], "reschedule", {"starts_at": "9999-12-31T23:00:00-05:00"}
    )
    assert far.status_code == 422
    clash = await _walk(tenant, session["id"], "reschedule", {"starts_at": MONDAY_9})
    assert clash.status_code == 409
    assert (await _walk(tenant, other["id"], "reschedule",
                        {"starts_at": "2027-01-11T22:00:00Z"})).status_code == 409  # fmt: skip
    # Moving within its own time (overlapping itself) is fine.
    nudge = await _walk(tenant, other["id"], "reschedule", {"starts_at": "2027-01-11T08:15:00Z"})
    assert nudge.status_code == 200, nudge.text


async def test_if_match_stale_is_412(tenant: Tenant, db: Database) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    session = await book_session(tenant.client, base, MONDAY_9)
    path = f"/v1/sessions/{session['id']}"
    stale = await tenant.client.post(f"{path}/accept", headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 1
    bad = await tenant.client.post(f"{path}/accept", headers={"If-Match": "latest"})
    assert bad.status_code == 422
    ok = await tenant.client.post(f"{path}/accept", headers={"If-Match": '"1"'})
    assert ok.status_code == 200
    again = await tenant.client.post(f"{path}/cancel", json=CANCEL, headers={"If-Match": '"1"'})
    assert again.status_code == 412
    assert await event_types(db, tenant.id, session["id"]) == [
        "session.requested",
        "session.booked",
    ]


async def test_requests_expire_lazily_and_by_the_worker(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    lazy = await book_session(tenant.client, base, MONDAY_9)
    by_worker = await book_session(tenant.client, base, "2027-01-12T08:00:00Z")
    booked = await book_session(tenant.client, base, "2027-01-13T08:00:00Z")
    await _walk(tenant, booked["id"], "accept")
    travel(monkeypatch, "2027-01-11T08:00:00Z")
    # Answering too late: the request has expired, so accepting it is a conflict.
    late = await _walk(tenant, lazy["id"], "accept")
    assert late.status_code == 409
    assert late.json()["session_status"] == "expired"
    got = await tenant.client.get(f"/v1/sessions/{lazy['id']}")
    assert got.json()["status"] == "expired"
    assert (await event_types(db, tenant.id, lazy["id"]))[-1] == "session.expired"
    async with db.sessionmaker() as s, s.begin():
        expired = await sessions_service.expire_due(
            db_session=s, at=datetime(2027, 1, 14, tzinfo=UTC)
        )
    assert expired >= 1
    assert (await tenant.client.get(f"/v1/sessions/{by_worker['id']}")).json()[
        "status"
    ] == "expired"
    assert (await tenant.client.get(f"/v1/sessions/{booked['id']}")).json()["status"] == "booked"
    listed = await tenant.client.get("/v1/sessions", params={"status": "expired"})
    assert {s["id"] for s in listed.json()["data"]} == {lazy["id"], by_worker["id"]}


async def test_async_sessions(tenant: Tenant) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    await tenant.client.patch(
        f"/v1/mentors/{base['mentor_id']}", json={"formats": ["video", "async"]}
    )
    body = {**base, "format": "async"}
    created = await tenant.client.post("/v1/sessions", json=body)
    assert created.status_code == 201, created.text
    data = created.json()
    assert data["starts_at"] is None
    assert data["ends_at"] is None
    assert data["status"] == "requested"
    with_time = await tenant.client.post("/v1/sessions", json={**body, "starts_at": MONDAY_9})
    assert with_time.status_code == 422
    without = await tenant.client.post("/v1/sessions", json=base)
    assert without.status_code == 422
    move = await _walk(tenant, data["id"], "reschedule", {"starts_at": MONDAY_9})
    assert move.status_code == 422
    assert (await tenant.client.get(f"/v1/sessions/{data['id']}.ics")).status_code == 409
    accepted = await _walk(tenant, data["id"], "accept")
    assert accepted.json()["status"] == "booked"
    assert (await _walk(tenant, data["id"], "complete", {})).json()["status"] == "completed"


async def test_list_filters_and_cursor(tenant: Tenant) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    ids = []
    for day in range(11, 16):
        ids.append((await book_session(tenant.client, base, f"2027-01-{day}T08:00:00Z"))["id"])
    await _walk(tenant, ids[0], "accept")
    other = await create_mentee(tenant.client)
    await book_session(tenant.client, {**base, "mentee_id": other["id"]}, "2027-01-11T10:00:00Z")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "mentee_id": base["mentee_id"]}
        if cursor:
            params["cursor"] = cursor
        page = (await tenant.client.get("/v1/sessions", params=params)).json()
        seen += [s["id"] for s in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    window = await tenant.client.get(
        "/v1/sessions",
        params={"from": "2027-01-12T00:00:00Z", "to": "2027-01-14T00:00:00+00:00",
                "mentee_id": base["mentee_id"]},
    )  # fmt: skip
    assert [s["id"] for s in window.json()["data"]] == ids[1:3]
    booked = await tenant.client.get("/v1/sessions", params={"status": ["booked", "declined"]})
    assert [s["id"] for s in booked.json()["data"]] == [ids[0]]
    for params in (
        {"status": "lost"},
        {"from": "2027-01-12T00:00:00"},
        {"to": "9999-12-31T23:00:00-05:00"},
        {"mentor_id": base["mentee_id"]},
        {"limit": 0},
        {"cursor": "nonsense"},
    ):
        assert (await tenant.client.get("/v1/sessions", params=params)).status_code == 422


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"topic": "help"}, "topic"),
        ({"topic": "x" * 501}, "topic"),
        ({"topic": 12345678901}, "topic"),
        ({"questions": ["q"] * 11}, "questions"),
        ({"questions": ["x" * 501]}, "questions"),
        ({"questions": "why?"}, "questions"),
        ({"duration_minutes": 45}, "offers sessions"),
        ({"duration_minutes": 90}, "duration_minutes"),
        ({"duration_minutes": "thirty"}, "duration_minutes"),
        ({"format": "phone"}, "formats"),
        ({"format": "telepathy"}, "format"),
        ({"starts_at": "2027-01-11T09:00:00"}, "timezone"),
        ({"starts_at": "next monday"}, "starts_at"),
        ({"starts_at": "2027-01-11T08:00:30Z"}, "whole minutes"),
        ({"starts_at": "9999-12-31T23:00:00-05:00"}, "between the years"),
        ({"starts_at": "0001-01-01T01:00:00+05:00"}, "between the years"),
        ({"starts_at": None}, "required"),
        ({"mentor_id": "mte_01JD0000000000000000000000"}, "mentor"),
        ({"skill_id": "skl_01JD0000000000000000000000"}, "does not offer"),
        ({"extra": "field"}, "extra"),
        ({"topic": "x" * 200_000}, "topic"),
    ],
)
async def test_ugly_bookings_are_422(tenant: Tenant, change: dict[str, Any], fragment: str) -> None:
    base = await bookable(tenant.client)
    response = await tenant.client.post(
        "/v1/sessions", json={**base, "starts_at": MONDAY_9, **change}
    )
    assert response.status_code == 422, response.text
    assert fragment in response.text
    listed = await tenant.client.get("/v1/sessions")
    assert listed.json()["data"] == []


async def test_unknown_ids_are_404(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    unknown = "mtr_01JD0000000000000000000000"
    assert (await tenant.client.post(
        "/v1/sessions", json={**base, "mentor_id": unknown, "starts_at": MONDAY_9}
    )).status_code == 404  # fmt: skip
    assert (await tenant.client.post(
        "/v1/sessions",
        json={**base, "mentee_id": "mte_01JD0000000000000000000000", "starts_at": MONDAY_9},
    )).status_code == 404  # fmt: skip
    assert (
        await tenant.client.get("/v1/sessions/ses_01JD0000000000000000000000")
    ).status_code == 404
    assert (await tenant.client.get("/v1/sessions/not-an-id")).status_code == 422


async def test_tenancy(tenant: Tenant, other_tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    sid = session["id"]
    other = other_tenant.client
    assert (await other.get(f"/v1/sessions/{sid}")).status_code == 404
    assert (await other.get(f"/v1/sessions/{sid}.ics")).status_code == 404
    for move, body in [("cancel", CANCEL), ("accept", None), ("complete", {}),
                       ("reschedule", {"starts_at": "2027-01-12T08:00:00Z"})]:  # fmt: skip
        path = f"/v1/sessions/{sid}/{move}"
        response = await (other.post(path, json=body) if body is not None else other.post(path))
        assert response.status_code == 404
    assert (await other.get(f"/v1/sessions/{sid}/notes")).status_code == 404
    assert (await other.put(f"/v1/sessions/{sid}/notes", json={"notes": "x"})).status_code == 404
    assert (
        await other.post(f"/v1/sessions/{sid}/action-items", json={"text": "x"})
    ).status_code == 404
    assert (await other.get("/v1/sessions")).json()["data"] == []
    # Booking another app's mentor from this app: not found.
    own = await bookable(other)
    response = await other.post(
        "/v1/sessions", json={**own, "mentor_id": base["mentor_id"], "starts_at": MONDAY_9}
    )
    assert response.status_code == 404
    assert (await tenant.client.get(f"/v1/sessions/{sid}")).json()["status"] == "booked"


async def test_mentor_and_mentee_deletion(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    blocked = await tenant.client.delete(f"/v1/mentors/{base['mentor_id']}")
    assert blocked.status_code == 409
    assert blocked.json()["active_sessions"] == 1
    assert (await tenant.client.delete(f"/v1/mentees/{base['mentee_id']}")).status_code == 409
    await _walk(tenant, session["id"], "cancel", CANCEL)
    assert (await tenant.client.delete(f"/v1/mentors/{base['mentor_id']}")).status_code == 204
    assert (await tenant.client.get(f"/v1/sessions/{session['id']}")).status_code == 404


async def test_notes_and_action_items(tenant: Tenant, db: Database) -> None:
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    path = f"/v1/sessions/{session['id']}"
    empty = await tenant.client.get(f"{path}/notes")
    assert empty.json() == {
        "session_id": session["id"], "notes": "", "takeaways": [], "version": 0,
        "updated_at": empty.json()["updated_at"],
    }  # fmt: skip
    put = await tenant.client.put(
        f"{path}/notes", json={"notes": "Use a slicer.", "takeaways": ["rows = categories"]}
    )
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 1
    stale = await tenant.client.put(
        f"{path}/notes", json={"notes": "x"}, headers={"If-Match": '"0"'}
    )
    assert stale.status_code == 412
    assert (
        await tenant.client.put(f"{path}/notes", json={"notes": "x" * 20_001})
    ).status_code == 422
    assert (await tenant.client.get(f"{path}/notes")).json()["notes"] == "Use a slicer."
    item = await tenant.client.post(
        f"{path}/action-items", json={"text": "Rebuild the Q3 table", "due_on": "2027-01-20"}
    )
    assert item.status_code == 201, item.text
    item_id = item.json()["id"]
    assert item_id.startswith("act_")
    assert item.json()["done"] is False
    done = await tenant.client.patch(f"{path}/action-items/{item_id}", json={"done": True})
    assert done.json()["done"] is True
    assert done.json()["done_at"] is not None
    undone = await tenant.client.patch(
        f"{path}/action-items/{item_id}", json={"done": False}, headers={"If-Match": '"2"'}
    )
    assert undone.json()["done"] is False
    assert undone.json()["done_at"] is None
    stale_item = await tenant.client.patch(
        f"{path}/action-items/{item_id}", json={"done": True}, headers={"If-Match": '"1"'}
    )
    assert stale_item.status_code == 412
    listed = await tenant.client.get(f"{path}/action-items")
    assert [i["text"] for i in listed.json()["data"]] == ["Rebuild the Q3 table"]
    assert (await tenant.client.post(f"{path}/action-items", json={"text": ""})).status_code == 422
    assert (await tenant.client.patch(
        f"{path}/action-items/act_01JD0000000000000000000000", json={"done": True}
    )).status_code == 404  # fmt: skip
    # Private notes never reach webhook payloads.
    for event in await event_log(db, tenant.id, session["id"]):
        assert "Use a slicer." not in str(event.data)


async def test_calendar_file(tenant: Tenant) -> None:
    from icalendar import Calendar

    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    path = f"/v1/sessions/{session['id']}.ics"
    first = await tenant.client.get(path)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(first.content)
    event = cal.walk("VEVENT")[0]
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == f"{session['id']}@mentorapi"
    assert event["ORGANIZER"].params["CN"] == "Ada Mentor"
    assert event["ATTENDEE"].params["CN"] == "Max Mentee"
    assert event.decoded("DTSTART") == datetime(2027, 1, 11, 8, 0, tzinfo=UTC)
    seq0 = int(event["SEQUENCE"])
    await _walk(tenant, session["id"], "reschedule", {"starts_at": "2027-01-12T08:00:00Z"})
    moved = Calendar.from_ical((await tenant.client.get(path)).content).walk("VEVENT")[0]
    assert str(moved["UID"]) == str(event["UID"])
    assert int(moved["SEQUENCE"]) > seq0
    assert moved.decoded("DTSTART") == datetime(2027, 1, 12, 8, 0, tzinfo=UTC)
    await _walk(tenant, session["id"], "cancel", CANCEL)
    cancelled = Calendar.from_ical((await tenant.client.get(path)).content)
    assert str(cancelled["METHOD"]) == "CANCEL"
    vevent = cancelled.walk("VEVENT")[0]
    assert str(vevent["STATUS"]) == "CANCELLED"
    assert int(vevent["SEQUENCE"]) > int(moved["SEQUENCE"])


async def test_capacity_is_enforced_on_booking(tenant: Tenant) -> None:
    base = await bookable(tenant.client, weekly_capacity=1)
    await book_session(tenant.client, base, MONDAY_9)
    full = await tenant.client.post(
        "/v1/sessions", json={**base, "starts_at": "2027-01-13T08:00:00Z"}
    )
    assert full.status_code == 409
    assert "capacity" in full.json()["detail"]
    # Sunday 09:00 in Berlin is the same week; Monday 09:00 is the next one.
    sunday = await tenant.client.post(
        "/v1/sessions", json={**base, "starts_at": "2027-01-17T08:00:00Z"}
    )
    assert sunday.status_code == 409
    await book_session(tenant.client, base, "2027-01-18T08:00:00Z")


async def test_housekeeping_expires_requests(tenant: Tenant, db: Database) -> None:
    from mentorapi.housekeeping import run_once

    base = await bookable(tenant.client, auto_accept=False)
    session = await book_session(tenant.client, base, "2027-02-01T08:00:00Z")
    chores = await run_once(db, at=datetime(2027, 2, 1, 8, 0, tzinfo=UTC))
    assert chores.sessions_expired >= 1
    async with db.sessionmaker() as s:
        from mentorapi.sessions.models import Session

        row = (
            await s.exec(
                select(Session).where(Session.app_id == tenant.id, Session.id == session["id"])
            )
        ).one()
        assert row.status == "expired"
    assert (await event_types(db, tenant.id, session["id"]))[-1] == "session.expired"


async def test_calendar_file_escapes_text(tenant: Tenant) -> None:
    from icalendar import Calendar

    base = await bookable(tenant.client)
    topic = "Pivots; commas, back\\slashes and émoji 🎯\nsecond line"
    session = await book_session(
        tenant.client, base, MONDAY_9, topic=topic, questions=["a;b", "c,d"]
    )
    response = await tenant.client.get(f"/v1/sessions/{session['id']}.ics")
    event = Calendar.from_ical(response.content).walk("VEVENT")[0]
    assert str(event["DESCRIPTION"]).startswith(topic.strip())
    assert "- a;b" in str(event["DESCRIPTION"])
    assert all(len(line) <= 75 for line in response.content.split(b"\r\n"))


async def test_skill_of_a_session_cannot_be_deleted(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    await book_session(tenant.client, base, MONDAY_9)
    await tenant.client.put(f"/v1/mentors/{base['mentor_id']}/skills", json={"skills": []})
    response = await tenant.client.delete(f"/v1/skills/{base['skill_id']}")
    assert response.status_code == 409, response.text
    assert response.json()["sessions"] == 1


async def test_event_data_matches_the_documented_shape(tenant: Tenant, db: Database) -> None:
    from mentorapi.sessions.schemas import SessionEventData

    base = await bookable(tenant.client, auto_accept=False)
    session = await book_session(tenant.client, base, MONDAY_9)
    await _walk(tenant, session["id"], "accept")
    for event in await event_log(db, tenant.id, session["id"]):
        SessionEventData.model_validate(event.data)


async def test_list_and_booking_cost_a_fixed_number_of_statements(tenant: Tenant) -> None:
    from tests.conftest import count_statements

    base = await bookable(tenant.client)
    costs = []
    for day in (11, 12, 13):
        with count_statements() as booking:
            await book_session(tenant.client, base, f"2027-01-{day}T08:00:00Z")
        with count_statements() as listing:
            await tenant.client.get("/v1/sessions")
        costs.append((len(booking), len(listing)))
    assert costs[0] == costs[1] == costs[2], costs
