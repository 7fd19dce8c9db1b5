"""Feedback on group sessions, through the one feedback domain: on a taken seat of a completed
group session, one per seat and author, counted in the mentor's stats and public feedback as
a session's is, with `feedback.submitted` naming the group session and the seat (REST and
GraphQL alike); bad input, other apps' ids and racing requests never write a second row."""

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from mentorapi.db.engine import Database
from mentorapi.feedback import repository as feedback_repository
from mentorapi.feedback.models import Feedback
from tests.conftest import Tenant, count_statements, make_tenant, own
from tests.factories import as_member, create_mentee, mint_token
from tests.gql.helpers import gql, gql_data
from tests.group_sessions.conftest import (
    create_group,
    events_of,
    group_world,
    mentees,
    take_seat,
    travel,
)
from tests.group_sessions.test_bad_input import UNKNOWN
from tests.test_directory import assert_problem
from tests.test_feedback import async_session, completed_session

AFTER = "2027-01-11T08:31:00Z"  # MONDAY_9's 30 minutes are over
RATED = {
    "author": "mentee",
    "rating": 5,
    "impact": "Ranked each region's reps with ROW_NUMBER: no helper column any more.",
    "takeaways": ["PARTITION BY region"],
    "visibility": "public",
}
NOTE = {"author": "mentor", "note": "Next: a running total with SUM() OVER."}


async def _rows(db: Database, app_id: str) -> int:
    async with db.sessionmaker() as s:
        query = select(func.count()).where(col(Feedback.app_id) == app_id)
        return int((await s.exec(query)).one())


async def _completed(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, seated: int = 2, **availability: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """A completed group session, its taken seats, and a seat given back before it."""
    monkeypatch.undo()  # the clock: back before the group session
    base = await group_world(tenant.client, **availability)
    group = await create_group(tenant.client, base)
    people = await mentees(tenant.client, seated + 1)
    seats = [await take_seat(tenant.client, group["id"], m) for m in people]
    gone = seats.pop()
    cancel = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/seats/{gone['id']}/cancel", json={"by": "mentee"}
    )
    assert cancel.status_code == 200, cancel.text
    travel(monkeypatch, AFTER)
    done = await tenant.client.post(f"/v1/group-sessions/{group['id']}/complete")
    assert done.status_code == 200, done.text
    return done.json(), seats, gone


async def test_feedback_on_seats_of_a_completed_group_session(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = tenant.client
    base = await group_world(c)
    group = await create_group(c, base)
    gid = group["id"]
    ana, ben = await mentees(c, 2)
    seat_a = await take_seat(c, gid, ana)
    path = f"/v1/group-sessions/{gid}/feedback"

    early = await c.post(path, json={**RATED, "mentee_id": ana})
    assert assert_problem(early, 409)["group_session_status"] == "scheduled"
    travel(monkeypatch, AFTER)
    assert (await c.post(f"/v1/group-sessions/{gid}/complete")).status_code == 200

    given = await c.post(path, json={**RATED, "mentee_id": ana})
    assert given.status_code == 201, given.text
    body = given.json()
    assert given.headers["etag"] == '"1"'
    assert (body["session_id"], body["group_session_id"], body["seat_id"]) == (
        None,
        gid,
        seat_a["id"],
    )
    assert (body["mentor_id"], body["mentee_id"], body["rating"]) == (base["mentor_id"], ana, 5)
    note = await c.post(path, json={**NOTE, "mentee_id": ana})
    assert note.status_code == 201, note.text

    # One per seat and author; only a taken seat of this group session.
    again = await c.post(path, json={**RATED, "mentee_id": ana, "rating": 1})
    assert "already gave feedback" in assert_problem(again, 409)["detail"]
    assert_problem(await c.post(path, json={**RATED, "mentee_id": ben}), 404)  # no seat
    assert_problem(await c.post(path, json={**RATED, "mentee_id": UNKNOWN["mte"]}), 404)
    assert_problem(await c.post(f"/v1/group-sessions/{UNKNOWN['grp']}/feedback", json=RATED), 404)
    whose = assert_problem(await c.post(path, json=RATED), 422)  # the API key: whose seat?
    assert whose["errors"][0]["loc"] == ["body", "mentee_id"]

    listed = (await c.get(path)).json()["data"]
    assert [(f["author"], f["seat_id"]) for f in listed] == [
        ("mentee", seat_a["id"]),
        ("mentor", seat_a["id"]),
    ]
    assert listed[0] == body

    # The one feedback domain: stats, the public profile, editing, impact updates.
    mentor = (await c.get(f"/v1/mentors/{base['mentor_id']}")).json()["stats"]
    assert (mentor["ratings_count"], mentor["average_rating"], mentor["impact_stories"]) == (
        1,
        5,
        1,
    )
    public = (await c.get(f"/v1/mentors/{base['mentor_id']}/feedback")).json()["data"]
    assert [f["id"] for f in public] == [body["id"]]
    edited = await c.patch(f"/v1/feedback/{body['id']}", json={"rating": 4})
    assert edited.status_code == 200, edited.text
    impact = await c.post(
        f"/v1/feedback/{body['id']}/impact-updates", json={"text": "Taught it to my team."}
    )
    assert impact.status_code == 201, impact.text
    mentor = (await c.get(f"/v1/mentors/{base['mentor_id']}")).json()["stats"]
    assert (mentor["ratings_count"], mentor["average_rating"], mentor["impact_stories"]) == (
        1,
        4,
        2,
    )

    # feedback.submitted carries the group session and the seat (as GET /v1/events shows it).
    (submitted,) = [
        e for e in await events_of(db, tenant.id, body["id"]) if e.type == "feedback.submitted"
    ]
    assert submitted.data == body
    shown = (await c.get(f"/v1/events/{submitted.id}")).json()
    assert (shown["type"], shown["data"]["group_session_id"], shown["data"]["seat_id"]) == (
        "feedback.submitted",
        gid,
        seat_a["id"],
    )
    assert await _rows(db, tenant.id) == 2


async def test_a_seat_given_back_gets_no_feedback(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, (seat,), gone = await _completed(tenant, monkeypatch, seated=1)
    path = f"/v1/group-sessions/{group['id']}/feedback"
    for body in (RATED, NOTE):
        refused = await tenant.client.post(path, json={**body, "mentee_id": gone["mentee_id"]})
        assert "no taken seat" in assert_problem(refused, 404)["detail"]
    taken = await tenant.client.post(path, json={**RATED, "mentee_id": seat["mentee_id"]})
    assert taken.status_code == 201, taken.text
    assert await _rows(db, tenant.id) == 1


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"rating": "five"}, ["body", "rating"]),
        ({"rating": 6}, ["body", "rating"]),
        ({"rating": None}, ["body"]),  # a mentee's feedback needs a rating
        ({"author": 7}, ["body", "author"]),
        ({"author": "admin"}, ["body", "author"]),
        ({"mentee_id": 123}, ["body", "mentee_id"]),
        ({"mentee_id": "sea_01JD8X4K8Y3N6Q2W5E7R9T1V3V"}, ["body", "mentee_id"]),
        ({"mentee_id": "mte_" + "x" * 10_000}, ["body", "mentee_id"]),
        ({"impact": "x" * 4001}, ["body", "impact"]),
        ({"impact": "x" * 200_000}, ["body", "impact"]),
        ({"impact": "ROW\x00NUMBER"}, ["body", "impact"]),
        ({"thanks": "\ud800"}, ["body", "thanks"]),
        ({"takeaways": "one"}, ["body", "takeaways"]),
        ({"takeaways": ["x"] * 11}, ["body", "takeaways"]),
        ({"note": "a mentee's feedback has no note"}, ["body"]),
        ({"visibility": "everyone"}, ["body", "visibility"]),
        ({"extra": 1}, ["body", "extra"]),
    ],
)
async def test_bad_input_is_a_422_and_writes_nothing(
    tenant: Tenant,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any],
    loc: list[str],
) -> None:
    group, (seat, _), _ = await _completed(tenant, monkeypatch)
    body = {**RATED, "mentee_id": seat["mentee_id"], **change}
    response = await tenant.client.post(
        f"/v1/group-sessions/{group['id']}/feedback",
        content=json.dumps(body),  # escaped: a lone surrogate as JSON sends it
        headers={"content-type": "application/json"},
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"][: len(loc)] == loc, problem
    assert await _rows(db, tenant.id) == 0


async def test_bad_paths_and_bodies(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    group, (seat, _), _ = await _completed(tenant, monkeypatch)
    c = tenant.client
    for gid in ("grp_bad", "ses_01JD8X4K8Y3N6Q2W5E7R9T1V3V", "x" * 5000):
        assert_problem(await c.post(f"/v1/group-sessions/{gid}/feedback", json=RATED), 422)
        assert_problem(await c.get(f"/v1/group-sessions/{gid}/feedback"), 422)
    assert_problem(await c.get(f"/v1/group-sessions/{UNKNOWN['grp']}/feedback"), 404)
    path = f"/v1/group-sessions/{group['id']}/feedback"
    for raw in (b"", b"[]", b"null", b'{"author": "mentee"', b"\xff\xfe"):
        response = await c.post(path, content=raw, headers={"content-type": "application/json"})
        assert_problem(response, 422)
    ok = await c.post(path, json={**RATED, "mentee_id": seat["mentee_id"]})
    assert ok.status_code == 201, ok.text


async def test_another_apps_ids_are_unknown(
    tenant: Tenant, other_tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, (seat, _), _ = await _completed(tenant, monkeypatch)
    theirs, (their_seat, _), _ = await _completed(other_tenant, monkeypatch, weekly_capacity=None)
    c = tenant.client
    # Their group session; our mentee in their group session; their mentee in ours.
    assert_problem(
        await c.post(
            f"/v1/group-sessions/{theirs['id']}/feedback",
            json={**RATED, "mentee_id": their_seat["mentee_id"]},
        ),
        404,
    )
    assert_problem(await c.get(f"/v1/group-sessions/{theirs['id']}/feedback"), 404)
    assert_problem(
        await c.post(
            f"/v1/group-sessions/{theirs['id']}/feedback",
            json={**RATED, "mentee_id": seat["mentee_id"]},
        ),
        404,
    )
    assert_problem(
        await c.post(
            f"/v1/group-sessions/{group['id']}/feedback",
            json={**RATED, "mentee_id": their_seat["mentee_id"]},
        ),
        404,
    )
    assert await _rows(db, tenant.id) == 0
    assert await _rows(db, other_tenant.id) == 0
    ours = await c.post(
        f"/v1/group-sessions/{group['id']}/feedback", json={**RATED, "mentee_id": seat["mentee_id"]}
    )
    assert ours.status_code == 201, ours.text
    assert (await c.get(f"/v1/group-sessions/{group['id']}/feedback")).json()["data"] == [
        ours.json()
    ]
    assert (await other_tenant.client.get(f"/v1/group-sessions/{theirs['id']}/feedback")).json()[
        "data"
    ] == []


async def test_member_tokens_give_their_own_side_only(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, (seat_a, seat_b), _ = await _completed(tenant, monkeypatch)
    c = tenant.client
    mentor = (await c.get(f"/v1/mentors/{group['mentor_id']}")).json()
    ana = (await c.get(f"/v1/mentees/{seat_a['mentee_id']}")).json()
    stranger = await create_mentee(c)
    other_mentor = await group_world(c)
    other = (await c.get(f"/v1/mentors/{other_mentor['mentor_id']}")).json()
    as_mentor = as_member(c, await mint_token(c, mentor["external_id"], "mentor"))
    as_ana = as_member(c, await mint_token(c, ana["external_id"], "mentee"))
    as_stranger = as_member(c, await mint_token(c, stranger["external_id"], "mentee"))
    as_other = as_member(c, await mint_token(c, other["external_id"], "mentor"))
    path = f"/v1/group-sessions/{group['id']}/feedback"
    b = seat_b["mentee_id"]
    async with as_mentor, as_ana, as_stranger, as_other:
        # A mentee: their own seat only (mentee_id may be left out), never the mentor's side.
        assert_problem(await as_ana.post(path, json={**RATED, "mentee_id": b}), 404)
        assert_problem(await as_stranger.post(path, json=RATED), 404)
        assert_problem(await as_ana.post(path, json={**NOTE, "mentee_id": ana["id"]}), 403)
        mine = await as_ana.post(path, json={**RATED, "visibility": "mentor"})
        assert mine.status_code == 201, mine.text
        assert mine.json()["seat_id"] == seat_a["id"]
        # The mentor: the mentor's side only, on a named seat.
        assert_problem(await as_mentor.post(path, json=NOTE), 422)
        assert_problem(await as_mentor.post(path, json={**RATED, "mentee_id": b}), 403)
        assert_problem(await as_other.post(path, json={**NOTE, "mentee_id": b}), 404)
        noted = await as_mentor.post(path, json={**NOTE, "mentee_id": b})
        assert noted.status_code == 201, noted.text
        # Reading: the mentor all of it, a mentee their own seat's (and public mentee feedback).
        everything = await c.post(path, json={**RATED, "mentee_id": b})
        assert everything.status_code == 201, everything.text
        ids = {mine.json()["id"], noted.json()["id"], everything.json()["id"]}
        assert {f["id"] for f in (await as_mentor.get(path)).json()["data"]} == ids
        assert {f["id"] for f in (await as_ana.get(path)).json()["data"]} == {
            mine.json()["id"],
            everything.json()["id"],  # ben's is public
        }
        assert {f["id"] for f in (await as_stranger.get(path)).json()["data"]} == {
            everything.json()["id"]
        }
    assert await _rows(db, tenant.id) == 3


async def test_the_database_refuses_a_second_per_seat_and_author(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the service's own check switched off, the unique constraint answers (a 409)."""
    group, (seat, _), _ = await _completed(tenant, monkeypatch)
    path = f"/v1/group-sessions/{group['id']}/feedback"
    body = {**RATED, "mentee_id": seat["mentee_id"]}
    assert (await tenant.client.post(path, json=body)).status_code == 201

    async def nothing(*_: Any) -> None:
        return None

    monkeypatch.setattr(feedback_repository, "by_seat_author", nothing)
    assert (
        "already gave" in assert_problem(await tenant.client.post(path, json=body), 409)["detail"]
    )
    assert await _rows(db, tenant.id) == 1
    mentor = (await tenant.client.get(f"/v1/mentors/{group['mentor_id']}")).json()["stats"]
    assert mentor["ratings_count"] == 1


async def test_the_check_keeps_one_subject(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feedback row is on a session or on a seat with its group session: never both, never
    neither, never a seat without its group session (or the other way round)."""
    group, (seat, _), _ = await _completed(tenant, monkeypatch)
    sid = await completed_session(tenant)
    on_seat = {"group_session_id": group["id"], "seat_id": seat["id"]}

    async def add(**subject: Any) -> None:
        async with db.sessionmaker() as s, s.begin():
            s.add(
                Feedback(
                    app_id=tenant.id,
                    mentor_id=group["mentor_id"],
                    mentee_id=seat["mentee_id"],
                    author="mentor",
                    **subject,
                )
            )

    for subject in (
        {},
        {"group_session_id": group["id"]},
        {"seat_id": seat["id"]},
        {"session_id": sid, **on_seat},
        {"session_id": sid, "seat_id": seat["id"]},
    ):
        with pytest.raises(IntegrityError):
            await add(**subject)
    await add(**on_seat)
    with pytest.raises(IntegrityError):  # (app, seat, author) is unique
        await add(**on_seat)
    assert await _rows(db, tenant.id) == 1


@pytest.mark.postgres_only
async def test_a_double_submit_gives_exactly_one(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, (seat, _), _ = await _completed(tenant, monkeypatch)
    path = f"/v1/group-sessions/{group['id']}/feedback"
    body = {**RATED, "mentee_id": seat["mentee_id"]}
    responses = await asyncio.gather(*(tenant.client.post(path, json=body) for _ in range(20)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 19, codes
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, 409)
    assert await _rows(db, tenant.id) == 1
    mentor = (await tenant.client.get(f"/v1/mentors/{group['mentor_id']}")).json()["stats"]
    assert (mentor["ratings_count"], mentor["average_rating"]) == (1, 5)


SUBMIT = """mutation($id: ID!, $input: SubmitGroupSessionFeedbackInput!) {
  submitGroupSessionFeedback(groupSessionId: $id, input: $input) {
    id sessionId groupSessionId seatId menteeId author rating impactUpdates { id }
  }
}"""


async def test_graphql_submits_and_reads_as_rest_does(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, (seat, _), _ = await _completed(tenant, monkeypatch)
    gid = group["id"]
    variables = {
        "id": gid,
        "input": {"author": "MENTEE", "menteeId": seat["mentee_id"], "rating": 5},
    }
    made = (await gql_data(tenant.client, SUBMIT, variables))["submitGroupSessionFeedback"]
    assert (made["sessionId"], made["groupSessionId"], made["seatId"]) == (None, gid, seat["id"])
    again = await gql(tenant.client, SUBMIT, variables)
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT"
    bad = await gql(tenant.client, SUBMIT, {**variables, "id": "grp_bad"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    huge = {**variables, "input": {**variables["input"], "impact": "x" * 100_000}}
    assert (await gql(tenant.client, SUBMIT, huge))["errors"][0]["extensions"][
        "code"
    ] == "BAD_USER_INPUT"
    unknown = {**variables, "id": UNKNOWN["grp"]}
    assert (await gql(tenant.client, SUBMIT, unknown))["errors"][0]["extensions"][
        "code"
    ] == "NOT_FOUND"
    read = await gql_data(
        tenant.client,
        "query($id: ID!) { groupSession(id: $id) { feedback { id seatId author } } }",
        {"id": gid},
    )
    assert read["groupSession"]["feedback"] == [
        {"id": made["id"], "seatId": seat["id"], "author": "MENTEE"}
    ]
    assert await _rows(db, tenant.id) == 1


PAGE = """{ groupSessions(first: 50) { edges { node {
  id feedback { id seatId author rating impactUpdates { id } }
} } } }"""


async def _populate(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, groups: int, seats: int
) -> None:
    monkeypatch.undo()
    base = await group_world(tenant.client, weekly_capacity=None)
    people = await mentees(tenant.client, seats)
    made = []
    for i in range(groups):
        group = await create_group(
            tenant.client, base, f"2027-01-{11 + i // 8}T{8 + i % 8:02}:00:00Z"
        )
        for m in people:
            await take_seat(tenant.client, group["id"], m)
        made.append(group["id"])
    travel(monkeypatch, "2027-01-13T00:00:00Z")
    for gid in made:
        assert (await tenant.client.post(f"/v1/group-sessions/{gid}/complete")).status_code == 200
        for m in people:
            for body in ({**RATED, "mentee_id": m}, {**NOTE, "mentee_id": m}):
                response = await tenant.client.post(f"/v1/group-sessions/{gid}/feedback", json=body)
                assert response.status_code == 201, response.text


async def test_the_feedback_field_costs_the_same_statements_however_many_rows(
    app: FastAPI, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    async for small in make_tenant(app, "one group session"):
        await _populate(small, monkeypatch, 1, 1)
        await _populate(tenant, monkeypatch, 10, 3)
        counts = []
        for t, n in ((small, 1), (tenant, 10)):
            with count_statements() as statements:
                data = await gql_data(t.client, PAGE)
            edges = data["groupSessions"]["edges"]
            assert len(edges) == n
            assert sum(len(e["node"]["feedback"]) for e in edges) == n * (1 if n == 1 else 3) * 2
            counts.append(len(own(statements)))
            gid = edges[0]["node"]["id"]
            with count_statements() as statements:
                listed = await t.client.get(f"/v1/group-sessions/{gid}/feedback")
            assert len(listed.json()["data"]) == (1 if n == 1 else 3) * 2
            counts.append(len(own(statements)))
        print(f"statements (GraphQL page, REST list) for 1 and 10 group sessions: {counts}")
        gql_small, rest_small, gql_big, rest_big = counts
        assert (gql_big, rest_big) == (gql_small, rest_small), counts
        assert gql_big <= 4, counts  # the page, the feedback, its impact updates
        assert rest_big <= 3, counts  # the group session, the feedback, its impact updates


SUBMIT_SESSION = """mutation($id: ID!, $input: SubmitFeedbackInput!) {
  submitFeedback(sessionId: $id, input: $input) { id }
}"""


async def test_a_cancelled_group_session_is_a_conflict_as_a_cancelled_session_is(
    tenant: Tenant, db: Database
) -> None:
    """Feedback on a subject that exists in the wrong state is a 409 naming the state, the one
    rule for sessions and group sessions, REST and GraphQL alike (a cancelled group session
    gave its seats back: it was a 404, "no taken seat")."""
    c = tenant.client
    group = await create_group(c, await group_world(c))
    (ana,) = await mentees(c, 1)
    await take_seat(c, group["id"], ana)
    cancelled = await c.post(f"/v1/group-sessions/{group['id']}/cancel", json={"reason": "ill"})
    assert cancelled.status_code == 200, cancelled.text
    sid = await async_session(tenant)
    gone = await c.post(f"/v1/sessions/{sid}/cancel", json={"by": "mentee", "reason": "ill"})
    assert gone.status_code == 200, gone.text

    one = await c.post(f"/v1/sessions/{sid}/feedback", json=RATED)
    assert assert_problem(one, 409)["session_status"] == "cancelled"
    for body in ({**RATED, "mentee_id": ana}, {**NOTE, "mentee_id": ana}):
        group_answer = await c.post(f"/v1/group-sessions/{group['id']}/feedback", json=body)
        problem = assert_problem(group_answer, 409)
        assert problem["group_session_status"] == "cancelled"
        assert problem["type"] == one.json()["type"]
        assert "feedback closes a completed group session" in problem["detail"]

    session_input = {"author": "MENTEE", "rating": 5}
    one_gql = await gql(c, SUBMIT_SESSION, {"id": sid, "input": session_input})
    group_gql = await gql(
        c, SUBMIT, {"id": group["id"], "input": {**session_input, "menteeId": ana}}
    )
    assert one_gql["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert one_gql["errors"][0]["extensions"]["session_status"] == "cancelled"
    extensions = group_gql["errors"][0]["extensions"]
    assert (extensions["code"], extensions["group_session_status"]) == ("CONFLICT", "cancelled")
    assert await _rows(db, tenant.id) == 0
