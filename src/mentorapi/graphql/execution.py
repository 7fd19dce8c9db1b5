"""Plain fields read directly, without graphql-core's per-field machinery.

graphql-core executes every field the same way: a path entry, a resolve-info object, the
argument values, the resolver, an awaitable check, then completion through the type's
wrappers. On a page that is nearly all the work, and nearly all of it is spent on fields that
only read an attribute: the nested mentors page (50 mentors with skills and stats) has about
1,600 values, and only its root field has a resolver.

A *plain* field is one strawberry resolves by reading an attribute (a basic field: no
resolver, no field extension, no arguments) whose type is a scalar, an enum, an object type
whose selected fields are all plain, or a list or non-null of one of those; `__typename` is
plain too. Reading one is a pure function of its source object, so it is read and completed
in one pass, and so is a resolver's result of a plain type. On anything unusual (an
exception, a null where the type is non-null, a value that is not a list, an awaitable) the
attempt is dropped and graphql-core executes the field as it always does, so every error is
reported exactly as before. Fields with resolvers (loaders, arguments, permissions), abstract
types, `@defer`, and every field when a middleware is installed go through graphql-core.

What is read, and how each value is coerced (the type's own `coerce_output_value`), is
strawberry's and graphql-core's: only the calls around them are left out.
"""

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from graphql.type.scalars import GRAPHQL_MAX_INT, GRAPHQL_MIN_INT
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# Completes a value read from a field (or returned by a resolver) for the field's type.
Complete = Callable[[Any], Any]
# Reads a plain field off its source: (read the attribute, its name, complete the value).
Read = tuple[Callable[[Any, str], Any], str, Complete]

DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
# Values that are never awaitable, checked by class before asking `is_awaitable`.
_SCALARS = frozenset({str, int, float, bool})


class _Unusual(Exception):
    """A plain read met something graphql-core must handle (and report) itself."""


def _constant(value: str) -> Callable[[Any, str], str]:
    return lambda _source, _name: value


def _identity(value: Any) -> Any:
    return value


class PlainFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        middleware = self.middleware_manager
        self._direct = middleware is None or not middleware.middlewares
        # Per execution, as graphql-core's memo of collected sub-fields: a field group is a
        # list made for this execution, kept here with the plan so its id is not reused.
        self._reads: dict[int, tuple[FieldDetailsList, Read | None]] = {}
        self._completions: dict[tuple[int, int], tuple[FieldDetailsList, Complete | None]] = {}

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        if self._direct:
            read = self._read(parent_type, field_details_list)
            if read is not None:
                resolve, attribute, complete = read
                try:
                    return complete(resolve(source, attribute))
                except Exception:  # graphql-core reads it again, and reports it
                    pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        if self._direct:
            complete = self._completion(return_type, field_details_list)
            if complete is not None:
                try:
                    return complete(result)
                except Exception:  # graphql-core completes it, and reports it
                    pass
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _read(self, parent_type: GraphQLObjectType, fields: FieldDetailsList) -> Read | None:
        # A field group belongs to one parent type: graphql-core collects groups anew for
        # every object type it completes.
        found = self._reads.get(id(fields))
        if found is None:
            found = (fields, self._plan_read(parent_type, fields))
            self._reads[id(fields)] = found
        return found[1]

    def _completion(self, type_: GraphQLOutputType, fields: FieldDetailsList) -> Complete | None:
        key = (id(type_), id(fields))
        found = self._completions.get(key)
        if found is None:
            found = (fields, self._plan_completion(type_, fields))
            self._completions[key] = found
        return found[1]

    def _plan_read(self, parent_type: GraphQLObjectType, fields: FieldDetailsList) -> Read | None:
        name = fields[0].node.name.value
        if name == "__typename":
            return (_constant(parent_type.name), name, _identity)
        field_def = self.schema.get_field(parent_type, name)
        if field_def is None or field_def.args:
            return None
        # strawberry's basic field: no resolver and no field extension (permission classes
        # are one); its value is `default_resolver(source, python_name)` (get_result).
        definition = field_def.extensions.get(DEFINITION_BACKREF)
        if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
            return None
        complete = self._completion(field_def.type, fields)
        if complete is None:
            return None
        return (definition.default_resolver, definition.python_name, complete)

    def _plan_completion(
        self, type_: GraphQLOutputType, fields: FieldDetailsList
    ) -> Complete | None:
        nullable = True
        if isinstance(type_, GraphQLNonNull):
            nullable, type_ = False, type_.of_type
        if isinstance(type_, GraphQLList):
            return self._plan_list(type_, fields, nullable)
        if is_leaf_type(type_):
            return leaf_completion(type_, nullable, self.is_awaitable)
        if isinstance(type_, GraphQLObjectType) and type_.is_type_of is None:
            return self._plan_object(type_, fields, nullable)
        return None  # abstract types, or an object type that checks its values

    def _plan_list(
        self, type_: GraphQLList[Any], fields: FieldDetailsList, nullable: bool
    ) -> Complete | None:
        item = self._completion(type_.of_type, fields)
        if item is None:
            return None

        def complete_list(value: Any) -> Any:
            if value is None and nullable:
                return None
            # Anything else iterable (a generator, an async iterable) is graphql-core's.
            if value.__class__ is not list and value.__class__ is not tuple:
                raise _Unusual
            return [item(v) for v in value]

        return complete_list

    def _plan_object(
        self, type_: GraphQLObjectType, fields: FieldDetailsList, nullable: bool
    ) -> Complete | None:
        grouped, deferred, forbidden = self.collect_subfields(type_, fields)
        if deferred or forbidden:
            return None
        reads = []
        for response_name, sub_fields in grouped.items():
            read = self._read(type_, sub_fields)
            if read is None:
                return None
            reads.append((response_name, *read))
        is_awaitable = self.is_awaitable
        # Instances of the type's own class (a strawberry type without `__await__`, as they
        # all are) are never awaitable: asked only of anything else.
        known = getattr(type_.extensions.get(DEFINITION_BACKREF), "origin", None)
        if hasattr(known, "__await__"):
            known = None

        def complete_object(value: Any) -> Any:
            if value is None:
                if nullable:
                    return None
                raise _Unusual
            if value.__class__ is not known and is_awaitable(value):
                raise _Unusual
            return {
                response_name: complete(resolve(value, attribute))
                for response_name, resolve, attribute, complete in reads
            }

        return complete_object


def leaf_completion(
    type_: GraphQLLeafType, nullable: bool, is_awaitable: Callable[[Any], bool]
) -> Complete:
    """Completes a value of a scalar or enum type with the type's own `coerce_output_value`.
    graphql-core's String, ID and Boolean give back a value of their exact Python class (str,
    str, bool) as it is, and Int an int within 32 bits (serialize_string, _id, _boolean,
    _int): such a value is returned at once, nearly every value of a page."""
    coerce = type_.coerce_output_value

    def complete_leaf(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise _Unusual
        if value.__class__ not in _SCALARS and is_awaitable(value):
            raise _Unusual
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise _Unusual
        return coerced

    if type_ is GraphQLString or type_ is GraphQLID or type_ is GraphQLBoolean:
        exact = bool if type_ is GraphQLBoolean else str

        def complete_exact(value: Any) -> Any:
            return value if value.__class__ is exact else complete_leaf(value)

        return complete_exact
    if type_ is GraphQLInt:

        def complete_int(value: Any) -> Any:
            if value.__class__ is int and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT:
                return value
            return complete_leaf(value)

        return complete_int
    return complete_leaf
