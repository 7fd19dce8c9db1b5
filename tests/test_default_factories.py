"""A row's default factories are asked about once per process (db/factories.py), not at every
row built: building a `Session` ran `inspect.signature` on each factory it used, and for
`list` (a builtin) parsed its text signature with `ast`."""

from typing import Any

import pytest
from pydantic._internal import _typing_extra

from mentorapi.sessions.models import Session


def _session() -> Session:
    return Session(
        app_id="app_x",
        mentor_id="men_x",
        mentee_id="mte_x",
        status="booked",
        topic="t",
        questions=[],
        skill_id="skl_x",
        format="video",
        duration_minutes=30,
    )


def test_building_a_row_asks_no_signature_after_the_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _session()
    asked: list[Any] = []
    real = _typing_extra.signature_no_eval

    def counted(factory: Any) -> Any:
        asked.append(factory)
        return real(factory)

    monkeypatch.setattr(_typing_extra, "signature_no_eval", counted)
    first, second = _session(), _session()
    assert asked == []
    # Still a fresh value from each factory: an id of its own, a list of its own.
    assert first.id != second.id
    assert first.id.startswith("ses_")
    assert first.history == []
    assert first.history is not second.history
