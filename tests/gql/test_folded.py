"""Extensions folded into one (graphql/folded.py) run their hooks as strawberry's runner runs
them one by one: the same order in and out, the same result, and an exception inside a step (or
raised, swallowed or replaced by a hook) going through the hooks as an exit stack passes it."""

from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from mentorapi.graphql.folded import Folded, FoldedRunner
from mentorapi.graphql.schema import build_schema


class Boom(Exception):
    pass


def _extensions(log: list[str], fail: str | None) -> list[Any]:
    """Three extensions logging each hook's way in and out; `fail` names a hook that raises
    (`name:in` before its yield, `name:out` after it), swallows (`name:swallow`) or replaces
    (`name:replace`) what comes through it."""

    def hook(name: str) -> Iterator[None]:
        log.append(f"{name} in")
        if fail == f"{name}:in":
            raise Boom(name)
        try:
            yield
        except Exception as exc:
            log.append(f"{name} got {type(exc).__name__}")
            if fail == f"{name}:swallow":
                return
            if fail == f"{name}:replace":
                raise ValueError(name) from exc
            raise
        log.append(f"{name} out")
        if fail == f"{name}:out":
            raise Boom(name)

    def ahook(name: str) -> Any:
        # An async generator function of its own: `async for` would not pass exceptions in.
        async def on_operation(_self: SchemaExtension) -> AsyncIterator[None]:
            log.append(f"{name} in")
            if fail == f"{name}:in":
                raise Boom(name)
            try:
                yield
            except Exception as exc:
                log.append(f"{name} got {type(exc).__name__}")
                if fail == f"{name}:swallow":
                    return
                if fail == f"{name}:replace":
                    raise ValueError(name) from exc
                raise
            log.append(f"{name} out")
            if fail == f"{name}:out":
                raise Boom(name)

        return on_operation

    class A(SchemaExtension):
        on_operation = ahook("A.op")

        def on_execute(self) -> Iterator[None]:
            yield from hook("A.exec")

    class B(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            yield from hook("B.op")

        def on_validate(self) -> Iterator[None]:
            yield from hook("B.validate")

        def on_execute(self) -> Iterator[None]:
            yield from hook("B.exec")

    class C(SchemaExtension):
        on_operation = ahook("C.op")

        def on_parse(self) -> Iterator[None]:
            yield from hook("C.parse")

        def on_execute(self) -> Iterator[None]:
            assert self.execution_context.query is not None
            yield from hook("C.exec")

    return [A, B, C]


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, fail: bool = False) -> str:
        if fail:
            raise Boom("resolver")
        return "world"


class RunnerSchema(strawberry.Schema):
    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return FoldedRunner(execution_context=execution_context, extensions=extensions)


async def _run(folded: bool | str, fail: str | None, query: str) -> tuple[list[str], Any]:
    """Under strawberry's runner, the extensions one by one (`folded` False) or folded (True);
    folded under `FoldedRunner` ("runner")."""
    log: list[str] = []
    extensions = _extensions(log, fail)
    kind = RunnerSchema if folded == "runner" else strawberry.Schema
    schema = kind(
        query=Query, extensions=[partial(Folded, tuple(extensions))] if folded else extensions
    )
    try:
        result = await schema.execute(query)
    except Exception as exc:  # what escapes strawberry, if anything
        return log, ("raised", type(exc).__name__, str(exc))
    return log, (result.data, [e.message for e in result.errors or []])


ALL = ("A.op", "B.op", "C.op", "C.parse", "B.validate", "A.exec", "B.exec", "C.exec")
FIRST = ("A.op", "C.parse", "B.validate", "A.exec")  # the first hook of its step
FAILURES = [
    None,
    *(f"{name}:out" for name in ALL),
    *(f"{name}:in" for name in FIRST),
    *(f"{name}:swallow" for name in ("A.op", "B.op", "A.exec", "B.exec")),
    *(f"{name}:replace" for name in ("A.op", "C.op", "A.exec", "B.exec")),
]
QUERIES = ["{ hello }", "{ hello(fail: true) }", "{ nope }", "{"]


@pytest.mark.parametrize("fail", FAILURES)
@pytest.mark.parametrize("query", QUERIES)
async def test_folded_hooks_run_as_strawberry_runs_them(fail: str | None, query: str) -> None:
    plain = await _run(False, fail, query)
    assert await _run(True, fail, query) == plain
    assert await _run("runner", fail, query) == plain


@pytest.mark.parametrize("fail", ["B.op", "C.op", "B.exec", "C.exec"])
async def test_a_hook_failing_to_start_leaves_those_started(fail: str) -> None:
    """Where folding differs from strawberry's exit stack, on purpose: when a hook fails
    before its yield, strawberry leaves the hooks of that step entered before it suspended
    (their way out runs whenever the garbage collector closes them); folded, they are left at
    once, with the exception. Everything else is as strawberry's."""
    plain_log, plain_found = await _run(False, f"{fail}:in", "{ hello }")
    log, found = await _run(True, f"{fail}:in", "{ hello }")
    assert (log, found) == await _run("runner", f"{fail}:in", "{ hello }")
    assert found == plain_found
    step = fail.split(".")[1]
    before = [f"{name}.{step}" for name in "AB" if f"{name}.{step}" < fail]
    assert before
    for name in before:
        assert f"{name} got Boom" in log
        assert f"{name} got Boom" not in plain_log
    assert [line for line in log if line not in {f"{n} got Boom" for n in before}] == plain_log


def test_strawberry_sees_one_extension() -> None:
    schema = build_schema()
    (extension,) = schema.get_extensions()
    assert isinstance(extension, Folded)
    assert len(extension.parts) == 10
