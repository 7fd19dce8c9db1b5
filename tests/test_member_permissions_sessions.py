"""Member tokens on availability, sessions and series: each person acts on their own side only.

Every refusal is checked for its status (403 for the other side of a session, 404 for a
stranger, as for an unknown id) and for changing nothing: no event row, no new version.
"""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import col, func, select

from mentorapi.db.engine import Database
from mentorapi.webhooks.models import Event
from tests.conftest import Tenant
from tests.factories import as_member, book_session, bookable, mint_token
from tests.test_directory import assert_problem
from tests.test_sessions import travel

MONDAY_9 = "2027-01-11T08:00:00Z"  # 09:00 in Berlin
TUESDAY_9 = "2027-01-12T08:00:00Z"


@dataclass
class Cast:
    """Two mentor/mentee pairs of one app, each person with their own member client.
    `mentor` and `mentee` are the pair under test; `other_mentor` and `other_mentee` are
    strangers to their sessions (and a pair of their own, for listings)."""

    base: dict[str, Any]
    other_base: dict[str, Any]
    mentor: httpx.AsyncClient
    mentee: httpx.AsyncClient
    other_mentor: httpx.AsyncClient
    other_mentee: httpx.AsyncClient


@asynccontextmanager
async def cast(tenant: Tenant, **availability: Any) -> AsyncIterator[Cast]:
    c = tenant.client
    base = await bookable(c, **availability)
    other_base = await bookable(c, **availability)

    async def member(kind: str, profile_id: str) -> httpx.AsyncClient:
        profile = (await c.get(f"/v1/{kind}s/{profile_id}")).json()
        return as_member(c, await mint_token(c, profile["external_id"], kind))

    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(await member(kind, b[f"{kind}_id"]))
            for b in (base, other_base)
            for kind in ("mentor", "mentee")
        ]
        yield Cast(base, other_base, *clients)


async def event_count(db: Database, app_id: str) -> int:
    async with db.sessionmaker() as s:
        query = select(func.count()).select_from(Event).where(col(Event.app_id) == app_id)
        return int((await s.exec(query)).one())


async def state(tenant: Tenant, session_id: str) -> tuple[str, int]:
    got = (await tenant.client.get(f"/v1/sessions/{session_id}")).json()
    return got["status"], got["version"]


# --- availability ------------------------------------------------------------------------------


async def test_availability_is_read_by_anyone_and_set_by_the_mentor(tenant: Tenant) -> None:
    async with cast(tenant) as people:
        mentor_id = people.base["mentor_id"]
        path = f"/v1/mentors/{mentor_id}/availability"
        before = (await tenant.client.get(path)).json()
        for reader in (people.mentee, people.other_mentee, people.other_mentor, people.mentor):
            got = await reader.get(path)
            assert got.status_code == 200, got.text
            assert got.json() == before
            slots = await reader.get(
                f"/v1/mentors/{mentor_id}/slots",
                params={"start": MONDAY_9, "end": TUESDAY_9, "duration": 30},
            )
            assert slots.status_code == 200, slots.text
            assert slots.json()["data"][0]["starts_at"] == MONDAY_9

        change = {"weekly": [{"day": "mon", "start": "10:00", "end": "11:00"}]}
        for intruder in (people.mentee, people.other_mentor, people.other_mentee):
            problem = assert_problem(await intruder.put(path, json=change), 403)
            assert mentor_id in problem["detail"]
        assert (await tenant.client.get(path)).json() == before

        mine = await people.mentor.put(path, json=change)
        assert mine.status_code == 200, mine.text
        assert mine.json()["version"] == before["version"] + 1
        assert mine.json()["weekly"] == change["weekly"]
        # A mentor who does not exist is still a 404, before any permission question.
        assert_problem(
            await people.mentor.put(
                "/v1/mentors/mtr_01JD0000000000000000000000/availability", json=change
            ),
            404,
        )


# --- booking -----------------------------------------------------------------------------------


async def test_a_mentee_books_for_themself_only(tenant: Tenant, db: Database) -> None:
    async with cast(tenant) as people:
        body = {**people.base, "starts_at": MONDAY_9}
        events = await event_count(db, tenant.id)
        for_other = {**body, "mentee_id": people.other_base["mentee_id"]}
        problem = assert_problem(await people.mentee.post("/v1/sessions", json=for_other), 404)
        assert people.other_base["mentee_id"] in problem["detail"]
        # A mentor token has no mentee: booking for anyone is booking for another.
        assert_problem(await people.mentor.post("/v1/sessions", json=body), 404)
        series = {**body, "count": 2, "interval_weeks": 1}
        assert_problem(await people.other_mentee.post("/v1/series", json=series), 404)
        assert await event_count(db, tenant.id) == events
        assert (await tenant.client.get("/v1/sessions")).json()["data"] == []

        booked = await people.mentee.post("/v1/sessions", json=body)
        assert booked.status_code == 201, booked.text
        assert booked.json()["mentee_id"] == people.base["mentee_id"]
        made = await people.mentee.post(
            "/v1/series", json={**series, "starts_at": TUESDAY_9, "count": 2}
        )
        assert made.status_code == 201, made.text
        assert await event_count(db, tenant.id) == events + 3


# --- the mentor's moves ------------------------------------------------------------------------


async def test_mentor_moves_are_the_mentors(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with cast(tenant, auto_accept=False) as people:
        first = await book_session(people.mentee, people.base, MONDAY_9)
        second = await book_session(people.mentee, people.base, TUESDAY_9)
        assert first["status"] == "requested"
        sid = first["id"]
        events = await event_count(db, tenant.id)
        for move in ("accept", "decline"):
            path = f"/v1/sessions/{sid}/{move}"
            problem = assert_problem(await people.mentee.post(path), 403)
            assert "mentor" in problem["detail"]
            assert_problem(await people.other_mentor.post(path), 404)
            assert_problem(await people.other_mentee.post(path), 404)
        assert await event_count(db, tenant.id) == events
        assert await state(tenant, sid) == ("requested", first["version"])

        accepted = await people.mentor.post(f"/v1/sessions/{sid}/accept")
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "booked"
        declined = await people.mentor.post(
            f"/v1/sessions/{second['id']}/decline", json={"reason": "Travelling"}
        )
        assert declined.status_code == 200, declined.text

        travel(monkeypatch, "2027-01-11T08:31:00Z")
        booked = await state(tenant, sid)
        events = await event_count(db, tenant.id)
        for move in ("complete", "no-show"):
            path = f"/v1/sessions/{sid}/{move}"
            assert_problem(await people.mentee.post(path), 403)
            assert_problem(await people.other_mentor.post(path), 404)
            assert_problem(await people.other_mentee.post(path), 404)
        assert await event_count(db, tenant.id) == events
        assert await state(tenant, sid) == booked

        done = await people.mentor.post(f"/v1/sessions/{sid}/complete", json={"note": "Good"})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "completed"


async def test_mentor_marks_a_no_show(
    tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with cast(tenant) as people:
        session = await book_session(people.mentee, people.base, MONDAY_9)
        travel(monkeypatch, "2027-01-11T08:40:00Z")
        marked = await people.mentor.post(f"/v1/sessions/{session['id']}/no-show")
        assert marked.status_code == 200, marked.text
        assert marked.json()["status"] == "no_show"


# --- the mentee's moves, and cancelling by side ------------------------------------------------


async def test_reschedule_is_the_mentees_and_cancel_follows_by(
    tenant: Tenant, db: Database
) -> None:
    async with cast(tenant) as people:
        session = await book_session(people.mentee, people.base, MONDAY_9)
        other = await book_session(people.mentee, people.base, TUESDAY_9)
        sid = session["id"]
        events = await event_count(db, tenant.id)
        move = {"starts_at": "2027-01-13T08:00:00Z"}
        path = f"/v1/sessions/{sid}/reschedule"
        assert_problem(await people.mentor.post(path, json=move), 403)
        assert_problem(await people.other_mentee.post(path, json=move), 404)
        assert_problem(await people.other_mentor.post(path, json=move), 404)
        cancel = f"/v1/sessions/{sid}/cancel"
        problem = assert_problem(await people.mentee.post(cancel, json={"by": "mentor"}), 403)
        assert "mentor of this session" in problem["detail"]
        assert_problem(await people.mentor.post(cancel, json={"by": "mentee"}), 403)
        assert_problem(await people.other_mentee.post(cancel, json={"by": "mentee"}), 404)
        assert_problem(await people.other_mentor.post(cancel, json={"by": "mentor"}), 404)
        assert await event_count(db, tenant.id) == events
        assert await state(tenant, sid) == ("booked", session["version"])

        moved = await people.mentee.post(path, json=move)
        assert moved.status_code == 200, moved.text
        assert moved.json()["starts_at"] == move["starts_at"]
        by_mentee = await people.mentee.post(cancel, json={"by": "mentee", "reason": "Sick"})
        assert by_mentee.status_code == 200, by_mentee.text
        assert by_mentee.json()["cancelled_by"] == "mentee"
        by_mentor = await people.mentor.post(
            f"/v1/sessions/{other['id']}/cancel", json={"by": "mentor"}
        )
        assert by_mentor.status_code == 200, by_mentor.text
        assert by_mentor.json()["cancelled_by"] == "mentor"


# --- reading -----------------------------------------------------------------------------------


async def test_sessions_are_read_by_their_participants_only(tenant: Tenant) -> None:
    async with cast(tenant) as people:
        mine = await book_session(people.mentee, people.base, MONDAY_9)
        theirs = await book_session(people.other_mentee, people.other_base, MONDAY_9)
        for path in (f"/v1/sessions/{mine['id']}", f"/v1/sessions/{mine['id']}.ics"):
            assert (await people.mentee.get(path)).status_code == 200
            assert (await people.mentor.get(path)).status_code == 200
            assert_problem(await people.other_mentee.get(path), 404)
            assert_problem(await people.other_mentor.get(path), 404)
        assert (await people.mentor.get(f"/v1/sessions/{mine['id']}")).json() == mine

        def ids(response: httpx.Response) -> list[str]:
            assert response.status_code == 200, response.text
            return [s["id"] for s in response.json()["data"]]

        assert ids(await people.mentee.get("/v1/sessions")) == [mine["id"]]
        assert ids(await people.mentor.get("/v1/sessions")) == [mine["id"]]
        assert ids(await people.other_mentor.get("/v1/sessions")) == [theirs["id"]]
        # Filters only narrow a member's own sessions; they never reach another's.
        spying = [
            {"mentor_id": people.other_base["mentor_id"]},
            {"mentee_id": people.other_base["mentee_id"]},
            {"status": "booked", "from": MONDAY_9},
        ]
        for params in spying[:2]:
            assert ids(await people.mentee.get("/v1/sessions", params=params)) == []
            assert ids(await people.mentor.get("/v1/sessions", params=params)) == []
        assert ids(await people.mentee.get("/v1/sessions", params=spying[2])) == [mine["id"]]
        everything = ids(await tenant.client.get("/v1/sessions"))
        assert sorted(everything) == sorted([mine["id"], theirs["id"]])


# --- series ------------------------------------------------------------------------------------


async def test_series_follow_the_same_sides(tenant: Tenant, db: Database) -> None:
    async with cast(tenant) as people:
        body = {**people.base, "starts_at": MONDAY_9, "count": 3, "interval_weeks": 1}
        made = await people.mentee.post("/v1/series", json=body)
        assert made.status_code == 201, made.text
        series = made.json()
        path = f"/v1/series/{series['id']}"
        assert (await people.mentor.get(path)).json() == series
        assert (await people.mentee.get(path)).json() == series
        assert_problem(await people.other_mentee.get(path), 404)
        assert_problem(await people.other_mentor.get(path), 404)

        events = await event_count(db, tenant.id)
        cancel = f"{path}/cancel"
        assert_problem(await people.mentor.post(cancel, json={"by": "mentee"}), 403)
        assert_problem(await people.mentee.post(cancel, json={"by": "mentor"}), 403)
        assert_problem(await people.other_mentee.post(cancel, json={"by": "mentee"}), 404)
        assert_problem(await people.other_mentor.post(cancel, json={"by": "mentor"}), 404)
        assert await event_count(db, tenant.id) == events
        assert (await tenant.client.get(path)).json() == series

        cancelled = await people.mentor.post(cancel, json={"by": "mentor", "reason": "Moving"})
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert {s["cancelled_by"] for s in cancelled.json()["sessions"]} == {"mentor"}


# --- notes and action items --------------------------------------------------------------------


async def test_notes_are_the_mentees_alone(tenant: Tenant) -> None:
    async with cast(tenant) as people:
        session = await book_session(people.mentee, people.base, MONDAY_9)
        path = f"/v1/sessions/{session['id']}/notes"
        written = await people.mentee.put(path, json={"notes": "Ask about slicers"})
        assert written.status_code == 200, written.text
        assert (await people.mentee.get(path)).json()["notes"] == "Ask about slicers"

        problem = assert_problem(await people.mentor.get(path), 404)
        assert "private to its mentee" in problem["detail"]
        assert_problem(await people.mentor.put(path, json={"notes": "Overwritten"}), 404)
        assert_problem(await people.other_mentee.get(path), 404)
        assert_problem(await people.other_mentee.put(path, json={"notes": "x"}), 404)
        assert_problem(await people.other_mentor.get(path), 404)
        seen_by_app = (await tenant.client.get(path)).json()
        assert seen_by_app["notes"] == "Ask about slicers"
        assert seen_by_app["version"] == written.json()["version"]


async def test_action_items_the_mentee_writes_and_the_mentor_reads(tenant: Tenant) -> None:
    async with cast(tenant) as people:
        session = await book_session(people.mentee, people.base, MONDAY_9)
        path = f"/v1/sessions/{session['id']}/action-items"
        item = await people.mentee.post(path, json={"text": "Rebuild the Q3 table"})
        assert item.status_code == 201, item.text
        item_id = item.json()["id"]

        assert_problem(await people.mentor.post(path, json={"text": "Mine"}), 403)
        assert_problem(await people.other_mentee.post(path, json={"text": "Theirs"}), 404)
        assert_problem(await people.mentor.patch(f"{path}/{item_id}", json={"done": True}), 403)
        assert_problem(
            await people.other_mentee.patch(f"{path}/{item_id}", json={"done": True}), 404
        )
        listed = await people.mentor.get(path)
        assert listed.status_code == 200, listed.text
        assert [i["text"] for i in listed.json()["data"]] == ["Rebuild the Q3 table"]
        assert listed.json()["data"][0]["done"] is False
        assert listed.json()["data"][0]["version"] == item.json()["version"]
        assert_problem(await people.other_mentee.get(path), 404)
        assert_problem(await people.other_mentor.get(path), 404)

        done = await people.mentee.patch(f"{path}/{item_id}", json={"done": True})
        assert done.status_code == 200, done.text
        assert done.json()["done"] is True
        assert len((await tenant.client.get(path)).json()["data"]) == 1


# --- idempotency -------------------------------------------------------------------------------


async def test_a_members_retry_books_once_and_replays(tenant: Tenant, db: Database) -> None:
    async with cast(tenant) as people:
        body = {**people.base, "starts_at": MONDAY_9}
        headers = {"Idempotency-Key": "tap-twice"}
        first = await people.mentee.post("/v1/sessions", json=body, headers=headers)
        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers
        events = await event_count(db, tenant.id)
        again = await people.mentee.post("/v1/sessions", json=body, headers=headers)
        assert again.status_code == 201, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert await event_count(db, tenant.id) == events
        assert len((await tenant.client.get("/v1/sessions")).json()["data"]) == 1

        # Another member of the app, same key and the very same request: not a replay of the
        # first member's response (a mentor cannot book at all).
        assert_problem(await people.mentor.post("/v1/sessions", json=body, headers=headers), 404)
        # Same key, their own booking: theirs, not a 422 for a reused key.
        own = {**people.other_base, "starts_at": MONDAY_9}
        theirs = await people.other_mentee.post("/v1/sessions", json=own, headers=headers)
        assert theirs.status_code == 201, theirs.text
        assert "idempotent-replayed" not in theirs.headers
        # The app's own key space is separate too: the slot is simply taken.
        taken = await tenant.client.post("/v1/sessions", json=body, headers=headers)
        assert_problem(taken, 409)
        assert "idempotent-replayed" not in taken.headers
        assert len((await tenant.client.get("/v1/sessions")).json()["data"]) == 2


async def test_a_bad_member_token_with_a_key_is_a_plain_401(
    tenant: Tenant, anon: httpx.AsyncClient
) -> None:
    async with cast(tenant) as people:
        body = {**people.base, "starts_at": MONDAY_9}
        for token in ("eyJnot-a-token", "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"):
            response = await anon.post(
                "/v1/sessions",
                json=body,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k1"},
            )
            assert_problem(response, 401)
        assert (await tenant.client.get("/v1/sessions")).json()["data"] == []
