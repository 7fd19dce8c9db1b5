"""mentorapi through PgBouncer in transaction mode (issue #14, part 3), on PostgreSQL.

The app's pool goes through PgBouncer (MENTORAPI_DATABASE_URL) with fewer server connections
than clients, so server connections really are shared between clients; LISTEN (the key cache,
the webhook worker) goes straight to PostgreSQL (MENTORAPI_DIRECT_DATABASE_URL). The flow runs
with asyncpg's statement cache on (only where PgBouncer >= 1.21 keeps prepared statements per
client: `max_prepared_statements`) and off (any PgBouncer). With the cache on behind a
PgBouncer without `max_prepared_statements`, the same flow fails (the concurrent reads:
'prepared statement "__asyncpg_stmt_82__" does not exist'): that is what the setting is for.
"""

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import Integer, bindparam, literal_column, select

from mentorapi.db import fast
from mentorapi.db.engine import create_database
from mentorapi.db.listen import asyncpg_dsn
from mentorapi.main import create_app
from mentorapi.webhooks import worker
from tests.conftest import make_tenant, running
from tests.conftest import test_settings as settings_for
from tests.factories import bookable, create_mentee, create_mentor, create_skill, unique
from tests.fleet import pgbouncer
from tests.gql.helpers import gql_data
from tests.webhooks.conftest import create_endpoint, send_test
from tests.webhooks.receiver import Receiver

MONDAY_9 = "2027-01-11T08:00:00Z"  # 09:00 in Berlin
WEEK = {"start": "2027-01-11T00:00:00Z", "end": "2027-01-18T00:00:00Z"}
CONCURRENT = 20  # bookings of one slot at once: five times PgBouncer's server connections


@pytest.fixture(scope="module")
def bouncer_binary() -> str:
    if pgbouncer.BINARY is None:
        if os.environ.get("MENTORAPI_REQUIRE_PGBOUNCER") == "1":
            pytest.fail("MENTORAPI_REQUIRE_PGBOUNCER=1 but no pgbouncer binary is installed")
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer); CI requires it")
    return pgbouncer.BINARY


@pytest.fixture(params=["statement cache on", "statement cache off"])
def statement_cache(request: pytest.FixtureRequest, bouncer_binary: str) -> bool:
    on = bool(request.param == "statement cache on")
    found = pgbouncer.version(bouncer_binary)
    if on and found < pgbouncer.PREPARED_STATEMENTS_SINCE:
        pytest.skip(
            f"PgBouncer {found[0]}.{found[1]} has no max_prepared_statements (1.21+): "
            "the statement cache must be off behind it"
        )
    return on


@pytest.fixture
def bouncer_url(database_url: str, bouncer_binary: str, statement_cache: bool) -> Iterator[str]:
    if not database_url.startswith("postgresql"):
        pytest.skip("PgBouncer pools PostgreSQL connections; SQLite has none")
    prepared = 200 if statement_cache else 0
    with pgbouncer.running(
        database_url, binary=bouncer_binary, max_prepared_statements=prepared
    ) as url:
        yield url


@pytest.fixture
async def pooled_app(
    database_url: str, bouncer_url: str, statement_cache: bool, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FastAPI]:
    # The worker's fallback poll out of the way: a delivery within the test's wait proves
    # that the NOTIFY reached its LISTEN.
    monkeypatch.setattr(worker, "POSTGRES_POLL_SECONDS", 60.0)
    settings = settings_for(
        bouncer_url,
        direct_database_url=database_url,
        database_statement_cache=statement_cache,
        webhook_worker_enabled=True,
        db_pool_size=CONCURRENT,
    )
    async with running(create_app(settings)) as application:
        yield application


async def test_the_whole_flow_through_pgbouncer_in_transaction_mode(
    pooled_app: FastAPI, database_url: str, bouncer_url: str, statement_cache: bool
) -> None:
    async for tenant in make_tenant(pooled_app, "pgbouncer"):
        client = tenant.client
        # Mentor list and slots: the lean routes, on asyncpg straight (db/fast.py).
        base = await bookable(client, auto_accept=False)
        for _ in range(3):  # again and again: a statement prepared once is used again
            listed = await client.get("/v1/mentors")
            assert listed.status_code == 200, listed.text
            assert [m["id"] for m in listed.json()["data"]] == [base["mentor_id"]]
            slots = await client.get(
                f"/v1/mentors/{base['mentor_id']}/slots", params={**WEEK, "duration": 30}
            )
            assert slots.status_code == 200, slots.text
            assert MONDAY_9 in [s["starts_at"] for s in slots.json()["data"]]

        # Book, accept, and a 409 for the same slot.
        booked = await client.post("/v1/sessions", json={**base, "starts_at": MONDAY_9})
        assert booked.status_code == 201, booked.text
        accepted = await client.post(f"/v1/sessions/{booked.json()['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "booked"
        again = await client.post("/v1/sessions", json={**base, "starts_at": MONDAY_9})
        assert again.status_code == 409, again.text

        # Many bookings of one slot at once, each on a connection of its own: exactly one wins.
        other = await bookable(client)
        mentees = [await create_mentee(client) for _ in range(CONCURRENT)]
        answers = await asyncio.gather(
            *(
                client.post(
                    "/v1/sessions",
                    json={**other, "mentee_id": m["id"], "starts_at": MONDAY_9},
                )
                for m in mentees
            )
        )
        codes = [a.status_code for a in answers]
        assert codes.count(201) == 1, codes
        assert codes.count(409) == CONCURRENT - 1, codes

        # The hot reads at concurrency, round after round: the same statements, on clients
        # and server connections that PgBouncer pairs differently every time.
        for _ in range(3):
            reads = await asyncio.gather(
                *(
                    client.get(path, params=params)
                    for path, params in [
                        ("/v1/mentors", {}),
                        (f"/v1/mentors/{other['mentor_id']}/slots", {**WEEK, "duration": 30}),
                        (f"/v1/sessions/{booked.json()['id']}", {}),
                    ]
                    * (CONCURRENT // 2)
                )
            )
            assert [r.status_code for r in reads] == [200] * len(reads), reads[0].text

        # GraphQL: a mutation and a query.
        slug = unique("gql-skill")
        created = await gql_data(
            client,
            'mutation ($slug: String!) { createSkill(input: {slug: $slug, name: "x"}) { id } }',
            {"slug": slug},
        )
        mentor = await gql_data(
            client, "query ($id: ID!) { mentor(id: $id) { id } }", {"id": other["mentor_id"]}
        )
        assert created["createSkill"]["id"].startswith("skl_")
        assert mentor["mentor"]["id"] == other["mentor_id"]

        # The webhook worker (LISTEN on the direct connection) delivers an event.
        async with Receiver() as receiver:
            endpoint = await create_endpoint(tenant, receiver.url())
            await send_test(tenant, endpoint["id"])
            delivered = await receiver.wait_count(1)
        assert b'"type":"webhook.test"' in delivered[0].body
        assert endpoint["id"].encode() in delivered[0].body

        # The key cache (LISTEN on the direct connection) forgets a key revoked by another
        # process (here a connection of its own: this process's own writes it sees anyway).
        assert (await client.get("/v1/app")).status_code == 200  # remembered
        elsewhere = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await elsewhere.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE app_id = $1", tenant.id
            )
        finally:
            await elsewhere.close()
        await _until_refused(client)

    if not statement_cache:
        # Nothing prepared is left on PgBouncer's server connections (asyncpg's unnamed
        # statement only): a named one would stay there, unclosed, for the life of the server.
        assert await _prepared_on_servers(bouncer_url) == {0}


async def _prepared_on_servers(bouncer_url: str) -> set[int]:
    """pg_prepared_statements of the server connections, as PgBouncer hands them out."""
    connection = await asyncpg.connect(asyncpg_dsn(bouncer_url), statement_cache_size=0)
    try:
        return {
            await connection.fetchval("SELECT count(*) FROM pg_prepared_statements")
            for _ in range(20)
        }
    finally:
        await connection.close()


async def _until_refused(client: Any) -> None:
    async with asyncio.timeout(5):
        while (response := await client.get("/v1/app")).status_code != 401:
            assert response.status_code == 200, response.text
            await asyncio.sleep(0.01)


async def test_migrate_runs_on_the_direct_url(database_url: str) -> None:
    """`mentorapi migrate` connects to MENTORAPI_DIRECT_DATABASE_URL: the main URL here leads
    nowhere (a closed port), as a pooler that cannot hold a session is no place for DDL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # free, and nothing listens there once the socket closes
    env = {
        **os.environ,
        "MENTORAPI_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{closed}/nowhere",
        "MENTORAPI_DIRECT_DATABASE_URL": database_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mentorapi.cli",
        "migrate",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, out.decode()
    assert b"database is at the latest migration" in out


@pytest.fixture
def bouncer_off_url(database_url: str, bouncer_binary: str) -> Iterator[str]:
    """PgBouncer without prepared statements: the statement cache off, as behind 1.18."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PgBouncer pools PostgreSQL connections; SQLite has none")
    with pgbouncer.running(database_url, binary=bouncer_binary) as url:
        yield url


async def test_fast_reads_describe_each_statement_once_per_connection(
    database_url: str, bouncer_off_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the cache off, db/fast.py keeps what asyncpg learnt describing a statement, per
    connection: later runs are one round trip (Parse, Bind, Execute), not two. Three pages
    (all, and by either of two skills), 8 at a time on 8 client connections over PgBouncer's 4
    server connections, where each server's unnamed statement is replaced by other clients'
    between two runs: every page is right, and each statement was described at most once per
    client connection."""
    described: list[str] = []
    original = asyncpg.Connection.prepare

    async def counting(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        described.append(query)
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "prepare", counting)
    settings = settings_for(
        bouncer_off_url,
        direct_database_url=database_url,
        database_statement_cache=False,
        db_pool_size=8,
    )
    async with running(create_app(settings)) as application:
        async for tenant in make_tenant(application, "described"):
            client = tenant.client
            skills = [await create_skill(client) for _ in range(2)]
            offered: dict[str, list[str]] = {s["slug"]: [] for s in skills}
            for n in range(6):
                skill = skills[n % 2]
                mentor = await create_mentor(client, skills=[{"skill_id": skill["id"]}])
                offered[skill["slug"]].append(mentor["id"])
            everyone = sorted(m for ids in offered.values() for m in ids)
            shapes: list[tuple[dict[str, Any], list[str]]] = [
                ({}, everyone),
                *(({"skill": slug}, sorted(ids)) for slug, ids in offered.items()),
            ]
            runs = 0
            for _ in range(5):
                asks = [shapes[i % len(shapes)] for i in range(8)]
                pages = await asyncio.gather(
                    *(client.get("/v1/mentors", params=params) for params, _ in asks)
                )
                for page, (_, expected) in zip(pages, asks, strict=True):
                    assert page.status_code == 200, page.text
                    assert [m["id"] for m in page.json()["data"]] == expected
                    runs += 1
    # Two statements: the first page, and a page by skill (either skill: the same SQL).
    pages = [sql for sql in described if "LIMIT 21" in sql]
    per_statement = {sql: pages.count(sql) for sql in pages}
    assert len(per_statement) == 2
    assert all(count <= 8 for count in per_statement.values()), per_statement
    assert runs == 40  # against at most 16 descriptions


async def test_a_failed_fast_read_is_described_afresh(
    database_url: str, bouncer_off_url: str
) -> None:
    settings = settings_for(
        bouncer_off_url, direct_database_url=database_url, database_statement_cache=False
    )
    database = create_database(settings)
    statement = select(literal_column("10") / bindparam("d", type_=Integer))
    try:
        async with database.sessionmaker() as session:
            assert await fast.fetch(session, statement, {"d": 5}) == [(2,)]
            raw = await (await session.connection()).get_raw_connection()
            sql = next(iter(raw.info[fast._DESCRIBED]._entries))
            with pytest.raises(asyncpg.DivisionByZeroError):
                await fast.fetch(session, statement, {"d": 0})
            assert raw.info[fast._DESCRIBED].get(sql) is None
        async with database.sessionmaker() as session:
            assert await fast.fetch(session, statement, {"d": 2}) == [(5,)]
    finally:
        await database.dispose()
