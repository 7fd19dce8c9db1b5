"""GraphQL parity: the same cohorts, runs and matches as REST, the same refusals."""

from typing import Any

from mentorapi.db.engine import Database
from tests.cohorts.conftest import make_world, run_jobs
from tests.conftest import Tenant, count_statements, own
from tests.factories import as_member, mint_token
from tests.gql.helpers import error_codes, gql, gql_data

COHORT_FIELDS = """
    id name menteeCount mentorCount mentorsPerMentee objective minScore
    menteeIds mentorIds capacity { default perMentor { mentorId capacity } }
    pins { menteeId mentorId } forbids { menteeId mentorId }
"""
RUN_FIELDS = """
    id cohortId seed status progress publishedAt
    proposals { id menteeId mentorId score components reasons pinned }
    unmatched { menteeId reason }
    stats { matched unmatched pairs meanScore minScore mentorUtilisationP50 mentorUtilisationP95 }
    error { code detail }
"""
CREATE = (
    f"mutation($input: CreateCohortInput!) {{ createCohort(input: $input) {{ {COHORT_FIELDS} }} }}"
)
START = (
    "mutation($id: ID!, $seed: Int) "
    f"{{ startMatchRun(cohortId: $id, seed: $seed) {{ {RUN_FIELDS} }} }}"
)
RUN = f"query($id: ID!) {{ matchRun(id: $id) {{ {RUN_FIELDS} }} }}"
PUBLISH = """mutation($id: ID!, $ids: [ID!]) { publishMatchRun(id: $id, proposalIds: $ids) {
    matchRunId cohortId publishedAt matches { id menteeId mentorId score status cohortId } } }"""
MATCHES = """query($filter: MatchFilter) { matches(filter: $filter) {
    edges { node { id menteeId mentorId } } pageInfo { hasNextPage } } }"""


async def test_the_whole_flow_through_graphql(
    db: Database, database_url: str, tenant: Tenant
) -> None:
    world = await make_world(tenant.client, mentees=3, mentors=2)
    (a, b, _), (x, y) = world.mentee_ids, world.mentor_ids
    given: dict[str, Any] = {
        "name": "GraphQL cohort",
        "menteeIds": world.mentee_ids,
        "mentorIds": world.mentor_ids,
        "capacity": {"default": 2, "perMentor": [{"mentorId": y, "capacity": 1}]},
        "objective": "MAX_PARTICIPATION",
        "pins": [{"menteeId": a, "mentorId": x}],
        "forbids": [{"menteeId": b, "mentorId": x}],
    }
    cohort = (await gql_data(tenant.client, CREATE, {"input": given}))["createCohort"]
    assert cohort["menteeIds"] == world.mentee_ids
    assert cohort["capacity"] == given["capacity"]
    assert (cohort["pins"], cohort["forbids"]) == (given["pins"], given["forbids"])
    assert (cohort["objective"], cohort["mentorsPerMentee"]) == ("MAX_PARTICIPATION", 1)
    rest = (await tenant.client.get(f"/v1/cohorts/{cohort['id']}")).json()
    assert rest["capacity"] == {"default": 2, "per_mentor": [{"mentor_id": y, "capacity": 1}]}

    read = await gql_data(
        tenant.client,
        f"query($id: ID!) {{ cohort(id: $id) {{ {COHORT_FIELDS} }} }}",
        {"id": cohort["id"]},
    )
    assert read["cohort"] == cohort

    run = (await gql_data(tenant.client, START, {"id": cohort["id"], "seed": 4}))["startMatchRun"]
    assert (run["status"], run["seed"], run["proposals"], run["stats"]) == ("QUEUED", 4, [], None)
    await run_jobs(db, database_url, tenant)
    done = (await gql_data(tenant.client, RUN, {"id": run["id"]}))["matchRun"]
    assert done["status"] == "SUCCEEDED"
    rest_run = (await tenant.client.get(f"/v1/match-runs/{run['id']}")).json()
    assert [(p["menteeId"], p["mentorId"], p["score"]) for p in done["proposals"]] == [
        (p["mentee_id"], p["mentor_id"], p["score"]) for p in rest_run["proposals"]
    ]
    assert done["proposals"][0]["components"] == rest_run["proposals"][0]["components"]
    assert done["stats"]["matched"] == rest_run["stats"]["matched"] == 3

    published = (await gql_data(tenant.client, PUBLISH, {"id": run["id"]}))["publishMatchRun"]
    assert len(published["matches"]) == 3
    again = await gql(tenant.client, PUBLISH, {"id": run["id"]})
    assert error_codes(again) == ["CONFLICT"]
    listed = await gql_data(tenant.client, MATCHES, {"filter": {"mentorId": x}})
    assert {e["node"]["menteeId"] for e in listed["matches"]["edges"]} == {
        m["menteeId"] for m in published["matches"] if m["mentorId"] == x
    }
    one = await gql_data(
        tenant.client,
        "query($id: ID!) { match(id: $id) { id cohortId } }",
        {"id": published["matches"][0]["id"]},
    )
    assert one["match"] == {"id": published["matches"][0]["id"], "cohortId": cohort["id"]}

    # A page of cohorts loads their sizes and lists in one query per kind, however many cohorts.
    for _ in range(2):
        await gql_data(tenant.client, CREATE, {"input": {**given, "pins": [], "forbids": []}})
    counts = []
    for first in (1, 3):
        query = f"{{ cohorts(first: {first}) {{ edges {{ node {{ {COHORT_FIELDS} }} }} }} }}"
        with count_statements() as statements:
            page = await gql_data(tenant.client, query)
        assert len(page["cohorts"]["edges"]) == first
        counts.append(len(own(statements)))
    # The page, the two sizes, the three lists (the app's own lookup aside).
    assert counts[0] == counts[1] <= 7, counts


async def test_graphql_refusals(tenant: Tenant, other_tenant: Tenant) -> None:
    world = await make_world(tenant.client, mentees=1, mentors=1)
    theirs = await make_world(other_tenant.client, mentees=1, mentors=1)
    base = {"name": "x", "menteeIds": world.mentee_ids, "mentorIds": world.mentor_ids}
    for change, code in (
        ({"menteeIds": []}, "BAD_USER_INPUT"),
        ({"menteeIds": world.mentor_ids}, "BAD_USER_INPUT"),
        ({"name": "n" * 201}, "BAD_USER_INPUT"),
        ({"name": "nul\x00"}, "BAD_USER_INPUT"),
        ({"capacity": {"default": -1}}, "BAD_USER_INPUT"),
        ({"menteeIds": theirs.mentee_ids}, "NOT_FOUND"),
        (
            {"pins": [{"menteeId": theirs.mentee_ids[0], "mentorId": world.mentor_ids[0]}]},
            "BAD_USER_INPUT",
        ),
    ):
        body = await gql(tenant.client, CREATE, {"input": {**base, **change}})
        assert error_codes(body) == [code], (change, body)
    assert (await tenant.client.get("/v1/cohorts")).json()["data"] == []

    cohort = (await gql_data(tenant.client, CREATE, {"input": base}))["createCohort"]
    run = (await gql_data(tenant.client, START, {"id": cohort["id"]}))["startMatchRun"]
    assert error_codes(await gql(tenant.client, START, {"id": cohort["id"], "seed": -1})) == [
        "BAD_USER_INPUT"
    ]
    assert error_codes(await gql(tenant.client, PUBLISH, {"id": run["id"]})) == ["CONFLICT"]
    assert error_codes(await gql(other_tenant.client, RUN, {"id": run["id"]})) == ["NOT_FOUND"]
    assert error_codes(await gql(tenant.client, RUN, {"id": cohort["id"]})) == ["BAD_USER_INPUT"]

    c = tenant.client
    token = await mint_token(c, world.mentees[0]["external_id"], "mentee")
    async with as_member(c, token) as member:
        for query, variables in (
            (CREATE, {"input": base}),
            ("query($id: ID!) { cohort(id: $id) { id } }", {"id": cohort["id"]}),
            ("{ cohorts { edges { node { id } } } }", {}),
            (START, {"id": cohort["id"]}),
            (RUN, {"id": run["id"]}),
            (PUBLISH, {"id": run["id"]}),
        ):
            assert error_codes(await gql(member, query, variables)) == ["FORBIDDEN"], query
        mine = await gql_data(member, MATCHES)
        assert mine["matches"]["edges"] == []
