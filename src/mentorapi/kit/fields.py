"""Input field types shared by several domains, each with its bounds and a clear message."""

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from mentorapi.kit.languages import normalize_language
from mentorapi.kit.timezones import validate_timezone


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
    Field(description="An IANA time zone.", examples=["Europe/Berlin"]),
]
Languages = Annotated[
    list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=35)]],
    Field(max_length=20, description="BCP 47 tags, normalised.", examples=[["en", "pt-BR"]]),
    AfterValidator(_unique_languages),
]
