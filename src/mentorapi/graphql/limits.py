"""Query cost: what a query may ask for at most, known before anything runs.

Each field costs 1 for every time it can appear in the result. A field with a `first` argument
(a connection) multiplies what is under it by `first` (its default when not given); any other
list multiplies by LIST_ESTIMATE, except a connection's `edges`, already counted by `first`.
`mentors(first: 50) { edges { node { name skills { level } } } }` costs about
50 * (3 + 10 * 2). Introspection fields are free (the depth and token limits bound them).
"""

import weakref
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from mentorapi.graphql.documents import chosen_operation

LIST_ESTIMATE = 10
MAX_COST = 20_000


def _int_argument(node: FieldNode, name: str, variables: "_Reads") -> int | None:
    for argument in node.arguments or ():
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            # Past 32 bits it is no Int (validation says so, as BAD_USER_INPUT); past 4,300
            # digits `int` raises, an INTERNAL error before this check.
            return int(value.value) if len(value.value) <= 11 else None
        if isinstance(value, VariableNode):
            found = variables.get(value.name.value)
            return found if isinstance(found, int) else None
    return None


class Coster:
    """Costs selection sets; a fragment is costed once and its cost reused at every spread
    (its cost does not depend on where it is spread: its type condition decides its fields),
    so the work is linear in the document however often a fragment is spread."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = _Reads(variables)
        self.memo: dict[str, int] = {}
        self.visited = 0  # selections looked at: tests assert it is linear

    def fragment_cost(self, name: str, parent: GraphQLNamedType) -> int:
        if name not in self.memo:
            fragment = self.fragments.get(name)
            # 0 while it is being costed: a cycle (refused by validation before this runs)
            # cannot recurse forever.
            self.memo[name] = 0
            if fragment is not None:
                inner = self.schema.get_type(fragment.type_condition.name.value)
                self.memo[name] = self.cost(fragment.selection_set, inner or parent)
        return self.memo[name]

    def field_cost(self, node: FieldNode, owner: GraphQLNamedType) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(owner, GraphQLObjectType):
            return 0
        field = owner.fields.get(name)
        if field is None:
            return 0
        multiplier = 1
        if "first" in field.args:
            given = _int_argument(node, "first", self.variables)
            default = field.args["first"].default_value
            multiplier = given if given is not None else int(default or 1)
        elif isinstance(get_nullable_type(field.type), GraphQLList) and name != "edges":
            multiplier = LIST_ESTIMATE
        inner = 0
        if node.selection_set is not None:
            inner = self.cost(node.selection_set, get_named_type(field.type))
        return 1 + max(multiplier, 1) * inner

    def cost(self, selection_set: SelectionSetNode, parent: GraphQLNamedType) -> int:
        total = 0
        for selection in selection_set.selections:
            self.visited += 1
            if isinstance(selection, FieldNode):
                total += self.field_cost(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.cost(selection.selection_set, inner or parent)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment_cost(selection.name.value, parent)
            # Capped: past the limit the exact figure does not matter, and a document that
            # multiplies a cost 2**30 times keeps to small ints.
            total = min(total, _COST_CAP)
        return total


_COST_CAP = 1 << 40


def root_fields(document: DocumentNode, operation: OperationDefinitionNode) -> int:
    """The fields an operation runs at its root (through fragments; fields of one response key
    merge into one), introspection's aside: each is what one REST request does (a list, a
    recommendation, a write), so an operation spends as many rate-limit tokens
    (graphql/context.py). A field under `@skip` or `@include` counts: it may run."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    keys: set[str] = set()
    spread: set[str] = set()
    pending = [operation.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                if not selection.name.value.startswith("__"):
                    keys.add((selection.alias or selection.name).value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in spread and name in fragments:
                    spread.add(name)
                    pending.append(fragments[name].selection_set)
    return len(keys)


class _Reads:
    """The request's variables, remembering which the cost was worked out from."""

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self._variables = variables
        self.read: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        found = self.read[name] = self._variables.get(name, _ABSENT)
        return None if found is _ABSENT else found


_ABSENT: Any = object()

# Costs already worked out, by operation (this very object: the document cache hands the same
# one to every request with its text), weakly: (the operation, the schema, then each cost with
# the variables it read, as (name, value) pairs). A cost is a function of the schema, the
# document and the variables it read, so an entry whose reads match answers: clients send the
# same few documents, and walking the page's (25 fields) was 2% of its request.
_Known = list[tuple[tuple[tuple[str, Any], ...], int]]
_COSTS: dict[int, tuple["weakref.ref[OperationDefinitionNode]", GraphQLSchema, _Known]] = {}
_COSTS_PER_OPERATION = 8  # distinct variables (a `first` of 10, of 50, ...): the newest kept


def _same(variables: Mapping[str, Any], read: tuple[tuple[str, Any], ...]) -> bool:
    for name, value in read:
        found = variables.get(name, _ABSENT)
        if found.__class__ is not value.__class__ or found != value:
            return False
    return True


def _forget(key: int, dead: "weakref.ref[OperationDefinitionNode]") -> None:
    found = _COSTS.get(key)
    if found is not None and found[0] is dead:
        del _COSTS[key]


def query_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> int:
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    entry = _COSTS.get(id(operation))
    if entry is None or entry[0]() is not operation or entry[1] is not schema:
        entry = (weakref.ref(operation, partial(_forget, id(operation))), schema, [])
        _COSTS[id(operation)] = entry
    known = entry[2]
    for read, cost in known:
        if _same(variables, read):
            return cost
    coster = Coster(schema, fragments, variables)
    cost = coster.cost(operation.selection_set, root)
    known.append((tuple(coster.variables.read.items()), cost))
    del known[:-_COSTS_PER_OPERATION]
    return cost


class QueryCostLimiter(SchemaExtension):
    """Refuses, before execution, an operation whose cost exceeds `max_cost`: the operation
    that runs (the named one, or the only one), with the request's variables."""

    def __init__(self, max_cost: int = MAX_COST) -> None:
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None and not ctx.result:
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            requested = getattr(ctx, "requested_operation_name", ctx.operation_name)
            chosen = chosen_operation(document, requested)
            if chosen is not None:
                schema = ctx.schema._schema
                cost = query_cost(schema, chosen, fragments, ctx.variables or {})
                if cost > self.max_cost:
                    error = GraphQLError(
                        f"the query costs {cost}, more than the maximum of {self.max_cost}: "
                        "ask for fewer items (`first`) or fewer nested lists",
                        extensions={
                            "code": "GRAPHQL_VALIDATION_FAILED",
                            "cost": cost,
                            "maxCost": self.max_cost,
                        },
                    )
                    ctx.result = GraphQLExecutionResult(data=None, errors=[error])
        yield
