"""Enums whose JSON Schema names its values, for client generators.

A generator names an enum member after its value; a value that is not an identifier
(`-created`, `session.booked`) becomes `VALUE_1` or `SESSION_BOOKED` depending on the tool.
`x-enum-varnames` (openapi-generator, openapi-typescript's `--enum`, oapi-codegen) and
`x-enumNames` (NSwag, openapi-python-client's older readers) give each value the member's
Python name instead, so every client calls `-created` `newest`.
"""

from enum import StrEnum
from typing import Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class NamedStrEnum(StrEnum):
    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target: dict[str, Any] = handler.resolve_ref_schema(schema)
        # `async_` (a Python keyword) is `async` to every other language.
        names = [member.name.rstrip("_") for member in cls]
        target["x-enum-varnames"] = names
        target["x-enumNames"] = names
        return schema
