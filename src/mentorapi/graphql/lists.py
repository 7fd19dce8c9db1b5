"""A list in the variables longer than any REST body takes under its name is BAD_USER_INPUT
before graphql-core reads a single item.

graphql-core coerces every item of a variable (each input object into its strawberry class)
before a resolver hands the input to the REST schema that bounds it, so 15,000 skills where 10
are allowed (a 930 KB body) cost half a second of CPU for one BAD_USER_INPUT. The REST bodies
hold the limits (kit/bodies.py RequestBody, `max_length` on list fields); GraphQL input fields
are named as their REST fields (camelCase), so each list field of the GraphQL schema is bounded
by the largest `max_length` a REST list of that name has (the skills of a recommendation take
10, a mentor's 50: both are refused past 50 here, and the resolver's REST schema refuses 11 to
50 with its own message after reading at most 50 items). A list of an enum holds at most its
members. A variable that is itself a list is bounded as the largest list of its item type.

Literal lists in the document need nothing: the document is bounded in tokens
(documents.py). The walk stops at the first list over its bound: it never reads more than the
bounded lists hold.
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    get_named_type,
    is_input_type,
)
from graphql.language import DocumentNode
from graphql.utilities import type_from_ast
from pydantic import BaseModel
from strawberry.extensions import SchemaExtension

from mentorapi.graphql.documents import chosen_operation
from mentorapi.kit.bodies import RequestBody

# A list field no REST body and no enum bounds (there is none today; tests/security/
# test_list_bounds.py keeps it so): the most `first` takes.
FALLBACK_BOUND = 100


def _subclasses(base: type[BaseModel]) -> Iterator[type[BaseModel]]:
    for cls in base.__subclasses__():
        yield cls
        yield from _subclasses(cls)


def _list_max(schema: Any) -> int | None:
    """The `max_length` of the list a field's core schema holds, through its wrappers
    (default, nullable, validators, unions)."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "list":
        found = schema.get("max_length")
        return found if isinstance(found, int) else None
    inner = [schema.get("schema"), *schema.get("choices", [])]
    limits = [m for m in (_list_max(s) for s in inner) if m is not None]
    return max(limits) if limits else None


def _collect(schema: Any, bounds: dict[str, int]) -> None:
    if isinstance(schema, list):
        for item in schema:
            _collect(item, bounds)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "model-fields":
        for name, spec in schema.get("fields", {}).items():
            limit = _list_max(spec.get("schema"))
            if limit is not None:
                bounds[name] = max(limit, bounds.get(name, 0))
    for value in schema.values():
        _collect(value, bounds)


def rest_list_bounds() -> dict[str, int]:
    """Field name -> the largest `max_length` of a list of that name in any request body."""
    bounds: dict[str, int] = {}
    for model in _subclasses(RequestBody):
        _collect(model.__pydantic_core_schema__, bounds)
    return bounds


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _unwrapped(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


@dataclass
class ListBounds:
    """The bound of every list-typed input field and argument of one schema."""

    fields: dict[tuple[str, str], int] = field(default_factory=dict)  # (input type, field)
    by_item: dict[str, int] = field(default_factory=dict)  # item type name -> largest bound
    unbounded: list[str] = field(default_factory=list)  # those given FALLBACK_BOUND

    def _bound(self, where: str, name: str, type_: Any, rest: Mapping[str, int]) -> int | None:
        listed = _unwrapped(type_)
        if not isinstance(listed, GraphQLList):
            return None
        item = get_named_type(listed)
        bound = rest.get(_snake(name))
        if bound is None and isinstance(item, GraphQLEnumType):
            bound = len(item.values)
        if bound is None:
            self.unbounded.append(f"{where}.{name}")
            bound = FALLBACK_BOUND
        self.by_item[item.name] = max(bound, self.by_item.get(item.name, 0))
        return bound

    def fill(self, schema: GraphQLSchema, rest: Mapping[str, int]) -> None:
        """Once the schema is built (its extensions are made before it, and given this)."""
        for type_ in schema.type_map.values():
            if isinstance(type_, GraphQLInputObjectType) and not type_.name.startswith("__"):
                for name, input_field in type_.fields.items():
                    bound = self._bound(type_.name, name, input_field.type, rest)
                    if bound is not None:
                        self.fields[(type_.name, name)] = bound
        roots = (schema.query_type, schema.mutation_type, schema.subscription_type)
        for root in (r for r in roots if r is not None):
            for field_name, root_field in root.fields.items():
                for name, argument in root_field.args.items():
                    self._bound(f"{root.name}.{field_name}", name, argument.type, rest)


@dataclass
class _Walk:
    bounds: ListBounds
    issues: list[dict[str, Any]] = field(default_factory=list)

    def value(
        self, value: Any, type_: GraphQLInputType, bound: int | None, loc: tuple[Any, ...]
    ) -> None:
        type_ = _unwrapped(type_)
        if isinstance(type_, GraphQLList):
            if not isinstance(value, list):
                return  # one value for a list: graphql-core's to coerce
            if bound is not None and len(value) > bound:
                self.issues.append(
                    {
                        "loc": list(loc),
                        "msg": f"List should have at most {bound} items, not {len(value)}",
                        "type": "too_long",
                    }
                )
                return
            for index, item in enumerate(value):
                self.value(item, type_.of_type, None, (*loc, index))
        elif isinstance(type_, GraphQLInputObjectType) and isinstance(value, dict):
            for name, input_field in type_.fields.items():
                if name in value:
                    bound = self.bounds.fields.get((type_.name, name))
                    self.value(value[name], input_field.type, bound, (*loc, name))


def too_long_lists(
    schema: GraphQLSchema,
    bounds: ListBounds,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
) -> GraphQLError | None:
    operation = chosen_operation(document, operation_name)
    if operation is None or not variables:
        return None
    walk = _Walk(bounds)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in variables:
            continue
        type_ = type_from_ast(schema, definition.type)
        if type_ is None or not is_input_type(type_):
            continue  # an unknown type: the document's validation has refused it
        top = bounds.by_item.get(get_named_type(type_).name, FALLBACK_BOUND)
        walk.value(variables[name], type_, top, ("variables", name))
    if not walk.issues:
        return None
    issues = walk.issues
    first = issues[0]
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    return GraphQLError(
        f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}{more}",
        extensions={"code": "BAD_USER_INPUT", "errors": issues},
    )


class RefuseLongLists(SchemaExtension):
    """In the validation step, as RefuseUnstorableText: refused like an invalid operation,
    before graphql-core coerces the variables. A document already refused is not walked."""

    def __init__(self, bounds: ListBounds) -> None:
        self.bounds = bounds

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if context.pre_execution_errors or document is None or not context.variables:
            yield
            return
        requested = getattr(context, "requested_operation_name", context.operation_name)
        error = too_long_lists(
            context.schema._schema, self.bounds, document, requested, context.variables
        )
        if error is not None:
            context.pre_execution_errors = [*(context.pre_execution_errors or []), error]
        yield
