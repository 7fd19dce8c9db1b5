"""A GraphQL request leaves no reference cycles behind: its context, loaders and executor are
freed as soon as it ends, as a REST request's objects are, not by the garbage collector.

Under load the cyclic garbage of every request (the context and its loaders holding each other,
graphql-core's executor holding its own bound methods) filled the young generation, and each
collection stalled every request in flight (bench/README.md, "GraphQL's tail")."""

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from mentorapi.graphql.context import Context
from mentorapi.graphql.execution import PlainFieldsExecutor
from mentorapi.graphql.loaders import Loaders
from tests.conftest import Tenant
from tests.factories import create_mentor, create_skill

PAGE = """query { mentors(first: 10) { edges { node {
  id name skills { skill { slug } level } stats { sessionsCompleted }
} } } }"""

PER_REQUEST = (Context, Loaders, PlainFieldsExecutor)


@contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def alive() -> set[int]:
    return {id(o) for o in gc.get_objects() if isinstance(o, PER_REQUEST)}


async def served(client: httpx.AsyncClient, query: str) -> dict[str, Any]:
    """The request in a task of its own, as uvicorn serves it: what it sets in context
    variables stays in its task (the test client would otherwise run it in the test's)."""

    async def post() -> dict[str, Any]:
        response = await client.post("/graphql", json={"query": query})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return await asyncio.create_task(post())


async def test_a_query_leaves_nothing_for_the_collector(tenant: Tenant) -> None:
    skill = await create_skill(tenant.client)
    for _ in range(3):
        await create_mentor(tenant.client, skills=[{"skill_id": skill["id"], "level": 2}])
    await served(tenant.client, PAGE)  # warm: documents, plans, prepared statements
    with collector_off():
        before = alive()
        for _ in range(3):
            body = await served(tenant.client, PAGE)
            assert "errors" not in body
            assert len(body["data"]["mentors"]["edges"]) == 3
        assert alive() - before == set()
