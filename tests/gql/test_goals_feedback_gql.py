"""Goals and feedback over GraphQL: the same services, caller rules and error codes as REST."""

from tests.conftest import Tenant
from tests.factories import as_member, bookable, create_mentee, mint_token
from tests.gql.helpers import error_codes, gql, gql_data
from tests.test_feedback import async_session, completed_session

GOAL = "id menteeId title description targetDate version skill { slug } "
GOAL += "milestones { id title done } progress { milestonesDone milestonesTotal percent }"


async def test_goal_lifecycle(tenant: Tenant, other_tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    skill = (await tenant.client.get(f"/v1/skills/{base['skill_id']}")).json()
    create = f"""mutation($m: ID!, $input: CreateGoalInput!) {{
      createGoal(menteeId: $m, input: $input) {{ {GOAL} }} }}"""
    goal = (
        await gql_data(
            tenant.client,
            create,
            {
                "m": base["mentee_id"],
                "input": {
                    "title": "Own the sales report",
                    "slug": skill["slug"],
                    "targetDate": "2027-03-01",
                    "milestones": [{"title": "First pivot"}, {"title": "Slicers"}],
                },
            },
        )
    )["createGoal"]
    assert goal["skill"] == {"slug": skill["slug"]}
    assert goal["progress"] == {"milestonesDone": 0, "milestonesTotal": 2, "percent": 0}
    blank = await gql(tenant.client, create, {"m": base["mentee_id"], "input": {"title": " "}})
    assert error_codes(blank) == ["BAD_USER_INPUT"]
    assert blank["errors"][0]["extensions"]["errors"][0]["loc"] == ["input", "title"]

    done = """mutation($g: ID!, $id: ID!) {
      updateMilestone(goalId: $g, id: $id, input: {done: true}) { progress { percent } } }"""
    first = goal["milestones"][0]["id"]
    changed = await gql_data(tenant.client, done, {"g": goal["id"], "id": first})
    assert changed["updateMilestone"]["progress"]["percent"] == 50

    add = """mutation($g: ID!) { addMilestone(goalId: $g, input: {title: "Dashboard"}) {
      milestones { title } } }"""
    added = await gql_data(tenant.client, add, {"g": goal["id"]})
    assert [m["title"] for m in added["addMilestone"]["milestones"]][-1] == "Dashboard"
    remove = """mutation($g: ID!, $id: ID!) { deleteMilestone(goalId: $g, id: $id) {
      progress { milestonesTotal } } }"""
    removed = await gql_data(tenant.client, remove, {"g": goal["id"], "id": first})
    assert removed["deleteMilestone"]["progress"]["milestonesTotal"] == 2

    current = await gql_data(
        tenant.client, "query($id: ID!) { goal(id: $id) { version } }", {"id": goal["id"]}
    )
    version = current["goal"]["version"]
    update = """mutation($id: ID!, $v: Int) {
      updateGoal(id: $id, input: {title: "Own every report"}, expectedVersion: $v) {
        title version } }"""
    stale = await gql(tenant.client, update, {"id": goal["id"], "v": version - 1})
    assert error_codes(stale) == ["PRECONDITION_FAILED"]
    updated = await gql_data(tenant.client, update, {"id": goal["id"], "v": version})
    assert updated["updateGoal"] == {"title": "Own every report", "version": version + 1}

    listed = await gql_data(
        tenant.client, "query($m: ID!) { goals(menteeId: $m) { id } }", {"m": base["mentee_id"]}
    )
    assert listed["goals"] == [{"id": goal["id"]}]
    hidden = await gql(
        other_tenant.client, "query($id: ID!) { goal(id: $id) { id } }", {"id": goal["id"]}
    )
    assert error_codes(hidden) == ["NOT_FOUND"]

    # A goal is as private as its mentee: to another member it does not exist.
    stranger = await create_mentee(tenant.client)
    token = await mint_token(tenant.client, stranger["external_id"], "mentee")
    async with as_member(tenant.client, token) as member:
        denied = await gql(member, "query($id: ID!) { goal(id: $id) { id } }", {"id": goal["id"]})
        assert error_codes(denied) == ["NOT_FOUND"]

    delete = "mutation($id: ID!) { deleteGoal(id: $id) }"
    assert (await gql_data(tenant.client, delete, {"id": goal["id"]}))["deleteGoal"] == goal["id"]
    gone = await tenant.client.get(f"/v1/goals/{goal['id']}")
    assert gone.status_code == 404


SUBMIT = """mutation($s: ID!, $input: SubmitFeedbackInput!) {
  submitFeedback(sessionId: $s, input: $input) {
    id author rating impact takeaways visibility version editableUntil impactUpdates { text } } }"""


async def test_feedback_submit_update_and_impact(tenant: Tenant, other_tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    early = await async_session(tenant, base)
    feedback_input = {
        "author": "MENTEE",
        "rating": 5,
        "impact": "Ten minutes now, not two hours.",
        "takeaways": ["Dates in columns"],
        "visibility": "PUBLIC",
    }
    not_yet = await gql(tenant.client, SUBMIT, {"s": early, "input": feedback_input})
    assert error_codes(not_yet) == ["CONFLICT"]  # the session is not completed

    sid = await completed_session(tenant, base)
    no_rating = {**feedback_input, "rating": None}
    missing = await gql(tenant.client, SUBMIT, {"s": sid, "input": no_rating})
    assert error_codes(missing) == ["BAD_USER_INPUT"]
    bad = await gql(tenant.client, SUBMIT, {"s": sid, "input": {**feedback_input, "rating": 6}})
    assert error_codes(bad) == ["BAD_USER_INPUT"]

    given = (await gql_data(tenant.client, SUBMIT, {"s": sid, "input": feedback_input}))[
        "submitFeedback"
    ]
    assert given["rating"] == 5
    assert given["visibility"] == "PUBLIC"
    twice = await gql(tenant.client, SUBMIT, {"s": sid, "input": feedback_input})
    assert error_codes(twice) == ["CONFLICT"]

    update = """mutation($id: ID!, $v: Int) { updateFeedback(id: $id, input: {rating: 4},
      expectedVersion: $v) { rating version } }"""
    stale = await gql(tenant.client, update, {"id": given["id"], "v": given["version"] + 1})
    assert error_codes(stale) == ["PRECONDITION_FAILED"]
    updated = await gql_data(tenant.client, update, {"id": given["id"], "v": given["version"]})
    assert updated["updateFeedback"]["rating"] == 4

    impact = """mutation($id: ID!) { addImpactUpdate(feedbackId: $id,
      input: {text: "Promoted six months later", occurredOn: "2027-07-01"}) {
      impactUpdates { text occurredOn } } }"""
    added = await gql_data(tenant.client, impact, {"id": given["id"]})
    assert added["addImpactUpdate"]["impactUpdates"] == [
        {"text": "Promoted six months later", "occurredOn": "2027-07-01"}
    ]

    read = "query($id: ID!) { feedback(id: $id) { id rating impactUpdates { text } } }"
    found = await gql_data(tenant.client, read, {"id": given["id"]})
    assert found["feedback"]["rating"] == 4
    assert error_codes(await gql(other_tenant.client, read, {"id": given["id"]})) == ["NOT_FOUND"]

    on_session = await gql_data(
        tenant.client, "query($s: ID!) { sessionFeedback(sessionId: $s) { id } }", {"s": sid}
    )
    assert on_session["sessionFeedback"] == [{"id": given["id"]}]
    public = """query($m: ID!) { mentorFeedback(mentorId: $m, first: 1) {
      edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"""
    page = (await gql_data(tenant.client, public, {"m": base["mentor_id"]}))["mentorFeedback"]
    assert [e["node"]["id"] for e in page["edges"]] == [given["id"]]
    assert page["pageInfo"]["hasNextPage"] is False
    rest = await tenant.client.get(f"/v1/mentors/{base['mentor_id']}/feedback")
    assert [f["id"] for f in rest.json()["data"]] == [given["id"]]
