"""Which function runs which kind of job.

Named by module path, resolved when a worker first meets the kind: the job queue imports no
domain, and every kind is listed here, in one place.
"""

import importlib
from collections.abc import Callable, Coroutine
from typing import Any

from mentorapi.jobs.context import JobContext

Handler = Callable[[JobContext], Coroutine[Any, Any, dict[str, Any] | None]]

KINDS: dict[str, str] = {
    "match_run": "mentorapi.cohorts.runs:execute",
    "mentoring_event.schedule": "mentorapi.mentoring_events.building:build_schedule",
}

_resolved: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    """Add a kind at run time (the tests' own kinds)."""
    _resolved[kind] = handler


def handler_for(kind: str) -> Handler | None:
    found = _resolved.get(kind)
    if found is None and kind in KINDS:
        module, _, name = KINDS[kind].partition(":")
        found = getattr(importlib.import_module(module), name)
        _resolved[kind] = found
    return found
