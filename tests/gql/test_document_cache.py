"""Each document text is parsed and validated once (graphql/documents.py): its verdict is kept
with it, so a document read from the cache gets the same answer as the first time, and the
cache keeps to its bounds in entries and in bytes whatever documents callers send."""

import gc
import tracemalloc

from fastapi import FastAPI

from mentorapi.graphql import documents
from mentorapi.graphql.schema import MAX_TOKENS, build_schema
from tests.conftest import Tenant
from tests.gql.helpers import error_codes, gql

DEEP = "{ mentors { edges { node { " + "feedback { " * 12 + "id" + " }" * 12 + " } } } }"


async def test_a_cached_document_is_refused_again(app: FastAPI, tenant: Tenant) -> None:
    """The verdict, not only the parsed document, comes from the cache: a document that broke
    a limit breaks it every time."""
    schema = app.state.graphql_schema
    for _ in range(3):
        body = await gql(tenant.client, DEEP)
        assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body
        assert body["data"] is None
    assert DEEP in schema.documents


async def test_the_operation_is_chosen_per_request(tenant: Tenant) -> None:
    """One text, two requests: the operation to run depends on the request's operationName,
    not on the cached verdict."""
    text = "query A { __typename } query B { __typename }"
    for name, refused in [(None, True), ("A", False), ("C", True), ("B", False)]:
        response = await tenant.client.post("/graphql", json={"query": text, "operationName": name})
        body = response.json()
        assert bool(body.get("errors")) is refused, (name, body)


async def test_valid_documents_stay_valid_from_the_cache(tenant: Tenant) -> None:
    query = "query($n: Int!) { mentors(first: $n) { edges { node { id } } } }"
    for n in (1, 2, 200, 3):
        body = await gql(tenant.client, query, {"n": n})
        # 200 is over the page size: an argument's check, per request, not the document's
        assert bool(body.get("errors")) is (n == 200), body


def _hostile_texts(count: int) -> list[str]:
    """Distinct texts near the token limit, shaped for the most memory per character: one-
    letter names between spaces (a field, a name, a location and a token each)."""
    fields = " ".join("a" for _ in range(MAX_TOKENS - 10))
    return [f"{{ {fields} }} # {i}" for i in range(count)]


async def test_the_cache_keeps_to_its_bounds() -> None:
    """Big documents fill it to its bytes, then many small ones to its entries."""
    schema = build_schema()
    kept = schema.documents
    assert kept is not None
    big = _hostile_texts(40)
    assert 40 * documents.BYTES_PER_DOCUMENT_CHAR * len(big[0]) > kept.max_weight
    small = [f"{{ __typename }} # {i}" for i in range(kept.max_entries + 50)]
    for text in [*big, *small]:
        await schema.execute(text)
        assert len(kept) <= kept.max_entries
        assert kept.weight <= kept.max_weight
    assert big[-1] not in kept
    assert small[-1] in kept
    assert len(kept) == kept.max_entries


def test_the_cache_weighs_what_it_holds() -> None:
    """The byte bound is real memory: far more hostile documents than a 4 MB bound holds,
    parsed and judged as a request does, and what stays is measured."""
    from graphql import parse
    from strawberry.schema.schema import validate_document

    schema = build_schema()
    bound = 4 * 2**20
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = documents.new_documents(max_entries=10**6, max_bytes=bound)
        for text in _hostile_texts(60):
            document = parse(text, max_tokens=MAX_TOKENS)
            errors = documents.check_document(document, schemas_limits()) or validate_document(
                schema._schema, document, ()
            )
            kept.put(text, documents.Verdict(document, tuple(errors)))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept.weight <= bound
    assert len(kept) < 60  # it did drop some
    assert held <= 1.5 * bound, held


def schemas_limits() -> documents.Limits:
    from mentorapi.graphql.schema import LIMITS

    return LIMITS
