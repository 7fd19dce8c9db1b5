"""Member tokens on goals and feedback: each person acts on their own side only."""

from tests.conftest import Tenant
from tests.factories import as_member, bookable, create_mentee, mint_token
from tests.test_directory import assert_problem
from tests.test_feedback import MENTEE_FEEDBACK, completed_session


async def test_goals_belong_to_their_mentee(tenant: Tenant) -> None:
    me = await create_mentee(tenant.client)
    other = await create_mentee(tenant.client)
    mine = as_member(tenant.client, await mint_token(tenant.client, me["external_id"], "mentee"))
    theirs = as_member(
        tenant.client, await mint_token(tenant.client, other["external_id"], "mentee")
    )
    async with mine, theirs:
        created = await mine.post(f"/v1/mentees/{me['id']}/goals", json={"title": "Speak up"})
        assert created.status_code == 201, created.text
        goal = created.json()
        assert (await mine.get(f"/v1/goals/{goal['id']}")).status_code == 200
        assert_problem(await theirs.get(f"/v1/goals/{goal['id']}"), 404)
        assert_problem(await theirs.patch(f"/v1/goals/{goal['id']}", json={"title": "x"}), 404)
        assert_problem(await theirs.get(f"/v1/mentees/{me['id']}/goals"), 404)
        assert_problem(await theirs.post(f"/v1/mentees/{me['id']}/goals", json={"title": "x"}), 404)
    assert (await tenant.client.get(f"/v1/goals/{goal['id']}")).json()["title"] == "Speak up"


async def test_feedback_sides(tenant: Tenant) -> None:
    base = await bookable(tenant.client)
    sid = await completed_session(tenant, base)
    mentor = (await tenant.client.get(f"/v1/mentors/{base['mentor_id']}")).json()
    mentee = (await tenant.client.get(f"/v1/mentees/{base['mentee_id']}")).json()
    stranger = await create_mentee(tenant.client)
    c = tenant.client
    as_mentor = as_member(c, await mint_token(c, mentor["external_id"], "mentor"))
    as_mentee = as_member(c, await mint_token(c, mentee["external_id"], "mentee"))
    as_stranger = as_member(c, await mint_token(c, stranger["external_id"], "mentee"))
    async with as_mentor, as_mentee, as_stranger:
        path = f"/v1/sessions/{sid}/feedback"
        assert_problem(await as_stranger.post(path, json=MENTEE_FEEDBACK), 404)
        assert_problem(await as_mentor.post(path, json=MENTEE_FEEDBACK), 403)
        private = {**MENTEE_FEEDBACK, "visibility": "mentor"}
        given = await as_mentee.post(path, json=private)
        assert given.status_code == 201, given.text
        fid = given.json()["id"]
        note = await as_mentor.post(path, json={"author": "mentor", "note": "Practise daily"})
        assert note.status_code == 201, note.text

        assert_problem(await as_mentor.patch(f"/v1/feedback/{fid}", json={"rating": 1}), 403)
        assert_problem(
            await as_mentor.post(f"/v1/feedback/{fid}/impact-updates", json={"text": "x"}), 403
        )
        assert (await as_mentee.patch(f"/v1/feedback/{fid}", json={"rating": 4})).status_code == 200
        assert (await as_mentor.get(f"/v1/feedback/{fid}")).status_code == 200
        assert_problem(await as_stranger.get(f"/v1/feedback/{fid}"), 404)
        assert_problem(await as_stranger.get(path), 404)

        await as_mentee.patch(f"/v1/feedback/{fid}", json={"visibility": "public"})
        assert (await as_stranger.get(f"/v1/feedback/{fid}")).status_code == 200
        listing = await as_stranger.get(f"/v1/mentors/{mentor['id']}/feedback")
        assert [f["id"] for f in listing.json()["data"]] == [fid]
