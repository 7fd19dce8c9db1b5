"""Dismiss and bookmark; who may ask and give feedback (member tokens); another app's ids."""

from typing import Any

import httpx

from tests.conftest import Tenant
from tests.factories import as_member, create_mentee, create_skill, mint_token
from tests.matching.conftest import ids, mentor, recommend
from tests.reminders.conftest import Clock

ASK = "Help me with pivot tables for a sales report"


async def _feedback(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/v1/matching/feedback", json=body)


async def test_dismissed_never_again_and_a_bookmark_undoes_it(tenant: Tenant, clock: Clock) -> None:
    client = tenant.client
    pivots = await create_skill(client, name="Pivot tables")
    one = await mentor(client, pivots["id"])
    two = await mentor(client, pivots["id"])
    mentee = await create_mentee(client)
    other = await create_mentee(client)
    response = await _feedback(
        client, mentee_id=mentee["id"], mentor_id=one["id"], action="dismiss"
    )
    assert response.status_code == 200, response.text
    assert response.json()["action"] == "dismiss"
    found = await recommend(client, mentee_id=mentee["id"], ask=ASK)
    assert ids(found) == [two["id"]]
    assert found["excluded_count"] == 1
    # Only for that mentee.
    assert sorted(ids(await recommend(client, mentee_id=other["id"], ask=ASK))) == sorted(
        [one["id"], two["id"]]
    )
    response = await _feedback(
        client, mentee_id=mentee["id"], mentor_id=one["id"], action="bookmark"
    )
    assert response.json()["action"] == "bookmark"
    found = await recommend(client, mentee_id=mentee["id"], ask=ASK)
    bookmarked = {i["mentor"]["id"]: i for i in found["data"]}[one["id"]]
    assert "You bookmarked them" in bookmarked["reasons"]
    assert bookmarked["components"]["continuity"] == 0.5


async def test_graphql_feedback_and_recommendations(tenant: Tenant, clock: Clock) -> None:
    from tests.gql.helpers import gql_data

    client = tenant.client
    pivots = await create_skill(client, name="Pivot tables")
    one = await mentor(client, pivots["id"])
    two = await mentor(client, pivots["id"])
    mentee = await create_mentee(client)
    rest = await recommend(client, mentee_id=mentee["id"], ask=ASK)
    query = """
      query($input: RecommendMentorsInput!) {
        recommendMentors(input: $input) {
          excludedCount
          data { mentor { id skills { level skill { name } } } score reasons firstSlots
                 components { skill text availability feedback language timezone load continuity } }
        }
      }"""
    data = await gql_data(client, query, {"input": {"menteeId": mentee["id"], "ask": ASK}})
    found = data["recommendMentors"]
    assert [i["mentor"]["id"] for i in found["data"]] == ids(rest)
    assert [i["score"] for i in found["data"]] == [i["score"] for i in rest["data"]]
    assert [i["reasons"] for i in found["data"]] == [i["reasons"] for i in rest["data"]]
    assert found["data"][0]["mentor"]["skills"][0]["skill"]["name"] == "Pivot tables"
    mutation = """
      mutation($input: MatchFeedbackInput!) {
        giveMatchFeedback(input: $input) { menteeId mentorId action }
      }"""
    given = await gql_data(
        client,
        mutation,
        {"input": {"menteeId": mentee["id"], "mentorId": one["id"], "action": "DISMISS"}},
    )
    assert given["giveMatchFeedback"]["action"] == "DISMISS"
    data = await gql_data(client, query, {"input": {"menteeId": mentee["id"], "ask": ASK}})
    assert [i["mentor"]["id"] for i in data["recommendMentors"]["data"]] == [two["id"]]
    assert data["recommendMentors"]["excludedCount"] == 1


async def test_member_tokens(tenant: Tenant, clock: Clock) -> None:
    client = tenant.client
    pivots = await create_skill(client, name="Pivot tables")
    one = await mentor(client, pivots["id"])
    mentee = await create_mentee(client)
    other = await create_mentee(client)
    body = {"mentee_id": mentee["id"], "ask": ASK}
    mark = {"mentee_id": mentee["id"], "mentor_id": one["id"], "action": "bookmark"}
    async with as_member(client, await mint_token(client, mentee["external_id"], "mentee")) as me:
        assert (await me.post("/v1/matching/recommendations", json=body)).status_code == 200
        assert (await _feedback(me, **mark)).status_code == 200
        theirs = {**body, "mentee_id": other["id"]}
        assert (await me.post("/v1/matching/recommendations", json=theirs)).status_code == 404
        response = await _feedback(me, **{**mark, "mentee_id": other["id"]})
        assert response.status_code == 404
        assert (await me.get("/v1/matching/policy")).status_code == 403
        assert (await me.put("/v1/matching/policy", json={})).status_code == 403
    async with as_member(client, await mint_token(client, one["external_id"], "mentor")) as them:
        assert (await them.post("/v1/matching/recommendations", json=body)).status_code == 404
        assert (await _feedback(them, **mark)).status_code == 404
        assert (await them.get("/v1/matching/policy")).status_code == 403


async def test_another_apps_ids_are_not_found(
    tenant: Tenant, other_tenant: Tenant, clock: Clock
) -> None:
    pivots = await create_skill(tenant.client, name="Pivot tables")
    one = await mentor(tenant.client, pivots["id"])
    mentee = await create_mentee(tenant.client)
    theirs = await create_mentee(other_tenant.client)
    their_skill = await create_skill(other_tenant.client, name="Pivot tables")
    their_mentor = await mentor(other_tenant.client, their_skill["id"])
    c = tenant.client
    response = await c.post(
        "/v1/matching/recommendations", json={"mentee_id": theirs["id"], "ask": ASK}
    )
    assert response.status_code == 404
    response = await c.post(
        "/v1/matching/recommendations",
        json={"mentee_id": mentee["id"], "ask": ASK, "skills": [{"skill_id": their_skill["id"]}]},
    )
    assert response.status_code == 404
    for body in (
        {"mentee_id": theirs["id"], "mentor_id": one["id"]},
        {"mentee_id": mentee["id"], "mentor_id": their_mentor["id"]},
    ):
        assert (await _feedback(c, **body, action="dismiss")).status_code == 404
    # Their mentors are never recommended here, though they teach the same.
    assert ids(await recommend(c, mentee_id=mentee["id"], ask=ASK)) == [one["id"]]
