"""A GraphQL query over HTTP reads in a read-only unit of work, as a REST GET does
(db/uow.py): on SQLite a deferred BEGIN, so it never waits behind a writer; on PostgreSQL no
BEGIN/COMMIT. Mutations still write in one transaction."""

import asyncio

from sqlalchemy import text

from mentorapi.db.engine import Database
from tests.conftest import Tenant
from tests.factories import create_mentor
from tests.gql.helpers import gql_data


async def test_a_query_does_not_wait_behind_a_writer(db: Database, tenant: Tenant) -> None:
    """A writer holds SQLite's write lock (PostgreSQL: the mentor's row) while a query reads
    the mentor. Before, the query began IMMEDIATE like a writer and waited up to the busy
    timeout (30 s) for the lock."""
    mentor = await create_mentor(tenant.client, name="Before")
    query = "query($id: ID!) { mentor(id: $id) { name } }"
    async with db.sessionmaker() as writer, writer.begin():
        await (await writer.connection()).execute(
            text("UPDATE mentors SET name = 'During' WHERE app_id = :app AND id = :id"),
            {"app": tenant.id, "id": mentor["id"]},
        )
        data = await asyncio.wait_for(gql_data(tenant.client, query, {"id": mentor["id"]}), 5)
        assert data["mentor"]["name"] == "Before"  # the writer has not committed
    data = await gql_data(tenant.client, query, {"id": mentor["id"]})
    assert data["mentor"]["name"] == "During"


async def test_a_mutation_still_commits_its_change(tenant: Tenant) -> None:
    mentor = await create_mentor(tenant.client, name="Before")
    data = await gql_data(
        tenant.client,
        'mutation($id: ID!) { updateMentor(id: $id, input: {name: "After"}) { name version } }',
        {"id": mentor["id"]},
    )
    assert data["updateMentor"] == {"name": "After", "version": mentor["version"] + 1}
    response = await tenant.client.get(f"/v1/mentors/{mentor['id']}")
    assert response.json()["name"] == "After"
