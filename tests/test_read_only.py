"""GET requests run in a read-only unit of work (on PostgreSQL without BEGIN/COMMIT): a write
there is refused before it runs, since under autocommit nothing would roll it back."""

import pytest
from sqlalchemy import text

from mentorapi.db.engine import Database, ReadOnlyViolation
from tests.conftest import Tenant, count_statements, own
from tests.factories import create_skill


async def test_a_write_in_a_read_session_is_refused_and_changes_nothing(
    db: Database, tenant: Tenant
) -> None:
    skill = await create_skill(tenant.client, name="Before")
    async with db.read_sessionmaker() as session:
        connection = await session.connection()
        with pytest.raises(ReadOnlyViolation):
            await connection.execute(
                text("UPDATE skills SET name = 'After' WHERE app_id = :app_id AND id = :id"),
                {"app_id": tenant.id, "id": skill["id"]},
            )
    response = await tenant.client.get(f"/v1/skills/{skill['id']}")
    assert response.json()["name"] == "Before"


async def test_reads_still_see_committed_writes_at_once(tenant: Tenant) -> None:
    created = await create_skill(tenant.client, name="Fresh")
    with count_statements() as statements:
        response = await tenant.client.get(f"/v1/skills/{created['id']}")
    assert response.status_code == 200
    assert response.json()["name"] == "Fresh"
    # Transaction control is not counted, only queries: the skill (and the key, unless this
    # process remembers it).
    assert len(own(statements)) == 1, statements


async def test_postgres_reads_run_without_a_transaction(db: Database, dialect: str) -> None:
    async with db.read_sessionmaker() as session:
        connection = await session.connection()
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
        driver = (await connection.get_raw_connection()).driver_connection
        if dialect == "postgresql":
            assert not driver.is_in_transaction()  # asyncpg: no BEGIN was sent
        else:
            # SQLite keeps a (deferred, lock-free until it reads) transaction: reads see one
            # snapshot and never wait for writers in WAL mode.
            assert driver._conn.in_transaction


async def test_fast_reads_of_a_read_only_session_borrow_a_pooled_connection(
    db: Database, tenant: Tenant, dialect: str
) -> None:
    """On PostgreSQL a read-only session that holds no connection runs db.fast's statements on
    one borrowed from the pool (the same read under autocommit) and never opens its own; a
    write session, and SQLite, use the session's connection."""
    from sqlalchemy import bindparam, select

    from mentorapi.db import fast
    from mentorapi.skills.models import Skill

    skill = await create_skill(tenant.client, name="Fresh")
    statement = select(Skill.name).where(
        Skill.app_id == bindparam("app_id"),  # type: ignore[arg-type]
        Skill.id == bindparam("id"),  # type: ignore[arg-type]
    )
    makers = [(db.read_sessionmaker, dialect == "postgresql"), (db.sessionmaker, False)]
    for maker, borrows in makers:
        async with maker() as session:
            with count_statements() as statements:
                rows = await fast.fetch(
                    session, statement, {"app_id": tenant.id, "id": skill["id"]}
                )
            assert [tuple(r) for r in rows] == [("Fresh",)]
            assert len(statements) == 1
            assert session.in_transaction() is not borrows
            if dialect == "postgresql":
                # The borrowed connection is back in the pool; the session's own is out.
                assert db.engine.pool.checkedout() == (0 if borrows else 1)  # type: ignore[attr-defined]
