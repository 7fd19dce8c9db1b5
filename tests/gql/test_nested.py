"""Nested fields a client expects (Mentor.availability / upcomingSessions / feedback,
Session.mentor / mentee / skill / feedback / series, Mentee.goals / sessions), each through a
per-request DataLoader: a fixed number of SQL statements however many parents."""

import pytest
from fastapi import FastAPI

from tests.conftest import Tenant, count_statements, make_tenant
from tests.factories import (
    as_member,
    book_session,
    bookable,
    create_mentee,
    create_mentor,
    mint_token,
)
from tests.gql.helpers import gql_data
from tests.test_feedback import MENTEE_FEEDBACK, completed_session
from tests.test_sessions import travel

MENTORS = """{ mentors(first: 100) { edges { node {
  id name
  skills { skill { name } level }
  upcomingSessions(first: 3) { id startsAt status }
  stats { sessionsCompleted averageRating ratingsCount }
} } } }"""


async def _populate(tenant: Tenant, mentors: int) -> None:
    base = await bookable(tenant.client)
    for i in range(mentors):
        mentor = await create_mentor(
            tenant.client, skills=[{"skill_id": base["skill_id"], "level": 1 + i % 5}]
        )
        await tenant.client.put(
            f"/v1/mentors/{mentor['id']}/availability",
            json={
                "weekly": [{"day": "mon", "start": "09:00", "end": "17:00"}],
                "auto_accept": True,
            },
        )
        # A mentee of their own: a mentee is never in two places at once.
        mentee = await create_mentee(tenant.client)
        for hour in (8, 9, 10, 11):  # four upcoming sessions each; three are asked for
            await book_session(
                tenant.client,
                {**base, "mentor_id": mentor["id"], "mentee_id": mentee["id"]},
                f"2027-01-11T{hour:02d}:00:00Z",
            )


async def _statements(tenant: Tenant, expected: int) -> int:
    with count_statements() as statements:
        data = await gql_data(tenant.client, MENTORS)
    edges = data["mentors"]["edges"]
    assert len(edges) == expected + 1  # and bookable()'s own mentor
    upcoming = [len(e["node"]["upcomingSessions"]) for e in edges]
    assert sorted(upcoming) == [0] + [3] * expected
    return len(statements)


async def test_fifty_mentors_with_skills_upcoming_sessions_and_stats_in_fixed_statements(
    app: FastAPI, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    travel(monkeypatch, "2027-01-01T00:00:00Z")
    async for small in make_tenant(app, "five mentors"):
        await _populate(small, 5)
        await _populate(tenant, 50)
        five = await _statements(small, 5)
        fifty = await _statements(tenant, 50)
        print(f"statements for 5 and 50 mentors with upcoming sessions: {five}, {fifty}")
        assert fifty == five, (five, fifty)
        assert fifty <= 6, fifty


async def test_session_mentee_and_mentor_nested_fields(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await bookable(tenant.client)
    sid = await completed_session(tenant, base)
    given = await tenant.client.post(f"/v1/sessions/{sid}/feedback", json=MENTEE_FEEDBACK)
    assert given.status_code == 201, given.text
    goal = await tenant.client.post(
        f"/v1/mentees/{base['mentee_id']}/goals",
        json={"title": "Own the sales report", "milestones": [{"title": "First pivot"}]},
    )
    assert goal.status_code == 201, goal.text
    await tenant.client.patch(
        f"/v1/mentors/{base['mentor_id']}", json={"formats": ["async", "video"]}
    )
    travel(monkeypatch, "2027-01-01T00:00:00Z")
    upcoming = await book_session(tenant.client, base, "2027-01-11T08:00:00Z")
    series = await tenant.client.post(
        "/v1/series", json={**base, "starts_at": "2027-01-12T08:00:00Z", "count": 2}
    )
    assert series.status_code == 201, series.text

    query = """query($s: ID!, $m: ID!, $e: ID!, $r: ID!) {
      session(id: $s) { id mentor { id name } mentee { id name } skill { id }
        feedback { author rating impactUpdates { text } } series { id } }
      inSeries: session(id: $r) { series { id count sessions { id } } }
      mentor(id: $m) { availability { weekly { day start end } autoAccept version }
        upcomingSessions { id } feedback(first: 2) { rating impact } stats { ratingsCount } }
      mentee(id: $e) { seeking { skill { id } } goals { title progress { milestonesTotal percent }
        milestones { title } } sessions(first: 10) { id status } } }"""
    first_in_series = series.json()["sessions"][0]["id"]
    variables = {
        "s": sid,
        "m": base["mentor_id"],
        "e": base["mentee_id"],
        "r": first_in_series,
    }
    data = await gql_data(tenant.client, query, variables)
    session = data["session"]
    assert session["mentor"]["id"] == base["mentor_id"]
    assert session["mentee"]["id"] == base["mentee_id"]
    assert session["skill"] == {"id": base["skill_id"]}
    assert session["feedback"] == [{"author": "MENTEE", "rating": 5, "impactUpdates": []}]
    assert session["series"] is None
    assert data["inSeries"]["series"]["id"] == series.json()["id"]
    assert len(data["inSeries"]["series"]["sessions"]) == 2

    mentor = data["mentor"]
    assert mentor["availability"]["autoAccept"] is True
    assert len(mentor["availability"]["weekly"]) == 7
    assert mentor["upcomingSessions"][0]["id"] == upcoming["id"]
    assert mentor["feedback"] == [{"rating": 5, "impact": MENTEE_FEEDBACK["impact"]}]
    assert mentor["stats"]["ratingsCount"] == 1

    mentee = data["mentee"]
    assert mentee["goals"] == [
        {
            "title": "Own the sales report",
            "progress": {"milestonesTotal": 1, "percent": 0},
            "milestones": [{"title": "First pivot"}],
        }
    ]
    assert {s["id"] for s in mentee["sessions"]} >= {sid, upcoming["id"]}
    assert len(mentee["sessions"]) == 4  # newest first: the series, the booking, the async one
    assert mentee["sessions"][-1]["id"] == sid


async def test_a_member_sees_only_their_own_sessions_nested(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    travel(monkeypatch, "2027-01-01T00:00:00Z")
    base = await bookable(tenant.client)
    mine = await book_session(tenant.client, base, "2027-01-11T08:00:00Z")
    stranger = await bookable(tenant.client)
    theirs = await book_session(
        tenant.client,
        {**stranger, "mentor_id": base["mentor_id"], "skill_id": base["skill_id"]},
        "2027-01-11T10:00:00Z",
    )
    mentee = (await tenant.client.get(f"/v1/mentees/{base['mentee_id']}")).json()
    token = await mint_token(tenant.client, mentee["external_id"], "mentee")
    query = "query($m: ID!) { mentor(id: $m) { upcomingSessions(first: 10) { id } } }"
    key_view = await gql_data(tenant.client, query, {"m": base["mentor_id"]})
    assert [s["id"] for s in key_view["mentor"]["upcomingSessions"]] == [mine["id"], theirs["id"]]
    async with as_member(tenant.client, token) as member:
        member_view = await gql_data(member, query, {"m": base["mentor_id"]})
    assert [s["id"] for s in member_view["mentor"]["upcomingSessions"]] == [mine["id"]]
