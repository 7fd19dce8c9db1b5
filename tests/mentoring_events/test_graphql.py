"""The GraphQL face runs an event as REST does: the same rules, the same errors."""

from enum import Enum, StrEnum
from typing import Any

import pytest

from mentorapi.mentoring_events.gql import (
    AttendanceEnum,
    EventModeEnum,
    EventStatusEnum,
    OutcomeEnum,
    RoleEnum,
    ScheduleStatusEnum,
)
from mentorapi.mentoring_events.models import (
    Attendance,
    EventMode,
    EventRole,
    EventStatus,
    FollowUpOutcome,
    ScheduleStatus,
)
from tests.conftest import Tenant
from tests.factories import as_member, mint_token, set_availability
from tests.gql.helpers import error_codes, gql, gql_data
from tests.mentoring_events.conftest import START, ManualClock, get, people


@pytest.mark.parametrize(
    ("face", "domain"),
    [
        (EventStatusEnum, EventStatus),
        (EventModeEnum, EventMode),
        (ScheduleStatusEnum, ScheduleStatus),
        (RoleEnum, EventRole),
        (AttendanceEnum, Attendance),
        (OutcomeEnum, FollowUpOutcome),
    ],
)
def test_graphql_enums_are_the_domain_enums(face: type[Enum], domain: type[StrEnum]) -> None:
    assert [m.value for m in face] == [m.value for m in domain]


CREATE = """mutation($input: CreateMentoringEventInput!) { createMentoringEvent(input: $input) {
  id status rounds meetingsPerMentee localStartsAt } }"""
OPEN = "mutation($id: ID!) { openMentoringEventRegistration(id: $id) { status version } }"
REGISTER = """mutation($e: ID!, $input: RegisterInput!) {
  registerForMentoringEvent(eventId: $e, input: $input) { memberId role attendance } }"""
BUILD = """mutation($e: ID!) { buildMentoringEventSchedule(eventId: $e) {
  status stats { meetings unmetMustMeets { menteeId } }
  assignments { round mentorId menteeId } } }"""
PUBLISH = "mutation($e: ID!) { publishMentoringEventSchedule(eventId: $e) { status version } }"
NO_SHOW = """mutation($e: ID!, $m: ID!) { markMentoringEventNoShow(eventId: $e, memberId: $m) {
  registration { attendance } scheduleChange { fromRound changedAssignments } } }"""
FOLLOW_UP = """mutation($e: ID!, $input: FollowUpInput!) { followUpMentoringEvent(eventId: $e,
  input: $input) { outcome session { id status topic } recommendation { reason } } }"""


async def test_an_event_run_through_graphql(tenant: Tenant, clock: ManualClock) -> None:
    crowd = await people(tenant.client, 2, 3)
    for mentor_id in crowd.mentor_ids:
        await set_availability(tenant.client, mentor_id, auto_accept=False)
    created = (
        await gql_data(
            tenant.client,
            CREATE,
            {
                "input": {
                    "title": "Speed mentoring over GraphQL",
                    "startsAt": START,
                    "timezone": "Europe/Berlin",
                    "rounds": 3,
                    "roundMinutes": 5,
                    "tableCapacity": 2,
                }
            },
        )
    )["createMentoringEvent"]
    assert created["status"] == "DRAFT"
    assert created["meetingsPerMentee"] == 3  # left out: the rounds
    assert created["localStartsAt"] == "2031-03-04T18:00:00+01:00"
    event_id = created["id"]
    opened = (await gql_data(tenant.client, OPEN, {"id": event_id}))[
        "openMentoringEventRegistration"
    ]
    assert opened["status"] == "OPEN"
    for mentor_id in crowd.mentor_ids:
        await gql_data(tenant.client, REGISTER, {"e": event_id, "input": {"mentorId": mentor_id}})
    her = crowd.mentees[0]
    token = await mint_token(tenant.client, her["external_id"], "mentee")
    async with as_member(tenant.client, token) as member:
        mine = await gql_data(
            member,
            REGISTER,
            {
                "e": event_id,
                "input": {
                    "menteeId": her["id"],
                    "ask": "How do I keep a pivot table fresh every month?",
                    "mustMeet": [crowd.mentor_ids[1]],
                },
            },
        )
        assert mine["registerForMentoringEvent"] == {
            "memberId": her["id"],
            "role": "MENTEE",
            "attendance": "REGISTERED",
        }
        other = await gql(
            member, REGISTER, {"e": event_id, "input": {"menteeId": crowd.mentee_ids[1]}}
        )
        assert error_codes(other) == ["NOT_FOUND"]
        refused = await gql(member, BUILD, {"e": event_id})
        assert error_codes(refused) == ["FORBIDDEN"]
    for mentee_id in crowd.mentee_ids[1:]:
        await gql_data(tenant.client, REGISTER, {"e": event_id, "input": {"menteeId": mentee_id}})
    bad = await gql(
        tenant.client, REGISTER, {"e": event_id, "input": {"menteeId": crowd.mentee_ids[1]}}
    )
    assert error_codes(bad) == ["CONFLICT"]
    wishes = await gql(
        tenant.client,
        REGISTER,
        {"e": event_id, "input": {"mentorId": crowd.mentor_ids[0], "mustMeet": ["nope"]}},
    )
    assert error_codes(wishes) == ["BAD_USER_INPUT"]

    built = (await gql_data(tenant.client, BUILD, {"e": event_id}))["buildMentoringEventSchedule"]
    assert built["status"] == "PROVISIONAL"
    assert built["stats"] == {"meetings": len(built["assignments"]), "unmetMustMeets": []}
    rest = await get(tenant.client, f"/v1/mentoring-events/{event_id}/schedule")
    assert [(a["round"], a["mentorId"], a["menteeId"]) for a in built["assignments"]] == [
        (a["round"], a["mentor_id"], a["mentee_id"]) for a in rest["assignments"]
    ]
    published = (await gql_data(tenant.client, PUBLISH, {"e": event_id}))[
        "publishMentoringEventSchedule"
    ]
    assert published == {"status": "PUBLISHED", "version": 1}

    clock.set("2031-03-04T17:06:00Z")  # between rounds 1 and 2
    absent = crowd.mentee_ids[2]
    change = (await gql_data(tenant.client, NO_SHOW, {"e": event_id, "m": absent}))[
        "markMentoringEventNoShow"
    ]
    assert change["registration"] == {"attendance": "NO_SHOW"}
    assert change["scheduleChange"]["fromRound"] == 2

    clock.set("2031-03-04T18:00:00Z")
    met = next(a for a in rest["assignments"] if a["mentee_id"] == her["id"])
    async with as_member(tenant.client, token) as member:
        follow: dict[str, Any] = (
            await gql_data(
                member,
                FOLLOW_UP,
                {
                    "e": event_id,
                    "input": {
                        "mentorId": met["mentor_id"],
                        "ask": "Walk me through next month's refresh, step by step",
                    },
                },
            )
        )["followUpMentoringEvent"]
    assert follow["outcome"] == "SESSION_REQUESTED"
    assert follow["session"]["status"] == "REQUESTED"
    assert follow["recommendation"] is None
