"""Scenario discovery: every public module of the `bench` package is a scenario module.

A module offers scenarios in one of two ways:
- `SCENARIOS: list[Scenario]`, each with a name, an `async` callable returning a dict, and a
  one-line description; or
- `async def run() -> dict`, a single scenario named after the module.
"""

import importlib
import inspect
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import bench

Runner = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Runner
    description: str = ""
    # Run by `python -m bench` with no names; False: only when named (or by its own switch,
    # as the fleet's --fleet), e.g. when it needs more than PostgreSQL and wrk.
    default: bool = True


def discover() -> list[Scenario]:
    found: list[Scenario] = []
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if info.ispkg or info.name.startswith("_"):
            continue  # bench.kit is machinery; __main__ is the CLI
        module = importlib.import_module(f"bench.{info.name}")
        declared = getattr(module, "SCENARIOS", None)
        if declared is not None:
            found.extend(declared)
        elif inspect.iscoroutinefunction(getattr(module, "run", None)):
            doc = (module.__doc__ or "").strip().splitlines()
            found.append(Scenario(info.name, module.run, doc[0] if doc else ""))
    names = [s.name for s in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"scenario names used twice: {sorted(duplicates)}")
    return found


def select(scenarios: list[Scenario], wanted: list[str]) -> list[Scenario]:
    """The named scenarios (a module name selects all of its scenarios), or every default one."""
    if not wanted:
        return [s for s in scenarios if s.default]
    chosen = [
        s
        for s in scenarios
        if s.name in wanted or s.run.__module__.removeprefix("bench.") in wanted
    ]
    unknown = (
        set(wanted)
        - {s.name for s in chosen}
        - {s.run.__module__.removeprefix("bench.") for s in chosen}
    )
    if unknown:
        known = ", ".join(s.name for s in scenarios)
        raise SystemExit(f"unknown scenario(s) {sorted(unknown)}; known: {known}")
    return chosen
