"""Per-request DataLoaders batch what many resolvers ask for into one query."""

import asyncio

from fastapi import FastAPI

from mentorapi.db.engine import Database
from mentorapi.graphql.context import Context
from tests.conftest import Tenant, count_statements
from tests.factories import create_mentor, create_skill
from tests.gql.helpers import graphql_request


async def test_loaders_batch_and_stay_in_the_app(
    app: FastAPI, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    skills = [await create_skill(tenant.client) for _ in range(3)]
    theirs = await create_skill(other_tenant.client)
    mentor = await create_mentor(tenant.client, skills=[{"skill_id": skills[0]["id"]}])
    context = Context(db, graphql_request(app, f"Bearer {tenant.key}"))
    try:
        await context.app()
        with count_statements() as statements:
            found = await asyncio.gather(
                *(context.loaders.skill.load(s["id"]) for s in skills),
                context.loaders.skill.load(theirs["id"]),
                context.loaders.mentor_skills.load(mentor["id"]),
                context.loaders.mentor_skills.load("mtr_00000000000000000000000000"),
            )
        assert [s.id for s in found[:3]] == [s["id"] for s in skills]  # type: ignore[union-attr]
        assert found[3] is None  # another app's skill is not found
        assert [link.skill.id for link in found[4]] == [skills[0]["id"]]  # type: ignore[union-attr]
        assert found[5] == []
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2
    finally:
        await context.finish(commit=False)
        await context.close()
