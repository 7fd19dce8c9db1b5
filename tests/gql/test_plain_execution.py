"""graphql/execution.py reads plain fields directly: the answers (data and errors) must be the
ones graphql-core gives, for any document, and for data that breaks the types.

The schema here has every kind of field the executor tells apart: scalars and enums (nullable
or not, values that do not fit), lists (of lists, of nulls, tuples, sets, generators), plain
objects, objects behind a resolver, an interface, a field with a permission class, an
awaitable where a value should be. Every document runs through strawberry's own executor and
through ours; the two answers must be equal.
"""

import asyncio
import gc
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import Enum, IntEnum, StrEnum
from typing import Any, ClassVar

import pytest
import strawberry
from fastapi import FastAPI
from graphql import (
    GraphQLBoolean,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLResolveInfo,
    GraphQLString,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from mentorapi.graphql import execution
from mentorapi.graphql.execution import PlainFieldsExecutor, leaf_completion, read_field
from tests.conftest import Tenant
from tests.factories import create_mentor, create_skill
from tests.gql.helpers import gql_data


@strawberry.enum
class Color(Enum):
    RED = "red"
    GREEN = "green"


class Tag(str):
    pass


class Size(IntEnum):
    BIG = 3


class Deny(BasePermission):
    message = "not for you"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Pet(Named):
    kind: str


@strawberry.type
class Leaf:
    name: str
    maybe: str | None
    count: int
    ratio: float | None
    flag: bool
    color: Color
    maybe_color: Color | None
    ident: strawberry.ID
    when: datetime
    tags: list[str]
    maybe_tags: list[str | None] | None


@strawberry.type
class Node:
    leaf: Leaf
    maybe_leaf: Leaf | None
    leaves: list[Leaf]
    maybe_leaves: list[Leaf | None] | None
    grid: list[list[int]]
    pets: list[Named]
    guarded: str = strawberry.field(permission_classes=[Deny])
    # Plain data (execution.read_field): dicts standing for Leaf objects.
    plain: Leaf | None = None
    plains: list[Leaf | None] = strawberry.field(default_factory=list)

    @strawberry.field
    def times(self, n: int = 2) -> int:
        return len(self.leaf.name) * n if isinstance(self.leaf.name, str) else n

    @strawberry.field
    async def later(self) -> Leaf:
        await asyncio.sleep(0)
        return self.leaf

    @strawberry.field
    def first_leaves(self, first: int = 1) -> list[Leaf]:
        return list(self.leaves)[:first]


def _leaf(i: int, **changes: Any) -> Leaf:
    values: dict[str, Any] = {
        "name": f"leaf {i}",
        "maybe": None if i % 2 else "yes",
        "count": i,
        "ratio": i / 3 if i % 3 else None,
        "flag": bool(i % 2),
        "color": Color.RED if i % 2 else Color.GREEN,
        "maybe_color": None,
        "ident": strawberry.ID(f"id-{i}"),
        "when": datetime(2026, 1, 1 + i % 28, 12, tzinfo=UTC),
        "tags": [f"t{j}" for j in range(i % 3)],
        "maybe_tags": None if i % 2 else ["a", None],
    }
    values.update(changes)
    return Leaf(**values)


class SubLeaf(Leaf):
    """A value of a subclass of its type's class (as strawberry's generic edges are)."""


def _plain(i: int, **changes: Any) -> dict[str, Any]:
    """A Leaf as plain data: its fields by their Python names, in a dict."""
    return {**vars(_leaf(i)), **changes}


def _soon(value: Any) -> "asyncio.Future[Any]":
    """An awaitable that needs no awaiting (a coroutine left unawaited warns)."""
    future = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def _generated(n: int) -> Iterator[int]:
    yield from range(n)


def _nodes() -> list[Node]:
    """A fresh batch (awaitables and generators are used once)."""
    bad_leaves = [
        _leaf(10, name=None),  # null for a non-null String
        _leaf(11, count="eleven"),  # not an Int
        _leaf(12, count=2**40),  # an Int out of range
        _leaf(13, ratio=math.nan),  # not a finite Float
        _leaf(14, color="blue"),  # not a Color
        _leaf(15, tags=None),  # null for a non-null list
        _leaf(16, tags=("a", "b")),  # a tuple is a list
        _leaf(17, tags={"only"}),  # any iterable is a list, for graphql-core
        _leaf(18, tags=[None]),  # null inside a list of non-null
        _leaf(19, maybe=_soon("awaited")),  # an awaitable where a value should be
        _leaf(20, when="2026-01-01"),  # not a datetime
        _leaf(21, maybe_tags=["x", None, 3]),
        _leaf(22, tags="abc"),  # a string is not a list
        _leaf(23, maybe_tags={"k": "v"}),  # nor is a mapping
        # Values a scalar's coercion changes or refuses, next to the ones it returns as they
        # are (execution.leaf_completion returns those at once).
        _leaf(24, name=5, maybe=True, ident=7),  # an int and a bool as String, an int as ID
        _leaf(25, count=True, flag=1),  # a bool as Int, an int as Boolean
        _leaf(26, name=Tag("tagged"), ident=Tag("id")),  # a str subclass
        _leaf(27, count=-(2**31)),  # the smallest Int
        _leaf(28, count=2**31),  # one past the largest
        _leaf(29, count=Size.BIG),  # an int subclass
        _leaf(30, count=3.0, maybe=2.5),  # floats
    ]
    nodes = [
        Node(
            leaf=_leaf(i),
            maybe_leaf=_leaf(i + 100) if i % 2 else None,
            leaves=[_leaf(i * 10 + j) for j in range(3)],
            maybe_leaves=[_leaf(i), None] if i % 2 else None,
            grid=[[i, i + 1], [i + 2]],
            pets=[Pet(name=f"pet {i}", kind="cat")],
            guarded="secret",
            plain=_plain(i) if i % 2 else None,  # type: ignore[arg-type]
            plains=[_plain(i + 40), SubLeaf(**vars(_leaf(i + 50))), None],  # type: ignore[list-item]
        )
        for i in range(3)
    ]
    nodes.append(
        Node(
            leaf=bad_leaves[0],
            maybe_leaf=bad_leaves[1],
            leaves=bad_leaves,
            maybe_leaves=[*bad_leaves, None],
            grid=[[1], _generated(3), [None]],  # type: ignore[list-item]
            pets=[Pet(name="pet", kind="dog")],
            guarded="secret",
            plain=_plain(31, name=None),  # type: ignore[arg-type]
            plains=[
                _plain(32, count="many"),
                {"name": "no other key"},
                _plain(33, maybe=_soon("awaited")),
                {**_plain(34), "extra": "ignored"},
                _plain(35, tags=None),
            ],  # type: ignore[list-item]
        )
    )
    nodes.append(
        Node(
            leaf=_leaf(5),
            maybe_leaf=None,
            leaves=None,
            maybe_leaves=None,
            grid=[],
            pets=[],
            guarded="x",
        )
    )  # type: ignore[arg-type]
    return nodes


@strawberry.type
class Query:
    @strawberry.field
    def nodes(self) -> list[Node]:
        return _nodes()

    @strawberry.field
    def maybe_nodes(self) -> list[Node | None] | None:
        return [*_nodes(), None]

    @strawberry.field
    def node(self) -> Node:
        return _nodes()[0]

    @strawberry.field
    def broken_node(self) -> Node:
        return _nodes()[3]

    leaf_field: Leaf = strawberry.field(default_factory=lambda: _leaf(1))


class EagerPlainFieldsExecutor(PlainFieldsExecutor):
    """Plans every execution, the first of an operation included: each document here is
    parsed anew, and the service leaves an operation's first execution to graphql-core
    (tests/security/test_compile_budget.py)."""

    plan_first_execution = True


# The service's default resolver (graphql/schema.py), for graphql-core's reads as for ours.
CONFIG = StrawberryConfig(default_resolver=read_field)
CORE = strawberry.Schema(query=Query, types=[Pet], config=CONFIG)
PLAIN = strawberry.Schema(
    query=Query, types=[Pet], execution_context_class=EagerPlainFieldsExecutor, config=CONFIG
)

LEAF = "name maybe count ratio flag color maybeColor ident when tags maybeTags __typename"
DOCUMENTS = [
    f"{{ nodes {{ leaf {{ {LEAF} }} }} }}",
    f"{{ maybeNodes {{ maybeLeaf {{ {LEAF} }} leaves {{ {LEAF} }} }} }}",
    f"{{ brokenNode {{ leaf {{ name }} maybeLeaf {{ {LEAF} }} }} }}",
    f"{{ brokenNode {{ leaves {{ {LEAF} }} }} }}",
    f"{{ brokenNode {{ maybeLeaves {{ {LEAF} }} grid }} }}",
    f"{{ nodes {{ maybeLeaves {{ {LEAF} }} grid pets {{ name __typename }} }} }}",
    "{ nodes { guarded leaf { name } } }",
    "{ nodes { times t3: times(n: 3) later { name count } firstLeaves(first: 2) { name } } }",
    "{ a: nodes { leaf { n: name name } } b: nodes { leaf { count } leaf { name } } }",
    "{ nodes { ...F leaf { ... on Leaf { tags } } } } fragment F on Node { leaf { name } }",
    "query($y: Boolean!) { nodes { leaf { name @include(if: $y) count @skip(if: $y) } } }",
    f"{{ leafField {{ {LEAF} }} __typename node {{ __typename leaf {{ __typename }} }} }}",
    f"{{ nodes {{ plain {{ {LEAF} }} plains {{ {LEAF} }} }} }}",
    f"{{ brokenNode {{ plain {{ {LEAF} }} }} }}",
    f"{{ brokenNode {{ plains {{ {LEAF} }} }} }}",
    "{ brokenNode { plains { name } } }",
    "{ node { pets { ... on Pet { kind } name } } }",
]


def _answer(result: Any) -> dict[str, Any]:
    errors = sorted((str(e.path), e.message, str(e.locations)) for e in (result.errors or []))
    return {"data": result.data, "errors": errors}


async def _both(document: str, variables: dict[str, Any] | None = None) -> tuple[Any, Any]:
    core = await CORE.execute(document, variable_values=variables, root_value=Query())
    plain = await PLAIN.execute(document, variable_values=variables, root_value=Query())
    return _answer(core), _answer(plain)


@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize("flag", [True, False])
async def test_plain_reads_answer_as_graphql_core_does(document: str, flag: bool) -> None:
    core, plain = await _both(document, {"y": flag} if "$y" in document else None)
    assert plain == core


async def test_the_documents_meet_every_kind_of_error() -> None:
    """The comparison above is only worth something if the data breaks the types."""
    found = set()
    for document in DOCUMENTS:
        core, _ = await _both(document, {"y": True} if "$y" in document else None)
        found.update(message.split(" ")[0] for _, message, _ in core["errors"])
    assert {"Cannot", "Int", "Float", "Enum", "not"} <= found, found


# The same text parsed once, as graphql/documents.py's cache hands a document over: executions
# of one document may share their plans (execution._shared_plan).
SHARED = strawberry.Schema(
    query=Query,
    types=[Pet],
    extensions=[ParserCache],
    execution_context_class=EagerPlainFieldsExecutor,
    config=CONFIG,
)


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_plans_shared_by_executions_answer_as_graphql_core_does(
    document: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An execution of a document run before plans nothing anew, unless its variables could
    change what is selected (@include, @skip): every answer is graphql-core's, whatever the
    variables of the executions before it."""
    planned: list[str] = []
    original = PlainFieldsExecutor._plan_completion

    def counting(self: PlainFieldsExecutor, type_: Any, fields: Any) -> Any:
        planned.append(str(type_))
        return original(self, type_, fields)

    monkeypatch.setattr(PlainFieldsExecutor, "_plan_completion", counting)
    for run, flag in enumerate((True, False, True, False)):
        variables = {"y": flag} if "$y" in document else None
        planned.clear()
        core = await CORE.execute(document, variable_values=variables, root_value=Query())
        shared = await SHARED.execute(document, variable_values=variables, root_value=Query())
        assert _answer(shared) == _answer(core)
        if run > 0:
            assert (planned != []) == ("@" in document), planned


async def test_plans_live_no_longer_than_their_operation() -> None:
    """Shared plans hang off their operation, weakly: a document parsed for one request (no
    cache keeps it) takes its plans with it, whatever clients send."""
    gc.collect()
    before = len(execution._OPERATIONS)
    for i in range(50):
        # No errors: a logged error's traceback (kept by the test's log capture) holds on to
        # the executor, and so to the operation.
        document = f"{{ node {{ leaf {{ name count }} n{i}: grid }} }}"
        core, plain = await _both(document)
        assert plain == core
        assert not plain["errors"]
    gc.collect()
    assert len(execution._OPERATIONS) <= before


SDL = CORE.as_str()


async def _settled() -> None:
    """Until every other task of this loop is done: graphql-core's own executor (CORE) returns
    before the resolvers of fields an error propagated past, which it settles in tasks of
    their own; asyncio.run would cancel those before they start (coroutines never awaited)."""
    while others := asyncio.all_tasks() - {asyncio.current_task()}:
        await asyncio.wait(others)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(document=queries(SDL))
def test_any_document_answers_as_graphql_core_does(document: str) -> None:
    async def both() -> tuple[Any, Any]:
        answers = await _both(document)
        await _settled()
        return answers

    core, plain = asyncio.run(both())
    assert plain == core


@strawberry.type
class Race:
    broken: str  # None: an error that propagates to `race`, past `slow`

    @strawberry.field
    async def slow(self, info: strawberry.Info) -> str:
        await asyncio.sleep(0.01)
        info.context["finished"].append("slow")
        return "done"


@strawberry.type
class RaceQuery:
    @strawberry.field
    def race(self) -> Race:
        return Race(broken=None)  # type: ignore[arg-type]


async def test_an_execution_returns_once_every_resolver_it_started_has_finished() -> None:
    """An error that propagates past a pending sibling: graphql-core would answer at once and
    leave the sibling running in the background, after the operation's unit of work ended."""
    schema = strawberry.Schema(query=RaceQuery, execution_context_class=PlainFieldsExecutor)
    finished: list[str] = []
    result = await schema.execute("{ race { slow broken } }", context_value={"finished": finished})
    assert result.data is None
    assert result.errors
    assert finished == ["slow"]


@strawberry.enum
class Shade(StrEnum):
    DARK = "dark"
    ALSO_DARK = "dark"  # an alias: the same member
    LIGHT = "light"


# strawberry's enum types, as the schema converted them (CustomGraphQLEnumType).
COLOR = CORE._schema.get_type("Color")
SHADE = strawberry.Schema(query=Query, types=[Pet, Shade])._schema.get_type("Shade")
SCALARS = [GraphQLString, GraphQLID, GraphQLInt, GraphQLBoolean, GraphQLFloat, COLOR, SHADE]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(),
    st.builds(Tag, st.text()),
    st.sampled_from([*Color, *Shade, "red", "RED", "dark", "DARK"]),
    st.sampled_from([Size.BIG, b"x", [1], object()]),
)


def _coerced(complete: Any, value: Any) -> tuple[str, Any]:
    try:
        return ("value", complete(value))
    except Exception as exc:
        return ("refused", type(exc).__name__ == "GraphQLError" or exc.__class__.__name__)


@settings(max_examples=300, deadline=None)
@given(value=VALUES, nullable=st.booleans(), type_=st.sampled_from(SCALARS))
def test_a_leaf_completes_as_its_type_coerces(value: Any, nullable: bool, type_: Any) -> None:
    """What execution.leaf_completion gives for any value is what the type's own coercion
    gives (a value, or a refusal that sends the field back to graphql-core), class for class:
    its shortcut for values returned as they are, or for an enum's members, changes nothing."""
    complete = leaf_completion(type_, nullable, lambda _value: False)
    found = _coerced(complete, value)
    if value is None:
        assert found == ("value", None) if nullable else found[0] == "refused"
        return
    expected = _coerced(type_.coerce_output_value, value)
    if expected[0] == "value":
        assert found == ("value", expected[1]), (value, found, expected)
        assert type(found[1]) is type(expected[1])
    else:
        assert found[0] == "refused", (value, found)


class Counting(SchemaExtension):
    """A middleware: every field's resolver passes through it."""

    seen: ClassVar[list[str]] = []

    def resolve(
        self, _next: Any, root: Any, info: GraphQLResolveInfo, *args: Any, **kwargs: Any
    ) -> Any:
        Counting.seen.append(info.field_name)
        return _next(root, info, *args, **kwargs)


async def test_with_a_middleware_every_field_goes_through_it() -> None:
    schema = strawberry.Schema(
        query=Query,
        types=[Pet],
        extensions=[Counting],
        execution_context_class=EagerPlainFieldsExecutor,
        config=CONFIG,
    )
    Counting.seen = []
    result = await schema.execute("{ node { leaf { name count } } }")
    assert result.data == {"node": {"leaf": {"name": "leaf 0", "count": 0}}}
    assert sorted(Counting.seen) == ["count", "leaf", "name", "node"]


async def test_the_mentors_page_builds_resolve_info_for_its_root_field_only(
    app: FastAPI, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nested mentors page: graphql-core's per-field path (a resolve info each) runs for
    `mentors` alone; its 1,000 values are plain reads. Before: one per value."""
    skill = await create_skill(tenant.client)
    for _ in range(3):
        await create_mentor(tenant.client, skills=[{"skill_id": skill["id"], "level": 4}])
    built: list[str] = []
    original = StrawberryGraphQLCoreExecutionContext.build_resolve_info

    def counting(self: Any, field_def: Any, field_nodes: Any, *args: Any) -> Any:
        built.append(field_nodes[0].name.value)
        return original(self, field_def, field_nodes, *args)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "build_resolve_info", counting)
    document = """{ mentors(first: 10) { edges { cursor node { id name languages formats
             skills { skill { id slug name } level note }
             stats { sessionsCompleted averageRating } } } pageInfo { hasNextPage } } }"""
    await gql_data(tenant.client, document)  # an operation's first execution: graphql-core's
    built.clear()
    data = await gql_data(tenant.client, document)
    assert len(data["mentors"]["edges"]) == 3
    assert data["mentors"]["edges"][0]["node"]["skills"][0]["skill"]["id"] == skill["id"]
    assert built == ["mentors"]


async def test_the_mentors_page_asks_no_object_whether_it_is_awaitable(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Edges (dicts), mentors and their offers (dicts) are of classes known never to be
    awaitable: once a class is known, its values are not asked again (200 calls a page)."""
    skill = await create_skill(tenant.client)
    for _ in range(3):
        await create_mentor(tenant.client, skills=[{"skill_id": skill["id"], "level": 4}])
    asked: list[type] = []
    original = execution._AwaitableCheck.__call__

    def counting(self: execution._AwaitableCheck, value: Any) -> bool:
        asked.append(value.__class__)
        return original(self, value)

    monkeypatch.setattr(execution._AwaitableCheck, "__call__", counting)
    document = """{ mentors(first: 10) { edges { node { id formats
             skills { skill { id slug } level } stats { sessionsCompleted } } }
             pageInfo { hasNextPage } } }"""
    for _ in range(3):  # the first execution is graphql-core's; the second plans
        data = await gql_data(tenant.client, document)
    assert len(data["mentors"]["edges"]) == 3
    asked.clear()
    await gql_data(tenant.client, document)
    assert asked == []
