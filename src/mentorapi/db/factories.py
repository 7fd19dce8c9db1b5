"""Default factories asked about once per process, not at every row built.

SQLModel builds a table row (`Session(...)`, `Event(...)`) without pydantic's validator: for
each field left out it calls `FieldInfo.get_default`, which asks pydantic whether the field's
default factory takes the validated data, and pydantic answers with `inspect.signature` every
time (pydantic 2.14 caches it for private attributes only). For `list`, a builtin, that parses
its text signature with `ast` (a `compile` per row): half of what building a `Session` cost.
A factory's signature does not change, so the answer is kept, per factory, for the process
(as many answers as the tables have fields with a factory, all known at import).
"""

from collections.abc import Callable
from typing import Any

from pydantic._internal import _fields

# Absent before pydantic 2.10 (no factory took the data then): nothing to keep.
_ask: Callable[[Any], bool] | None = getattr(_fields, "takes_validated_data_argument", None)
_known: dict[Any, bool] = {}


def takes_validated_data_argument(factory: Any) -> bool:
    assert _ask is not None  # installed only where pydantic has it
    try:
        return _known[factory]
    except KeyError:
        found = _known[factory] = _ask(factory)
        return found
    except TypeError:  # an unhashable callable: asked every time, as before
        return _ask(factory)


def install() -> None:
    """Once, before any row is built (db/base.py, which every table imports)."""
    if _ask is None:
        return
    _fields.takes_validated_data_argument = takes_validated_data_argument  # type: ignore[assignment]
