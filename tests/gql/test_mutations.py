"""Mutations: the same services as REST, the same validation, one transaction per request."""

from typing import Any

import pytest

from mentorapi.mentors import service as mentors_service
from tests.conftest import Tenant
from tests.factories import create_mentor, create_skill, unique
from tests.gql.helpers import error_codes, gql, gql_data

CREATE_MENTOR = """mutation ($input: CreateMentorInput!) {
  createMentor(input: $input) { id name formats sessionLengths version
    skills { skill { slug } level note } } }"""


def mentor_input(**fields: Any) -> dict[str, Any]:
    return {
        "externalId": unique("gql-mentor"),
        "name": "Grace",
        "timezone": "Europe/Paris",
        **fields,
    }


async def test_skill_lifecycle(tenant: Tenant) -> None:
    created = await gql_data(
        tenant.client,
        'mutation { createSkill(input: {slug: "public-speaking", name: " Talks "}) '
        "{ id slug name version } }",
    )
    skill = created["createSkill"]
    assert skill["name"] == "Talks"  # stripped by the REST schema
    updated = await gql_data(
        tenant.client,
        'mutation ($id: ID!) { updateSkill(id: $id, input: {category: "comms"}, '
        "expectedVersion: 1) { category version } }",
        {"id": skill["id"]},
    )
    assert updated["updateSkill"] == {"category": "comms", "version": 2}
    stale = await gql(
        tenant.client,
        'mutation ($id: ID!) { updateSkill(id: $id, input: {name: "x"}, expectedVersion: 1) '
        "{ version } }",
        {"id": skill["id"]},
    )
    assert error_codes(stale) == ["PRECONDITION_FAILED"]
    dup = await gql(
        tenant.client,
        'mutation { createSkill(input: {slug: "public-speaking", name: "x"}) { id } }',
    )
    assert error_codes(dup) == ["CONFLICT"]
    assert dup["errors"][0]["extensions"]["slug"] == "public-speaking"
    deleted = await gql_data(
        tenant.client, "mutation ($id: ID!) { deleteSkill(id: $id) }", {"id": skill["id"]}
    )
    assert deleted["deleteSkill"] == skill["id"]
    assert (await tenant.client.get(f"/v1/skills/{skill['id']}")).status_code == 404


async def test_mentor_lifecycle(tenant: Tenant) -> None:
    skill = await create_skill(tenant.client)
    other = await create_skill(tenant.client)
    data = await gql_data(
        tenant.client,
        CREATE_MENTOR,
        {
            "input": mentor_input(
                formats=["CHAT", "ASYNC"],
                sessionLengths=[30, 10, 30],
                skills=[{"slug": skill["slug"], "level": 5}],
            )
        },
    )
    mentor = data["createMentor"]
    assert mentor["formats"] == ["CHAT", "ASYNC"]
    assert mentor["sessionLengths"] == [10, 30]
    assert mentor["skills"] == [{"skill": {"slug": skill["slug"]}, "level": 5, "note": None}]
    rest = (await tenant.client.get(f"/v1/mentors/{mentor['id']}")).json()
    assert rest["formats"] == ["chat", "async"]

    updated = await gql_data(
        tenant.client,
        'mutation ($id: ID!) { updateMentor(id: $id, input: {headline: "Excel nerd", '
        "name: null}) { name headline version } }",
        {"id": mentor["id"]},
    )
    assert updated["updateMentor"] == {"name": "Grace", "headline": "Excel nerd", "version": 2}

    skills = await gql_data(
        tenant.client,
        "mutation ($id: ID!, $skills: [SkillChoiceInput!]!) { setMentorSkills(id: $id, "
        "skills: $skills, expectedVersion: 2) { version skills { skill { id } level note } } }",
        {"id": mentor["id"], "skills": [{"skillId": other["id"], "level": 2, "note": "new"}]},
    )
    assert skills["setMentorSkills"]["skills"] == [
        {"skill": {"id": other["id"]}, "level": 2, "note": "new"}
    ]
    assert skills["setMentorSkills"]["version"] == 3

    await gql_data(
        tenant.client, "mutation ($id: ID!) { deleteMentor(id: $id) }", {"id": mentor["id"]}
    )
    assert (await tenant.client.get(f"/v1/mentors/{mentor['id']}")).status_code == 404


async def test_mentee_lifecycle(tenant: Tenant) -> None:
    skill = await create_skill(tenant.client)
    data = await gql_data(
        tenant.client,
        "mutation ($input: CreateMenteeInput!) { createMentee(input: $input) "
        "{ id languages seeking { skill { slug } level } } }",
        {
            "input": {
                "externalId": unique("gql-mentee"),
                "name": "Max",
                "timezone": "Asia/Tokyo",
                "languages": ["pt-br"],
                "seeking": [{"skillId": skill["id"], "level": 1}],
            }
        },
    )
    mentee = data["createMentee"]
    assert mentee["languages"] == ["pt-BR"]
    assert mentee["seeking"] == [{"skill": {"slug": skill["slug"]}, "level": 1}]
    updated = await gql_data(
        tenant.client,
        "mutation ($id: ID!) { updateMentee(id: $id, input: {seeking: []}) "
        "{ version seeking { level } } }",
        {"id": mentee["id"]},
    )
    assert updated["updateMentee"] == {"version": 2, "seeking": []}
    await gql_data(
        tenant.client, "mutation ($id: ID!) { deleteMentee(id: $id) }", {"id": mentee["id"]}
    )
    assert (await tenant.client.get(f"/v1/mentees/{mentee['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"timezone": "Mars/Olympus"}, ["input", "timezone"]),
        ({"name": "   "}, ["input", "name"]),
        ({"sessionLengths": [90]}, ["input", "sessionLengths", 0]),
        ({"skills": [{"level": 3}]}, ["input", "skills", 0]),
        ({"skills": [{"slug": "nope", "level": 9}]}, ["input", "skills", 0, "level"]),
    ],
)
async def test_validation_is_the_rest_validation(
    tenant: Tenant, fields: dict[str, Any], loc: list[Any]
) -> None:
    body = await gql(tenant.client, CREATE_MENTOR, {"input": mentor_input(**fields)})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["errors"][0]["loc"] == loc
    # REST rejects the same input with a 422 on the same field.
    rest_body = {"external_id": unique("m"), "name": "Grace", "timezone": "Europe/Paris"}
    rest_body.update(
        {{"sessionLengths": "session_lengths"}.get(k, k): v for k, v in fields.items()}
    )
    response = await tenant.client.post("/v1/mentors", json=rest_body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][1:] == [
        {"sessionLengths": "session_lengths"}.get(p, p) if isinstance(p, str) else p
        for p in loc[1:]
    ]


async def test_unknown_skill_is_bad_input_and_creates_nothing(tenant: Tenant) -> None:
    external_id = unique("gql-mentor")
    body = await gql(
        tenant.client,
        CREATE_MENTOR,
        {"input": mentor_input(externalId=external_id, skills=[{"slug": "no-such-skill"}])},
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    listed = (await tenant.client.get("/v1/mentors")).json()["data"]
    assert all(m["external_id"] != external_id for m in listed)


async def test_a_failed_mutation_rolls_back_the_whole_request(tenant: Tenant) -> None:
    """Mutations run in order; the second fails, so the first one's skill is not kept."""
    slug = unique("kept")
    body = await gql(
        tenant.client,
        f"""mutation {{
          first: createSkill(input: {{slug: "{slug}", name: "One"}}) {{ id }}
          second: createSkill(input: {{slug: "{slug}", name: "Two"}}) {{ id }}
        }}""",
    )
    # `second` is non-null, so its error nulls the whole data: nothing was done, as answered.
    assert body["data"] is None
    assert error_codes(body) == ["CONFLICT"]
    listed = (await tenant.client.get("/v1/skills", params={"q": slug})).json()["data"]
    assert listed == []


async def test_a_mutation_that_creates_then_fails_leaves_nothing(tenant: Tenant) -> None:
    skill = await create_skill(tenant.client)
    mentor = await create_mentor(tenant.client)
    external_id = unique("gone")
    body = await gql(
        tenant.client,
        """mutation ($input: CreateMentorInput!, $id: ID!) {
          createMentor(input: $input) { id }
          deleteSkill(id: $id)
        }""",
        # the skill is in use once `mentor` offers it: deleteSkill fails with a CONFLICT
        {
            "input": mentor_input(externalId=external_id, skills=[{"skillId": skill["id"]}]),
            "id": skill["id"],
        },
    )
    assert error_codes(body) == ["CONFLICT"]
    listed = (await tenant.client.get("/v1/mentors")).json()["data"]
    assert [m["id"] for m in listed] == [mentor["id"]]
    assert (await tenant.client.get(f"/v1/skills/{skill['id']}")).status_code == 200


async def test_unexpected_errors_are_internal_and_leak_nothing(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**_: Any) -> Any:
        raise RuntimeError("password=hunter2 in /srv/secret.py")

    monkeypatch.setattr(mentors_service, "get_view", broken)
    mentor = await create_mentor(tenant.client)
    body = await gql(
        tenant.client, "query ($id: ID!) { mentor(id: $id) { id } }", {"id": mentor["id"]}
    )
    assert error_codes(body) == ["INTERNAL"]
    assert "hunter2" not in str(body)
    assert "secret" not in str(body)
    assert body["errors"][0]["message"] == "an unexpected error occurred"


async def test_a_failed_commit_is_an_error_and_keeps_nothing(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlmodel.ext.asyncio.session import AsyncSession

    async def failing_commit(self: AsyncSession) -> None:
        raise RuntimeError("disk full at /var/lib/postgresql")

    slug = unique("never")
    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    body = await gql(
        tenant.client, f'mutation {{ createSkill(input: {{slug: "{slug}", name: "x"}}) {{ id }} }}'
    )
    monkeypatch.undo()
    assert body["data"] is None
    assert error_codes(body) == ["INTERNAL"]
    assert "disk" not in str(body)
    assert (await tenant.client.get("/v1/skills", params={"q": slug})).json()["data"] == []


async def test_variables_of_the_wrong_type_are_bad_user_input(tenant: Tenant) -> None:
    body = await gql(tenant.client, "query ($id: ID!) { mentor(id: $id) { id } }", {"id": 5.5})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = await gql(tenant.client, "query ($id: ID!) { mentor(id: $id) { id } }", {})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = await gql(tenant.client, "{ mentor { id } }")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = await gql(tenant.client, "{ mentors { nope } }")
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
