"""db/factories.py keeps pydantic's answer about each default factory for the process: the
answer must be pydantic's own, for every factory of every table, and rows still get fresh
defaults (a kept answer, never a kept value)."""

from typing import Any

from pydantic._internal import _fields
from sqlmodel import SQLModel

from mentorapi.db import factories
from mentorapi.sessions.models import Session


def _factories() -> list[Any]:
    found = []
    for mapper in SQLModel._sa_registry.mappers:
        for info in mapper.class_.model_fields.values():
            if info.default_factory is not None:
                found.append(info.default_factory)
    return found


def test_the_kept_answer_is_pydantics_for_every_factory() -> None:
    every = _factories()
    assert every  # the tables do have factories (lists, ids, clocks)
    if factories._ask is None:  # a pydantic without the question: nothing is installed
        return
    assert _fields.takes_validated_data_argument is factories.takes_validated_data_argument
    for factory in every:
        assert factories.takes_validated_data_argument(factory) == factories._ask(factory)


def test_rows_get_fresh_defaults() -> None:
    required = {name: None for name, info in Session.model_fields.items() if info.is_required()}
    first, second = Session(**required), Session(**required)
    assert first.id != second.id  # an id factory, called for each row
    assert first.id.startswith("ses_")
