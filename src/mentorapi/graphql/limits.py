"""Query cost: what a query may ask for at most, known before anything runs.

Each field costs 1 for every time it can appear in the result. A field with a `first` argument
(a connection) multiplies what is under it by `first` (its default when not given); any other
list multiplies by LIST_ESTIMATE, except a connection's `edges`, already counted by `first`.
`mentors(first: 50) { edges { node { name skills { level } } } }` costs about
50 * (3 + 10 * 2). Introspection fields are free (the depth and token limits bound them).
"""

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import (
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
from strawberry.extensions import ParserCache, SchemaExtension

LIST_ESTIMATE = 10
MAX_COST = 20_000


def _int_argument(node: FieldNode, name: str, variables: Mapping[str, Any]) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            found = variables.get(value.name.value)
            return found if isinstance(found, int) else None
    return None


class _Coster:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def selections(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, seen: frozenset[str]
    ) -> Iterator[tuple[FieldNode, GraphQLNamedType]]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                yield from self.selections(selection.selection_set, inner or parent, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    inner = self.schema.get_type(fragment.type_condition.name.value)
                    yield from self.selections(
                        fragment.selection_set, inner or parent, seen | {name}
                    )

    def cost(self, selection_set: SelectionSetNode, parent: GraphQLNamedType) -> int:
        total = 0
        for node, owner in self.selections(selection_set, parent, frozenset()):
            name = node.name.value
            if name.startswith("__") or not isinstance(owner, GraphQLObjectType):
                continue
            field = owner.fields.get(name)
            if field is None:
                continue
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
            total += 1 + max(multiplier, 1) * inner
        return total


def query_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> int:
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    return _Coster(schema, fragments, variables).cost(operation.selection_set, root)


class QueryCostLimiter(SchemaExtension):
    """Refuses, before execution, an operation whose cost exceeds `max_cost`."""

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
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            chosen = [
                o
                for o in operations
                if ctx.operation_name is None or (o.name and o.name.value == ctx.operation_name)
            ]
            if chosen:
                schema = ctx.schema._schema
                cost = query_cost(schema, chosen[0], fragments, ctx.variables or {})
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


class SafeParserCache(ParserCache):
    """strawberry's ParserCache, except that a document that does not parse (a syntax error,
    too many tokens) is left to strawberry's own parse step, which turns the error into a normal
    GraphQL error response; raised from the cache it would skip the error-code extension."""

    def on_parse(self) -> Iterator[None]:
        try:
            yield from super().on_parse()
        except GraphQLError:
            yield
