"""POST /v1/matching/recommendations: hard filters, soft components, reasons, the policy."""

import re
from datetime import datetime
from typing import Any

import httpx

from mentorapi.matching.schemas import Recommendations
from tests.conftest import Tenant, count_statements, own
from tests.factories import create_mentee, create_mentor, create_skill
from tests.gql.helpers import gql_data
from tests.matching.conftest import WEEK, complete_with_feedback, ids, mentor, recommend
from tests.reminders.conftest import Clock

ASK = "I need to build a pivot table for Friday's sales report"


def check_reasons(item: dict[str, Any]) -> None:
    """Every reason is one of the known sentences, and what it says is in the item."""
    m, components = item["mentor"], item["components"]
    levels = {s["skill"]["name"]: s["level"] for s in m["skills"]}
    for reason in item["reasons"]:
        if found := re.fullmatch(r"Teaches (.+) at level (\d) \(you asked for (\d)\)", reason):
            assert levels[found[1]] == int(found[2])
            assert int(found[2]) >= int(found[3])
        elif found := re.fullmatch(r"Teaches (.+) at level (\d), a skill you seek .*", reason):
            assert levels[found[1]] == int(found[2])
        elif found := re.fullmatch(
            r"Your ask matches their profile \(text relevance (.+)\)", reason
        ):
            assert found[1] == f"{components['text']:.2f}"
        elif found := re.fullmatch(
            r"(\d+) free (\d+)-minute slots in the window, (\d+) .*", reason
        ):
            assert int(found[1]) >= len(item["first_slots"]) > 0
            assert int(found[3]) <= int(found[1])
            assert int(found[2]) in m["session_lengths"]
        elif found := re.fullmatch(r"([\d.]+) from (\d+) rated sessions", reason):
            assert float(found[1]) == m["stats"]["average_rating"]
            assert int(found[2]) == m["stats"]["ratings_count"]
        elif found := re.fullmatch(r"([\d.]+) from (\d+) rated sessions on .*", reason):
            assert int(found[2]) <= m["stats"]["ratings_count"]
            assert 1 <= float(found[1]) <= 5
        elif found := re.fullmatch(r"(\d+) impact stories.*", reason):
            assert int(found[1]) <= m["stats"]["impact_stories"]
        elif found := re.fullmatch(r"Speaks (.+)", reason):
            assert found[1] in m["languages"]
        elif found := re.fullmatch(r"Lives by your clock \((.+)\)", reason):
            assert found[1] == m["timezone"]
            assert components["timezone"] == 1.0
        elif found := re.fullmatch(r".* hours from your time zone \((.+)\)", reason):
            assert found[1] == m["timezone"]
        elif found := re.fullmatch(r"(\d+) of (\d+) sessions taken that week", reason):
            assert components["load"] == round(1 - int(found[1]) / int(found[2]), 4)
        elif reason == "You bookmarked them":
            assert components["continuity"] >= 0.5
        elif found := re.fullmatch(
            r"You rated (?:your (\d+)|(\d+) of your (\d+)) past sessions? with them "
            r"([\d.]+) on average",
            reason,
        ):
            rated, of = found[1] or found[2], found[1] or found[3]
            assert 1 <= int(rated) <= int(of)
            average = float(found[4])
            rated_well = 1.0 if average >= 4 else 0.5 if average >= 3 else 0.0
            # At least 0.5 for a bookmarked mentor ("You bookmarked them").
            assert components["continuity"] in (rated_well, max(rated_well, 0.5))
        elif re.fullmatch(r"You had \d+ past sessions? with them", reason):
            assert components["continuity"] >= 0.6
        else:
            raise AssertionError(f"unknown reason {reason!r}")
    # The score is the policy's weighted mean of the components shown (default weights).
    assert 0 <= item["score"] <= 1


def by_id(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    for item in found["data"]:
        check_reasons(item)
    return {item["mentor"]["id"]: item for item in found["data"]}


async def _pivots(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_skill(client, name="Pivot tables")


async def test_the_ask_alone_finds_the_mentors_who_teach_it(tenant: Tenant, clock: Clock) -> None:
    client = tenant.client
    pivots = await _pivots(client)
    talks = await create_skill(client, name="Public speaking")
    right = [
        await mentor(client, pivots["id"], headline="Excel analyst", bio="Spreadsheets daily")
        for _ in range(2)
    ]
    await mentor(client, talks["id"], headline="Conference speaker", bio="Stage fright coach")
    mentee = await create_mentee(client)
    found = await recommend(client, mentee_id=mentee["id"], ask=ASK)
    assert sorted(ids(found)) == sorted(m["id"] for m in right)
    first = found["data"][0]
    assert first["components"]["text"] == 1.0
    assert len(first["first_slots"]) == 3
    assert found["excluded_count"] == 0
    assert [i["score"] for i in found["data"]] == sorted(
        (i["score"] for i in found["data"]), reverse=True
    )
    by_id(found)


async def test_every_hard_filter(tenant: Tenant, clock: Clock) -> None:
    client = tenant.client
    pivots = await _pivots(client)
    good = await mentor(client, pivots["id"])
    await mentor(client, pivots["id"], languages=["de"])
    await mentor(client, pivots["id"], formats=["phone"])
    await mentor(client, pivots["id"], session_lengths=[60])
    await mentor(client, pivots["id"], level=2)
    await mentor(client, pivots["id"], availability={"weekly": []})  # no free slot
    dismissed = await mentor(client, pivots["id"])
    # Inactive: offers no skill (the ask's words still find its headline).
    await create_mentor(client, headline="Pivot tables, once upon a time")
    mentee = await create_mentee(client)
    response = await client.post(
        "/v1/matching/feedback",
        json={"mentee_id": mentee["id"], "mentor_id": dismissed["id"], "action": "dismiss"},
    )
    assert response.status_code == 200, response.text
    body = {
        "mentee_id": mentee["id"],
        "ask": ASK,
        "skills": [{"skill_id": pivots["id"], "min_level": 3}],
        "languages": ["en"],
        "format": "video",
        "duration_minutes": 15,
        "window": WEEK,
    }
    found = await recommend(client, **body)
    assert ids(found) == [good["id"]]
    assert found["excluded_count"] == 7
    by_id(found)
    # Without the filters they set, the same mentors come back (but the dismissed one, and the
    # inactive one).
    loose = await recommend(
        client, mentee_id=mentee["id"], ask=ASK, languages=["en", "de"], limit=10
    )
    assert len(loose["data"]) == 6
    assert dismissed["id"] not in ids(loose)


async def test_a_full_week_excludes_without_a_window_not_with_a_later_one(
    tenant: Tenant, clock: Clock
) -> None:
    client = tenant.client
    pivots = await _pivots(client)
    busy = await mentor(client, pivots["id"], availability={"weekly_capacity": 1})
    mentee = await create_mentee(client)
    response = await client.post(
        "/v1/sessions",
        json={
            "mentor_id": busy["id"],
            "mentee_id": mentee["id"],
            "skill_id": pivots["id"],
            "topic": "Review my first pivot table for the sales report",
            "format": "video",
            "duration_minutes": 30,
            "starts_at": "2027-01-05T09:00:00Z",
        },
    )
    assert response.status_code == 201, response.text
    now = await recommend(client, mentee_id=mentee["id"], ask=ASK)
    assert now["data"] == []
    assert now["excluded_count"] == 1
    window = {"from": "2027-01-11T08:00:00Z", "to": "2027-01-15T08:00:00Z"}
    later = await recommend(client, mentee_id=mentee["id"], ask=ASK, window=window)
    assert ids(later) == [busy["id"]]
    assert all(s >= window["from"] for s in later["data"][0]["first_slots"])


async def _two(
    tenant: Tenant, first: dict[str, Any], second: dict[str, Any], **request: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Two pivot-table mentors (made with `first` and `second`), recommended to a mentee
    (`request`: the mentee's fields under `mentee`, the rest of the body)."""
    client = tenant.client
    pivots = await _pivots(client)
    a = await mentor(client, pivots["id"], **first)
    b = await mentor(client, pivots["id"], **second)
    mentee = await create_mentee(client, **request.pop("mentee", {}))
    skills = request.pop("skills", None)
    if skills is not None:
        request["skills"] = [{"skill_id": pivots["id"], "min_level": skills}]
    found = by_id(await recommend(client, mentee_id=mentee["id"], ask=ASK, **request))
    return found[a["id"]], found[b["id"]], {"mentee": mentee, "skill": pivots}


async def test_skill_level_fit(tenant: Tenant, clock: Clock) -> None:
    a, b, _ = await _two(tenant, {"level": 5}, {"level": 3}, skills=3)
    assert a["components"]["skill"] == 1.0
    assert b["components"]["skill"] == 0.6
    assert "Teaches Pivot tables at level 5 (you asked for 3)" in a["reasons"]
    assert a["score"] > b["score"]


async def test_text_relevance(tenant: Tenant, clock: Clock) -> None:
    a, b, _ = await _two(
        tenant,
        {"headline": "Pivot tables for sales reports", "bio": "Friday reports, pivot tables"},
        {"headline": "Generalist", "bio": "Happy to help"},
    )
    assert a["components"]["text"] == 1.0
    # b is found by its skill's name only (bm25 gives words in most documents next to nothing).
    assert b["components"]["text"] < 1.0


async def test_availability_prefers_the_mentees_waking_hours(tenant: Tenant, clock: Clock) -> None:
    # The mentee is in New York: Berlin's 15:00-17:00 is their 09:00-11:00, 09:00-11:00 their
    # 03:00-05:00.
    late = [{"day": "wed", "start": "15:00", "end": "17:00"}]
    early = [{"day": "wed", "start": "09:00", "end": "11:00"}]
    a, b, _ = await _two(
        tenant,
        {"availability": {"weekly": late}},
        {"availability": {"weekly": early}},
        window=WEEK,
    )
    assert a["components"]["availability"] > b["components"]["availability"]
    assert "8 free 15-minute slots in the window, 8 within" in a["reasons"][0] + "".join(
        a["reasons"]
    )
    assert any("8 free 15-minute slots in the window, 0 within" in r for r in b["reasons"])
    assert a["first_slots"][0] == "2027-01-06T14:00:00Z"


async def test_feedback_on_the_skill(tenant: Tenant, clock: Clock) -> None:
    client = tenant.client
    pivots = await _pivots(client)
    rated = await mentor(client, pivots["id"])
    other = await mentor(client, pivots["id"])
    someone = await create_mentee(client)
    for day in ("05", "06"):
        await complete_with_feedback(
            client,
            clock,
            mentor_id=rated["id"],
            mentee_id=someone["id"],
            skill_id=pivots["id"],
            starts_at=f"2027-01-{day}T09:00:00Z",
            rating=5,
            impact="Shipped the report on time",
        )
    clock.set("2027-01-11T08:00:00Z")
    mentee = await create_mentee(client)
    found = by_id(
        await recommend(
            client,
            mentee_id=mentee["id"],
            ask=ASK,
            skills=[{"skill_id": pivots["id"], "min_level": 1}],
        )
    )
    a, b = found[rated["id"]], found[other["id"]]
    assert a["components"]["feedback"] > b["components"]["feedback"]
    assert "5.00 from 2 rated sessions on this skill" in a["reasons"]
    assert "2 impact stories on this skill" in a["reasons"]
    # Smoothed: two fives move the prior (4.0 from 5 ratings) only part of the way.
    assert a["components"]["feedback"] < 0.85 + 0.15 * 2 / 3


async def test_language_preference(tenant: Tenant, clock: Clock) -> None:
    a, b, _ = await _two(
        tenant,
        {"languages": ["de"]},
        {"languages": ["en"]},
        mentee={"languages": ["de", "en"]},
    )
    assert a["components"]["language"] == 1.0
    assert b["components"]["language"] == 0.75
    assert "Speaks de" in a["reasons"]


async def test_time_zone_distance(tenant: Tenant, clock: Clock) -> None:
    a, b, _ = await _two(
        tenant,
        {"timezone": "Europe/Paris"},
        {"timezone": "Asia/Tokyo"},
        mentee={"timezone": "Europe/Berlin"},
    )
    assert a["components"]["timezone"] == 1.0
    assert b["components"]["timezone"] == round(1 - 8 / 12, 4)
    assert "Lives by your clock (Europe/Paris)" in a["reasons"]


async def test_load_spreads_the_answers(tenant: Tenant, clock: Clock) -> None:
    client = tenant.client
    pivots = await _pivots(client)
    busy = await mentor(client, pivots["id"], availability={"weekly_capacity": 5})
    free = await mentor(client, pivots["id"], availability={"weekly_capacity": 5})
    someone = await create_mentee(client)
    for day in ("05", "06", "07"):
        response = await client.post(
            "/v1/sessions",
            json={
                "mentor_id": busy["id"],
                "mentee_id": someone["id"],
                "skill_id": pivots["id"],
                "topic": "Review my first pivot table for the sales report",
                "format": "video",
                "duration_minutes": 30,
                "starts_at": f"2027-01-{day}T09:00:00Z",
            },
        )
        assert response.status_code == 201, response.text
    mentee = await create_mentee(client)
    found = by_id(await recommend(client, mentee_id=mentee["id"], ask=ASK))
    assert found[busy["id"]]["components"]["load"] == 0.4
    assert found[free["id"]]["components"]["load"] == 1.0
    assert "3 of 5 sessions taken that week" in found[busy["id"]]["reasons"]
    assert ids(await recommend(client, mentee_id=mentee["id"], ask=ASK))[0] == free["id"]


async def test_continuity_with_a_mentor_rated_well(tenant: Tenant, clock: Clock) -> None:
    client = tenant.client
    pivots = await _pivots(client)
    past = await mentor(client, pivots["id"])
    other = await mentor(client, pivots["id"])
    mentee = await create_mentee(client)
    await complete_with_feedback(
        client,
        clock,
        mentor_id=past["id"],
        mentee_id=mentee["id"],
        skill_id=pivots["id"],
        starts_at="2027-01-05T09:00:00Z",
        rating=5,
    )
    clock.set("2027-01-11T08:00:00Z")
    found = by_id(await recommend(client, mentee_id=mentee["id"], ask=ASK))
    assert found[past["id"]]["components"]["continuity"] == 1.0
    assert found[other["id"]]["components"]["continuity"] == 0.0
    assert "You rated your 1 past session with them 5.00 on average" in found[past["id"]]["reasons"]


async def test_a_seat_in_a_completed_group_session_is_a_past_meeting(
    tenant: Tenant, clock: Clock
) -> None:
    """Continuity counts a mentor's completed group sessions too: a mentee who kept a seat met
    the mentor (rated: her rating counts); a seat given back, or a group session not held, is
    no meeting."""
    client = tenant.client
    pivots = await _pivots(client)
    host = await mentor(client, pivots["id"])
    rated, unrated, left = [(await create_mentee(client))["id"] for _ in range(3)]
    group = await client.post(
        "/v1/group-sessions",
        json={
            "mentor_id": host["id"],
            "skill_id": pivots["id"],
            "topic": "Pivot tables for sales reports: office hours",
            "format": "video",
            "duration_minutes": 30,
            "seats": 6,
            "starts_at": "2027-01-05T09:00:00Z",
        },
    )
    assert group.status_code == 201, group.text
    path = f"/v1/group-sessions/{group.json()['id']}"
    seats = {}
    for mentee_id in (rated, unrated, left):
        seat = await client.post(f"{path}/seats", json={"mentee_id": mentee_id, "ask": ASK})
        assert seat.status_code == 201, seat.text
        seats[mentee_id] = seat.json()["id"]
    gone = await client.post(f"{path}/seats/{seats[left]}/cancel", json={"by": "mentee"})
    assert gone.status_code == 200, gone.text
    # Not held yet: no one met the mentor.
    found = by_id(await recommend(client, mentee_id=rated, ask=ASK))
    assert found[host["id"]]["components"]["continuity"] == 0.0
    clock.set("2027-01-05T09:31:00Z")
    assert (await client.post(f"{path}/complete")).status_code == 200
    feedback = await client.post(
        f"{path}/feedback", json={"author": "mentee", "mentee_id": rated, "rating": 5}
    )
    assert feedback.status_code == 201, feedback.text
    clock.set("2027-01-11T08:00:00Z")
    expected = {rated: 1.0, unrated: 0.6, left: 0.0}
    for mentee_id, continuity in expected.items():
        with count_statements() as statements:
            found = by_id(await recommend(client, mentee_id=mentee_id, ask=ASK))
        assert found[host["id"]]["components"]["continuity"] == continuity, mentee_id
        assert len(own(statements)) == 3, statements  # as for any ask (see the README)
    found = by_id(await recommend(client, mentee_id=rated, ask=ASK))
    assert "You rated your 1 past session with them 5.00 on average" in found[host["id"]]["reasons"]
    found = by_id(await recommend(client, mentee_id=unrated, ask=ASK))
    assert "You had 1 past session with them" in found[host["id"]]["reasons"]


async def test_past_sessions_count_one_to_one_and_group_alike(tenant: Tenant, clock: Clock) -> None:
    """The reason names what continuity counted: a rated one-to-one session and an unrated seat
    kept in a group session are her 2 past sessions with the mentor, 1 of them rated; GraphQL
    says what REST says."""
    client = tenant.client
    pivots = await _pivots(client)
    host = await mentor(client, pivots["id"])
    mentee = (await create_mentee(client))["id"]
    await complete_with_feedback(
        client,
        clock,
        mentor_id=host["id"],
        mentee_id=mentee,
        skill_id=pivots["id"],
        starts_at="2027-01-04T09:00:00Z",
        rating=5,
    )
    group = await client.post(
        "/v1/group-sessions",
        json={
            "mentor_id": host["id"],
            "skill_id": pivots["id"],
            "topic": "Pivot tables for sales reports: office hours",
            "format": "video",
            "duration_minutes": 30,
            "seats": 6,
            "starts_at": "2027-01-05T09:00:00Z",
        },
    )
    assert group.status_code == 201, group.text
    path = f"/v1/group-sessions/{group.json()['id']}"
    seat = await client.post(f"{path}/seats", json={"mentee_id": mentee, "ask": ASK})
    assert seat.status_code == 201, seat.text
    clock.set("2027-01-05T09:31:00Z")
    assert (await client.post(f"{path}/complete")).status_code == 200
    clock.set("2027-01-11T08:00:00Z")
    rest = await recommend(client, mentee_id=mentee, ask=ASK)
    reasons = by_id(rest)[host["id"]]["reasons"]
    assert "You rated 1 of your 2 past sessions with them 5.00 on average" in reasons, reasons
    query = """query($input: RecommendMentorsInput!) {
      recommendMentors(input: $input) { data { mentor { id } reasons } } }"""
    data = await gql_data(client, query, {"input": {"menteeId": mentee, "ask": ASK}})
    found = {i["mentor"]["id"]: i["reasons"] for i in data["recommendMentors"]["data"]}
    assert found == {i["mentor"]["id"]: i["reasons"] for i in rest["data"]}


async def test_the_policy_weights_change_the_order(tenant: Tenant, clock: Clock) -> None:
    client = tenant.client
    pivots = await _pivots(client)
    expert = await mentor(
        client,
        pivots["id"],
        level=5,
        availability={"weekly": [{"day": "wed", "start": "15:00", "end": "16:00"}]},
    )
    available = await mentor(client, pivots["id"], level=3)
    mentee = await create_mentee(client)
    body = {
        "mentee_id": mentee["id"],
        "ask": ASK,
        "skills": [{"skill_id": pivots["id"], "min_level": 3}],
        "window": WEEK,
    }
    zero = dict.fromkeys(
        ("skill", "text", "availability", "feedback", "language", "timezone", "load", "continuity"),
        0.0,
    )
    put = await client.put("/v1/matching/policy", json={"weights": {**zero, "skill": 1.0}})
    assert put.status_code == 200, put.text
    found = await recommend(client, **body)
    assert ids(found) == [expert["id"], available["id"]]
    assert found["data"][0]["score"] == found["data"][0]["components"]["skill"]
    put = await client.put(
        "/v1/matching/policy",
        json={"weights": {**zero, "availability": 1.0}},
        headers={"If-Match": '"1"'},
    )
    assert put.status_code == 200, put.text
    found = await recommend(client, **body)
    assert ids(found) == [available["id"], expert["id"]]
    assert found["data"][0]["score"] == found["data"][0]["components"]["availability"]


async def test_statements_do_not_grow_with_the_mentors(tenant: Tenant, clock: Clock) -> None:
    client = tenant.client
    pivots = await _pivots(client)
    mentee = await create_mentee(client)
    counts = []
    for _ in range(2):
        for _ in range(4):
            await mentor(client, pivots["id"])
        with count_statements() as statements:
            found = await recommend(
                client,
                mentee_id=mentee["id"],
                ask=ASK,
                skills=[{"skill_id": pivots["id"], "min_level": 1}],
                limit=10,
            )
        counts.append(len(own(statements)))
        assert len(found["data"]) == 4 * len(counts)
    assert counts[0] == counts[1]
    assert counts[0] <= 12


async def test_first_slots_are_free_starts_of_the_asked_length(
    tenant: Tenant, clock: Clock
) -> None:
    client = tenant.client
    pivots = await _pivots(client)
    one = await mentor(client, pivots["id"])
    mentee = await create_mentee(client)
    found = await recommend(
        client, mentee_id=mentee["id"], ask=ASK, duration_minutes=30, window=WEEK
    )
    slots = await client.get(
        f"/v1/mentors/{one['id']}/slots",
        params={"start": WEEK["from"], "end": WEEK["to"], "duration": 30},
    )
    expected = [s["starts_at"] for s in slots.json()["data"][:3]]
    first = found["data"][0]["first_slots"]
    assert [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in first] == [
        datetime.fromisoformat(s.replace("Z", "+00:00")) for s in expected
    ]


async def test_a_misspelled_ask_finds_the_skill(tenant: Tenant, clock: Clock) -> None:
    client = tenant.client
    pivots = await _pivots(client)
    joins = await create_skill(client, name="SQL joins")
    right = await mentor(client, pivots["id"])
    await mentor(client, joins["id"])
    mentee = await create_mentee(client)
    # No stemmed word matches "pivto tabels"; the trigrams of the skill's name do (pg_trgm's
    # word similarity on PostgreSQL, the FTS5 trigram index on SQLite).
    found = await recommend(client, mentee_id=mentee["id"], ask="pivto tabels")
    assert ids(found) == [right["id"]]
    assert found["data"][0]["components"]["text"] == 1.0


async def test_feedback_on_a_group_session_of_the_skill_counts(
    tenant: Tenant, clock: Clock
) -> None:
    """A mentee's rating on a seat counts for the group session's skill, as a session's does
    for its own (the mentor's counters and the per-skill records follow one rule)."""
    client = tenant.client
    pivots = await _pivots(client)
    rated = await mentor(client, pivots["id"])
    other = await mentor(client, pivots["id"])
    someone = await create_mentee(client)
    created = await client.post(
        "/v1/group-sessions",
        json={
            "mentor_id": rated["id"],
            "skill_id": pivots["id"],
            "topic": "Pivot tables: office hours",
            "format": "video",
            "duration_minutes": 30,
            "seats": 4,
            "starts_at": "2027-01-05T09:00:00Z",
        },
    )
    assert created.status_code == 201, created.text
    gid = created.json()["id"]
    seat = await client.post(
        f"/v1/group-sessions/{gid}/seats",
        json={"mentee_id": someone["id"], "ask": "Group by month in a pivot table"},
    )
    assert seat.status_code == 201, seat.text
    clock.set(created.json()["ends_at"])
    assert (await client.post(f"/v1/group-sessions/{gid}/complete")).status_code == 200
    given = await client.post(
        f"/v1/group-sessions/{gid}/feedback",
        json={"author": "mentee", "mentee_id": someone["id"], "rating": 5, "impact": "Done"},
    )
    assert given.status_code == 201, given.text
    clock.set("2027-01-11T08:00:00Z")
    mentee = await create_mentee(client)
    found = by_id(
        await recommend(
            client,
            mentee_id=mentee["id"],
            ask=ASK,
            skills=[{"skill_id": pivots["id"], "min_level": 1}],
        )
    )
    a, b = found[rated["id"]], found[other["id"]]
    assert a["components"]["feedback"] > b["components"]["feedback"]
    assert "5.00 from 1 rated sessions on this skill" in a["reasons"]
    assert "1 impact stories on this skill" in a["reasons"]


async def test_the_answer_is_the_response_models_bytes(tenant: Tenant, clock: Clock) -> None:
    """The route writes plain data straight to JSON (rest.render_data): re-validated and
    re-serialized by the documented model, the body comes out the same, byte for byte."""
    client = tenant.client
    pivots = await _pivots(client)
    for bio in ("Spreadsheets daily, ça va", "Pivot tables for sales reports"):
        await mentor(client, pivots["id"], headline="Excel analyst — pivots", bio=bio)
    mentee = await create_mentee(client)
    for body in (
        {"ask": ASK, "window": WEEK, "duration_minutes": 30},
        {"ask": ASK, "skills": [{"skill_id": pivots["id"], "min_level": 1}]},
    ):
        response = await client.post(
            "/v1/matching/recommendations", json={"mentee_id": mentee["id"], **body}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        found = response.json()
        assert len(found["data"]) == 2
        assert found["data"][0]["first_slots"]
        content = response.content
        assert Recommendations.model_validate_json(content).model_dump_json().encode() == content
