"""Query parameters validated by a pydantic model that another face (GraphQL) shares."""

from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def query_model(model: type[M], values: dict[str, Any], names: dict[str, str] | None = None) -> M:
    """`model` from query values; its errors become the usual 422 with `loc` ["query", name]
    (`names` maps a field to its parameter name where they differ)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        renamed = names or {}
        errors = [
            {
                **error,
                "loc": (
                    "query",
                    renamed.get(str(error["loc"][0]), error["loc"][0]),
                    *error["loc"][1:],
                ),
            }
            if error["loc"]
            else {**error, "loc": ("query",)}
            for error in exc.errors()
        ]
        raise RequestValidationError(errors) from exc
