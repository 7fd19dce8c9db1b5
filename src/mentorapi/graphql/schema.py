"""Schema assembly: every domain's `gql.py` contributes a `Query` (and maybe a `Mutation`
or a `Subscription`, whose resolvers read `info.context.pubsub`).

Adding a domain (sessions, feedback, webhooks):
1. `<domain>/gql.py`: types written by hand with a `from_model` classmethod; `Query` and
   `Mutation` classes whose resolvers only translate: check ids with `inputs.typed_id`, validate
   input with the REST schema through `inputs.validate`, get `await info.context.app_id()`, call
   the service inside `async with info.context.session() as db_session:`, return `from_model`.
   Lists return `Connection[T].build(rows, next_cursor, node=..., sort=..., key=...)`.
   Nested objects come from a loader in `loaders.py` (prime it with what the service loaded).
2. Add the module to DOMAINS below.
3. `mentorapi export-schemas` and commit openapi/schema.graphql.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from types import ModuleType
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from mentorapi.apps import gql as apps_gql
from mentorapi.availability import gql as availability_gql
from mentorapi.config import Settings
from mentorapi.feedback import gql as feedback_gql
from mentorapi.goals import gql as goals_gql
from mentorapi.graphql.context import Admission, UnitOfWork
from mentorapi.graphql.errors import ErrorCodes, is_expected
from mentorapi.graphql.limits import MAX_COST, QueryCostLimiter, SafeParserCache
from mentorapi.graphql.text import RefuseUnstorableText
from mentorapi.mentees import gql as mentees_gql
from mentorapi.mentors import gql as mentors_gql
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
    goals_gql,
    feedback_gql,
    webhooks_gql,
]

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2_000
DOCUMENT_CACHE_SIZE = 256

log = logging.getLogger("mentorapi.graphql")


def _serialize_datetime(value: datetime) -> str:
    # The same form as REST: UTC with a Z.
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


DATETIME = strawberry.scalar(
    name="DateTime",
    description="An RFC 3339 timestamp; output in UTC with Z, input with any offset.",
    serialize=_serialize_datetime,
    parse_value=datetime.fromisoformat,
)


class MentorapiSchema(strawberry.Schema):
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


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    introspection = settings.graphql_introspection if settings is not None else True
    # The limits' validation rules are built once, so a document validates to the same cached
    # result on every request (ValidationCache keys on the rule classes).
    rules = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
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
        # Clients send the same few documents again and again: parse and validate each once.
        partial(SafeParserCache, maxsize=DOCUMENT_CACHE_SIZE),
        partial(ValidationCache, maxsize=DOCUMENT_CACHE_SIZE),
        # After ValidationCache, whose validation errors it adds to (graphql/text.py).
        RefuseUnstorableText,
    ]
    return MentorapiSchema(
        query=_merged("Query"),
        mutation=_merged("Mutation"),
        subscription=_merged("Subscription"),
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True, scalar_map={datetime: DATETIME}),
    )
