"""The reminder policy, REST and GraphQL: defaults, replacing it, one mentor's own offsets,
versions, validation and who may do what. A new policy applies to the sessions to come."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentorapi.db.engine import Database
from tests.conftest import Tenant
from tests.factories import as_member, book_session, bookable, create_mentor, mint_token
from tests.gql.helpers import error_codes, gql, gql_data
from tests.reminders.conftest import Clock, plan

MONDAY_9 = "2027-01-11T08:00:00Z"


def _reminders(rows: list[tuple[Any, ...]]) -> list[int]:
    return [r[2] for r in rows if r[0] == "reminder"]


async def test_defaults_then_a_policy_of_the_apps_own(tenant: Tenant) -> None:
    got = await tenant.client.get("/v1/app/reminders")
    assert got.status_code == 200, got.text
    assert got.json() == {
        "offsets_minutes": [1440, 60],
        "feedback_request_delay_minutes": 10,
        "version": 0,
        "updated_at": None,
    }
    assert got.headers["etag"] == '"0"'
    put = await tenant.client.put(
        "/v1/app/reminders",
        json={"offsets_minutes": [15, 2880, 60], "feedback_request_delay_minutes": 0},
        headers={"If-Match": '"0"'},
    )
    assert put.status_code == 200, put.text
    assert put.json()["offsets_minutes"] == [2880, 60, 15]  # latest first
    assert put.json()["feedback_request_delay_minutes"] == 0
    assert put.json()["version"] == 1
    assert put.headers["etag"] == '"1"'
    assert (await tenant.client.get("/v1/app/reminders")).json() == put.json()
    stale = await tenant.client.put(
        "/v1/app/reminders", json={"offsets_minutes": []}, headers={"If-Match": '"0"'}
    )
    assert stale.status_code == 412, stale.text
    # Everything left out takes its default (PUT replaces the whole policy).
    reset = await tenant.client.put("/v1/app/reminders", json={})
    assert reset.json()["offsets_minutes"] == [1440, 60]
    assert reset.json()["version"] == 2


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"offsets_minutes": [0]}, ["body", "offsets_minutes", 0]),
        ({"offsets_minutes": [-60]}, ["body", "offsets_minutes", 0]),
        ({"offsets_minutes": [60, 20161]}, ["body", "offsets_minutes", 1]),
        ({"offsets_minutes": [60, 30, 60]}, ["body", "offsets_minutes"]),
        ({"offsets_minutes": [1, 2, 3, 4, 5, 6]}, ["body", "offsets_minutes"]),
        ({"offsets_minutes": ["an hour"]}, ["body", "offsets_minutes", 0]),
        ({"offsets_minutes": [1.5]}, ["body", "offsets_minutes", 0]),
        ({"offsets_minutes": None}, ["body", "offsets_minutes"]),
        ({"offsets_minutes": 60}, ["body", "offsets_minutes"]),
        ({"offsets_minutes": [2**63]}, ["body", "offsets_minutes", 0]),
        ({"feedback_request_delay_minutes": -1}, ["body", "feedback_request_delay_minutes"]),
        ({"feedback_request_delay_minutes": 1441}, ["body", "feedback_request_delay_minutes"]),
        ({"reminders": [60]}, ["body", "reminders"]),
    ],
)
async def test_invalid_policies_are_422_and_change_nothing(
    tenant: Tenant, body: dict[str, Any], loc: list[Any]
) -> None:
    response = await tenant.client.put("/v1/app/reminders", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert loc in [e["loc"] for e in response.json()["errors"]]
    assert (await tenant.client.get("/v1/app/reminders")).json()["version"] == 0


async def test_duplicates_are_named(tenant: Tenant) -> None:
    response = await tenant.client.put("/v1/app/reminders", json={"offsets_minutes": [60, 60]})
    assert response.status_code == 422
    assert "repeated: [60]" in response.json()["errors"][0]["msg"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(offsets=st.lists(st.integers(min_value=-(2**40), max_value=2**40), max_size=8))
async def test_any_list_of_offsets_is_saved_sorted_or_refused(
    tenant: Tenant, offsets: list[int]
) -> None:
    response = await tenant.client.put("/v1/app/reminders", json={"offsets_minutes": offsets})
    valid = (
        len(offsets) <= 5
        and len(set(offsets)) == len(offsets)
        and all(1 <= o <= 20160 for o in offsets)
    )
    if valid:
        assert response.status_code == 200, response.text
        assert response.json()["offsets_minutes"] == sorted(offsets, reverse=True)
    else:
        assert response.status_code == 422, response.text


async def test_a_new_policy_applies_to_the_sessions_to_come(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    base = await bookable(tenant.client)
    session = await book_session(tenant.client, base, MONDAY_9)
    other = await bookable(tenant.client)
    second = await book_session(tenant.client, other, MONDAY_9)
    assert _reminders(await plan(db, tenant.id, session["id"])) == [1440, 60]
    response = await tenant.client.put(
        "/v1/app/reminders",
        json={"offsets_minutes": [30, 10080], "feedback_request_delay_minutes": 120},
    )
    assert response.status_code == 200, response.text
    rows = await plan(db, tenant.id, session["id"])
    # 10080 (a week before) is already past at 2027-01-04T08:00: skipped, never sent late.
    assert _reminders(rows) == [30]
    assert [r[1] for r in rows if r[0] == "feedback_requested"] == ["2027-01-11T10:30:00Z"] * 2
    # One mentor's own offsets, for their sessions only.
    mine = await tenant.client.put(
        f"/v1/app/reminders/mentors/{base['mentor_id']}", json={"offsets_minutes": [5, 120]}
    )
    assert mine.status_code == 200, mine.text
    assert mine.json() == {
        "mentor_id": base["mentor_id"],
        "offsets_minutes": [120, 5],
        "source": "mentor",
        "version": 1,
        "updated_at": mine.json()["updated_at"],
    }
    assert _reminders(await plan(db, tenant.id, session["id"])) == [120, 5]
    assert _reminders(await plan(db, tenant.id, second["id"])) == [30]
    gone = await tenant.client.delete(f"/v1/app/reminders/mentors/{base['mentor_id']}")
    assert gone.status_code == 204, gone.text
    back = await tenant.client.get(f"/v1/app/reminders/mentors/{base['mentor_id']}")
    assert (back.json()["source"], back.json()["offsets_minutes"], back.json()["version"]) == (
        "app",
        [10080, 30],
        0,
    )
    assert _reminders(await plan(db, tenant.id, session["id"])) == [30]


async def test_mentor_offsets_of_unknown_and_foreign_mentors(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    foreign = await create_mentor(other_tenant.client)
    for path in (
        "/v1/app/reminders/mentors/mtr_01JD8X7C2B3A4Z5Y6X7W8V9T0S",
        f"/v1/app/reminders/mentors/{foreign['id']}",
    ):
        assert (await tenant.client.get(path)).status_code == 404
        put = await tenant.client.put(path, json={"offsets_minutes": [5]})
        assert put.status_code == 404, put.text
        assert (await tenant.client.delete(path)).status_code == 404
    wrong_kind = await tenant.client.get("/v1/app/reminders/mentors/mte_01JD8X9E3F4G5H6J7K8M9N0P1Q")
    assert wrong_kind.status_code == 422
    # The other app's own view is untouched.
    theirs = await other_tenant.client.get(f"/v1/app/reminders/mentors/{foreign['id']}")
    assert theirs.json()["source"] == "app"


async def test_member_tokens_can_neither_read_nor_change_the_policy(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    token = await mint_token(tenant.client, mentor["external_id"], "mentor")
    async with as_member(tenant.client, token) as member:
        for method, path, body in [
            ("GET", "/v1/app/reminders", None),
            ("PUT", "/v1/app/reminders", {"offsets_minutes": []}),
            ("GET", f"/v1/app/reminders/mentors/{mentor['id']}", None),
            ("PUT", f"/v1/app/reminders/mentors/{mentor['id']}", {"offsets_minutes": [5]}),
            ("DELETE", f"/v1/app/reminders/mentors/{mentor['id']}", None),
        ]:
            response = await member.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
        for document in (
            "{ reminderPolicy { offsetsMinutes } }",
            "mutation { setReminderPolicy(input: {offsetsMinutes: []}) { version } }",
            f'mutation {{ setMentorReminders(mentorId: "{mentor["id"]}", '
            "input: {offsetsMinutes: [5]}) { version } }",
        ):
            assert error_codes(await gql(member, document)) == ["FORBIDDEN"]
    assert (await tenant.client.get("/v1/app/reminders")).json()["version"] == 0


async def test_graphql_reads_and_writes_the_same_policy(tenant: Tenant) -> None:
    data = await gql_data(
        tenant.client,
        "{ reminderPolicy { offsetsMinutes feedbackRequestDelayMinutes version updatedAt } }",
    )
    assert data["reminderPolicy"] == {
        "offsetsMinutes": [1440, 60],
        "feedbackRequestDelayMinutes": 10,
        "version": 0,
        "updatedAt": None,
    }
    changed = await gql_data(
        tenant.client,
        "mutation($v: Int) { setReminderPolicy(input: {offsetsMinutes: [30, 240]}, "
        "expectedVersion: $v) { offsetsMinutes feedbackRequestDelayMinutes version } }",
        {"v": 0},
    )
    assert changed["setReminderPolicy"] == {
        "offsetsMinutes": [240, 30],
        "feedbackRequestDelayMinutes": 10,
        "version": 1,
    }
    rest = (await tenant.client.get("/v1/app/reminders")).json()
    assert rest["offsets_minutes"] == [240, 30]
    stale = await gql(
        tenant.client,
        "mutation { setReminderPolicy(input: {}, expectedVersion: 0) { version } }",
    )
    assert error_codes(stale) == ["PRECONDITION_FAILED"]
    for bad in ("[0]", "[60, 60]", "[1, 2, 3, 4, 5, 6]", "[20161]"):
        body = await gql(
            tenant.client,
            f"mutation {{ setReminderPolicy(input: {{offsetsMinutes: {bad}}}) {{ version }} }}",
        )
        assert error_codes(body) == ["BAD_USER_INPUT"], (bad, body)
    base = await bookable(tenant.client)
    mentor_id = base["mentor_id"]
    own = await gql_data(
        tenant.client,
        "mutation($m: ID!) { setMentorReminders(mentorId: $m, input: {offsetsMinutes: [15]}) "
        "{ mentorId offsetsMinutes source version } }",
        {"m": mentor_id},
    )
    assert own["setMentorReminders"] == {
        "mentorId": mentor_id,
        "offsetsMinutes": [15],
        "source": "MENTOR",
        "version": 1,
    }
    read = await gql_data(
        tenant.client,
        "query($m: ID!) { mentorReminders(mentorId: $m) { offsetsMinutes source } }",
        {"m": mentor_id},
    )
    assert read["mentorReminders"] == {"offsetsMinutes": [15], "source": "MENTOR"}
    cleared = await gql_data(
        tenant.client,
        "mutation($m: ID!) { clearMentorReminders(mentorId: $m) "
        "{ offsetsMinutes source version } }",
        {"m": mentor_id},
    )
    assert cleared["clearMentorReminders"] == {
        "offsetsMinutes": [240, 30],
        "source": "APP",
        "version": 0,
    }
    missing = await gql(
        tenant.client,
        'query { mentorReminders(mentorId: "mtr_01JD8X7C2B3A4Z5Y6X7W8V9T0S") { source } }',
    )
    assert error_codes(missing) == ["NOT_FOUND"]
    wrong = await gql(
        tenant.client,
        'query { mentorReminders(mentorId: "mte_01JD8X9E3F4G5H6J7K8M9N0P1Q") { source } }',
    )
    assert error_codes(wrong) == ["BAD_USER_INPUT"]


async def test_webhook_endpoints_take_the_new_event_types_on_both_faces(tenant: Tenant) -> None:
    types = [
        "session.reminder",
        "session.started",
        "session.ended",
        "feedback.requested",
        "action_item.due",
    ]
    rest = await tenant.client.post(
        "/v1/webhook-endpoints", json={"url": "https://example.com/hook", "events": types}
    )
    assert rest.status_code == 201, rest.text
    assert rest.json()["events"] == types
    data = await gql_data(
        tenant.client,
        "mutation($e: [String!]) { createWebhookEndpoint(input: {url: "
        '"https://example.com/gql", events: $e}) { events } }',
        {"e": types},
    )
    assert data["createWebhookEndpoint"]["events"] == types


async def test_first_policies_at_once_are_200_or_409_never_500(tenant: Tenant) -> None:
    """Five first PUTs on real concurrent connections (PostgreSQL; SQLite runs them one by
    one): each either sets the policy or is told another request just did."""
    import asyncio

    responses = await asyncio.gather(
        *(
            tenant.client.put("/v1/app/reminders", json={"offsets_minutes": [n + 1]})
            for n in range(5)
        )
    )
    assert {r.status_code for r in responses} <= {200, 409}, [r.text for r in responses]
    final = (await tenant.client.get("/v1/app/reminders")).json()
    assert 1 <= final["version"] <= sum(r.status_code == 200 for r in responses)


async def test_a_booking_takes_its_mentors_own_offsets_and_the_apps_delay(
    tenant: Tenant, db: Database, clock: Clock
) -> None:
    """A booking reads the policy for its one mentor (db/fast.py's statement): the mentor's own
    offsets, the app's feedback delay; another mentor's booking, the app's offsets."""
    put = await tenant.client.put(
        "/v1/app/reminders",
        json={"offsets_minutes": [30], "feedback_request_delay_minutes": 120},
    )
    assert put.status_code == 200, put.text
    base = await bookable(tenant.client)
    other = await bookable(tenant.client)
    mine = await tenant.client.put(
        f"/v1/app/reminders/mentors/{base['mentor_id']}", json={"offsets_minutes": [5, 120]}
    )
    assert mine.status_code == 200, mine.text
    session = await book_session(tenant.client, base, MONDAY_9)
    second = await book_session(tenant.client, other, MONDAY_9)
    rows = await plan(db, tenant.id, session["id"])
    assert _reminders(rows) == [120, 5]
    assert [r[1] for r in rows if r[0] == "feedback_requested"] == ["2027-01-11T10:30:00Z"] * 2
    assert _reminders(await plan(db, tenant.id, second["id"])) == [30]
