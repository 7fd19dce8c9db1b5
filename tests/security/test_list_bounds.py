"""A list far over its limit is refused before its items are read, on both faces.

GraphQL: graphql-core coerced every item of a variable (each input object into its class)
before the REST schema behind the resolver counted them: 15,000 skills where 10 are allowed
(930 KB) took half a second of CPU for one BAD_USER_INPUT, and each item's own error came back
with it. Now a list longer than any REST body takes under its name is refused in the
validation step (graphql/lists.py), with nothing read; items of bad type show it: no error of
theirs is reported. REST: pydantic (2.14) counts a list before validating its items; the test
keeps it so.
"""

import json

from fastapi import FastAPI

from mentorapi.graphql.lists import FALLBACK_BOUND
from tests.conftest import Tenant
from tests.gql.helpers import error_codes, gql

MENTEE = "mte_" + "0" * 26
RECOMMEND = "query($i: RecommendMentorsInput!) { recommendMentors(input: $i) { excludedCount } }"
# Wrong in every field: graphql-core reports each such item when it reads it.
BAD_SKILL = {"skillId": 5, "minLevel": "high"}


async def test_graphql_refuses_an_overlong_list_before_reading_an_item(
    app: FastAPI, tenant: Tenant
) -> None:
    variables = {"i": {"menteeId": MENTEE, "ask": "python help", "skills": [BAD_SKILL] * 15_000}}
    assert len(json.dumps(variables)) < 1_000_000
    body = await gql(tenant.client, RECOMMEND, variables)
    assert error_codes(body) == ["BAD_USER_INPUT"], body["errors"][:3]
    issues = body["errors"][0]["extensions"]["errors"]
    # One issue, the length: not one of the 15,000 items was coerced.
    assert issues == [
        {
            "loc": ["variables", "i", "skills"],
            "msg": "List should have at most 50 items, not 15000",
            "type": "too_long",
        }
    ]
    assert body["data"] is None


async def test_graphql_list_variable_and_nested_lists_are_bounded(
    app: FastAPI, tenant: Tenant
) -> None:
    # A variable that is itself a list (an argument of type [String!]), and a list inside a list
    # of input objects (an override's windows).
    notes = (
        'mutation($t: [String!]) { putSessionNotes(sessionId: "ses_x", takeaways: $t) '
        "{ __typename } }"
    )
    body = await gql(tenant.client, notes, {"t": [1] * 100_000})
    assert body["errors"][0]["extensions"]["errors"][0]["type"] == "too_long", body["errors"][:2]
    availability = (
        'mutation($a: AvailabilityInput!) { setAvailability(mentorId: "mtr_x", input: $a) '
        "{ __typename } }"
    )
    windows = [{"start": 1, "end": 2}] * 10_000
    body = await gql(
        tenant.client, availability, {"a": {"overrides": [{"date": 1, "windows": windows}]}}
    )
    issues = body["errors"][0]["extensions"]["errors"]
    assert issues[0]["loc"] == ["variables", "a", "overrides", 0, "windows"], issues[:2]
    assert len(issues) == 1


async def test_within_the_bound_the_rest_schema_still_says_the_exact_limit(
    app: FastAPI, tenant: Tenant
) -> None:
    skills = [{"skillId": "skl_" + "0" * 26, "minLevel": 1}] * 11
    body = await gql(
        tenant.client,
        RECOMMEND,
        {"i": {"menteeId": MENTEE, "ask": "python help", "skills": skills}},
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "at most 10 items" in body["errors"][0]["message"]


def test_every_list_input_of_the_schema_has_a_rest_or_enum_bound(app: FastAPI) -> None:
    bounds = app.state.graphql_schema.list_bounds
    assert bounds.unbounded == [], f"bound by FALLBACK_BOUND ({FALLBACK_BOUND}) only"
    assert bounds.fields[("RecommendMentorsInput", "languages")] == 20
    assert bounds.fields[("CreateCohortInput", "forbids")] == 20_000
    assert bounds.fields[("SessionFilter", "status")] == 7  # the enum's members


async def test_rest_counts_an_overlong_list_before_its_items(app: FastAPI, tenant: Tenant) -> None:
    body = {"mentee_id": MENTEE, "ask": "python help", "skills": [{"skill_id": 5}] * 25_000}
    response = await tenant.client.post(
        "/v1/matching/recommendations",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert [(e["loc"], e["type"]) for e in errors] == [(["body", "skills"], "too_long")], errors[:3]
