"""Sessions, series, notes, action items and availability over GraphQL: the same services,
validation and error codes as REST."""

from typing import Any

import pytest

from mentorapi.db.engine import Database
from tests.conftest import Tenant
from tests.factories import as_member, bookable, create_mentee, mint_token
from tests.gql.helpers import error_codes, gql, gql_data
from tests.test_sessions import MONDAY_9, event_types, travel

SESSION_FIELDS = "id status topic startsAt endsAt version format cancelledBy cancelReason seriesId"

BOOK = (
    f"mutation($input: BookSessionInput!) {{ bookSession(input: $input) {{ {SESSION_FIELDS} }} }}"
)


def book_input(base: dict[str, Any], starts_at: str | None = MONDAY_9) -> dict[str, Any]:
    body = {
        "mentorId": base["mentor_id"],
        "menteeId": base["mentee_id"],
        "skillId": base["skill_id"],
        "topic": base["topic"],
        "questions": base["questions"],
        "format": base["format"].upper(),
        "durationMinutes": base["duration_minutes"],
    }
    if starts_at is not None:
        body["startsAt"] = starts_at
    return body


async def gql_book(
    tenant: Tenant, base: dict[str, Any], starts_at: str = MONDAY_9
) -> dict[str, Any]:
    data = await gql_data(tenant.client, BOOK, {"input": book_input(base, starts_at)})
    session: dict[str, Any] = data["bookSession"]
    return session


async def test_book_and_the_whole_lifecycle(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    session = await gql_book(tenant, base)
    assert session["status"] == "REQUESTED"
    assert session["startsAt"] == MONDAY_9
    sid = session["id"]

    accept = (
        "mutation($id: ID!, $v: Int) "
        "{ acceptSession(id: $id, expectedVersion: $v) { status version } }"
    )
    stale = await gql(tenant.client, accept, {"id": sid, "v": session["version"] + 5})
    assert error_codes(stale) == ["PRECONDITION_FAILED"]
    accepted = (await gql_data(tenant.client, accept, {"id": sid, "v": session["version"]}))[
        "acceptSession"
    ]
    assert accepted["status"] == "BOOKED"
    again = await gql(tenant.client, accept, {"id": sid})
    assert error_codes(again) == ["CONFLICT"]
    assert again["errors"][0]["extensions"]["session_status"] == "booked"

    moved = await gql_data(
        tenant.client,
        'mutation($id: ID!) { rescheduleSession(id: $id, startsAt: "2027-01-12T09:00:00+01:00") '
        "{ startsAt rescheduledFrom history { startsAt } } }",
        {"id": sid},
    )
    assert moved["rescheduleSession"]["startsAt"] == "2027-01-12T08:00:00Z"
    assert moved["rescheduleSession"]["rescheduledFrom"] == MONDAY_9

    travel(monkeypatch, "2027-01-12T09:00:00Z")
    done = await gql_data(
        tenant.client,
        'mutation($id: ID!) { completeSession(id: $id, note: "good") { status completionNote } }',
        {"id": sid},
    )
    assert done["completeSession"] == {"status": "COMPLETED", "completionNote": "good"}
    # The same events as REST would have written, in order.
    assert await event_types(db, tenant.id, sid) == [
        "session.requested",
        "session.booked",
        "session.rescheduled",
        "session.completed",
    ]


async def test_decline_cancel_and_no_show(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    base = await bookable(tenant.client, auto_accept=False)
    first = await gql_book(tenant, base)
    declined = await gql_data(
        tenant.client,
        'mutation($id: ID!) { declineSession(id: $id, reason: "away") { status declineReason } }',
        {"id": first["id"]},
    )
    assert declined["declineSession"] == {"status": "DECLINED", "declineReason": "away"}

    second = await gql_book(tenant, base, "2027-01-11T10:00:00Z")
    cancel = (
        "mutation($id: ID!, $by: SessionSide!) "
        '{ cancelSession(id: $id, by: $by, reason: "ill") { status cancelledBy cancelReason } }'
    )
    cancelled = await gql_data(tenant.client, cancel, {"id": second["id"], "by": "MENTEE"})
    assert cancelled["cancelSession"] == {
        "status": "CANCELLED",
        "cancelledBy": "MENTEE",
        "cancelReason": "ill",
    }

    third = await gql_book(tenant, base, "2027-01-11T12:00:00Z")
    await gql_data(
        tenant.client, "mutation($id: ID!) { acceptSession(id: $id) { id } }", {"id": third["id"]}
    )
    no_show = "mutation($id: ID!) { markNoShow(id: $id) { status } }"
    early = await gql(tenant.client, no_show, {"id": third["id"]})
    assert error_codes(early) == ["CONFLICT"]  # it has not started yet
    travel(monkeypatch, "2027-01-11T13:00:00Z")
    assert (await gql_data(tenant.client, no_show, {"id": third["id"]}))["markNoShow"] == {
        "status": "NO_SHOW"
    }


async def test_booking_errors_match_rest(tenant: Tenant, other_tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    await gql_book(tenant, base)
    taken = await gql(tenant.client, BOOK, {"input": book_input(base)})
    assert error_codes(taken) == ["CONFLICT"]
    assert taken["data"] is None

    short = await gql(tenant.client, BOOK, {"input": {**book_input(base), "topic": "help"}})
    assert error_codes(short) == ["BAD_USER_INPUT"]
    assert short["errors"][0]["extensions"]["errors"][0]["loc"] == ["input", "topic"]

    wrong_kind = await gql(
        tenant.client, BOOK, {"input": {**book_input(base), "mentorId": base["mentee_id"]}}
    )
    assert error_codes(wrong_kind) == ["BAD_USER_INPUT"]

    naive = await gql(tenant.client, BOOK, {"input": book_input(base, "2027-01-11T10:00:00")})
    assert error_codes(naive) == ["BAD_USER_INPUT"]

    # The service's own checks, with REST's locations.
    async_with_time = await gql(
        tenant.client, BOOK, {"input": {**book_input(base), "format": "PHONE"}}
    )
    assert error_codes(async_with_time) == ["BAD_USER_INPUT"]
    assert async_with_time["errors"][0]["extensions"]["errors"][0]["loc"] == ["body", "format"]

    # Another app's mentor does not exist for this app.
    theirs = await gql(
        other_tenant.client, BOOK, {"input": book_input(base, "2027-01-11T12:00:00Z")}
    )
    assert error_codes(theirs) == ["NOT_FOUND"]


async def test_session_queries_filters_and_cursors(tenant: Tenant, other_tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    other = await create_mentee(tenant.client)
    ids = [(await gql_book(tenant, base, f"2027-01-11T{8 + i:02d}:00:00Z"))["id"] for i in range(3)]
    theirs = await gql_book(tenant, {**base, "mentee_id": other["id"]}, "2027-01-12T08:00:00Z")

    one = await gql_data(
        tenant.client, "query($id: ID!) { session(id: $id) { id topic } }", {"id": ids[0]}
    )
    assert one["session"]["id"] == ids[0]
    missing = await gql(
        other_tenant.client, "query($id: ID!) { session(id: $id) { id } }", {"id": ids[0]}
    )
    assert error_codes(missing) == ["NOT_FOUND"]

    query = """query($filter: SessionFilter, $after: String) {
      sessions(filter: $filter, first: 2, after: $after) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"""
    mine = {"menteeId": base["mentee_id"], "status": ["BOOKED"]}
    page = (await gql_data(tenant.client, query, {"filter": mine}))["sessions"]
    assert [e["node"]["id"] for e in page["edges"]] == ids[:2]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await tenant.client.get(
        "/v1/sessions", params={"mentee_id": base["mentee_id"], "status": "booked", "limit": 2}
    )
    assert rest.json()["next_cursor"] == page["pageInfo"]["endCursor"]  # one cursor, two faces
    nxt = await gql_data(
        tenant.client, query, {"filter": mine, "after": page["pageInfo"]["endCursor"]}
    )
    assert [e["node"]["id"] for e in nxt["sessions"]["edges"]] == [ids[2]]

    window = {"from": "2027-01-12T00:00:00Z", "to": "2027-01-13T00:00:00+01:00"}
    found = (await gql_data(tenant.client, query, {"filter": window}))["sessions"]["edges"]
    assert [e["node"]["id"] for e in found] == [theirs["id"]]

    bad = await gql(tenant.client, query, {"filter": {"mentorId": base["mentee_id"]}})
    assert error_codes(bad) == ["BAD_USER_INPUT"]
    assert bad["errors"][0]["extensions"]["errors"][0]["loc"] == ["filter", "mentorId"]


async def test_series_create_get_cancel(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    base = await bookable(tenant.client)
    create = """mutation($input: CreateSeriesInput!) { createSeries(input: $input) {
        id count status version sessions { id startsAt status seriesId } } }"""
    payload = {**book_input(base), "count": 3, "intervalWeeks": 1}
    series = (await gql_data(tenant.client, create, {"input": payload}))["createSeries"]
    assert series["count"] == 3
    assert [s["startsAt"] for s in series["sessions"]] == [
        "2027-01-11T08:00:00Z",
        "2027-01-18T08:00:00Z",
        "2027-01-25T08:00:00Z",
    ]
    assert {s["seriesId"] for s in series["sessions"]} == {series["id"]}

    clash = await gql(tenant.client, create, {"input": payload})
    assert error_codes(clash) == ["CONFLICT"]
    assert len(clash["errors"][0]["extensions"]["conflicts"]) == 3

    too_many = await gql(tenant.client, create, {"input": {**payload, "count": 27}})
    assert error_codes(too_many) == ["BAD_USER_INPUT"]

    got = await gql_data(
        tenant.client,
        "query($id: ID!) { series(id: $id) { id sessions { id } } }",
        {"id": series["id"]},
    )
    assert len(got["series"]["sessions"]) == 3

    travel(monkeypatch, "2027-01-12T00:00:00Z")
    cancel = """mutation($id: ID!, $v: Int) {
      cancelSeries(id: $id, by: MENTOR, expectedVersion: $v) { status sessions { status } } }"""
    stale = await gql(tenant.client, cancel, {"id": series["id"], "v": 9})
    assert error_codes(stale) == ["PRECONDITION_FAILED"]
    done = (await gql_data(tenant.client, cancel, {"id": series["id"], "v": series["version"]}))[
        "cancelSeries"
    ]
    assert done["status"] == "CANCELLED"
    # The first occurrence has begun: it stays as it was.
    assert [s["status"] for s in done["sessions"]] == ["BOOKED", "CANCELLED", "CANCELLED"]


async def test_notes_and_action_items(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    sid = (await gql_book(tenant, base))["id"]
    notes_query = "query($s: ID!) { sessionNotes(sessionId: $s) { notes takeaways version } }"
    assert (await gql_data(tenant.client, notes_query, {"s": sid}))["sessionNotes"]["version"] == 0
    put = """mutation($s: ID!, $v: Int) { putSessionNotes(sessionId: $s, notes: "rows first",
        takeaways: ["dates in columns"], expectedVersion: $v) { notes takeaways version } }"""
    saved = (await gql_data(tenant.client, put, {"s": sid, "v": 0}))["putSessionNotes"]
    assert saved == {"notes": "rows first", "takeaways": ["dates in columns"], "version": 1}
    assert error_codes(await gql(tenant.client, put, {"s": sid, "v": 0})) == ["PRECONDITION_FAILED"]
    rest = await tenant.client.get(f"/v1/sessions/{sid}/notes")
    assert rest.json()["notes"] == "rows first"

    add = """mutation($s: ID!, $input: ActionItemInput!) {
      addActionItem(sessionId: $s, input: $input) { id text dueOn done version } }"""
    item = (
        await gql_data(
            tenant.client, add, {"s": sid, "input": {"text": "Build it", "dueOn": "2027-01-20"}}
        )
    )["addActionItem"]
    assert item["dueOn"] == "2027-01-20"
    empty = await gql(tenant.client, add, {"s": sid, "input": {"text": "  "}})
    assert error_codes(empty) == ["BAD_USER_INPUT"]
    update = """mutation($s: ID!, $id: ID!, $v: Int) { updateActionItem(sessionId: $s, id: $id,
        input: {done: true}, expectedVersion: $v) { done doneAt version } }"""
    changed = (await gql_data(tenant.client, update, {"s": sid, "id": item["id"], "v": 1}))[
        "updateActionItem"
    ]
    assert changed["done"] is True
    assert changed["doneAt"]
    assert changed["version"] == 2
    listed = await gql_data(
        tenant.client, "query($s: ID!) { actionItems(sessionId: $s) { id done } }", {"s": sid}
    )
    assert listed["actionItems"] == [{"id": item["id"], "done": True}]


async def test_availability_and_slots(tenant: Tenant, other_tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    mentor_id = base["mentor_id"]
    put = """mutation($m: ID!, $input: AvailabilityInput!, $v: Int) {
      setAvailability(mentorId: $m, input: $input, expectedVersion: $v) {
        mentorId timezone weekly { day start end } overrides { date windows { start end } }
        bufferMinutes weeklyCapacity autoAccept version } }"""
    current = await tenant.client.get(f"/v1/mentors/{mentor_id}/availability")
    version = current.json()["version"]
    body = {
        "weekly": [{"day": "MON", "start": "09:00", "end": "10:00"}],
        "overrides": [{"date": "2027-01-18", "windows": []}],
        "bufferMinutes": 5,
        "weeklyCapacity": 3,
        "autoAccept": True,
    }
    saved = (await gql_data(tenant.client, put, {"m": mentor_id, "input": body, "v": version}))[
        "setAvailability"
    ]
    assert saved["weekly"] == [{"day": "MON", "start": "09:00", "end": "10:00"}]
    assert saved["overrides"] == [{"date": "2027-01-18", "windows": []}]
    assert saved["version"] == version + 1
    stale = await gql(tenant.client, put, {"m": mentor_id, "input": body, "v": version})
    assert error_codes(stale) == ["PRECONDITION_FAILED"]
    overlap = {
        "weekly": [
            {"day": "MON", "start": "09:00", "end": "10:00"},
            {"day": "MON", "start": "09:30", "end": "11:00"},
        ]
    }
    assert error_codes(await gql(tenant.client, put, {"m": mentor_id, "input": overlap})) == [
        "BAD_USER_INPUT"
    ]

    slots = """query($m: ID!, $start: DateTime!, $end: DateTime!, $d: Int!, $tz: String) {
      mentorSlots(mentorId: $m, start: $start, end: $end, duration: $d, timezone: $tz) {
        startsAt endsAt localStart } }"""
    args = {"m": mentor_id, "start": "2027-01-11T00:00:00Z", "end": "2027-01-19T00:00:00Z", "d": 30}
    found = (await gql_data(tenant.client, slots, args))["mentorSlots"]
    rest = await tenant.client.get(
        f"/v1/mentors/{mentor_id}/slots",
        params={"start": args["start"], "end": args["end"], "duration": 30},
    )
    assert [s["startsAt"] for s in found] == [s["starts_at"] for s in rest.json()["data"]]
    # Monday 09:00-10:00 Berlin in 15-minute steps; the next Monday is a day off.
    assert [s["startsAt"] for s in found] == [
        "2027-01-11T08:00:00Z",
        "2027-01-11T08:15:00Z",
        "2027-01-11T08:30:00Z",
    ]
    assert error_codes(await gql(tenant.client, slots, {**args, "tz": "Mars/Olympus"})) == [
        "BAD_USER_INPUT"
    ]
    assert error_codes(await gql(tenant.client, slots, {**args, "d": 45})) == ["BAD_USER_INPUT"]
    assert error_codes(await gql(other_tenant.client, slots, args)) == ["NOT_FOUND"]

    read = await gql_data(
        tenant.client,
        "query($m: ID!) { mentorAvailability(mentorId: $m) { bufferMinutes version } }",
        {"m": mentor_id},
    )
    assert read["mentorAvailability"] == {"bufferMinutes": 5, "version": version + 1}


async def test_members_book_and_read_as_in_rest(tenant: Tenant) -> None:
    """The caller rules live in the service: a member books for themself only, reads only
    sessions they take part in, and the mentor accepts (not the mentee)."""
    base = await bookable(tenant.client, auto_accept=False)
    mentee = (await tenant.client.get(f"/v1/mentees/{base['mentee_id']}")).json()
    stranger = await create_mentee(tenant.client)
    own = await mint_token(tenant.client, mentee["external_id"], "mentee")
    other = await mint_token(tenant.client, stranger["external_id"], "mentee")
    get = "query($id: ID!) { session(id: $id) { id } }"
    accept = "mutation($id: ID!) { acceptSession(id: $id) { status } }"
    async with as_member(tenant.client, own) as member:
        session = (await gql_data(member, BOOK, {"input": book_input(base)}))["bookSession"]
        assert session["status"] == "REQUESTED"
        for_someone_else = {**book_input(base, "2027-01-11T10:00:00Z"), "menteeId": stranger["id"]}
        refused = await gql(member, BOOK, {"input": for_someone_else})
        assert error_codes(refused) == ["NOT_FOUND"]
        rest = await member.post(
            "/v1/sessions",
            json={**base, "mentee_id": stranger["id"], "starts_at": "2027-01-11T10:00:00Z"},
        )
        assert rest.status_code == 404
        not_theirs = await gql(member, accept, {"id": session["id"]})
        assert error_codes(not_theirs) == ["FORBIDDEN"]
    async with as_member(tenant.client, other) as member:
        hidden = await gql(member, get, {"id": session["id"]})
        assert error_codes(hidden) == ["NOT_FOUND"]
        listed = await gql_data(member, "{ sessions { edges { node { id } } } }")
        assert listed["sessions"]["edges"] == []
