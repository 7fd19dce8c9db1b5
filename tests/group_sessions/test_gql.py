"""GraphQL parity: the same group sessions, seats, rules and errors as REST; nested fields load
through DataLoaders, so a page costs the same statements however many group sessions and seats
it holds (REST's list likewise)."""

from typing import Any

from fastapi import FastAPI

from tests.conftest import Tenant, count_statements, make_tenant, own
from tests.factories import as_member, create_mentee, mint_token
from tests.gql.helpers import error_codes, gql, gql_data
from tests.group_sessions.conftest import ASK, create_group, group_world, mentees, take_seat

FIELDS = "id status topic seats seatsTaken seatsLeft startsAt endsAt version"

CREATE = f"""mutation($input: CreateGroupSessionInput!) {{
  createGroupSession(input: $input) {{ {FIELDS} mentor {{ id }} skill {{ id }} }} }}"""
TAKE = """mutation($g: ID!, $m: ID!, $ask: String!) {
  takeSeat(groupSessionId: $g, input: {menteeId: $m, ask: $ask}) {
    id status ask menteeId groupSession { seatsTaken } } }"""


def _input(base: dict[str, Any], starts_at: str, **fields: Any) -> dict[str, Any]:
    return {
        "mentorId": base["mentor_id"],
        "topic": base["topic"],
        "skillId": base["skill_id"],
        "format": "VIDEO",
        "durationMinutes": base["duration_minutes"],
        "seats": base["seats"],
        "startsAt": starts_at,
        **fields,
    }


async def test_the_whole_story_through_graphql(tenant: Tenant) -> None:
    c = tenant.client
    base = await group_world(c)
    created = (await gql_data(c, CREATE, {"input": _input(base, "2027-01-11T09:00:00+01:00")}))[
        "createGroupSession"
    ]
    assert created["startsAt"] == "2027-01-11T08:00:00Z"
    assert (created["status"], created["seatsLeft"]) == ("SCHEDULED", 6)
    assert created["mentor"]["id"] == base["mentor_id"]
    rest = (await c.get(f"/v1/group-sessions/{created['id']}")).json()
    assert (rest["seats"], rest["version"]) == (created["seats"], created["version"])

    ana, ben = await mentees(c, 2)
    seat = (await gql_data(c, TAKE, {"g": created["id"], "m": ana, "ask": ASK}))["takeSeat"]
    assert (seat["status"], seat["ask"], seat["groupSession"]["seatsTaken"]) == ("TAKEN", ASK, 1)
    await take_seat(c, created["id"], ben)
    one = await gql_data(
        c,
        """query($id: ID!) { groupSession(id: $id) { seatsTaken
            attendees { menteeId ask status mentee { id } } } }""",
        {"id": created["id"]},
    )
    assert [a["menteeId"] for a in one["groupSession"]["attendees"]] == [ana, ben]
    assert one["groupSession"]["attendees"][0]["mentee"] == {"id": ana}

    cancelled = await gql_data(
        c,
        """mutation($g: ID!, $id: ID!) { cancelSeat(groupSessionId: $g, id: $id, by: MENTEE,
            reason: "Solved it") { status cancelledBy cancelReason version } }""",
        {"g": created["id"], "id": seat["id"]},
    )
    assert cancelled["cancelSeat"] == {
        "status": "CANCELLED",
        "cancelledBy": "MENTEE",
        "cancelReason": "Solved it",
        "version": 2,
    }
    moved = await gql_data(
        c,
        """mutation($id: ID!) { rescheduleGroupSession(id: $id,
            startsAt: "2027-01-12T08:00:00Z", expectedVersion: 1) {
            startsAt rescheduledFrom history { startsAt } version } }""",
        {"id": created["id"]},
    )
    assert moved["rescheduleGroupSession"]["rescheduledFrom"] == "2027-01-11T08:00:00Z"
    stale = await gql(
        c,
        """mutation($id: ID!) { cancelGroupSession(id: $id, expectedVersion: 1) { id } }""",
        {"id": created["id"]},
    )
    assert error_codes(stale) == ["PRECONDITION_FAILED"]
    early = await gql(
        c, """mutation($id: ID!) { completeGroupSession(id: $id) { id } }""", {"id": created["id"]}
    )
    assert error_codes(early) == ["CONFLICT"]
    gone = await gql_data(
        c,
        """mutation($id: ID!) { cancelGroupSession(id: $id, reason: "Sick") {
            status cancelReason seatsTaken } }""",
        {"id": created["id"]},
    )
    assert gone["cancelGroupSession"] == {
        "status": "CANCELLED",
        "cancelReason": "Sick",
        "seatsTaken": 0,
    }
    listed = await gql_data(
        c,
        """query($m: ID!) { groupSessions(filter: {mentorId: $m, status: [CANCELLED]}, first: 5) {
            edges { cursor node { id } } pageInfo { hasNextPage } } }""",
        {"m": base["mentor_id"]},
    )
    assert [e["node"]["id"] for e in listed["groupSessions"]["edges"]] == [created["id"]]


async def test_errors_carry_the_rest_rules(tenant: Tenant, other_tenant: Tenant) -> None:
    c = tenant.client
    base = await group_world(c)
    for fields in ({"seats": 1}, {"seats": 13}, {"topic": "x" * 5000}, {"durationMinutes": 45}):
        body = await gql(c, CREATE, {"input": _input(base, "2027-01-11T08:00:00Z", **fields)})
        assert error_codes(body) == ["BAD_USER_INPUT"], body
    group = await create_group(c, base, seats=2)
    for m in await mentees(c, 2):
        await take_seat(c, group["id"], m)
    (late,) = await mentees(c, 1)
    full = await gql(c, TAKE, {"g": group["id"], "m": late, "ask": ASK})
    assert error_codes(full) == ["CONFLICT"]
    assert full["errors"][0]["extensions"]["seats_taken"] == 2
    wrong_kind = await gql(c, '{ groupSession(id: "mtr_01JD8X4K8Y3N6Q2W5E7R9T1V3V") { id } }')
    assert error_codes(wrong_kind) == ["BAD_USER_INPUT"]
    foreign = await gql(
        other_tenant.client,
        "query($id: ID!) { groupSession(id: $id) { id } }",
        {"id": group["id"]},
    )
    assert error_codes(foreign) == ["NOT_FOUND"]
    nul = await gql(c, TAKE, {"g": group["id"], "m": late, "ask": "a\x00" * 10})
    assert error_codes(nul) == ["BAD_USER_INPUT"]


async def test_a_member_sees_their_own_seat_only(tenant: Tenant) -> None:
    c = tenant.client
    base = await group_world(c)
    group = await create_group(c, base)
    ana = await create_mentee(c)
    ben = await create_mentee(c)
    await take_seat(c, group["id"], ana["id"])
    await take_seat(c, group["id"], ben["id"])
    query = """query($id: ID!) { groupSession(id: $id) { seatsTaken attendees { menteeId } } }"""
    async with as_member(c, await mint_token(c, ana["external_id"], "mentee")) as member:
        data = await gql_data(member, query, {"id": group["id"]})
        assert data["groupSession"]["seatsTaken"] == 2
        assert [a["menteeId"] for a in data["groupSession"]["attendees"]] == [ana["id"]]
        refused = await gql(member, TAKE, {"g": group["id"], "m": ben["id"], "ask": ASK})
        assert error_codes(refused) == ["NOT_FOUND"]
        create = await gql(member, CREATE, {"input": _input(base, "2027-01-12T08:00:00Z")})
        assert error_codes(create) == ["FORBIDDEN"]


PAGE = """{ groupSessions(first: 50) { edges { node {
  id seatsLeft mentor { id name } skill { slug } attendees { menteeId ask mentee { id } }
} } } }"""


async def _populate(tenant: Tenant, groups: int, seats_each: int) -> None:
    base = await group_world(tenant.client, weekly_capacity=None)
    people = await mentees(tenant.client, seats_each)
    for i in range(groups):
        group = await create_group(
            tenant.client, base, f"2027-01-{11 + i // 8}T{8 + i % 8:02}:00:00Z"
        )
        for m in people:
            await take_seat(tenant.client, group["id"], m)


async def test_pages_cost_the_same_statements_however_many_rows(
    app: FastAPI, tenant: Tenant
) -> None:
    async for small in make_tenant(app, "one group session"):
        await _populate(small, 1, 1)
        await _populate(tenant, 10, 3)
        counts = []
        for t, n in ((small, 1), (tenant, 10)):
            with count_statements() as statements:
                data = await gql_data(t.client, PAGE)
            assert len(data["groupSessions"]["edges"]) == n
            counts.append(len(own(statements)))
            with count_statements() as statements:
                response = await t.client.get("/v1/group-sessions", params={"limit": 50})
            assert len(response.json()["data"]) == n
            counts.append(len(own(statements)))
        gql_small, rest_small, gql_big, rest_big = counts
        print(f"statements for 1 and 10 group sessions (GraphQL, REST): {counts}")
        assert (gql_big, rest_big) == (gql_small, rest_small), counts
        # The page, then one query each for mentors, their skills... at most one per kind.
        assert gql_big <= 6, counts
        assert rest_big <= 2, counts
