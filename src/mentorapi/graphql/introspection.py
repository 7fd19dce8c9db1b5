"""Introspection answered once per process: the schema's answer to an introspection-only query
never changes while the process lives, and it is the dearest query anyone may send without
credentials (GraphiQL's full introspection: about 35 ms of execution for a 1.5 KB request).

An operation whose root fields are all introspection (`__schema`, `__type`, `__typename`) is
answered from a memo keyed by its text, operation name and variables, bounded by entries and
bytes (kit/bounded.py). Nothing of a caller or of the data is in such an answer, so one caller's
answer is every caller's. With introspection turned off the document never validates, and never
gets here.
"""

import json
from collections.abc import Iterator
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import FieldNode, OperationDefinitionNode, OperationType
from strawberry.extensions import SchemaExtension

from mentorapi.graphql.documents import chosen_operation
from mentorapi.kit.bounded import BoundedLRU

MAX_ANSWERS = 32
MAX_BYTES = 8 * 2**20  # the full introspection of this schema is about 0.2 MB of JSON

Key = tuple[str, str | None, str]
Answers = BoundedLRU[Key, dict[str, Any]]


def new_answers() -> Answers:
    return BoundedLRU(
        max_entries=MAX_ANSWERS,
        max_weight=MAX_BYTES,
        weigh=lambda key, data: len(key[0]) + len(key[2]) + len(json.dumps(data)),
    )


def _introspection_only(operation: OperationDefinitionNode) -> bool:
    selections = operation.selection_set.selections
    return operation.operation is OperationType.QUERY and all(
        isinstance(s, FieldNode) and s.name.value.startswith("__") and not s.directives
        for s in selections
    )


class IntrospectionMemo(SchemaExtension):
    def __init__(self, answers: Answers) -> None:
        super().__init__()
        self.answers = answers

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        key: Key | None = None
        if document is not None and not ctx.result and not ctx.pre_execution_errors:
            requested = getattr(ctx, "requested_operation_name", ctx.operation_name)
            chosen = chosen_operation(document, requested)
            if chosen is not None and _introspection_only(chosen):
                variables = json.dumps(ctx.variables or {}, sort_keys=True, default=str)
                key = (ctx.query or "", requested, variables)
                known = self.answers.get(key)
                if known is not None:
                    ctx.result = GraphQLExecutionResult(data=known)
                    key = None
        yield
        result = ctx.result
        if key is not None and result is not None and not result.errors and result.data:
            self.answers.put(key, result.data)
