"""Introspection, open to anyone, is executed once per query text: the dearest document a
caller without credentials may send costs what encoding its answer costs."""

import httpx
from fastapi import FastAPI
from graphql import get_introspection_query

from mentorapi.graphql import introspection
from tests.conftest import Tenant
from tests.gql.helpers import error_codes


def _answers(app: FastAPI) -> introspection.Answers:
    answers = app.state.graphql_schema.introspection_answers
    assert answers is not None
    return answers


async def test_the_same_introspection_is_answered_from_the_memo(
    app: FastAPI, anon: httpx.AsyncClient
) -> None:
    answers = _answers(app)
    query = get_introspection_query(descriptions=True)
    first = await anon.post("/graphql", json={"query": query})
    assert first.status_code == 200
    assert first.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    kept = len(answers)
    assert kept >= 1
    again = await anon.post("/graphql", json={"query": query})
    assert again.content == first.content
    assert len(answers) == kept  # a hit, not a second entry


async def test_the_memo_stays_bounded(app: FastAPI, anon: httpx.AsyncClient) -> None:
    answers = _answers(app)
    for n in range(introspection.MAX_ANSWERS + 20):
        query = f'{{ __type(name: "Mentor") {{ name }} a{n}: __typename }}'
        assert (await anon.post("/graphql", json={"query": query})).status_code == 200
    assert 0 < len(answers) <= introspection.MAX_ANSWERS


async def test_a_query_with_data_is_never_memoised(tenant: Tenant, anon: httpx.AsyncClient) -> None:
    query = "{ __typename app { id } }"
    mine = (await tenant.client.post("/graphql", json={"query": query})).json()
    assert mine["data"]["app"]["id"] == tenant.id
    # The same text without credentials: refused, not someone else's answer.
    theirs = (await anon.post("/graphql", json={"query": query})).json()
    assert error_codes(theirs) == ["UNAUTHENTICATED"]
