"""The mentor list runs a fixed number of SQL statements whatever the page size: the API-key
lookup, and the page with every mentor's skills in one query (no query per mentor)."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event, func
from sqlmodel import col, select

from mentorapi.db.debug import HEADER
from mentorapi.db.engine import Database, statement_counter
from mentorapi.kit.pagination import Page
from mentorapi.main import create_app
from mentorapi.mentors.schemas import MentorRead
from mentorapi.reminders.models import ScheduledNotification
from mentorapi.webhooks.models import Delivery
from tests.conftest import Tenant, count_statements, make_tenant, own, running
from tests.conftest import test_settings as settings_for  # aliased: not collected as a test
from tests.factories import bookable, create_mentor, create_skill

MAX_STATEMENTS = 2  # auth + the page with its skills
MENTORS = 105  # more than the largest page, so limit=100 is a full page with a next cursor


async def _seed(tenant: Tenant) -> str:
    """MENTORS mentors, each with two or three skills; returns the slug they all offer."""
    common = await create_skill(tenant.client, slug="code-review")
    extras = [await create_skill(tenant.client) for _ in range(3)]
    for i in range(MENTORS):
        chosen = [common, extras[i % 3]] + ([extras[(i + 1) % 3]] if i % 2 else [])
        await create_mentor(
            tenant.client,
            name=f"Mentor {i:03d}",
            skills=[{"skill_id": s["id"], "level": 1 + i % 5} for s in chosen],
        )
    return str(common["slug"])


@pytest.mark.parametrize("with_skill_filter", [False, True])
async def test_mentor_list_statements_do_not_grow_with_the_page(
    tenant: Tenant, with_skill_filter: bool
) -> None:
    slug = await _seed(tenant)
    for limit in (1, 20, 100):
        params: dict[str, str | int] = {"limit": limit}
        if with_skill_filter:
            params["skill"] = slug
        with count_statements() as statements:
            response = await tenant.client.get("/v1/mentors", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        # The page is full and every mentor carries its skills: the count covers real work.
        assert len(body["data"]) == limit
        assert body["next_cursor"] is not None
        assert all(len(m["skills"]) >= 2 for m in body["data"])
        assert len(statements) <= MAX_STATEMENTS, (limit, statements)


async def test_next_pages_keep_the_same_count(tenant: Tenant) -> None:
    slug = await _seed(tenant)
    first = await tenant.client.get("/v1/mentors", params={"skill": slug, "limit": 100})
    cursor = first.json()["next_cursor"]
    with count_statements() as statements:
        response = await tenant.client.get(
            "/v1/mentors", params={"skill": slug, "limit": 100, "cursor": cursor}
        )
    assert response.status_code == 200
    assert len(response.json()["data"]) == MENTORS - 100
    assert len(statements) <= MAX_STATEMENTS, statements


@pytest.fixture
async def counting_app(database_url: str) -> AsyncIterator[FastAPI]:
    """An app with MENTORAPI_DEBUG_SQL_COUNT on, as `make bench` starts it."""
    async with running(create_app(settings_for(database_url, debug_sql_count=True))) as app:
        yield app


async def test_debug_header_reports_the_statements(counting_app: FastAPI) -> None:
    async for tenant in make_tenant(counting_app):
        skill = await create_skill(tenant.client)
        for _ in range(3):
            await create_mentor(tenant.client, skills=[{"skill_id": skill["id"], "level": 3}])
        for limit in (1, 20):
            response = await tenant.client.get(
                "/v1/mentors", params={"skill": skill["slug"], "limit": limit}
            )
            assert response.status_code == 200
            # The page; and the API key on SQLite (PostgreSQL remembers it after the first
            # request: apps/keycache.py).
            expected = 1 if counting_app.state.key_cache is not None else 2
            assert response.headers[HEADER] == str(expected)
        # An unauthenticated request stops before any SQL; errors carry the header too.
        anonymous = await tenant.client.get("/v1/mentors", headers={"Authorization": ""})
        assert anonymous.status_code == 401
        assert anonymous.headers[HEADER] == "0"


async def test_debug_header_is_off_by_default(tenant: Tenant) -> None:
    response = await tenant.client.get("/v1/mentors")
    assert response.status_code == 200
    assert HEADER not in response.headers


async def test_list_get_and_create_show_the_same_skills(tenant: Tenant) -> None:
    """The list reads skills as plain rows; they match what create and get return, in order
    (highest level first, then slug)."""
    a = await create_skill(tenant.client, slug="a-skill", category="x")
    b = await create_skill(tenant.client, slug="b-skill")
    c = await create_skill(tenant.client, slug="c-skill")
    created = await create_mentor(
        tenant.client,
        skills=[
            {"skill_id": c["id"], "level": 2, "note": "basics only"},
            {"skill_id": b["id"], "level": 5},
            {"skill_id": a["id"], "level": 2},
        ],
    )
    fetched = (await tenant.client.get(f"/v1/mentors/{created['id']}")).json()
    listed = (await tenant.client.get("/v1/mentors", params={"skill": "c-skill"})).json()["data"]
    assert [s["skill"]["slug"] for s in created["skills"]] == ["b-skill", "a-skill", "c-skill"]
    assert created["skills"][1]["skill"] == {
        "id": a["id"],
        "slug": "a-skill",
        "name": a["name"],
        "category": "x",
    }
    assert created["skills"][2]["note"] == "basics only"
    assert fetched["skills"] == created["skills"]
    assert [m["skills"] for m in listed] == [created["skills"]]


async def test_list_body_is_exactly_what_the_model_writes(tenant: Tenant) -> None:
    """The list writes plain data without validating it (the hot path); re-validated and
    re-serialized by the documented model it must come out byte for byte the same: no field
    missing, none extra, every value in the model's format."""
    skill = await create_skill(tenant.client, slug="z-skill", category=None)
    other = await create_skill(tenant.client, slug="a-skill", category="x")
    await create_mentor(
        tenant.client,
        name="Zoë Ünal",
        languages=["de", "en"],
        formats=["video", "async"],
        skills=[
            {"skill_id": skill["id"], "level": 2, "note": "ça va"},
            {"skill_id": other["id"], "level": 2},
        ],
    )
    await create_mentor(tenant.client, skills=[])
    response = await tenant.client.get("/v1/mentors", params={"limit": 1})
    body = response.content
    assert Page[MentorRead].model_validate_json(body).model_dump_json().encode() == body
    assert response.json()["next_cursor"] is not None
    rest = await tenant.client.get("/v1/mentors", params={"cursor": response.json()["next_cursor"]})
    assert (
        Page[MentorRead].model_validate_json(rest.content).model_dump_json().encode()
        == rest.content
    )
    assert rest.json()["data"][0]["skills"] == []
    # ...and each mentor as listed is the mentor as read alone (through the model).
    for mentor in response.json()["data"] + rest.json()["data"]:
        alone = await tenant.client.get(f"/v1/mentors/{mentor['id']}")
        assert alone.json() == mentor


async def test_listed_skills_follow_renames_and_replacements(tenant: Tenant) -> None:
    """The list shows each mentor's skills from a copy kept on the mentor (Mentor.offers): a
    skill's new slug, name or category and a mentor's new set of skills show at once, exactly
    as reading the mentor alone (from the links) does."""
    skill = await create_skill(tenant.client, slug="old-slug", name="Old", category="a")
    other = await create_skill(tenant.client, slug="other")
    mentors = [
        await create_mentor(tenant.client, skills=[{"skill_id": skill["id"], "level": 2}])
        for _ in range(3)
    ]
    renamed = await tenant.client.patch(
        f"/v1/skills/{skill['id']}", json={"slug": "new-slug", "name": "New", "category": None}
    )
    assert renamed.status_code == 200, renamed.text
    replaced = await tenant.client.put(
        f"/v1/mentors/{mentors[0]['id']}/skills",
        json={"skills": [{"skill_id": other["id"], "level": 5}, {"slug": "new-slug", "level": 1}]},
    )
    assert replaced.status_code == 200, replaced.text
    listed = (await tenant.client.get("/v1/mentors", params={"limit": 10})).json()["data"]
    assert [[s["skill"]["slug"] for s in m["skills"]] for m in listed] == [
        ["other", "new-slug"],
        ["new-slug"],
        ["new-slug"],
    ]
    assert listed[1]["skills"][0]["skill"] == {
        "id": skill["id"],
        "slug": "new-slug",
        "name": "New",
        "category": None,
    }
    for mentor in listed:
        alone = await tenant.client.get(f"/v1/mentors/{mentor['id']}")
        assert alone.json()["skills"] == mentor["skills"]
    # A change that leaves the shown fields alone rewrites nothing, and still agrees.
    described = await tenant.client.patch(
        f"/v1/skills/{skill['id']}", json={"description": "Now with examples."}
    )
    assert described.status_code == 200, described.text
    again = (await tenant.client.get("/v1/mentors", params={"limit": 10})).json()["data"]
    assert [m["skills"] for m in again] == [m["skills"] for m in listed]


async def test_shown_skills_agree_with_the_links_under_concurrent_writers(tenant: Tenant) -> None:
    """Renames of a skill racing PUTs of mentors' skills (real concurrent transactions on
    PostgreSQL): afterwards every mentor's listed skills are exactly what its links say."""
    skill = await create_skill(tenant.client, slug="raced", name="Raced 0")
    other = await create_skill(tenant.client, slug="steady")
    mentors = [
        await create_mentor(tenant.client, skills=[{"skill_id": skill["id"], "level": 3}])
        for _ in range(4)
    ]
    writes = []
    for i in range(1, 7):
        writes.append(tenant.client.patch(f"/v1/skills/{skill['id']}", json={"name": f"Raced {i}"}))
        for j, mentor in enumerate(mentors):
            chosen = [{"skill_id": other["id"], "level": 1}]
            if (i + j) % 2:
                chosen.append({"skill_id": skill["id"], "level": 1 + i % 5})
            writes.append(
                tenant.client.put(f"/v1/mentors/{mentor['id']}/skills", json={"skills": chosen})
            )
    responses = await asyncio.gather(*writes)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.is_error]
    # The renames finish in any order: the last to commit is the skill's name now.
    name = (await tenant.client.get(f"/v1/skills/{skill['id']}")).json()["name"]
    listed = (await tenant.client.get("/v1/mentors", params={"limit": 10})).json()["data"]
    assert len(listed) == 4
    for mentor in listed:
        alone = await tenant.client.get(f"/v1/mentors/{mentor['id']}")
        assert alone.json()["skills"] == mentor["skills"]
        for offer in mentor["skills"]:
            if offer["skill"]["id"] == skill["id"]:
                assert offer["skill"]["name"] == name


async def test_a_booking_with_its_key_runs_a_fixed_set_of_statements(
    tenant: Tenant, dialect: str
) -> None:
    """A booking with an Idempotency-Key: the key claimed (PostgreSQL: an advisory lock, then
    the key's row), the webhook endpoints and the reminder policy (the app's and the mentor's
    in one statement), the mentor and the mentee locked (one statement), the booking's checks
    (skill, availability, held times, the mentee's seats and sessions: one statement), the
    session, its event, its reminders, the key kept. Its first event is numbered 1 without a
    `max(sequence)`; the caller is not looked up again for the key. Before: 17 statements on
    PostgreSQL, then 14 (the checks in four statements, the policies in two), 15 with group
    sessions' mentee lock and seats, 12 (the mentee's places read on their own), 11 (the
    mentee locked on its own), now 10."""
    base = await bookable(tenant.client)
    with count_statements() as statements:
        response = await tenant.client.post(
            "/v1/sessions",
            json={**base, "starts_at": "2027-01-11T08:00:00Z"},
            headers={"Idempotency-Key": "counted"},
        )
    assert response.status_code == 201, response.text
    ran = own(statements)
    assert not [s for s in ran if "max(events.sequence)" in s], ran
    assert not [s for s in ran if "FROM apps" in s], ran
    assert len(ran) == (10 if dialect == "postgresql" else 9), ran


async def test_a_booking_runs_each_statement_once_on_postgresql(
    tenant: Tenant, db: Database, dialect: str
) -> None:
    """A booking's reminders (several rows) and webhook deliveries (one per endpoint) are one
    INSERT each, not an executemany: asyncpg sends an executemany as one execution per row,
    each a statement of its own for PostgreSQL. Before: one execution per row (about six for
    the reminders). SQLite keeps the executemany (one prepared statement stepped per row
    anyway)."""
    base = await bookable(tenant.client)
    for n in range(2):
        hook = await tenant.client.post(
            "/v1/webhook-endpoints", json={"url": f"https://example.com/mentorapi-hook-{n}"}
        )
        assert hook.status_code == 201, hook.text
    many: list[str] = []

    def seen(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, executemany: bool) -> None:
        if executemany and statement_counter.get() is not None:
            many.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        with count_statements():
            response = await tenant.client.post(
                "/v1/sessions",
                json={**base, "starts_at": "2027-01-11T08:00:00Z"},
                headers={"Idempotency-Key": "once"},
            )
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    assert response.status_code == 201, response.text
    session_id = response.json()["id"]
    async with db.sessionmaker() as s:
        reminders = (
            await s.exec(
                select(func.count())
                .select_from(ScheduledNotification)
                .where(
                    col(ScheduledNotification.app_id) == tenant.id,
                    col(ScheduledNotification.session_id) == session_id,
                )
            )
        ).one()
        deliveries = (
            await s.exec(
                select(func.count()).select_from(Delivery).where(col(Delivery.app_id) == tenant.id)
            )
        ).one()
    assert reminders >= 2
    assert deliveries == 2
    if dialect == "postgresql":
        assert many == [], many
    else:
        assert [m.split(" (")[0] for m in many] == [
            "INSERT INTO deliveries",
            "INSERT INTO scheduled_notifications",
        ]


def _after_the_mentor_lock(statements: list[str], dialect: str) -> list[str]:
    """The statements after the one that locks the mentor row, the first to read it (SQLite:
    no row locks; its writers take turns for the whole transaction anyway)."""
    lock = next(i for i, s in enumerate(statements) if "FROM mentors" in s)
    if dialect == "postgresql":
        assert statements[lock].rstrip().endswith("FOR UPDATE"), statements[lock]
    return statements[lock + 1 :]


async def test_a_booking_holds_its_mentor_for_six_statements(tenant: Tenant, dialect: str) -> None:
    """Everything a booking runs while its mentor is locked (until the commit), with an
    Idempotency-Key and a webhook endpoint, as the load bench books: the mentee locked with the
    mentor (one statement), what the checks need (skill, availability, held times, the
    mentee's seats and sessions: a mentee is never in two places at once) in one statement,
    then the session, its event, its delivery, its reminders and the key kept, one INSERT
    each. The webhook endpoints and the reminder policy, which the lock does not guard, are
    read before it. Every statement here is a round trip that each other booking of the
    mentor waits for. Before: 12 (the checks in four statements, endpoints and the two
    policies read under the lock), 6 before group sessions added the mentee's lock and seats,
    then 8 (the mentee's lock and places on their own), 7 (the mentee's lock on its own)."""
    base = await bookable(tenant.client)
    hook = await tenant.client.post(
        "/v1/webhook-endpoints", json={"url": "https://example.com/mentorapi-hook"}
    )
    assert hook.status_code == 201, hook.text
    with count_statements() as statements:
        response = await tenant.client.post(
            "/v1/sessions",
            json={**base, "starts_at": "2027-01-11T08:00:00Z"},
            headers={"Idempotency-Key": "locked"},
        )
    assert response.status_code == 201, response.text
    locked = _after_the_mentor_lock(own(statements), dialect)
    assert [s.split(" (")[0].split("\n")[0] for s in locked if s.startswith("INSERT")] == [
        "INSERT INTO sessions",
        "INSERT INTO events",
        "INSERT INTO deliveries",
        "INSERT INTO scheduled_notifications",
        "INSERT INTO idempotency_keys",
    ], locked
    assert len(locked) == 6, locked


async def test_a_series_runs_as_many_statements_for_26_occurrences_as_for_2(
    tenant: Tenant,
) -> None:
    """Its sessions in one flush, their events in one (the endpoints read once, no sequence
    asked for a new session), and cancelling it likewise. Before: three statements more per
    occurrence."""
    counts = []
    for count, weekday in ((2, "11"), (26, "12")):
        base = await bookable(tenant.client)
        body = {**base, "starts_at": f"2027-01-{weekday}T08:00:00Z", "count": count}
        with count_statements() as booked:
            response = await tenant.client.post("/v1/series", json=body)
        assert response.status_code == 201, response.text
        series_id = response.json()["id"]
        with count_statements() as cancelled:
            response = await tenant.client.post(
                f"/v1/series/{series_id}/cancel", json={"by": "mentee"}
            )
        assert response.status_code == 200, response.text
        counts.append((len(own(booked)), len(own(cancelled))))
    assert counts[0] == counts[1], counts


@pytest.mark.postgres_only
async def test_a_bookings_reads_before_the_mentor_lock_run_on_the_driver(tenant: Tenant) -> None:
    """The key claimed (advisory lock, the key's row), the webhook endpoints (FOR KEY SHARE) and
    the reminder policy: straight on asyncpg (db/fast.py), in the booking's transaction, not
    through SQLAlchemy's execution path (about 0.3M instructions a statement, callgrind).
    Before: only the key's row."""
    from mentorapi.db import fast

    base = await bookable(tenant.client)
    seen: list[str] = []
    fast.observers.append(lambda sql, _dialect, _options: seen.append(sql))
    try:
        with count_statements() as statements:
            response = await tenant.client.post(
                "/v1/sessions",
                json={**base, "starts_at": "2027-01-11T08:00:00Z"},
                headers={"Idempotency-Key": "on-the-driver"},
            )
    finally:
        fast.observers.pop()
    assert response.status_code == 201, response.text
    ran = own(statements)
    lock = next(i for i, s in enumerate(ran) if "FROM mentors" in s)
    before = ran[:lock]
    assert len(before) == 4, before
    assert "pg_try_advisory_xact_lock" in before[0]
    assert "FROM idempotency_keys" in before[1]
    assert "FROM webhook_endpoints" in before[2]
    assert "FOR KEY SHARE" in before[2]
    assert "FROM reminder_policies" in before[3]
    assert [s for s in before if s not in seen] == []
