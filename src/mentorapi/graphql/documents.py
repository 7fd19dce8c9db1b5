"""Document checks: refuse, in time linear in the document, what would make validation slow.

Validation runs on the event loop before authentication, so a document that is slow to validate
stalls every tenant's requests, and anyone can send one. What makes validation super-linear:

- Fragments spread more than once. `fragment F0 on Query { ...F1 ...F1 }`, 24 levels deep, is a
  1 KB document that stands for 2**24 fields; a rule that expands spreads as it walks (a depth
  or alias counter written the obvious way) never finishes. Here every definition is walked
  once, on its own, and a fragment is summarised once (its depth, aliases and size with its own
  spreads expanded, as numbers), so a spread costs one addition however often it is repeated.
- Fields with one response name in one selection set. graphql-core's
  OverlappingFieldsCanBeMerged compares every pair of them, then every pair of their
  sub-selections: `{ app { id } app { id } ... }` 490 times (2000 tokens) is over a second.
  Once the size check has bounded the merged document, `overlapping_pairs` counts those pairs
  (fields merged the way execution merges them, fragments included) and refuses past a budget.
- Smaller multipliers: a directive repeated hundreds of times (an error each), a list literal
  nested 190 deep (its error message prints it, indented: quadratic).

`DocumentValidation` runs these checks first, then graphql-core's rules only on a document that
passed, and caches the document with that verdict by its text. It also refuses a request whose
operation is ambiguous or unknown, before anything runs (`OperationContext`), and reports a
document refused before parsing (`refuse`: too long). Every refusal is a GraphQL error with a
code, on every transport.
"""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    parse,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from mentorapi.kit.bounded import BoundedLRU

# An Int is 32 bits, and a Float's 17 significant digits can be written in far fewer.
MAX_NUMBER_LENGTH = 100

# Sums are capped here: a summary needs to know "over the limit", not by how much, and capped
# numbers keep the arithmetic on small ints whatever the document multiplies.
_CAP = 1 << 40

CODE = "GRAPHQL_VALIDATION_FAILED"


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    # Fields, fragment spreads and inline fragments once fragments are expanded (per document,
    # summed over its operations); also bounds the written document, used fragments or not.
    max_selections: int
    # Pairs of same-named fields OverlappingFieldsCanBeMerged would compare, plus pairs of
    # fragments spread into one selection set.
    max_overlapping_pairs: int
    # Directives written in the document: each unknown or repeated one is an error to build.
    max_directives: int
    # Lists and input objects nested in one argument value: an error prints the value, and
    # graphql-core's printer indents it, quadratic in the nesting.
    max_value_depth: int


@dataclass
class _Summary:
    """A definition with its fragment spreads expanded, as numbers."""

    depth: int = 0  # levels of fields below the definition's own selection set
    aliases: int = 0
    selections: int = 0


@dataclass
class _Local:
    """A definition on its own: what it selects directly, and where it spreads fragments."""

    depth: int = 0
    aliases: int = 0
    selections: int = 0
    directives: int = 0
    value_depth: int = 0
    longest_number: int = 0  # characters of the longest Int or Float literal
    # (fragment name, the level the spread sits at, or None inside an introspection field,
    # which the depth limit leaves to graphql-core's MaxIntrospectionDepthRule)
    spreads: list[tuple[str, int | None]] = field(default_factory=list)


@dataclass
class Work:
    """How many selections the checks looked at: tests assert it grows with the document's
    size, not with what its fragments stand for."""

    visited: int = 0


def _local(selection_set: SelectionSetNode, work: Work) -> _Local:
    # An explicit stack: the parser allows 200 levels of nesting per definition, too many for
    # Python's recursion once a web server's frames are below.
    local = _Local()
    stack: list[tuple[SelectionSetNode, int | None]] = [(selection_set, 0)]
    while stack:
        current, level = stack.pop()
        for selection in current.selections:
            work.visited += 1
            local.selections += 1
            local.directives += len(selection.directives or ())
            for directive in selection.directives or ():
                for argument in directive.arguments or ():
                    _values(local, argument.value)
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    local.aliases += 1
                for argument in selection.arguments or ():
                    _values(local, argument.value)
                if level is not None:
                    local.depth = max(local.depth, level)
                if selection.selection_set is not None:
                    # Introspection fields add no depth (graphql-core bounds them on its own),
                    # the same as strawberry's QueryDepthLimiter, which this replaces.
                    inner = None
                    if level is not None and not selection.name.value.startswith("__"):
                        inner = level + 1
                    stack.append((selection.selection_set, inner))
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, level))
            elif isinstance(selection, FragmentSpreadNode):
                local.spreads.append((selection.name.value, level))
    return local


def _values(local: _Local, value: ValueNode) -> None:
    depth, longest = _value_facts(value)
    local.value_depth = max(local.value_depth, depth)
    local.longest_number = max(local.longest_number, longest)


def _value_facts(value: ValueNode) -> tuple[int, int]:
    """How deep lists and input objects nest in a literal (without recursion), and the
    characters of its longest number."""
    deepest = longest = 0
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, IntValueNode | FloatValueNode):
            longest = max(longest, len(node.value))
        elif isinstance(node, ListValueNode):
            stack.extend((v, depth + 1) for v in node.values)
        elif isinstance(node, ObjectValueNode):
            stack.extend((f.value, depth + 1) for f in node.fields)
    return deepest, longest


def _expand(local: _Local, summaries: dict[str, _Summary]) -> _Summary:
    summary = _Summary(local.depth, local.aliases, local.selections)
    for name, level in local.spreads:
        inner = summaries.get(name)
        if inner is None:  # unknown, or closes a cycle: graphql-core's rules report both
            continue
        if level is not None:
            summary.depth = max(summary.depth, level + inner.depth)
        summary.aliases = min(_CAP, summary.aliases + inner.aliases)
        summary.selections = min(_CAP, summary.selections + inner.selections)
    return summary


def _fragment_summaries(
    fragments: dict[str, FragmentDefinitionNode], locals_: dict[str, _Local]
) -> dict[str, _Summary]:
    """Each fragment summarised once, those it spreads first (a depth-first walk without
    recursion: fragment chains can be as long as the token limit allows)."""
    summaries: dict[str, _Summary] = {}
    for root in fragments:
        if root in summaries:
            continue
        path = [(root, iter(locals_[root].spreads))]
        on_path = {root}
        while path:
            name, spreads = path[-1]
            for spread, _level in spreads:
                if spread in fragments and spread not in summaries and spread not in on_path:
                    path.append((spread, iter(locals_[spread].spreads)))
                    on_path.add(spread)
                    break
            else:
                path.pop()
                on_path.discard(name)
                summaries[name] = _expand(locals_[name], summaries)
    return summaries


def _error(message: str, node: Any = None, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, nodes=node, extensions={"code": CODE, **extensions})


def overlapping_pairs(
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    work: Work,
    budget: int,
) -> int:
    """Pairs of fields with one response name in one merged selection set, and pairs of
    fragments spread into one, over the operation merged the way execution merges it.

    That is the work of OverlappingFieldsCanBeMerged, which compares each such pair (and then
    their sub-selections, counted here at the next level). Stops counting past `budget`.
    Call it only on a document whose expanded size is bounded: it walks the merged document.
    """
    pairs = 0
    stack: list[list[SelectionSetNode]] = [[operation.selection_set]]
    while stack and pairs <= budget:
        merged = stack.pop()
        by_key: dict[str, list[FieldNode]] = {}
        spread: set[str] = set()
        sets = list(merged)
        while sets:
            for selection in sets.pop().selections:
                work.visited += 1
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    by_key.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    sets.append(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = fragments.get(name)
                    if fragment is not None and name not in spread:
                        spread.add(name)  # a fragment spread twice is collected once
                        sets.append(fragment.selection_set)
        pairs += len(spread) * (len(spread) - 1) // 2
        for same in by_key.values():
            pairs += len(same) * (len(same) - 1) // 2
            children = [f.selection_set for f in same if f.selection_set is not None]
            if children:
                stack.append(children)
    return pairs


def check_document(
    document: DocumentNode, limits: Limits, work: Work | None = None
) -> list[GraphQLError]:
    """The document's errors against `limits` (at most one), found in linear time."""
    work = work if work is not None else Work()
    fragments: dict[str, FragmentDefinitionNode] = {}
    locals_: dict[str, _Local] = {}
    operations: list[OperationDefinitionNode] = []
    operation_locals: list[_Local] = []
    written = directives = value_depth = longest_number = 0
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode | OperationDefinitionNode):
            local = _local(definition.selection_set, work)
            written += local.selections
            directives += local.directives + len(definition.directives or ())
            value_depth = max(value_depth, local.value_depth)
            longest_number = max(longest_number, local.longest_number)
            for variable in getattr(definition, "variable_definitions", None) or ():
                directives += len(variable.directives or ())
                if variable.default_value is not None:
                    depth, longest = _value_facts(variable.default_value)
                    value_depth = max(value_depth, depth)
                    longest_number = max(longest_number, longest)
        if isinstance(definition, FragmentDefinitionNode):
            # A name defined twice is graphql-core's to report; the first one stands for it.
            if definition.name.value not in fragments:
                fragments[definition.name.value] = definition
                locals_[definition.name.value] = local
        elif isinstance(definition, OperationDefinitionNode):
            operations.append(definition)
            operation_locals.append(local)
    if written > limits.max_selections:
        return [_selections_error(written, limits)]
    if directives > limits.max_directives:
        return [
            _error(
                f"the document has {directives} directives, more than the maximum of "
                f"{limits.max_directives}",
                maxDirectives=limits.max_directives,
            )
        ]
    if value_depth > limits.max_value_depth:
        return [
            _error(
                f"an argument nests lists or input objects {value_depth} deep, more than the "
                f"maximum of {limits.max_value_depth}: pass deep values as variables",
                maxValueDepth=limits.max_value_depth,
            )
        ]

    if longest_number > MAX_NUMBER_LENGTH:
        # graphql-core's Int coercion calls `int` on it, which raises past 4,300 digits: an
        # INTERNAL error, not the client's. No argument takes a number this long.
        return [
            _error(
                f"a number literal is {longest_number} characters long, more than the maximum "
                f"of {MAX_NUMBER_LENGTH}",
                maxNumberLength=MAX_NUMBER_LENGTH,
            )
        ]

    summaries = _fragment_summaries(fragments, locals_)
    aliases = selections = 0
    for operation, local in zip(operations, operation_locals, strict=True):
        summary = _expand(local, summaries)
        if summary.depth > limits.max_depth:
            name = operation.name.value if operation.name else "anonymous"
            return [
                _error(
                    f"'{name}' exceeds maximum operation depth of {limits.max_depth}",
                    operation,
                    maxDepth=limits.max_depth,
                )
            ]
        aliases = min(_CAP, aliases + summary.aliases)
        selections = min(_CAP, selections + summary.selections)
    if aliases > limits.max_aliases:
        return [
            _error(
                f"{aliases} aliases found. Allowed: {limits.max_aliases}",
                maxAliases=limits.max_aliases,
            )
        ]
    if selections > limits.max_selections:
        return [_selections_error(selections, limits)]

    pairs = 0
    for operation in operations:
        pairs += overlapping_pairs(operation, fragments, work, limits.max_overlapping_pairs)
        if pairs > limits.max_overlapping_pairs:
            return [
                _error(
                    "the document selects the same fields too many times over "
                    f"(more than {limits.max_overlapping_pairs} overlapping pairs): "
                    "select each field once in a selection set",
                    maxOverlappingPairs=limits.max_overlapping_pairs,
                )
            ]
    return []


def _selections_error(count: int, limits: Limits) -> GraphQLError:
    shown = f"{count}" if count < _CAP else f"more than {_CAP}"
    return _error(
        f"the document selects {shown} fields once its fragments are expanded, more than "
        f"the maximum of {limits.max_selections}: spread each fragment once, or ask for less",
        maxSelections=limits.max_selections,
    )


def operations_of(document: DocumentNode) -> Sequence[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def chosen_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    """The operation that runs, as the spec picks it: the named one, or the only one."""
    operations = operations_of(document)
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    return None


def operation_choice_errors(
    document: DocumentNode, operation_name: str | None
) -> list[GraphQLError]:
    if chosen_operation(document, operation_name) is not None:
        return []
    operations = operations_of(document)
    if operation_name is not None:
        names: Iterable[str] = (o.name.value for o in operations if o.name is not None)
        known = ", ".join(sorted(set(names))) or "none"
        message = f"Unknown operation named '{operation_name}' (the document has: {known})."
    elif operations:
        message = "Must provide operation name if query contains multiple operations."
    else:
        message = "The document contains no operation to run."
    return [_error(message)]


def drop_undeclared(
    variables: dict[str, Any] | None, operation: OperationDefinitionNode | None
) -> None:
    """Removes, in place, the variables `operation` does not declare. GraphQL ignores them, but
    the transport keeps the very dict for the operation's life: a subscription given a 1 MB
    message of `[{}, {}, ...]` under an unused name held 17 MB of objects for as long as it
    ran, 350 MB per socket. In place, since the WebSocket handler holds this dict, not a copy."""
    if not variables or operation is None:
        return
    declared = {d.variable.name.value for d in operation.variable_definitions or ()}
    for name in [name for name in variables if name not in declared]:
        del variables[name]


# Stands in for a document refused before parsing, so that strawberry goes on to validation,
# where the refusal is reported (raised from the parse step, an error escapes the WebSocket
# transport's handling).
_REFUSED = parse("{ __typename }")


def refuse(context: ExecutionContext, message: str, **extensions: Any) -> None:
    """Refuse the request before its document is parsed; `DocumentValidation` reports it."""
    context.graphql_document = _REFUSED
    setattr(context, "refusal", _error(message, **extensions))  # noqa: B010 (any context)


class OperationContext(ExecutionContext):
    """strawberry's ExecutionContext, except for which operation runs.

    strawberry runs the first operation of a document when no `operationName` is given, and
    answers an unknown name with a bare HTTP 400 (over WebSocket, a closed socket). The spec
    runs the named operation or the only one; otherwise nothing runs, and `DocumentValidation`
    says why, as a GraphQL error like every other refusal. Until then the operation's type
    reads as a query: the type only decides which transports may run it, and it will not run.
    """

    @property
    def requested_operation_name(self) -> str | None:
        name: str | None = self._provided_operation_name
        return name

    @property
    def operation_name(self) -> str | None:
        document = self.graphql_document
        if document is None:
            return self.requested_operation_name
        operation = chosen_operation(document, self._provided_operation_name)
        if operation is None:
            return self.requested_operation_name
        return operation.name.value if operation.name else None

    @property
    def operation_type(self) -> OperationType:
        document = self.graphql_document
        if document is None:
            raise RuntimeError("No GraphQL document available")
        operation = chosen_operation(document, self._provided_operation_name)
        if operation is None:
            return OperationType.QUERY
        return OperationType(operation.operation.value)


# About the bytes a parsed document and its verdict hold, per character of its text (measured
# with tracemalloc): 56 to 163 for bench/graphql_documents.py's documents, and up to about 300
# for one-letter names between spaces or braces, a node and a token per character or two
# (tests/gql/test_document_cache.py measures them against this figure).
BYTES_PER_DOCUMENT_CHAR = 400
MAX_DOCUMENTS = 256
MAX_DOCUMENT_BYTES = 32 * 2**20


@dataclass(frozen=True)
class Verdict:
    """A document as parsed, and what its checks and graphql-core's rules found (nothing: it
    is valid). Cached together, so a document read from the cache is never spared a check."""

    document: DocumentNode
    errors: tuple[GraphQLError, ...]


Documents = BoundedLRU[str, Verdict]


def new_documents(
    max_entries: int = MAX_DOCUMENTS, max_bytes: int = MAX_DOCUMENT_BYTES
) -> Documents:
    """The verdicts of one schema (its rules decide them), by the exact text of the document."""
    return BoundedLRU(
        max_entries=max_entries,
        max_weight=max_bytes,
        weigh=lambda query, _verdict: BYTES_PER_DOCUMENT_CHAR * len(query),
    )


class DocumentValidation(SchemaExtension):
    """Parses and validates each document text once: replaces strawberry's ParserCache and
    ValidationCache. A text seen before gets its document and its verdict from `documents`
    (bounded in entries and bytes); a new one is parsed with the request's parse options (the
    token limit), checked (`check_document`), then given graphql-core's rules only if it
    passed, and its verdict kept. The operation must be known (`operation_choice_errors`, per
    request: it depends on the operation name).

    A text longer than `max_length` characters is not parsed at all: the token limit counts a
    1 MB string as one token, and lexing it is 150 ms of CPU. It is refused at validation
    (`refuse`), the one place whose errors every transport reports the same way. A text that
    does not parse (a syntax error, too many tokens) is left to strawberry's own parse step,
    which reports the error as a normal GraphQL error response."""

    def __init__(self, limits: Limits, documents: Documents, max_length: int) -> None:
        super().__init__()
        self.limits = limits
        self.documents = documents
        self.max_length = max_length
        self.verdict: Verdict | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query is not None and len(query) > self.max_length:
            refuse(
                context,
                f"the document is {len(query)} characters long, more than the maximum "
                f"of {self.max_length}: pass long values as variables",
                maxLength=self.max_length,
            )
        elif query is not None:
            self.verdict = self.documents.get(query)
            if self.verdict is not None:
                context.graphql_document = self.verdict.document
            else:
                with suppress(GraphQLError):  # strawberry parses it again, and reports it
                    context.graphql_document = parse(query, **context.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        refusal: GraphQLError | None = getattr(context, "refusal", None)
        if refusal is not None:
            context.pre_execution_errors = [refusal]
        elif document is not None:
            requested = getattr(context, "requested_operation_name", context.operation_name)
            errors = operation_choice_errors(document, requested)
            if not errors:
                verdict = self.verdict or self._judge(context, document)
                errors = list(verdict.errors)  # a list of this request's own
            if not errors:
                drop_undeclared(context.variables, chosen_operation(document, requested))
            context.pre_execution_errors = errors
        yield

    def _judge(self, context: ExecutionContext, document: DocumentNode) -> Verdict:
        from strawberry.schema.schema import validate_document

        schema = context.schema._schema
        errors = check_document(document, self.limits) or validate_document(
            schema, document, context.validation_rules
        )
        verdict = Verdict(document, tuple(errors))
        if context.query is not None:
            self.documents.put(context.query, verdict)
        return verdict
