"""Several schema extensions' hooks run as one extension's (issue #18).

strawberry runs each lifecycle step (operation, parse, validation, execution) of every request
through its extension runner: for each step it asks every extension whether it has a hook
(`getattr` and `inspect` per extension and step: 40 a request for our ten), wraps each hook
it finds in a new `contextlib` context manager (a decorated function made per request, with
`functools.update_wrapper`), and enters them on an exit stack. Our ten extensions have twelve
hooks between them. `Folded` holds them as its parts and is the one extension strawberry sees;
`FoldedRunner` (the schema's runner) runs each step's hooks of the parts straight from a table
made once per combination of classes, in the parts' order, as strawberry's runner would have.
Where strawberry's own runner still runs (the results of a stream), `Folded`'s four hooks do
the same through it.

What each part does, and when, is unchanged: the parts are the same classes with the same
hooks, entered in the order they are listed and left in the reverse order; an exception raised
inside a step is thrown into each part's hook in turn as an exit stack does (a hook that
swallows it stops it there; one that raises another passes that on). One difference, on
purpose: a hook that fails before its `yield` has the hooks started before it (in that step)
left at once with its exception, where strawberry's exit stack leaves them suspended until the
garbage collector closes them. Only generator hooks (sync, or async in the operation step) are
taken: anything else is refused when the table is made (graphql/schema.py makes it when it
builds the schema).
"""

import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from functools import cache
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

# (the part's index, its unbound hook, whether that is an async generator function), in the
# parts' order.
Hooks = tuple[tuple[int, Callable[..., Any], bool], ...]
_STEPS = ("on_operation", "on_parse", "on_validate", "on_execute", "on_stream_result")


@cache
def _hooks(classes: tuple[type[SchemaExtension], ...]) -> dict[str, Hooks]:
    """Each step's hooks of these classes (the default, do-nothing hook left out); once per
    combination, as the classes never change."""
    table: dict[str, Hooks] = {}
    for step in _STEPS:
        default = getattr(SchemaExtension, step)
        found: list[tuple[int, Callable[..., Any], bool]] = []
        for index, cls in enumerate(classes):
            hook = getattr(cls, step)
            if hook is default:
                continue
            if inspect.isasyncgenfunction(hook) and step == "on_operation":
                found.append((index, hook, True))
            elif inspect.isgeneratorfunction(hook):
                found.append((index, hook, False))
            else:  # strawberry runs the other steps synchronously too (`execute_sync`)
                raise TypeError(f"{cls.__name__}.{step}: only generator hooks are folded")
        table[step] = tuple(found)
    return table


def _leave(entered: list[Any], exc: BaseException | None) -> BaseException | None:
    """Leave sync hooks, the last entered first, as an exit stack of `contextmanager`s does;
    returns the exception still pending (None: none, or swallowed)."""
    for gen in reversed(entered):
        if exc is None:
            try:
                next(gen)
            except StopIteration:
                continue
            except BaseException as raised:  # passed on to the hooks entered before it
                exc = raised
                continue
            exc = RuntimeError("generator didn't stop")
            continue
        try:
            gen.throw(exc)
        except StopIteration:
            exc = None  # swallowed by the hook
        except BaseException as raised:  # passed on, as an exit stack does
            exc = raised
        else:
            exc = RuntimeError("generator didn't stop after throw()")
    return exc


async def _leave_async(
    entered: list[tuple[Any, bool]], exc: BaseException | None
) -> BaseException | None:
    """`_leave` for a step whose hooks may be async generators."""
    for gen, is_async in reversed(entered):
        if exc is None:
            try:
                if is_async:
                    await gen.__anext__()
                else:
                    next(gen)
            except (StopIteration, StopAsyncIteration):
                continue
            except BaseException as raised:
                exc = raised
                continue
            exc = RuntimeError("generator didn't stop")
            continue
        try:
            if is_async:
                await gen.athrow(exc)
            else:
                gen.throw(exc)
        except (StopIteration, StopAsyncIteration):
            exc = None
        except BaseException as raised:
            exc = raised
        else:
            exc = RuntimeError("generator didn't stop after throw()")
    return exc


class Folded(SchemaExtension):
    """The extensions made by `factories`, per request and in their order, as one."""

    def __init__(self, factories: Sequence[Callable[[], SchemaExtension]]) -> None:
        super().__init__()
        self.parts = parts = [factory() for factory in factories]
        self._table = _hooks(tuple([part.__class__ for part in parts]))

    # strawberry gives the request's execution context to each extension it holds: to this
    # one, which hands it to its parts.
    @property
    def execution_context(self) -> ExecutionContext:
        return self.parts[0].execution_context

    @execution_context.setter
    def execution_context(self, value: ExecutionContext) -> None:
        for part in self.parts:
            part.execution_context = value

    def enter(self, step: str, *args: Any) -> list[Any]:
        """Start the sync hooks of `step`, in order; the started ones, for `_leave`."""
        entered: list[Any] = []
        parts = self.parts
        try:
            for index, hook, is_async in self._table[step]:
                if is_async:  # as strawberry's runner refuses one in a sync step
                    raise RuntimeError(f"{hook.__qualname__} failed to complete synchronously.")
                gen = hook(parts[index], *args)
                next(gen)
                entered.append(gen)
        except BaseException as exc:
            # A hook that failed to start: those started before it are left with its
            # exception (whatever they make of it, the failure is what is raised).
            _leave(entered, exc)
            raise
        return entered

    async def enter_async(self, step: str) -> list[tuple[Any, bool]]:
        """Start the hooks of `step`, sync or async, in order; the started ones, for
        `_leave_async`."""
        entered: list[tuple[Any, bool]] = []
        parts = self.parts
        try:
            for index, hook, is_async in self._table[step]:
                gen = hook(parts[index])
                if is_async:
                    await gen.__anext__()
                else:
                    next(gen)
                entered.append((gen, is_async))
        except BaseException as exc:
            await _leave_async(entered, exc)
            raise
        return entered

    # The hooks strawberry's own runner finds (`FoldedRunner` calls the above directly).
    def _sync(self, step: str, *args: Any) -> Iterator[None]:
        entered = self.enter(step, *args)
        try:
            yield
        except BaseException as exc:
            pending = _leave(entered, exc)
            if pending is not None:
                raise pending  # noqa: B904 (what the hooks left, with its own chain)
            return
        pending = _leave(entered, None)
        if pending is not None:
            raise pending

    def on_parse(self) -> Iterator[None]:
        yield from self._sync("on_parse")

    def on_validate(self) -> Iterator[None]:
        yield from self._sync("on_validate")

    def on_execute(self) -> Iterator[None]:
        yield from self._sync("on_execute")

    def on_stream_result(self, result: Any) -> Iterator[None]:
        yield from self._sync("on_stream_result", result)

    async def on_operation(self) -> AsyncIterator[None]:
        entered = await self.enter_async("on_operation")
        try:
            yield
        except BaseException as exc:
            pending = await _leave_async(entered, exc)
            if pending is not None:
                raise pending  # noqa: B904 (what the hooks left, with its own chain)
            return
        pending = await _leave_async(entered, None)
        if pending is not None:
            raise pending


def _exited(exc: BaseException | None, pending: BaseException | None) -> bool:
    """What a context manager's `__exit__` answers once its hooks have left with `exc`:
    True when they swallowed it, False when it goes on; another exception is raised."""
    if pending is None:
        return exc is not None
    if pending is exc:
        return False
    raise pending


class _Step:
    """One sync step of a `Folded` (parse, validation, execution) as a context manager,
    without strawberry's per-request hook discovery, wrappers and exit stack."""

    __slots__ = ("args", "entered", "folded", "step")

    def __init__(self, folded: Folded, step: str, *args: Any) -> None:
        self.folded = folded
        self.step = step
        self.args = args
        self.entered: list[Any] = []

    def __enter__(self) -> None:
        self.entered = self.folded.enter(self.step, *self.args)

    def __exit__(self, _type: Any, exc: BaseException | None, _tb: Any) -> bool:
        return _exited(exc, _leave(self.entered, exc))

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, _type: Any, exc: BaseException | None, _tb: Any) -> bool:
        return self.__exit__(_type, exc, _tb)


class _Operation(_Step):
    """The operation step, whose hooks may be async."""

    __slots__ = ()

    async def __aenter__(self) -> None:
        self.entered = await self.folded.enter_async(self.step)

    async def __aexit__(self, _type: Any, exc: BaseException | None, _tb: Any) -> bool:
        return _exited(exc, await _leave_async(self.entered, exc))

    def __enter__(self) -> None:  # execute_sync: as strawberry's, no async hook may run
        self.entered = [(gen, False) for gen in self.folded.enter(self.step)]

    def __exit__(self, _type: Any, exc: BaseException | None, _tb: Any) -> bool:
        return _exited(exc, _leave([gen for gen, _ in self.entered], exc))


class FoldedRunner(SchemaExtensionsRunner):
    """strawberry's extension runner, for a schema whose one extension is a `Folded`: each
    step runs the folded hooks straight from their table. Results of a stream go through
    strawberry's own runner (and `Folded.on_stream_result`)."""

    def _folded(self) -> Folded | None:
        extensions = self.extensions
        if len(extensions) == 1 and isinstance(extensions[0], Folded):
            return extensions[0]
        return None

    def operation(self) -> Any:
        folded = self._folded()
        return super().operation() if folded is None else _Operation(folded, "on_operation")

    def parsing(self) -> Any:
        folded = self._folded()
        return super().parsing() if folded is None else _Step(folded, "on_parse")

    def validation(self) -> Any:
        folded = self._folded()
        return super().validation() if folded is None else _Step(folded, "on_validate")

    def executing(self) -> Any:
        folded = self._folded()
        return super().executing() if folded is None else _Step(folded, "on_execute")
