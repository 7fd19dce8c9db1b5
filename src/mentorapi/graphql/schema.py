"""Schema assembly: every domain's `gql.py` contributes a `Query` (and maybe a `Mutation`
or a `Subscription`, whose resolvers read `info.context.pubsub`).

Adding a domain (sessions, feedback, webhooks):
1. `<domain>/gql.py`: types written by hand with a `from_model` classmethod; `Query` and
   `Mutation` classes whose resolvers only translate: check ids with `inputs.typed_id`, validate
   input with the REST schema through `inputs.validate`, get `await info.context.app_id()`, call
   the service inside `async with info.context.session() as db_session:`, return `from_model`.
   Lists return `Connection[T].build(rows, next_cursor, node=..., sort=..., key=..., info=info)`.
   Nested objects come from a loader in `loaders.py` (prime it with what the service loaded).
2. Add the module to DOMAINS below.
3. `mentorapi export-schemas` and commit openapi/schema.graphql.
"""

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from functools import partial
from types import ModuleType
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from mentorapi.apps import gql as apps_gql
from mentorapi.availability import gql as availability_gql
from mentorapi.cohorts import gql as cohorts_gql
from mentorapi.config import Settings
from mentorapi.feedback import gql as feedback_gql
from mentorapi.goals import gql as goals_gql
from mentorapi.graphql.context import Admission, UnitOfWork
from mentorapi.graphql.documents import (
    Documents,
    DocumentValidation,
    Limits,
    OperationContext,
    new_documents,
)
from mentorapi.graphql.errors import ErrorCodes, InvalidScalar, is_expected
from mentorapi.graphql.execution import PlainFieldsExecutor, read_field
from mentorapi.graphql.folded import Folded, FoldedRunner
from mentorapi.graphql.introspection import Answers, IntrospectionMemo, new_answers
from mentorapi.graphql.limits import MAX_COST, QueryCostLimiter
from mentorapi.graphql.lists import ListBounds, RefuseLongLists, rest_list_bounds
from mentorapi.graphql.text import RefuseUnstorableText
from mentorapi.group_sessions import gql as group_sessions_gql
from mentorapi.matching import gql as matching_gql
from mentorapi.mentees import gql as mentees_gql
from mentorapi.mentoring_events import gql as mentoring_events_gql
from mentorapi.mentors import gql as mentors_gql
from mentorapi.reminders import gql as reminders_gql
from mentorapi.sessions import gql as sessions_gql
from mentorapi.skills import gql as skills_gql
from mentorapi.webhooks import gql as webhooks_gql

DOMAINS: list[ModuleType] = [
    apps_gql,
    skills_gql,
    mentors_gql,
    mentees_gql,
    availability_gql,
    sessions_gql,
    group_sessions_gql,
    goals_gql,
    feedback_gql,
    webhooks_gql,
    reminders_gql,
    matching_gql,
    cohorts_gql,
    mentoring_events_gql,
]

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2_000
MAX_DOCUMENT_LENGTH = 50_000  # characters: the token limit counts a long string as one token
# With fragments expanded; GraphiQL's full introspection query is 239. Bounds the work of
# every validation rule, and of execution's field collection, to what a real client asks.
MAX_SELECTIONS = 1_000
# Same-named fields (and fragments) in one selection set, in pairs: what graphql-core's
# OverlappingFieldsCanBeMerged compares one against another. Real documents have a few dozen.
MAX_OVERLAPPING_PAIRS = 500
MAX_DIRECTIVES = 50  # @include/@skip where a client needs them; each one unknown is an error
MAX_VALUE_DEPTH = 10  # input objects in lists in input objects...: our inputs nest 3 deep

log = logging.getLogger("mentorapi.graphql")


def _serialize_datetime(value: datetime) -> str:
    # The same form as REST: UTC with a Z.
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_datetime(value: object) -> datetime:
    # A malformed timestamp is the client's input, not our bug: raise InvalidScalar (a
    # ValueError that errors.py maps to BAD_USER_INPUT), never a bare ValueError or TypeError,
    # which graphql-core passes on as an unexpected error when the value is a literal.
    if not isinstance(value, str):
        raise InvalidScalar(f"a DateTime is an RFC 3339 string, got {type(value).__name__}")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidScalar(f"not an RFC 3339 timestamp: {value[:40]!r}") from None


def _parse_date(value: object) -> date:
    if not isinstance(value, str):
        raise InvalidScalar(f"a Date is a YYYY-MM-DD string, got {type(value).__name__}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidScalar(f"not a YYYY-MM-DD date: {value[:40]!r}") from None


DATETIME = strawberry.scalar(
    name="DateTime",
    description="An RFC 3339 timestamp; output in UTC with Z, input with any offset.",
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)
# strawberry's own Date, with the same name and description (the SDL does not change), but
# errors located at the value, as DateTime's, rather than a bare error without a location.
DATE = strawberry.scalar(
    name="Date",
    description="Date (isoformat)",
    serialize=date.isoformat,
    parse_value=_parse_date,
)


class MentorapiSchema(strawberry.Schema):
    introspection_answers: Answers | None = None  # graphql/introspection.py
    documents: Documents | None = None  # graphql/documents.py: parsed, with their verdicts
    list_bounds: ListBounds | None = None  # graphql/lists.py

    def _create_execution_context(
        self,
        query: str | None,
        allowed_operation_types: Iterable[OperationType],
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionContext:
        # The operation that runs is the named one or the only one (documents.OperationContext).
        return OperationContext(
            query=query,
            schema=self,
            allowed_operations=allowed_operation_types,
            context=context_value,
            root_value=root_value,
            variables=variable_values,
            provided_operation_name=operation_name,
            operation_extensions=operation_extensions,
        )

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        # `execute` answers once, and only HTTP calls it (the WebSocket streams every
        # operation): a subscription here ran its resolver as a field, and its stream, not a
        # value, was an INTERNAL error. Refused before it runs, as a mutation over GET is (a
        # 400 problem): subscriptions take the WebSocket, with its caps and its checks.
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed - {OperationType.SUBSCRIPTION},
            operation_extensions,
        )

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        # The folded extension's steps without strawberry's per-request hook discovery.
        return FoldedRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # A client's mistake (NOT_FOUND, BAD_USER_INPUT, ...) is not our error: log only bugs.
        for error in errors:
            if not is_expected(error):
                log.error("GraphQL resolver failed", exc_info=error.original_error)


def _merged(kind: str) -> Any:
    parts = tuple(getattr(m, kind) for m in DOMAINS if hasattr(m, kind))
    return merge_types(kind, parts) if parts else None


LIMITS = Limits(
    max_depth=MAX_DEPTH,
    max_aliases=MAX_ALIASES,
    max_selections=MAX_SELECTIONS,
    max_overlapping_pairs=MAX_OVERLAPPING_PAIRS,
    max_directives=MAX_DIRECTIVES,
    max_value_depth=MAX_VALUE_DEPTH,
)


def build_schema(settings: Settings | None = None) -> MentorapiSchema:
    introspection = settings.graphql_introspection if settings is not None else True
    # Depth and aliases are checked by documents.check_document, in time linear in the
    # document (strawberry's QueryDepthLimiter and MaxAliasesLimiter expand every fragment
    # spread again, exponential in a document of spreads that spread twice).
    rules: list[type[ASTValidationRule]] = []
    bounds = ListBounds()  # filled below, once the schema exists
    answers = new_answers()  # one memo per schema, shared by its requests
    documents = new_documents()  # verdicts depend on the schema's rules: one cache per schema
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    # Factories, not instances: strawberry then makes fresh extensions for every request.
    extensions: list[Callable[[], SchemaExtension]] = [
        ErrorCodes,  # first in, last out: sees the final errors, after the unit of work
        UnitOfWork,
        Admission,  # each operation is admitted once, as a REST request is
        partial(AddValidationRules, rules),
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        partial(QueryCostLimiter, max_cost=MAX_COST),
        partial(IntrospectionMemo, answers),  # after the cost: it may answer, then nothing runs
        # Clients send the same few documents again and again: parse and validate each once.
        partial(DocumentValidation, LIMITS, documents, MAX_DOCUMENT_LENGTH),
        # After DocumentValidation, whose validation errors they add to: lists over their
        # bound (graphql/lists.py), first, so that their items are not walked for text either;
        # text the database cannot store (graphql/text.py).
        partial(RefuseLongLists, bounds),
        RefuseUnstorableText,
    ]
    Folded(extensions)  # its table made now: a hook it cannot run fails here, not in a request
    schema = MentorapiSchema(
        query=_merged("Query"),
        mutation=_merged("Mutation"),
        subscription=_merged("Subscription"),
        # As one extension (graphql/folded.py): strawberry's runner costs per extension and hook.
        extensions=[partial(Folded, tuple(extensions))],
        execution_context_class=PlainFieldsExecutor,
        config=StrawberryConfig(
            auto_camel_case=True,
            scalar_map={datetime: DATETIME, date: DATE},
            default_resolver=read_field,  # attributes, or a dict's items (plain data)
        ),
    )
    bounds.fill(schema._schema, rest_list_bounds())
    schema.list_bounds = bounds
    schema.introspection_answers = answers
    schema.documents = documents
    return schema
