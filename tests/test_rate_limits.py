"""Rate limits: a token bucket per API key and per member, in memory or in PostgreSQL."""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from mentorapi.apps import service as apps_service
from mentorapi.db.engine import Database
from mentorapi.kit.ratelimit import MemoryRateLimiter, PostgresRateLimiter
from mentorapi.main import create_app
from tests import conftest
from tests.factories import create_mentor, create_skill, mint_token

LIMIT = 3
MEMBER_LIMIT = 2
WINDOW = 60.0


class FakeClock:
    """The limiter's clock, moved by the test: exact counts whatever the machine's speed."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def make_app(database_url: str, dialect: str, window: float) -> FastAPI:
    # On PostgreSQL the shared, table-backed buckets; on SQLite the in-process ones.
    backend = "postgres" if dialect == "postgresql" else "memory"
    settings = conftest.test_settings(
        database_url,
        rate_limits_enabled=True,
        rate_limit_backend=backend,
        rate_limit_per_window=LIMIT,
        rate_limit_member_per_window=MEMBER_LIMIT,
        rate_limit_window_seconds=window,
    )
    return create_app(settings)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def limited_app(database_url: str, dialect: str, clock: FakeClock) -> AsyncIterator[FastAPI]:
    application = make_app(database_url, dialect, WINDOW)
    async with application.router.lifespan_context(application):
        limiter = application.state.rate_limiter
        if isinstance(limiter, PostgresRateLimiter):
            application.state.rate_limiter = PostgresRateLimiter(limiter.engine, clock)
        else:
            application.state.rate_limiter = MemoryRateLimiter(clock)
        yield application


async def client_for(app: FastAPI, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=conftest.ServerTransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    )


async def new_key(app: FastAPI) -> str:
    db: Database = app.state.db
    async with db.sessionmaker() as s, s.begin():
        _, issued = await apps_service.create_app(db_session=s, name="limited")
    return issued.secret


async def test_api_key_budget_then_429_then_recovery(
    limited_app: FastAPI, clock: FakeClock
) -> None:
    async with await client_for(limited_app, await new_key(limited_app)) as client:
        for remaining in range(LIMIT - 1, -1, -1):
            response = await client.get("/v1/skills")
            assert response.status_code == 200
            assert response.headers["RateLimit-Limit"] == str(LIMIT)
            assert response.headers["RateLimit-Remaining"] == str(remaining)
            # Full again after one interval (window / limit) per token spent.
            spent = LIMIT - remaining
            assert response.headers["RateLimit-Reset"] == str(int(WINDOW / LIMIT * spent))
        # Over budget: a write is refused and changes nothing.
        refused = await client.post("/v1/skills", json={"slug": "too-many", "name": "Too many"})
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["status"] == 429
        assert "rate limit" in refused.json()["detail"]
        assert refused.headers["Retry-After"] == str(int(WINDOW / LIMIT))
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert refused.headers["RateLimit-Limit"] == str(LIMIT)

        clock.now += WINDOW / LIMIT  # one token back
        assert (await client.get("/v1/skills")).headers["RateLimit-Remaining"] == "0"
        assert (await client.get("/v1/skills")).status_code == 429
        clock.now += WINDOW  # the whole window: the bucket is full again, never fuller
        for _ in range(LIMIT - 1):
            assert (await client.get("/v1/skills")).status_code == 200
        listed = await client.get("/v1/skills")
        assert listed.headers["RateLimit-Remaining"] == "0"
        assert "too-many" not in [s["slug"] for s in listed.json()["data"]]


async def test_recovery_in_real_time(database_url: str, dialect: str) -> None:
    """The same with the real clock: a one-second window, spent, then a one-second wait."""
    application = make_app(database_url, dialect, 1.0)
    async with application.router.lifespan_context(application):
        key = await new_key(application)
        async with await client_for(application, key) as client:
            statuses = [(await client.get("/v1/skills")).status_code for _ in range(LIMIT + 3)]
            assert 429 in statuses
            await asyncio.sleep(1.0)
            response = await client.get("/v1/skills")
            assert response.status_code == 200
            assert int(response.headers["RateLimit-Remaining"]) >= LIMIT - 1


async def test_postgres_buckets_live_in_the_table(limited_app: FastAPI, dialect: str) -> None:
    limiter = limited_app.state.rate_limiter
    db: Database = limited_app.state.db
    if dialect != "postgresql":
        assert isinstance(limiter, MemoryRateLimiter)
        return
    assert isinstance(limiter, PostgresRateLimiter)
    key = await new_key(limited_app)
    async with await client_for(limited_app, key) as client:
        assert (await client.get("/v1/skills")).status_code == 200
    bucket = "k:" + apps_service.hash_key(key)[:40]
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT tat FROM rate_limit_buckets WHERE key = :k"), {"k": bucket}
            )
        ).all()
    assert len(rows) == 1


async def test_errors_carry_the_headers_too(limited_app: FastAPI) -> None:
    async with await client_for(limited_app, await new_key(limited_app)) as client:
        response = await client.get(f"/v1/mentors/mtr_{'0' * 26}")
        assert response.status_code == 404
        assert response.headers["RateLimit-Remaining"] == str(LIMIT - 1)


async def test_each_key_and_member_has_its_own_bucket(limited_app: FastAPI) -> None:
    key = await new_key(limited_app)
    async with await client_for(limited_app, key) as api:
        skill = await create_skill(api)
        mentor = await create_mentor(api, skills=[{"skill_id": skill["id"], "level": 2}])
        token = await mint_token(api, mentor["external_id"], "mentor")
        assert (await api.get("/v1/skills")).status_code == 429  # the key's 3 are spent
    async with await client_for(limited_app, token) as member:
        for remaining in range(MEMBER_LIMIT - 1, -1, -1):
            response = await member.get("/v1/mentors")
            assert response.status_code == 200
            assert response.headers["RateLimit-Limit"] == str(MEMBER_LIMIT)
            assert response.headers["RateLimit-Remaining"] == str(remaining)
        assert (await member.get("/v1/mentors")).status_code == 429
    # Another app's key is untouched by all of this.
    async with await client_for(limited_app, await new_key(limited_app)) as other:
        assert (await other.get("/v1/skills")).status_code == 200


async def test_unauthenticated_requests_spend_nothing(limited_app: FastAPI) -> None:
    key = await new_key(limited_app)
    async with await client_for(limited_app, "mk_wrong") as wrong:
        for _ in range(LIMIT + 1):
            assert (await wrong.get("/v1/skills")).status_code == 401
    async with await client_for(limited_app, key) as client:
        assert (await client.get("/v1/skills")).headers["RateLimit-Remaining"] == str(LIMIT - 1)


async def test_disabled_means_no_limit_and_no_headers(tenant: conftest.Tenant) -> None:
    for _ in range(LIMIT + 2):
        response = await tenant.client.get("/v1/skills")
        assert response.status_code == 200
        assert "RateLimit-Limit" not in response.headers


async def test_postgres_backend_refuses_sqlite(tmp_path: object) -> None:
    settings = conftest.test_settings(
        f"sqlite+aiosqlite:///{tmp_path}/x.db", rate_limit_backend="postgres"
    )
    application = create_app(settings)
    with pytest.raises(ValueError, match="PostgreSQL"):
        async with application.router.lifespan_context(application):
            pass


async def test_memory_bucket_refills_steadily() -> None:
    now = [1000.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    decisions = [await limiter.hit("k", 4, 2.0) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, True, False]
    assert [d.remaining for d in decisions] == [3, 2, 1, 0, 0]
    assert decisions[-1].retry_after_seconds == pytest.approx(0.5)
    now[0] += 0.5  # one token back (4 per 2 s)
    assert (await limiter.hit("k", 4, 2.0)).allowed
    assert not (await limiter.hit("k", 4, 2.0)).allowed
    now[0] += 10  # long idle: full, never more than the budget
    assert (await limiter.hit("k", 4, 2.0)).remaining == 3
    assert (await limiter.hit("other", 4, 2.0)).remaining == 3


async def test_concurrent_hits_never_overspend(limited_app: FastAPI) -> None:
    # Ten requests at once on one key (separate connections on PostgreSQL): exactly five pass.
    limiter = limited_app.state.rate_limiter
    key = f"test:{id(limiter)}:{asyncio.get_running_loop().time()}"
    decisions = await asyncio.gather(*(limiter.hit(key, 5, 60.0) for _ in range(10)))
    assert sum(d.allowed for d in decisions) == 5
    # Remaining is read against each caller's own clock, so under a race it is only bounded.
    assert all(0 <= d.remaining <= 4 for d in decisions)
    assert all(d.retry_after_seconds > 0 for d in decisions if not d.allowed)


def _skills(*keys: str) -> str:
    return "{ " + " ".join(f"{k}: skills(first: 1) {{ edges {{ cursor }} }}" for k in keys) + " }"


async def test_a_graphql_operation_spends_a_token_per_root_field(
    limited_app: FastAPI, clock: FakeClock
) -> None:
    """Each root field is what one REST request does (a list, a recommendation, a write): an
    operation of aliases spent one token for them all (15 recommendations for one)."""
    async with await client_for(limited_app, await new_key(limited_app)) as client:
        two = _skills("a", "b").replace(" }", " __typename }", 1)  # introspection is free
        answered = await client.post("/graphql", json={"query": two})
        assert answered.status_code == 200, answered.text
        assert "errors" not in answered.json()
        assert answered.headers["RateLimit-Remaining"] == str(LIMIT - 2)
        # Two more when one is left: refused whole, nothing runs.
        refused = await client.post("/graphql", json={"query": two})
        assert refused.status_code == 429
        assert refused.json()["data"] is None
        assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["RATE_LIMITED"]
        assert refused.headers["Retry-After"] == str(int(WINDOW / LIMIT))
        # Fields of one response key merge (one runs), through fragments too: one token.
        merged = "query { s: skills(first: 1) { edges { cursor } } ...F } "
        merged += "fragment F on Query { s: skills(first: 1) { edges { cursor } } }"
        one = await client.post("/graphql", json={"query": merged})
        assert one.status_code == 200, one.text
        assert one.headers["RateLimit-Remaining"] == "0"
        # More root fields than the budget holds take the whole budget (never refused for ever).
        clock.now += WINDOW
        many = await client.post("/graphql", json={"query": _skills("a", "b", "c", "d", "e")})
        assert many.status_code == 200, many.text
        assert many.headers["RateLimit-Remaining"] == "0"
        # REST spends alike: two requests, two tokens.
        clock.now += WINDOW
        for _ in range(2):
            assert (await client.get("/v1/skills")).status_code == 200
        listed = await client.post("/graphql", json={"query": _skills("a")})
        assert listed.headers["RateLimit-Remaining"] == "0"


async def test_a_bucket_takes_several_tokens_at_once(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(clock)
    assert (await limiter.hit("k", 4, 2.0, 3)).remaining == 1
    refused = await limiter.hit("k", 4, 2.0, 2)
    assert not refused.allowed
    assert refused.retry_after_seconds == pytest.approx(0.5)
    assert (await limiter.hit("k", 4, 2.0, 1)).remaining == 0


async def test_more_live_buckets_than_the_bound_do_not_purge_at_every_hit(
    clock: FakeClock,
) -> None:
    """Past MAX_KEYS buckets, every one still live, each hit walked every bucket into a new
    dict (a purge that freed nothing): 100,000 active callers made every request O(100,000)."""

    class Small(MemoryRateLimiter):
        MAX_KEYS = 10

    limiter = Small(clock)
    purges, seen = 0, id(limiter._tat)
    for n in range(1000):
        await limiter.hit(f"caller {n}", 5, 60.0)  # all live: the window has not passed
        if id(limiter._tat) != seen:  # a purge builds the dict anew
            purges, seen = purges + 1, id(limiter._tat)
    assert purges <= 8  # at 11, 22, 44, ... buckets
    clock.now += 61.0  # all full again: the next purge forgets them
    for n in range(2000):
        await limiter.hit(f"later {n}", 5, 60.0)
    assert len(limiter._tat) <= 2 * 2000
    assert "caller 0" not in limiter._tat
