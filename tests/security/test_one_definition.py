"""One definition per rule: a bound or an enum that REST and GraphQL share is defined once
(the domain's schemas.py, kit/ids.py, kit/fields.py) and both faces refuse the same inputs.
Issue #12: GraphQL's `events(filter: {objectId})` had no bound, REST's `object_id` 40."""

from enum import Enum, StrEnum

import pytest

from mentorapi.availability.gql import DayEnum
from mentorapi.availability.schemas import Day
from mentorapi.cohorts.gql import MatchStatusEnum, ObjectiveEnum, RunStatusEnum
from mentorapi.cohorts.models import CohortObjective, MatchStatus, RunStatus
from mentorapi.feedback.gql import AuthorEnum, VisibilityEnum
from mentorapi.feedback.models import Author, Visibility
from mentorapi.group_sessions.gql import GroupStatusEnum, SeatStatusEnum
from mentorapi.group_sessions.models import GroupSessionStatus, SeatStatus
from mentorapi.kit.ids import MAX_ID_LENGTH
from mentorapi.mentors.gql import FormatEnum, MentorSortEnum
from mentorapi.mentors.models import Format
from mentorapi.mentors.schemas import MentorSort
from mentorapi.sessions.gql import SeriesStatusEnum, SideEnum, StatusEnum
from mentorapi.sessions.models import CancelledBy, SeriesStatus, SessionStatus
from tests.conftest import Tenant
from tests.gql.helpers import error_codes, gql


@pytest.mark.parametrize(
    ("face", "domain"),
    [
        (DayEnum, Day),
        (AuthorEnum, Author),
        (VisibilityEnum, Visibility),
        (FormatEnum, Format),
        (MentorSortEnum, MentorSort),
        (StatusEnum, SessionStatus),
        (SideEnum, CancelledBy),
        (SeriesStatusEnum, SeriesStatus),
        (GroupStatusEnum, GroupSessionStatus),
        (SeatStatusEnum, SeatStatus),
        (ObjectiveEnum, CohortObjective),
        (RunStatusEnum, RunStatus),
        (MatchStatusEnum, MatchStatus),
    ],
)
def test_graphql_enums_are_the_domain_enums(face: type[Enum], domain: type[StrEnum]) -> None:
    """GraphQL's enums take their values from the domain's: a value added to one is in both
    (else a row with it could not be rendered in GraphQL)."""
    assert [m.value for m in face] == [m.value for m in domain]


async def test_object_id_has_one_bound_on_both_faces(tenant: Tenant) -> None:
    longest, too_long = "x" * MAX_ID_LENGTH, "x" * (MAX_ID_LENGTH + 1)
    query = "query($id: String) { events(filter: {objectId: $id}) { edges { node { id } } } }"
    assert (await tenant.client.get("/v1/events", params={"object_id": longest})).status_code == 200
    assert "errors" not in await gql(tenant.client, query, {"id": longest})
    rest = await tenant.client.get("/v1/events", params={"object_id": too_long})
    assert rest.status_code == 422, rest.text
    assert rest.json()["errors"][0]["loc"] == ["query", "object_id"]
    body = await gql(tenant.client, query, {"id": too_long})
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["errors"][0]["loc"] == ["filter", "objectId"]


async def test_a_typed_id_reads_the_same_on_both_faces(tenant: Tenant) -> None:
    wrong_kind = "mte_" + "0" * 26
    rest = await tenant.client.get(f"/v1/mentors/{wrong_kind}")
    assert rest.status_code == 422, rest.text
    body = await gql(
        tenant.client, "query($id: ID!) { mentor(id: $id) { id } }", {"id": wrong_kind}
    )
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["message"] == rest.json()["errors"][0]["msg"]


@pytest.mark.parametrize(
    ("path", "param", "field", "filter_type", "longest"),
    [
        ("/v1/skills", "q", "skills", "SkillFilter", 100),
        ("/v1/skills", "category", "skills", "SkillFilter", 64),
        ("/v1/mentees", "q", "mentees", "MenteeFilter", 100),
        ("/v1/mentees", "skill", "mentees", "MenteeFilter", 64),
        ("/v1/mentors", "q", "mentors", "MentorFilter", 100),
    ],
)
async def test_list_filters_have_one_bound_on_both_faces(
    tenant: Tenant, path: str, param: str, field: str, filter_type: str, longest: int
) -> None:
    selection = "{ __typename }" if field == "skills" else "{ edges { node { id } } }"
    query = f"query($f: {filter_type}) {{ {field}(filter: $f) {selection} }}"
    for length, ok in ((longest, True), (longest + 1, False)):
        value = "a" * length
        rest = await tenant.client.get(path, params={param: value})
        body = await gql(tenant.client, query, {"f": {param: value}})
        assert (rest.status_code == 200) is ok, rest.text
        assert (error_codes(body) == []) is ok, body
        if not ok:
            assert error_codes(body) == ["BAD_USER_INPUT"], body
