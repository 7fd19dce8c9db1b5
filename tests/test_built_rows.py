"""`db.built`: a table object built without SQLModel's field-by-field setattr is the object its
constructor builds (a new session is built this way for every booking)."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import inspect as sa_inspect

from mentorapi.db.built import built
from mentorapi.sessions.models import Session
from mentorapi.sessions.schemas import SessionRead

VALUES: dict[str, Any] = {
    "app_id": "app_01JD8X4K8Y3N6Q2W5E7R9T1V3V",
    "mentor_id": "mtr_01JD8X4K8Y3N6Q2W5E7R9T1V3V",
    "mentee_id": "mte_01JD8X4K8Y3N6Q2W5E7R9T1V3V",
    "status": "booked",
    "topic": "Review my first pivot table",
    "questions": ["Rows or columns?"],
    "skill_id": "skl_01JD8X4K8Y3N6Q2W5E7R9T1V3V",
    "format": "video",
    "duration_minutes": 30,
    "starts_at": datetime(2027, 3, 1, 10, tzinfo=UTC),
    "ends_at": datetime(2027, 3, 1, 10, 30, tzinfo=UTC),
}
FRESH = ("id", "created_at", "updated_at")  # a default factory's value, new for each object


def test_a_built_row_is_what_the_constructor_builds() -> None:
    mine, theirs = built(Session, dict(VALUES)), Session(**VALUES)
    assert type(mine) is Session
    ours = mine.model_dump()
    expected = theirs.model_dump()
    assert ours.keys() == expected.keys()
    assert {k: v for k, v in ours.items() if k not in FRESH} == {
        k: v for k, v in expected.items() if k not in FRESH
    }
    assert mine.id.startswith("ses_")
    assert mine.id != theirs.id
    assert mine.created_at.tzinfo is not None
    assert mine.updated_at >= mine.created_at
    assert mine.model_fields_set == theirs.model_fields_set
    # The same response and event data (SessionRead reads every field).
    read = SessionRead.from_model(mine).model_dump()
    assert {k: v for k, v in read.items() if k not in FRESH} == {
        k: v for k, v in SessionRead.from_model(theirs).model_dump().items() if k not in FRESH
    }
    # Transient, like the constructor's, and later assignments are instrumented as usual.
    state = sa_inspect(mine)
    assert state.transient
    assert sa_inspect(theirs).transient
    mine.series_id = "ser_01JD8X4K8Y3N6Q2W5E7R9T1V3V"
    assert state.attrs.series_id.history.added == ["ser_01JD8X4K8Y3N6Q2W5E7R9T1V3V"]
    assert mine.model_dump()["series_id"] == "ser_01JD8X4K8Y3N6Q2W5E7R9T1V3V"


def test_defaults_are_made_for_each_row() -> None:
    first = built(Session, {k: v for k, v in VALUES.items() if k != "questions"})
    second = built(Session, {k: v for k, v in VALUES.items() if k != "questions"})
    assert first.questions == []
    assert first.history == []
    assert first.version == 1
    first.questions.append("mine")
    assert second.questions == []  # a list of its own, from the factory
    assert first.id != second.id


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(TypeError, match="no fields"):
        built(Session, {**VALUES, "colour": "red"})
