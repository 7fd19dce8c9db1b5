"""Input field types shared by several domains, each with its bounds and a clear message."""

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from mentorapi.kit.languages import LANGUAGE_TAG_PATTERN, normalize_language
from mentorapi.kit.timezones import TIMEZONE_PATTERN, validate_timezone


@dataclass(frozen=True, slots=True)
class Shown:
    """Keywords added to a field's JSON Schema and nothing else: the rule a custom validator
    enforces (with its own message), shown to clients. The validator and these keywords read
    the same constant, so the rule is written once (tests/contract/test_schema_rules.py holds
    each such keyword in the document)."""

    # Pairs, not a dict: Annotated metadata must be hashable (`Timezone | None`).
    keywords: tuple[tuple[str, Any], ...]

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        handler.resolve_ref_schema(schema).update(dict(self.keywords))
        return schema


def shown(**keywords: Any) -> Shown:
    return Shown(tuple(keywords.items()))


def _unique_languages(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(normalize_language(t) for t in tags))


# A search box's text (skills, mentors, mentees), in REST's `q` and GraphQL's `filter.q`.
SearchText = Annotated[str, StringConstraints(max_length=100)]

ExternalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    Field(
        description="The client app's own id for this person; unique per app.",
        examples=["user-4821"],
    ),
]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Timezone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=64),
    AfterValidator(validate_timezone),
    shown(pattern=TIMEZONE_PATTERN),
    Field(
        description="An IANA time zone name (the tz database, e.g. `Europe/Berlin`, `UTC`).",
        examples=["Europe/Berlin"],
    ),
]
# One BCP 47 tag (checked and normalised by kit/languages.py).
LanguageTag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=35),
    shown(pattern=LANGUAGE_TAG_PATTERN),
]
Languages = Annotated[
    list[LanguageTag],
    Field(max_length=20, description="BCP 47 tags, normalised.", examples=[["en", "pt-BR"]]),
    AfterValidator(_unique_languages),
]
