"""Per-request DataLoaders batch what many resolvers ask for into one query."""

import asyncio
import gc

from fastapi import FastAPI
from strawberry.dataloader import DataLoader

from mentorapi.db.engine import Database
from mentorapi.graphql.context import Context
from mentorapi.graphql.loaders import load_all
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


async def test_load_all_batches_caches_and_raises_like_load_many() -> None:
    """loaders.load_all: the keys of one call (and of a concurrent load) in one batch, in
    order, cached; a failed batch raises its error there, and leaves no future whose error
    nobody retrieved (asyncio would log each one)."""
    batches: list[list[str]] = []

    async def double(keys: list[str]) -> list[str]:
        batches.append(keys)
        return [key * 2 for key in keys]

    loader: DataLoader[str, str] = DataLoader(double)
    found, alone = await asyncio.gather(load_all(loader, ["a", "b", "c"]), loader.load("d"))
    assert (found, alone) == (["aa", "bb", "cc"], "dd")
    assert [sorted(keys) for keys in batches] == [["a", "b", "c", "d"]]
    assert await load_all(loader, ["c", "a"]) == ["cc", "aa"]
    assert len(batches) == 1

    async def broken(keys: list[str]) -> list[str]:
        raise RuntimeError("the database went away (test)")

    async def failure() -> str:
        try:
            await load_all(DataLoader(broken), ["a", "b", "c"])
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    unretrieved: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))
    try:
        assert await failure() == "the database went away (test)"
        for _ in range(3):  # the batch's task ends, then its futures go: each logs an error
            gc.collect()  # nobody read
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert unretrieved == []


async def test_loaders_are_made_when_first_asked_for_and_kept(app: FastAPI, db: Database) -> None:
    """A request's loaders are made at first use (a page uses one or two of eighteen), and a
    loader asked for twice is the same one: its batch and cache are the request's."""
    context = Context(db, graphql_request(app, "Bearer nothing"))
    try:
        loaders = context.loaders
        assert not any(isinstance(v, DataLoader) for v in vars(loaders).values())
        assert loaders.mentor is loaders.mentor
        assert loaders.mentor is not loaders.mentee
        assert [v for v in vars(loaders).values() if isinstance(v, DataLoader)] == [
            loaders.mentor,
            loaders.mentee,
        ]
    finally:
        await context.close()
