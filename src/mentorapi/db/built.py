"""Table objects built for rows written as rows: what `Model(**values)` builds, for a tenth.

SQLModel builds a table object field by field through `setattr`, and each goes through
SQLAlchemy's attribute instrumentation (history, the modified flag) and pydantic's own
`__setattr__`: for a `Session` (23 fields) that cost about 300 µs, more than the whole INSERT
it is written with. A new session is never added to the ORM's unit of work (it is inserted as a
row, sessions/repository.insert_new) and nothing reads its history, so `built` makes the object
as SQLAlchemy makes one it loads from a row (its class manager's `new_instance`: the instance
state, and pydantic's private attributes through SQLModel's `__new__`) and fills in its values
at once; the fields left out take their declared defaults (`FieldInfo.get_default`, the same
call SQLModel makes: the factories of ids and timestamps run as they would). The object is
transient, as one built by its constructor is, and later assignments to it are instrumented
as usual. tests/test_built_rows.py holds it to the constructor's object.
"""

from typing import Any, TypeVar

from sqlalchemy import inspect as sa_inspect
from sqlmodel import SQLModel

Model = TypeVar("Model", bound=SQLModel)


def built(cls: type[Model], values: dict[str, Any]) -> Model:
    """`cls(**values)` for a table model whose fields are all plain columns (no relationships,
    no validation: SQLModel validates no table object either)."""
    instance: Model = sa_inspect(cls).class_manager.new_instance()
    fields: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        if name in values:
            fields[name] = values[name]
        elif not field.is_required():
            fields[name] = field.get_default(call_default_factory=True)
    unknown = values.keys() - fields.keys()
    if unknown:
        raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
    instance.__dict__.update(fields)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    return instance
