"""Input translation: GraphQL input objects -> the REST pydantic schemas, so both faces validate
the same way (one set of bounds and messages), and typed ids checked like REST path ids."""

import dataclasses
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mentorapi.graphql.errors import InputInvalid
from mentorapi.kit.errors import InvalidInput
from mentorapi.kit.ids import check_id

M = TypeVar("M", bound=BaseModel)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return as_dict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return value.value
    return value


def as_dict(obj: Any) -> dict[str, Any]:
    """The fields a client set (UNSET ones are left out, so PATCH semantics survive)."""
    from strawberry import UNSET

    return {
        f.name: _plain(getattr(obj, f.name))
        for f in dataclasses.fields(obj)
        if getattr(obj, f.name) is not UNSET
    }


def validate(model: type[M], obj: Any, *, argument: str | None = "input") -> M:
    """`obj` (an input object or a dict of them) checked by a REST schema; errors are located
    from the GraphQL argument (`input.name`), or from the model's fields when argument is None."""
    try:
        return model.model_validate(_plain(obj))
    except ValidationError as exc:
        raise InputInvalid(exc, argument) from exc


def typed_id(value: str, prefix: str, *, argument: str = "id") -> str:
    """A well-formed id of the wrong kind is BAD_USER_INPUT (REST: 422); unknown is NOT_FOUND.
    The rule and its message are kit/ids.py's, as REST's path ids use them."""
    try:
        return check_id(value, prefix)
    except ValueError as exc:
        raise InvalidInput(str(exc), loc=[argument]) from exc
