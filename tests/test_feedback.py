"""Feedback closes the loop: only on completed sessions, one per author, editable for 7 days,
visible as its author chose, and mentor stats that stay exact under concurrent submissions."""

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from mentorapi.db.engine import Database
from mentorapi.feedback.models import Feedback
from mentorapi.kit.timezones import utcnow
from mentorapi.webhooks.models import Event
from tests.conftest import Tenant
from tests.factories import bookable, create_mentee
from tests.test_directory import assert_problem

MENTEE_FEEDBACK = {
    "author": "mentee",
    "rating": 5,
    "impact": "I rebuilt the sales report with a pivot table: 10 minutes now, not 2 hours.",
    "takeaways": ["Put dates in columns", "Use slicers"],
    "thanks": "Thank you, Amara!",
    "visibility": "public",
}


async def async_session(tenant: Tenant, base: dict[str, Any] | None = None, **over: Any) -> str:
    """A booked async session (no start time, so it can be completed at once)."""
    base = base or await bookable(tenant.client)
    await tenant.client.patch(f"/v1/mentors/{base['mentor_id']}", json={"formats": ["async"]})
    created = await tenant.client.post("/v1/sessions", json={**base, "format": "async", **over})
    assert created.status_code == 201, created.text
    session: dict[str, Any] = created.json()
    if session["status"] == "requested":
        accepted = await tenant.client.post(f"/v1/sessions/{session['id']}/accept")
        assert accepted.status_code == 200, accepted.text
    return str(session["id"])


async def completed_session(tenant: Tenant, base: dict[str, Any] | None = None, **over: Any) -> str:
    sid = await async_session(tenant, base, **over)
    done = await tenant.client.post(f"/v1/sessions/{sid}/complete", json={"note": "good"})
    assert done.status_code == 200, done.text
    return sid


async def test_feedback_only_closes_a_completed_session(tenant: Tenant, db: Database) -> None:
    sid = await async_session(tenant)
    early = await tenant.client.post(f"/v1/sessions/{sid}/feedback", json=MENTEE_FEEDBACK)
    assert assert_problem(early, 409)["status"] == 409
    await tenant.client.post(f"/v1/sessions/{sid}/complete", json={})

    given = await tenant.client.post(f"/v1/sessions/{sid}/feedback", json=MENTEE_FEEDBACK)
    assert given.status_code == 201, given.text
    feedback = given.json()
    assert feedback["rating"] == 5
    assert feedback["impact_updates"] == []
    assert feedback["editable_until"] > feedback["created_at"]
    assert_problem(
        await tenant.client.post(f"/v1/sessions/{sid}/feedback", json=MENTEE_FEEDBACK), 409
    )
    mentor_note = await tenant.client.post(
        f"/v1/sessions/{sid}/feedback",
        json={"author": "mentor", "note": "Practise the GETPIVOTDATA function next."},
    )
    assert mentor_note.status_code == 201, mentor_note.text
    both = (await tenant.client.get(f"/v1/sessions/{sid}/feedback")).json()["data"]
    assert [f["author"] for f in both] == ["mentee", "mentor"]

    async with db.sessionmaker() as s:
        events = (
            await s.exec(
                select(Event).where(
                    col(Event.type) == "feedback.submitted", col(Event.app_id) == tenant.id
                )
            )
        ).all()
    assert sorted(e.data["author"] for e in events) == ["mentee", "mentor"]


async def test_stats_and_sorting_follow_feedback(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    sid = await completed_session(tenant, base)
    await tenant.client.post(f"/v1/sessions/{sid}/feedback", json={**MENTEE_FEEDBACK, "rating": 3})
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    assert mentor["stats"]["average_rating"] == 3.0
    assert mentor["stats"]["ratings_count"] == 1
    assert mentor["stats"]["impact_stories"] == 1
    assert mentor["stats"]["sessions_completed"] == 1
    assert mentor["stats"]["mentees_helped"] == 1


async def test_bad_feedback_is_422_and_writes_nothing(tenant: Tenant) -> None:
    sid = await completed_session(tenant)
    for body in (
        {"author": "mentee"},  # no rating
        {**MENTEE_FEEDBACK, "rating": 6},
        {**MENTEE_FEEDBACK, "rating": "five"},
        {**MENTEE_FEEDBACK, "author": "someone"},
        {**MENTEE_FEEDBACK, "impact": "x" * 4001},
        {**MENTEE_FEEDBACK, "takeaways": ["x"] * 11},
        {**MENTEE_FEEDBACK, "visibility": "everyone"},
        {**MENTEE_FEEDBACK, "note": "a mentee has no note"},
        {"author": "mentor", "rating": 4},  # the mentor does not rate
    ):
        assert_problem(await tenant.client.post(f"/v1/sessions/{sid}/feedback", json=body), 422)
    assert (await tenant.client.get(f"/v1/sessions/{sid}/feedback")).json()["data"] == []


async def test_edit_window_and_versions(tenant: Tenant, db: Database) -> None:
    base = await bookable(tenant.client)
    sid = await completed_session(tenant, base)
    fid = (await tenant.client.post(f"/v1/sessions/{sid}/feedback", json=MENTEE_FEEDBACK)).json()[
        "id"
    ]
    edited = await tenant.client.patch(
        f"/v1/feedback/{fid}", json={"rating": 4}, headers={"If-Match": '"1"'}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    assert mentor["stats"]["average_rating"] == 4.0
    assert mentor["stats"]["ratings_count"] == 1
    assert_problem(
        await tenant.client.patch(
            f"/v1/feedback/{fid}", json={"rating": 2}, headers={"If-Match": '"1"'}
        ),
        412,
    )
    async with db.sessionmaker() as s, s.begin():
        await s.exec(
            update(Feedback)
            .where(col(Feedback.app_id) == tenant.id, col(Feedback.id) == fid)
            .values(created_at=utcnow() - timedelta(days=7, minutes=1))
        )
    late = await tenant.client.patch(f"/v1/feedback/{fid}", json={"rating": 1})
    assert "impact update" in assert_problem(late, 409)["detail"]
    assert (await tenant.client.get(f"/v1/feedback/{fid}")).json()["rating"] == 4


async def test_impact_updates_reach_the_mentor_and_the_app(tenant: Tenant, db: Database) -> None:
    base = await bookable(tenant.client)
    sid = await completed_session(tenant, base)
    fid = (await tenant.client.post(f"/v1/sessions/{sid}/feedback", json=MENTEE_FEEDBACK)).json()[
        "id"
    ]
    added = await tenant.client.post(
        f"/v1/feedback/{fid}/impact-updates",
        json={"text": "Promoted to team lead six months later.", "occurred_on": "2027-06-01"},
    )
    assert added.status_code == 201, added.text
    assert [u["text"] for u in added.json()["impact_updates"]] == [
        "Promoted to team lead six months later."
    ]
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    assert mentor["stats"]["impact_stories"] == 2
    async with db.sessionmaker() as s:
        event = (
            await s.exec(
                select(Event).where(
                    col(Event.app_id) == tenant.id,
                    col(Event.type) == "feedback.impact_added",
                    col(Event.object_id) == fid,
                )
            )
        ).one()
    assert event.data["impact_update"]["occurred_on"] == "2027-06-01"
    assert event.sequence == 2  # after feedback.submitted
    assert_problem(
        await tenant.client.post(f"/v1/feedback/{fid}/impact-updates", json={"text": ""}), 422
    )
    mentor_fb = (
        await tenant.client.post(
            f"/v1/sessions/{sid}/feedback", json={"author": "mentor", "note": "Keep going"}
        )
    ).json()
    assert_problem(
        await tenant.client.post(
            f"/v1/feedback/{mentor_fb['id']}/impact-updates", json={"text": "x"}
        ),
        409,
    )


async def test_private_feedback_never_appears_in_a_public_listing(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    base = await bookable(tenant.client)
    public_sid = await completed_session(tenant, base)
    other_mentee = await create_mentee(tenant.client)
    private_sid = await completed_session(tenant, {**base, "mentee_id": other_mentee["id"]})
    public = (
        await tenant.client.post(f"/v1/sessions/{public_sid}/feedback", json=MENTEE_FEEDBACK)
    ).json()
    await tenant.client.post(
        f"/v1/sessions/{private_sid}/feedback", json={**MENTEE_FEEDBACK, "visibility": "mentor"}
    )
    await tenant.client.post(
        f"/v1/sessions/{public_sid}/feedback",
        json={"author": "mentor", "note": "a note to the mentee", "visibility": "public"},
    )
    listing = await tenant.client.get(f"/v1/mentors/{base['mentor_id']}/feedback")
    assert [f["id"] for f in listing.json()["data"]] == [public["id"]]

    b = other_tenant.client
    assert_problem(await b.get(f"/v1/mentors/{base['mentor_id']}/feedback"), 404)
    assert_problem(await b.get(f"/v1/feedback/{public['id']}"), 404)
    assert_problem(await b.get(f"/v1/sessions/{public_sid}/feedback"), 404)
    assert_problem(await b.post(f"/v1/sessions/{public_sid}/feedback", json=MENTEE_FEEDBACK), 404)
    assert_problem(await b.patch(f"/v1/feedback/{public['id']}", json={"rating": 1}), 404)
    assert_problem(
        await b.post(f"/v1/feedback/{public['id']}/impact-updates", json={"text": "x"}), 404
    )


async def test_stats_exact_under_concurrent_submissions(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    ratings = [1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 5, 5]
    sessions = []
    for _ in ratings:
        mentee = await create_mentee(tenant.client)
        sessions.append(await completed_session(tenant, {**base, "mentee_id": mentee["id"]}))
    responses = await asyncio.gather(
        *(
            tenant.client.post(
                f"/v1/sessions/{sid}/feedback", json={**MENTEE_FEEDBACK, "rating": rating}
            )
            for sid, rating in zip(sessions, ratings, strict=True)
        )
    )
    assert [r.status_code for r in responses] == [201] * len(ratings)
    stats = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()["stats"]
    assert stats["ratings_count"] == len(ratings)
    assert stats["average_rating"] == round(sum(ratings) / len(ratings), 2)
    assert stats["sessions_completed"] == len(ratings)
    assert stats["mentees_helped"] == len(ratings)
    assert stats["impact_stories"] == len(ratings)


async def test_duplicate_race_gives_one_201_and_409s(tenant: Tenant) -> None:
    sid = await completed_session(tenant)
    responses = await asyncio.gather(
        *(
            tenant.client.post(f"/v1/sessions/{sid}/feedback", json=MENTEE_FEEDBACK)
            for _ in range(8)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    stats = (await tenant.client.get("/v1/mentors")).json()["data"][0]["stats"]
    assert stats["ratings_count"] == 1
