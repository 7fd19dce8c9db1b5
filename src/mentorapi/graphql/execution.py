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

The plan for a list or an object type is one generated Python function (`_Code`): an
object's fields read one after the other into a dict display, a list's items in one
comprehension, and a leaf's shortcut (`_leaf_shortcut`: a value its coercion returns as it
is) written inline, so a value costs no call of its own; any other value goes through the
leaf's completion. Closures did the same with a call per value: 5.5M instructions to complete
the mentors page, 3.0M compiled. The code is compiled once per shape of source and kept
(bounded), and plans are shared by the executions of one parsed operation (documents.py
keeps the parsed document) when no directive or fragment variable can make what a field
selects depend on the variables (`_shared_plan`): planning the page anew was 0.8M a request.
They hang off the operation weakly: gone with it, never keeping a document alive.

Nothing is planned for an operation's first execution: graphql-core executes all of it.
Planning walks the whole selection and compiles a function per new shape, and a document
chooses its shapes (aliases, field orders), so a stream of documents each of a new shape
cost more than executing them plainly: 15 aliases of a mentors page in a new field order
each request, 260M instructions a request planned against 220M plain (bench/graphql_shapes.py;
now 223M). Clients send the same few documents again and again, and the document cache
(documents.py, bounded in entries and bytes) hands the same operation to each: planned at its
second execution, it is the one met again; a document sent once costs what plain execution does.
"""

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from enum import Enum, EnumMeta
from functools import partial
from keyword import iskeyword
from types import CodeType, CoroutineType, GeneratorType
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
    GraphQLResolveInfoHelpers,
    GraphQLString,
    Node,
    OperationDefinitionNode,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path, gather_with_cancel
from graphql.type.scalars import GRAPHQL_MAX_INT, GRAPHQL_MIN_INT
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from mentorapi.kit.bounded import MIN_WEIGHT, BoundedLRU

# Completes a value read from a field (or returned by a resolver) for the field's type.
Complete = Callable[[Any], Any]
# Reads a plain field off its source: (read the attribute, its name, complete the value).
Read = tuple[Callable[[Any, str], Any], str, "Plan"]

DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
# Values that are never awaitable, checked by class before asking `is_awaitable`.
_SCALARS = frozenset({str, int, float, bool})


class _Unusual(Exception):
    """A plain read met something graphql-core must handle (and report) itself."""


class _Constant:
    """The read of `__typename`: the parent type's name, whatever the source."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __call__(self, _source: Any, _name: str) -> str:
        return self.value


def read_field(source: Any, name: str) -> Any:
    """strawberry's default resolver (`StrawberryConfig.default_resolver`, graphql/schema.py):
    what a field without a resolver reads off its source. An attribute, as strawberry's own
    (`getattr`), or, from a plain `dict` standing for an object of a type without resolvers,
    its item by the field's Python name: a resolver that has its data as dicts (a mentor's
    stored offers) need not build an object per value, so a page of mentors builds 150
    fewer. A key the dict lacks is an error (INTERNAL), never a made-up value."""
    if source.__class__ is dict:
        return source[name]
    return getattr(source, name)


def _identity(value: Any) -> Any:
    return value


class Plan:
    """How a value of one type, for one field group, is completed: `complete(value)`, and
    the same as a Python expression over a local variable, for a list or an object to
    complete its items and fields without a call each (see `_Code`)."""

    def __init__(
        self, complete: Complete, shortcut: "Shortcut | None" = None, null: bool = False
    ) -> None:
        self.complete = complete
        self.shortcut = shortcut
        self.null = null  # a leaf of a nullable type: None completes to None

    def inline(self, code: "_Code", variable: str) -> str:
        found = f"{code.ref(self.complete)}({variable})"
        if self.shortcut is not None:
            condition, value, names = self.shortcut
            refs = {name: code.ref(named) for name, named in names.items()}
            found = (
                f"({value.format(v=variable, **refs)} if {condition.format(v=variable, **refs)}"
                f" else {found})"
            )
        return f"(None if {variable} is None else {found})" if self.null else found


class _Code:
    """The source of one completion function, with the objects it names. Sources depend only
    on the shape of what is completed (the objects are globals of the function), so each is
    compiled once and the code kept (bounded: documents, and so shapes, are the clients')."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"Unusual": _Unusual}
        self._ids: dict[int, str] = {}

    def ref(self, value: Any) -> str:
        name = self._ids.get(id(value))
        if name is None:
            name = self._ids[id(value)] = f"g{len(self._ids)}"
            self.names[name] = value
        return name

    def read(self, resolve: Callable[[Any, str], Any], attribute: str) -> str:
        # strawberry's default resolver (getattr, or ours, `read_field`) written inline.
        if attribute.isidentifier() and not iskeyword(attribute):
            if resolve is getattr:
                return f"value.{attribute}"
            if resolve is read_field:
                return f"(value[{attribute!r}] if value.__class__ is dict else value.{attribute})"
        return f"{self.ref(resolve)}(value, {self.ref(attribute)})"

    @staticmethod
    def none_check(variable: str, nullable: bool) -> list[str]:
        return [f"if {variable} is None:", "    return None" if nullable else "    raise Unusual"]

    def compiled(
        self, body: list[str], shortcut: "Shortcut | None" = None, null: bool = False
    ) -> Plan:
        source = "def complete(value):\n" + "".join(f"    {line}\n" for line in body)
        code = _COMPILED.get(source)
        if code is None:
            code = compile(source, "<mentorapi.graphql.execution>", "exec")
            _COUNTS["compiles"] += 1
            _COMPILED.put(source, code)
        namespace = dict(self.names)
        exec(code, namespace)  # defines `complete`, a function of the names above
        return Plan(namespace["complete"], shortcut, null)


# A plan, by its field group: (type, is_awaitable, the group's field nodes, the plan).
Plans = dict[tuple[int, ...], tuple[Any, ...]]

# The plans of each live operation (`_shared_plan`), by the operation's id, with a weak
# reference to it: they are dropped with the operation (when the document cache lets its
# document go, or with the request for a document not cached), and never keep one alive.
_OPERATIONS: dict[int, tuple["weakref.ref[OperationDefinitionNode]", Plans | None]] = {}


# Stands for the plans of an operation executed once, not planned (never written to).
_MET: Plans = {}


def _met_before(operation: OperationDefinitionNode) -> bool:
    """Whether `operation` (this very object: the document cache's, for a text sent before)
    has been executed before; remembers it if not (forgotten with it, weakly)."""
    found = _OPERATIONS.get(id(operation))
    if found is not None and found[0]() is operation:
        return True
    _OPERATIONS[id(operation)] = (weakref.ref(operation, partial(_forget, id(operation))), _MET)
    return False


def _operation_plans(operation: OperationDefinitionNode, fragments: dict[str, Any]) -> Plans | None:
    """The plans shared by the executions of `operation`, or None when a directive or a
    fragment variable, anywhere in the operation or its fragments, can make collecting its
    fields depend on the variables (looked at once per operation)."""
    key = id(operation)
    found = _OPERATIONS.get(key)
    if found is None or found[0]() is not operation or found[1] is _MET:
        alike = not any(details.variable_signatures for details in fragments.values()) and not any(
            _has_directives(node)
            for node in (operation, *(details.definition for details in fragments.values()))
        )
        found = (weakref.ref(operation, partial(_forget, key)), {} if alike else None)
        _OPERATIONS[key] = found
    return found[1]


def _forget(key: int, dead: "weakref.ref[OperationDefinitionNode]") -> None:
    found = _OPERATIONS.get(key)
    if found is not None and found[0] is dead:
        del _OPERATIONS[key]


def _has_directives(definition: Node) -> bool:
    stack: list[Node] = [definition]
    while stack:
        node = stack.pop()
        if getattr(node, "directives", None):
            return True
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return False


# Compiles made (tests and benches read it).
_COUNTS = {"compiles": 0}


def compile_count() -> int:
    """How many completion functions this process has compiled."""
    return _COUNTS["compiles"]


_COMPILED: BoundedLRU[str, CodeType] = BoundedLRU(
    max_entries=512, max_weight=8 << 20, weigh=lambda source, _code: 8 * len(source)
)


# A leaf's completion for the values that need no coercion call: (a condition on `{v}`, the
# completed value, the objects either names, by their placeholders).
Shortcut = tuple[str, str, dict[str, Any]]


def _leaf_shortcut(type_: GraphQLLeafType) -> Shortcut | None:
    """graphql-core's String, ID and Boolean give back a value of their exact Python class
    (str, str, bool) as it is, and Int an int within 32 bits (serialize_string, _id,
    _boolean, _int): nearly every value of a page. A strawberry enum's member (strawberry's
    coercion compares it with each value of the type) completes to the name its coercion
    gives it, worked out once per plan for every member."""
    if type_ is GraphQLString or type_ is GraphQLID:
        return ("{v}.__class__ is str", "{v}", {})
    if type_ is GraphQLBoolean:
        return ("{v}.__class__ is bool", "{v}", {})
    if type_ is GraphQLInt:
        return (
            f"{{v}}.__class__ is int and {GRAPHQL_MIN_INT} <= {{v}} <= {GRAPHQL_MAX_INT}",
            "{v}",
            {},
        )
    members = getattr(type_, "wrapped_cls", None)  # strawberry's CustomGraphQLEnumType
    if isinstance(members, EnumMeta) and not hasattr(members, "__await__"):
        # By the member's own name, not the member: an Enum's `__hash__` is a Python function
        # (100 calls for a page's formats), a str's hash is cached. A member's `_name_` is
        # unique in its class (an alias is the same object as the member it names).
        names: dict[str, str] = {}
        member: Enum
        for member in members:
            with suppress(Exception):  # a member it refuses is left to the completion
                name = type_.coerce_output_value(member)
                if isinstance(name, str):
                    names[member._name_] = name
        return (
            "{v}.__class__ is {members}",
            "{names}[{v}._name_]",
            {"members": members, "names": names},
        )
    return None


def leaf_plan(type_: GraphQLLeafType, nullable: bool, is_awaitable: Callable[[Any], bool]) -> Plan:
    """Completes a value of a scalar or enum type with the type's own `coerce_output_value`,
    and returns a value its coercion would return unchanged at once (`_leaf_shortcut`)."""
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

    plan = Plan(complete_leaf, _leaf_shortcut(type_), nullable)
    if plan.shortcut is None and not nullable:
        return plan
    code = _Code()
    return code.compiled([f"return {plan.inline(code, 'value')}"], plan.shortcut, nullable)


# Leaf plans by (type, nullability, awaitable check): a pure function of the three, and planning
# an operation made one per leaf field (285 a request for bench/graphql_shapes.py's documents,
# each a function made from its code). The entry holds the objects its key names by id.
_LEAVES: BoundedLRU[tuple[int, bool, int], tuple[Any, Any, Plan]] = BoundedLRU(
    max_entries=1024, max_weight=1024 * MIN_WEIGHT, weigh=lambda _key, _plan: MIN_WEIGHT
)


def _cached_leaf_plan(
    type_: GraphQLLeafType, nullable: bool, is_awaitable: Callable[[Any], bool]
) -> Plan:
    key = (id(type_), nullable, id(is_awaitable))
    found = _LEAVES.get(key)
    if found is None:
        found = (type_, is_awaitable, leaf_plan(type_, nullable, is_awaitable))
        _LEAVES.put(key, found)
    plan: Plan = found[2]
    return plan


async def _ready(value: Any) -> Any:
    return value


def _gather_after_settled(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
    return gather_with_cancel(*values)  # graphql-core's own gather, bound to no executor


def _track_after_settled(values: Sequence[Any]) -> None:
    raise RuntimeError("the operation has settled: no more work can be tracked for it")


# What an executor holds once its operation has settled (PlainFieldsExecutor._detach).
_SETTLED_HELPERS = GraphQLResolveInfoHelpers(
    gather=_gather_after_settled, track=_track_after_settled
)


class _AwaitableCheck:
    """`is_awaitable`, remembering the classes whose instances never are: an object's plan
    asks it only of a value whose class is not in `never`. A page's edges (of `Edge`, while
    their type's class is strawberry's `Edge[Mentor]`) and its offered skills (a subclass of
    the Skill type's class) were 200 calls a request. Only the classes of strawberry types
    are remembered (the schema's, a bounded set): one without `__await__` and neither a
    coroutine nor a generator makes no awaitable (`await` looks at the class alone)."""

    def __init__(self, is_awaitable: Callable[[Any], bool]) -> None:
        self.is_awaitable = is_awaitable
        self.never: set[type] = {dict}  # plain data (`read_field`)

    def __call__(self, value: Any) -> bool:
        if self.is_awaitable(value):
            return True
        cls = value.__class__
        if (
            hasattr(cls, "__strawberry_definition__")
            and not hasattr(cls, "__await__")
            and not issubclass(cls, (CoroutineType, GeneratorType))
        ):
            self.never.add(cls)
        return False


# One check per `is_awaitable` (strawberry's, in practice): the entry holds the function its
# key names by id.
_CHECKS: dict[int, tuple[Callable[[Any], bool], _AwaitableCheck]] = {}


def _awaitable_check(is_awaitable: Callable[[Any], bool]) -> _AwaitableCheck:
    found = _CHECKS.get(id(is_awaitable))
    if found is None:
        found = _CHECKS[id(is_awaitable)] = (is_awaitable, _AwaitableCheck(is_awaitable))
    return found[1]


class PlainFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    # Plain reads only for an operation met before (see the module's docstring); tests that
    # compare every execution with graphql-core's plan from the first.
    plan_first_execution = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        middleware = self.middleware_manager
        self._direct = (middleware is None or not middleware.middlewares) and (
            _met_before(self.operation) or self.plan_first_execution
        )
        # Per execution, as graphql-core's memo of collected sub-fields: a field group is a
        # list made for this execution, kept here with the plan so its id is not reused.
        self._reads: dict[int, tuple[FieldDetailsList, Read | None]] = {}
        self._completions: dict[tuple[int, int], tuple[FieldDetailsList, Plan | None]] = {}

    def execute_operation(self, serially: bool | None = None) -> Any:
        """graphql-core's answer, once every resolver the execution started has finished.
        When an error propagates past fields whose resolvers are still pending (awaitables of
        sibling fields or list items), graphql-core returns at once and settles those in the
        background (`Executor.settle_in_background`). They would then run after the operation's
        unit of work has ended (graphql/context.py: committed or rolled back, and closed), and
        an event loop that stops first (asyncio.run) cancels them before they start, leaving
        the coroutines they hold never awaited. Waiting here keeps every resolver inside the
        operation; an execution with nothing in the background returns as before."""
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            return self._settled(result)
        if self.background_futures:
            return self._settled(_ready(result))
        self._detach()
        return result

    async def _settled(self, result: Awaitable[Any]) -> Any:
        try:
            answer = await result
            pending = self.background_futures
            while pending:  # a settled future leaves the set (graphql-core's done callback)
                await asyncio.wait(list(pending))
            return answer
        finally:
            self._detach()

    def _detach(self) -> None:
        """graphql-core keeps its helpers for resolvers (`info.async_helpers`) on the executor,
        as bound methods of the executor: a reference cycle, so every operation's executor and
        what it holds (the request's context, its variables, the plan memos) was freed only by
        the garbage collector. Under load that garbage is what fills the young generation (a
        GraphQL page left ~150 objects in cycles, REST none), and each collection stalls every
        request in flight (bench/README.md, "GraphQL's tail"). The operation is settled here:
        nothing calls the helpers any more, so they are swapped for ones bound to nothing."""
        self.async_helpers = _SETTLED_HELPERS

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
                resolve, attribute, plan = read
                try:
                    return plan.complete(resolve(source, attribute))
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
            plan = self._completion(return_type, field_details_list)
            if plan is not None:
                try:
                    return plan.complete(result)
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

    def _completion(self, type_: GraphQLOutputType, fields: FieldDetailsList) -> "Plan | None":
        key = (id(type_), id(fields))
        found = self._completions.get(key)
        if found is None:
            found = (fields, self._shared_plan(type_, fields))
            self._completions[key] = found
        return found[1]

    def _shared_plan(self, type_: GraphQLOutputType, fields: FieldDetailsList) -> "Plan | None":
        """The plan an earlier execution of this operation made for these fields, when the
        fields they select are collected the same way whatever the variables: in an operation
        without directives (@skip, @include, @defer) or fragment variables, collection is a
        function of the document and the schema alone."""
        plans = _operation_plans(self.operation, self.fragments)
        if plans is None:
            return self._plan_completion(type_, fields)
        nodes = tuple(details.node for details in fields)
        # The entry holds everything its key names by id, so no id is reused while it lives.
        key = (id(type_), id(self.is_awaitable), *map(id, nodes))
        found = plans.get(key)
        if found is None:
            found = (type_, self.is_awaitable, nodes, self._plan_completion(type_, fields))
            plans[key] = found
        plan: Plan | None = found[-1]
        return plan

    def _plan_read(self, parent_type: GraphQLObjectType, fields: FieldDetailsList) -> Read | None:
        name = fields[0].node.name.value
        if name == "__typename":
            return (_Constant(parent_type.name), name, _IDENTITY)
        field_def = self.schema.get_field(parent_type, name)
        if field_def is None or field_def.args:
            return None
        # strawberry's basic field: no resolver and no field extension (permission classes
        # are one); its value is `default_resolver(source, python_name)` (get_result).
        definition = field_def.extensions.get(DEFINITION_BACKREF)
        if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
            return None
        plan = self._completion(field_def.type, fields)
        if plan is None:
            return None
        return (definition.default_resolver, definition.python_name, plan)

    def _plan_completion(self, type_: GraphQLOutputType, fields: FieldDetailsList) -> Plan | None:
        nullable = True
        if isinstance(type_, GraphQLNonNull):
            nullable, type_ = False, type_.of_type
        if isinstance(type_, GraphQLList):
            return self._plan_list(type_, fields, nullable)
        if is_leaf_type(type_):
            return _cached_leaf_plan(type_, nullable, self.is_awaitable)
        if isinstance(type_, GraphQLObjectType) and type_.is_type_of is None:
            return self._plan_object(type_, fields, nullable)
        return None  # abstract types, or an object type that checks its values

    def _plan_list(
        self, type_: GraphQLList[Any], fields: FieldDetailsList, nullable: bool
    ) -> Plan | None:
        item = self._completion(type_.of_type, fields)
        if item is None:
            return None
        code = _Code()
        # Anything else iterable (a generator, an async iterable) is graphql-core's.
        body = [
            *code.none_check("value", nullable),
            "if value.__class__ is not list and value.__class__ is not tuple:",
            "    raise Unusual",
            f"return [{item.inline(code, 'v')} for v in value]",
        ]
        return code.compiled(body)

    def _plan_object(
        self, type_: GraphQLObjectType, fields: FieldDetailsList, nullable: bool
    ) -> Plan | None:
        grouped, deferred, forbidden = self.collect_subfields(type_, fields)
        if deferred or forbidden:
            return None
        reads = []
        for response_name, sub_fields in grouped.items():
            read = self._read(type_, sub_fields)
            if read is None:
                return None
            reads.append((response_name, read))
        code = _Code()
        # A value of a class known never to be awaitable is not asked (`_AwaitableCheck`).
        check = _awaitable_check(self.is_awaitable)
        body = [
            *code.none_check("value", nullable),
            f"if value.__class__ not in {code.ref(check.never)} and {code.ref(check)}(value):",
            "    raise Unusual",
        ]
        # Every field is read first, then completed: a read is a pure function of its source.
        entries = []
        for i, (response_name, (resolve, attribute, plan)) in enumerate(reads):
            if isinstance(resolve, _Constant):  # __typename, complete as it is
                entries.append(f"{response_name!r}: {code.ref(resolve.value)}")
                continue
            body.append(f"x{i} = {code.read(resolve, attribute)}")
            entries.append(f"{response_name!r}: {plan.inline(code, f'x{i}')}")
        body.append("return {" + ", ".join(entries) + "}")
        return code.compiled(body)


_IDENTITY = Plan(_identity)


def leaf_completion(
    type_: GraphQLLeafType, nullable: bool, is_awaitable: Callable[[Any], bool]
) -> Complete:
    """`leaf_plan`'s completion, as lists and objects inline it."""
    return leaf_plan(type_, nullable, is_awaitable).complete
