"""Idempotency-Key on POST: replays, mismatches, in-flight duplicates, scoping by app."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy import event
from sqlmodel import col, select

from mentorapi.db import fast
from mentorapi.db.engine import Database
from mentorapi.kit.idempotency import IdempotencyKey, IdempotencyMiddleware, purge_expired
from mentorapi.kit.timezones import utcnow
from tests.conftest import Tenant
from tests.factories import bookable, unique
from tests.test_sessions import MONDAY_9, event_types


async def test_mobile_retry_of_a_booking_books_once(tenant: Tenant, db: Database) -> None:
    base = await bookable(tenant.client)
    body = {**base, "starts_at": MONDAY_9}
    headers = {"Idempotency-Key": "booking-7f3a"}
    first = await tenant.client.post("/v1/sessions", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    retry = await tenant.client.post("/v1/sessions", json=body, headers=headers)
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert retry.headers["etag"] == first.headers["etag"]
    listed = await tenant.client.get("/v1/sessions")
    assert len(listed.json()["data"]) == 1
    assert await event_types(db, tenant.id, first.json()["id"]) == ["session.booked"]
    # Without the key, the same body is a new request: the slot is taken now.
    assert (await tenant.client.post("/v1/sessions", json=body)).status_code == 409


async def test_same_key_other_body_is_422(tenant: Tenant) -> None:
    headers = {"Idempotency-Key": "skill-1"}
    first = await tenant.client.post(
        "/v1/skills", json={"slug": unique("a"), "name": "A"}, headers=headers
    )
    assert first.status_code == 201
    other = await tenant.client.post(
        "/v1/skills", json={"slug": unique("b"), "name": "B"}, headers=headers
    )
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in other.json()["detail"]
    elsewhere = await tenant.client.post("/v1/mentees", json={"slug": "x"}, headers=headers)
    assert elsewhere.status_code == 422


async def test_keys_are_scoped_by_app(tenant: Tenant, other_tenant: Tenant) -> None:
    body = {"slug": "shared-slug", "name": "Shared"}
    headers = {"Idempotency-Key": "same-key"}
    a = await tenant.client.post("/v1/skills", json=body, headers=headers)
    b = await other_tenant.client.post("/v1/skills", json=body, headers=headers)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert "idempotent-replayed" not in b.headers


async def test_rejected_requests_are_not_kept(tenant: Tenant) -> None:
    headers = {"Idempotency-Key": "fix-and-retry"}
    bad = await tenant.client.post("/v1/skills", json={"slug": ""}, headers=headers)
    assert bad.status_code == 422
    good = await tenant.client.post(
        "/v1/skills", json={"slug": unique("fixed"), "name": "Fixed"}, headers=headers
    )
    assert good.status_code == 201
    # A conflict did act (it looked and refused): it is replayed like a success.
    slug = unique("dup")
    await tenant.client.post("/v1/skills", json={"slug": slug, "name": "D"})
    dup_headers = {"Idempotency-Key": "dup"}
    dup = await tenant.client.post(
        "/v1/skills", json={"slug": slug, "name": "D"}, headers=dup_headers
    )
    assert dup.status_code == 409
    again = await tenant.client.post(
        "/v1/skills", json={"slug": slug, "name": "D"}, headers=dup_headers
    )
    assert again.status_code == 409
    assert again.headers["idempotent-replayed"] == "true"


async def test_bad_keys_and_no_credentials(tenant: Tenant, anon: object) -> None:
    import httpx

    assert isinstance(anon, httpx.AsyncClient)
    long = await tenant.client.post(
        "/v1/skills", json={"slug": "x", "name": "X"}, headers={"Idempotency-Key": "k" * 256}
    )
    assert long.status_code == 422
    nobody = await anon.post("/v1/skills", json={}, headers={"Idempotency-Key": "k"})
    assert nobody.status_code == 401


async def test_concurrent_duplicate_in_flight_is_409(tenant: Tenant, db: Database) -> None:
    base = await bookable(tenant.client)
    body = {**base, "starts_at": MONDAY_9}
    headers = {"Idempotency-Key": "double-tap"}
    responses = await asyncio.gather(
        *(tenant.client.post("/v1/sessions", json=body, headers=headers) for _ in range(5))
    )
    codes = sorted(r.status_code for r in responses)
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1, codes
    assert set(codes) <= {201, 409}, codes
    fresh = [r for r in created if "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1, codes
    listed = await tenant.client.get("/v1/sessions")
    assert len(listed.json()["data"]) == 1


async def test_reserved_key_in_flight_is_409(tenant: Tenant, db: Database) -> None:
    """A key reserved by a request still running (deterministically: a reservation row)."""
    import hashlib

    body = b'{"slug":"inflight","name":"In flight"}'
    fingerprint = hashlib.sha256(b"\n".join([b"/v1/skills", b"", body])).hexdigest()
    async with db.sessionmaker() as s, s.begin():
        s.add(
            IdempotencyKey(
                app_id=tenant.id,
                key="busy",
                fingerprint=fingerprint,
                expires_at=utcnow() + timedelta(hours=24),
            )
        )
    headers = {"Idempotency-Key": "busy", "Content-Type": "application/json"}
    response = await tenant.client.post("/v1/skills", content=body, headers=headers)
    assert response.status_code == 409, response.text
    assert "in flight" in response.json()["detail"]
    assert (await tenant.client.get("/v1/skills")).json()["data"] == []


async def test_expired_keys_are_reusable_and_purged(tenant: Tenant, db: Database) -> None:
    headers = {"Idempotency-Key": "old"}
    await tenant.client.post("/v1/skills", json={"slug": unique("o"), "name": "O"}, headers=headers)
    async with db.sessionmaker() as s, s.begin():
        row = (
            await s.exec(
                select(IdempotencyKey).where(
                    col(IdempotencyKey.app_id) == tenant.id, col(IdempotencyKey.key) == "old"
                )
            )
        ).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    fresh = await tenant.client.post(
        "/v1/skills", json={"slug": unique("n"), "name": "N"}, headers=headers
    )
    assert fresh.status_code == 201
    assert "idempotent-replayed" not in fresh.headers
    async with db.sessionmaker() as s, s.begin():
        row = await s.get(IdempotencyKey, (tenant.id, "old"))
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    async with db.sessionmaker() as s, s.begin():
        assert await purge_expired(s) >= 1
    async with db.sessionmaker() as s:
        assert await s.get(IdempotencyKey, (tenant.id, "old")) is None


async def test_huge_chunked_body_is_413(tenant: Tenant) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(1100):
            yield b"x" * 1000

    response = await tenant.client.post(
        "/v1/skills",
        content=chunks(),
        headers={"Idempotency-Key": "big", "Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_a_claimed_key_is_refused_until_its_request_ends(
    tenant: Tenant, db: Database, dialect: str
) -> None:
    """Two claims of one key on two connections. PostgreSQL: the second is refused with a 409
    while the first's transaction holds the key, and its own transaction still commits. SQLite:
    writers take turns; the second waits for the first, then finds its answer and replays it."""
    middleware = IdempotencyMiddleware(app=lambda *a: None, database=lambda: db)  # type: ignore[arg-type,return-value]

    async def second() -> object:
        async with db.sessionmaker() as s, s.begin():
            return await middleware._claim(s, tenant.id, "race", "f" * 64)

    async with db.sessionmaker() as s, s.begin():
        assert await middleware._claim(s, tenant.id, "race", "f" * 64) is None
        racing = asyncio.create_task(second())
        await asyncio.sleep(0.2)  # let the second reach its claim (PG) or its BEGIN (SQLite)
        s.add(_kept(tenant.id, "race", "f" * 64))
    answer = await racing
    if dialect == "postgresql":
        assert getattr(answer, "status_code", None) == 409
    else:
        assert getattr(answer, "status", None) == 201  # a replay of what the first kept


def _kept(app_id: str, key: str, fingerprint: str) -> IdempotencyKey:
    now = utcnow()
    return IdempotencyKey(
        app_id=app_id,
        key=key,
        fingerprint=fingerprint,
        expires_at=now + timedelta(hours=24),
        status_code=201,
        headers=[["content-type", "application/json"]],
        body="{}",
    )


async def test_a_booking_and_its_key_commit_in_one_transaction(
    tenant: Tenant, db: Database
) -> None:
    """The change, its webhook event and the record that replays it: one transaction (before,
    three: the key reserved, the booking, the response stored)."""
    base = await bookable(tenant.client)
    began: list[object] = []
    sync_engine = db.engine.sync_engine
    listener = lambda *args: began.append(args)  # noqa: E731
    event.listen(sync_engine, "begin", listener)
    try:
        response = await tenant.client.post(
            "/v1/sessions", json={**base, "starts_at": MONDAY_9}, headers={"Idempotency-Key": "one"}
        )
    finally:
        event.remove(sync_engine, "begin", listener)
    assert response.status_code == 201, response.text
    assert len(began) == 1, began


async def test_a_change_whose_key_cannot_be_kept_does_not_happen(
    tenant: Tenant, db: Database
) -> None:
    """Storing the response fails (the database refuses it): the booking is rolled back with
    it and the client is told, never a 201 for a booking that a retry would not replay. The
    retry with the same key then books, once. Before, the booking committed, the 201 went out
    and the key stayed reserved: the retry was a 409 for two minutes, then ran again."""
    base = await bookable(tenant.client)
    body = {**base, "starts_at": MONDAY_9}
    headers = {"Idempotency-Key": "unsaved"}

    def refuse_sql(statement: str) -> None:
        if statement.startswith(("INSERT INTO idempotency_keys", "UPDATE idempotency_keys")):
            raise RuntimeError("the database refuses the response (test)")

    def refuse(*args: object) -> None:
        refuse_sql(str(args[2]))

    # Through SQLAlchemy's cursor, or straight to the driver (db/fast.py, PostgreSQL).
    sync_engine = db.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", refuse)
    fast.observers.append(lambda sql, _dialect, _options: refuse_sql(sql))
    try:
        failed = await tenant.client.post("/v1/sessions", json=body, headers=headers)
    finally:
        event.remove(sync_engine, "before_cursor_execute", refuse)
        fast.observers.pop()
    assert failed.status_code >= 500, failed.text
    assert (await tenant.client.get("/v1/sessions")).json()["data"] == []
    retry = await tenant.client.post("/v1/sessions", json=body, headers=headers)
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert len((await tenant.client.get("/v1/sessions")).json()["data"]) == 1
