"""Hostile GraphQL documents: CPU ms to accept or refuse each one (target: under 20 ms).

    python -m bench.graphql_documents        # or: python -m bench graphql_documents

Each document fits the token limit (MAX_TOKENS) and is the kind of thing an attacker sends
without credentials: validation runs before authentication, on the event loop, so its CPU time
is time every other request waits. The scenario parses and validates each document exactly as a
request does (the schema's extensions: token limit, document checks, graphql-core's rules, cost),
without a database (a caller without credentials: a document that passes is then refused by
its first resolver), and prints the process CPU time to accept or refuse each document (median
of 5, each with a new text so no cache helps) and for the whole request. `DOCUMENTS` is also what
tests/security/test_graphql_documents.py sends over HTTP and the WebSocket.
"""

import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

TARGET_MS = 20.0


@dataclass(frozen=True)
class Hostile:
    name: str
    query: str
    variables: dict[str, Any] = field(default_factory=dict)
    operation_name: str | None = None


def fragment_bomb(levels: int, leaf: str = "app { id }") -> str:
    """Each fragment spreads the next twice: 2**levels copies of `leaf` once expanded."""
    parts = ["query { ...F0 }"]
    parts += [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    parts.append(f"fragment F{levels} on Query {{ {leaf} }}")
    return "\n".join(parts)


def wide_fragment_bomb(levels: int, width: int) -> str:
    parts = ["query { ...F0 }"]
    for i in range(levels):
        parts.append(f"fragment F{i} on Query {{ " + f"...F{i + 1} " * width + "}")
    parts.append(f"fragment F{levels} on Query {{ __typename }}")
    return "\n".join(parts)


def nested_fragment_bomb(levels: int) -> str:
    """The doubling goes through fields as well: `skills { ...N }` twice per level."""
    parts = ["query { ...N0 }", "fragment N0 on Query { skills { edges { node { ...S1 } } } }"]
    for i in range(1, levels):
        parts.append(f"fragment S{i} on Skill {{ ...S{i + 1} ...S{i + 1} }}")
    parts.append(f"fragment S{levels} on Skill {{ id name }}")
    return "\n".join(parts)


def _documents() -> list[Hostile]:
    docs = [
        Hostile("fragment bomb, 16 levels", fragment_bomb(16)),
        Hostile("fragment bomb, 24 levels", fragment_bomb(24)),
        Hostile("fragment bomb, 30 levels", fragment_bomb(30)),
        Hostile("fragment bomb, 30 levels, __typename", fragment_bomb(30, "__typename")),
        Hostile("fragment bomb, 8 wide x 12", wide_fragment_bomb(12, 8)),
        Hostile("fragment bomb through fields", nested_fragment_bomb(60)),
        # OverlappingFieldsCanBeMerged compares every pair of fields with one response name.
        Hostile("490 same-named fields", "{ " + "app { id } " * 490 + "}"),
        Hostile("980 __typename", "{ " + "__typename " * 980 + "}"),
        Hostile(
            "330 same-named fields, nested",
            "{ app { " + "id " * 10 + "} skills { edges { " + "node { id } " * 320 + "} } }",
        ),
        # ...and every pair of fragments spread in one selection set.
        Hostile(
            "150 fragments on one field",
            "{ "
            + " ".join(f"...F{i}" for i in range(150))
            + " "
            + " } "
            + " ".join(f"fragment F{i} on Query {{ app {{ id }} }}" for i in range(150)),
        ),
        Hostile(
            "one fragment spread 990 times",
            "{ " + "...F " * 990 + "} fragment F on Query { app { id name } }",
        ),
        Hostile(
            "fragments spread in many places",
            "{ skills { edges { "
            + "node { ...S } " * 150
            + "} } } fragment S on Skill { id name slug ...T ...T } fragment T on Skill { id }",
        ),
        # NoUnusedFragments / NoUndefinedVariables walk every fragment for every operation.
        Hostile(
            "120 operations x 120 fragments",
            " ".join(f"query Q{i} {{ ...F0 }}" for i in range(120))
            + " "
            + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(120))
            + " fragment F120 on Query { __typename }",
            operation_name="Q0",
        ),
        Hostile(
            "150 operations, variable usages in a shared fragment",
            " ".join(f"query Q{i}($n: Int) {{ ...F }}" for i in range(150))
            + " fragment F on Query { "
            + " ".join("skills(first: $n) { __typename }" for i in range(15))
            + " }",
            operation_name="Q0",
        ),
        Hostile(
            "330 variables",
            "query (" + " ".join(f"$v{i}: Int" for i in range(330)) + ") { __typename }",
        ),
        Hostile("600 aliases", "{ " + " ".join(f"a{i}: __typename" for i in range(650)) + " }"),
        Hostile(
            "a directive 280 times on one field",
            "{ app " + "@include(if: true) " * 280 + "{ id } }",
        ),
        Hostile("an unknown directive 600 times", "{ app " + "@nope " * 900 + "{ id } }"),
        Hostile(
            "nested lists, 190 deep, in an argument",
            "{ mentors(filter: { skills: " + "[" * 190 + '"x"' + "]" * 190 + " }) { __typename } }",
        ),
        Hostile(
            "nested lists, 500 deep, in a variable",
            "query ($v: [String!]) { mentors(filter: { skills: $v }) { __typename } }",
            {"v": json.loads("[" * 500 + "]" * 500)},
        ),
        Hostile(
            "a long string argument",
            '{ mentors(filter: { q: "' + "x" * 200_000 + '" }) { __typename } }',
        ),
        Hostile(
            "deep introspection",
            "{ __schema { types { fields { type { fields { type { fields { type { fields "
            "{ type { fields { name } } } } } } } } } } } }",
        ),
        Hostile(
            "introspection through ofType",
            "{ __schema { types { "
            + "fields { type { ofType { " * 3
            + "name"
            + " } } }" * 3
            + " } } }",
        ),
    ]
    return docs


DOCUMENTS = _documents()

_MENTOR = (
    "id externalId name headline bio timezone languages formats sessionLengths version "
    "createdAt updatedAt skills { level note skill { id slug name category description } } "
    "stats { sessionsCompleted minutesMentored averageRating ratingsCount } "
    "upcomingSessions(first: 2) { id mentorId menteeId status topic questions skillId format "
    "durationMinutes startsAt endsAt seriesId cancelReason version createdAt updatedAt }"
)


def _benign() -> list[Hostile]:
    from graphql import get_introspection_query

    introspection = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    pages = " ".join(
        f"p{i}: mentors(first: 2) {{ edges {{ cursor node {{ {_MENTOR} }} }} }}" for i in range(15)
    )
    return [
        Hostile("GraphiQL's introspection query", introspection),
        # Near the token limit, valid: the most a legitimate document costs to validate.
        Hostile("15 mentor pages, 2000 tokens", "{ " + pages + " }"),
    ]


# Documents a client may send: measured next to the hostile ones, not refused.
BENIGN = _benign()


REPEATS = 5


class _Anonymous:
    """The context of a caller without credentials, as an attacker is: a document that passes
    validation is then refused by its first resolver (UNAUTHENTICATED), without a database."""

    async def _refuse(self) -> Any:
        from mentorapi.kit.errors import Unauthenticated

        raise Unauthenticated("no credentials (benchmark)")

    app = caller = app_id = _refuse


class _Decided:
    """When execution starts: the document has been accepted by then (parse, validation and
    cost are behind it), so the CPU until here is what accepting it cost."""

    at: float | None = None


def _stopwatch() -> Any:
    from strawberry.extensions import SchemaExtension

    class Stopwatch(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            if _Decided.at is None:
                _Decided.at = time.process_time()
            yield

    return Stopwatch()


async def _measure(doc: Hostile) -> dict[str, Any]:
    from mentorapi.graphql.schema import build_schema

    schema = build_schema()
    schema.extensions = (*schema.extensions, _stopwatch)  # last: after the cost limiter
    times = []
    decided = []
    codes: list[str] = []
    for i in range(REPEATS):
        # A new text each time (a trailing comment), so the parse and validation caches miss,
        # as they do for an attacker who varies the document.
        query = f"{doc.query}\n# {i}"
        gc.collect()
        _Decided.at = None
        started = time.process_time()
        result = await schema.execute(
            query,
            variable_values=doc.variables,
            operation_name=doc.operation_name,
            context_value=_Anonymous(),
        )
        ended = time.process_time()
        times.append((ended - started) * 1000)
        decided.append(((_Decided.at or ended) - started) * 1000)
        codes = sorted({(e.extensions or {}).get("code", "?") for e in result.errors or []})
    decide_ms = statistics.median(decided)
    return {
        "document": doc.name,
        "bytes": len(doc.query),
        "decide_ms": round(decide_ms, 2),  # CPU to accept or refuse it: the 20 ms target
        "decide_max_ms": round(max(decided), 2),
        "request_ms": round(statistics.median(times), 2),  # with execution, if accepted
        "answer": ",".join(codes) or "accepted",
        "under_target": decide_ms < TARGET_MS,
    }


async def run() -> dict[str, Any]:
    """Hostile GraphQL documents: CPU ms to accept or refuse each (target < 20 ms)."""
    from bench.kit.report import table

    rows = [await _measure(doc) for doc in [*BENIGN, *DOCUMENTS]]
    columns = [
        "document",
        "bytes",
        "decide_ms",
        "decide_max_ms",
        "request_ms",
        "answer",
        "under_target",
    ]
    return {
        "target_ms": TARGET_MS,
        "documents": rows,
        "tables": [
            table(
                "GraphQL documents: CPU per request",
                columns,
                [[r[c] for c in columns] for r in rows],
            )
        ],
    }


def main() -> int:
    from bench.kit.report import print_result

    result = asyncio.run(run())
    print_result("graphql_documents", result)
    return 0 if all(r["under_target"] for r in result["documents"]) else 1


if __name__ == "__main__":
    sys.exit(main())
