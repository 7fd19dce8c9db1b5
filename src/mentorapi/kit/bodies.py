"""Base classes of JSON bodies: what a client sends, and what it reads back.

A client generated from the OpenAPI document must read "optional" and "always there" the same
way the server means them:
- A request field with a default may be left out. Its `default` keyword is moved into its
  description: openapi-typescript (with its default `defaultNonNullable`) types any property
  that has a `default` as required, so `bio`, `level`, `note`, `thanks` would have to be sent.
  The server still applies the default; the document still tells it.
- A response field with a default is always written (`next_cursor: null`), so it is listed as
  required: generated response types need no `?.` or casts.
"""

import copy
import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


def _defaults_described(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        if "default" not in prop:
            continue
        default = prop.pop("default")
        if default is None or default == []:  # absent says it: nothing, or nothing changed
            continue
        said = f"Default: `{json.dumps(default)}`."
        prop["description"] = f"{prop['description']} {said}" if prop.get("description") else said


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def sometimes(description: str) -> Any:
    """A response member that is left out where it does not apply (`previous` of a webhook
    event): optional, and without the `default` that would make generators require it."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


class RequestBody(BaseModel):
    """A request body: unknown fields are refused (a typo is a 422, not silently ignored)."""

    model_config = ConfigDict(extra="forbid")

    # A hook rather than `json_schema_extra`, which each body sets for its own examples.
    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        _defaults_described(handler.resolve_ref_schema(schema))
        return schema


class ResponseBody(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


def _subclasses(base: type[BaseModel]) -> Iterator[type[BaseModel]]:
    for cls in base.__subclasses__():
        yield cls
        yield from _subclasses(cls)


def restore_examples(document: dict[str, Any]) -> None:
    """Put the bodies' examples back as written, `null`s included: FastAPI writes its document
    with `exclude_none`, which drops every null member of an example too (a response example
    would then lack members its schema requires). In place, so the cached document is fixed."""
    models = {m.__name__: m for base in (RequestBody, ResponseBody) for m in _subclasses(base)}
    for component in document.get("components", {}).get("schemas", {}).values():
        model = models.get(component.get("title", ""))
        extra = model.model_config.get("json_schema_extra") if model else None
        if isinstance(extra, dict) and "examples" in extra:
            component["examples"] = copy.deepcopy(extra["examples"])
