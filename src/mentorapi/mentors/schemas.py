from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic.config import JsonDict

from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.enums import NamedStrEnum
from mentorapi.kit.fields import (
    ExternalId,
    Languages,
    LanguageTag,
    PersonName,
    SearchText,
    Timezone,
)
from mentorapi.kit.ids import MentorIdOut
from mentorapi.kit.languages import normalize_language
from mentorapi.mentors.models import Format, MentorFields, SkillOffer
from mentorapi.skills.schemas import SKILL_REF_EXAMPLE, SkillChoice, SkillLevelRead, SlugFilter

MIN_SESSION_MINUTES = 5
MAX_SESSION_MINUTES = 60

SessionLength = Annotated[int, Field(ge=MIN_SESSION_MINUTES, le=MAX_SESSION_MINUTES)]


def _sorted_unique_lengths(values: list[int]) -> list[int]:
    return sorted(set(values))


def _unique_formats(values: list[Format]) -> list[Format]:
    return list(dict.fromkeys(values))


Headline = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Bio = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Formats = Annotated[
    list[Format], Field(min_length=1, max_length=5), AfterValidator(_unique_formats)
]
SessionLengths = Annotated[
    list[SessionLength],
    Field(min_length=1, max_length=12, description="Session lengths offered, in minutes (5-60)."),
    AfterValidator(_sorted_unique_lengths),
]
SkillChoices = Annotated[list[SkillChoice], Field(max_length=50)]


class MentorCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **ex.MENTOR_PROFILE,
                    "skills": [{"slug": "pivot-tables", "level": 5}],
                }
            ]
        }
    )

    external_id: ExternalId
    name: PersonName
    headline: Headline = ""
    bio: Bio = ""
    timezone: Timezone
    languages: Languages = Field(default_factory=list)
    formats: Formats = Field(default_factory=lambda: [Format.video])
    session_lengths: SessionLengths = Field(default_factory=lambda: [15, 30])
    skills: SkillChoices = Field(default_factory=list)


class MentorUpdate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"headline": "Finance lead", "session_lengths": [15]}]}
    )

    external_id: ExternalId | None = None
    name: PersonName | None = None
    headline: Headline | None = None
    bio: Bio | None = None
    timezone: Timezone | None = None
    languages: Languages | None = None
    formats: Formats | None = None
    session_lengths: SessionLengths | None = None


class MentorSkillsPut(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "skills": [
                        {"slug": "pivot-tables", "level": 5, "note": "Month-end reporting"},
                        {"skill_id": ex.SKILL_2_ID, "level": 3},
                    ]
                }
            ]
        }
    )

    skills: SkillChoices


MENTOR_STATS_EXAMPLE: JsonDict = {
    "sessions_completed": 42,
    "minutes_mentored": 735,
    "average_rating": 4.8,
    "ratings_count": 37,
    "mentees_helped": 29,
    "impact_stories": 12,
}


class MentorStats(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [MENTOR_STATS_EXAMPLE]})

    sessions_completed: int
    minutes_mentored: int
    average_rating: float | None
    ratings_count: int
    mentees_helped: int = Field(description="Distinct mentees with a completed session.")
    impact_stories: int = Field(description="Feedback and impact updates that told an impact.")


class MentorSort(NamedStrEnum):
    """The order of a mentor search; a leading `-` reverses it (named `newest`, `name_desc`)."""

    created = "created"
    newest = "-created"
    name = "name"
    name_desc = "-name"
    rating = "rating"  # best average rating first
    sessions = "sessions"  # most sessions completed first


class MentorRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.MENTOR_ID,
                    **ex.MENTOR_PROFILE,
                    "skills": [{"skill": SKILL_REF_EXAMPLE, "level": 5, "note": None}],
                    "stats": MENTOR_STATS_EXAMPLE,
                    "version": 3,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    id: MentorIdOut
    external_id: str
    name: str
    headline: str
    bio: str
    timezone: str
    languages: list[str]
    formats: list[Format]
    session_lengths: list[int]
    skills: list[SkillLevelRead]
    stats: MentorStats
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, mentor: MentorFields, skills: Sequence[SkillOffer]) -> "MentorRead":
        # One validation of plain data (nested models built in pydantic-core), not a model per
        # field: a page of 100 mentors renders several times faster.
        return cls.model_validate(read_data(mentor, skills))


def average_rating(mentor: MentorFields) -> float | None:
    return round(mentor.rating_sum / mentor.ratings_count, 2) if mentor.ratings_count else None


def stats_data(mentor: MentorFields) -> dict[str, Any]:
    """A mentor's stats as plain data: REST's `stats` object, and GraphQL's `MentorStats`
    (graphql/execution.read_field reads a dict's items)."""
    return {
        "sessions_completed": mentor.sessions_completed,
        "minutes_mentored": mentor.minutes_mentored,
        "average_rating": average_rating(mentor),
        "ratings_count": mentor.ratings_count,
        "mentees_helped": mentor.mentees_helped,
        "impact_stories": mentor.impact_stories,
    }


def read_data(mentor: MentorFields, skills: Sequence[SkillOffer]) -> dict[str, Any]:
    """The fields of MentorRead as plain data, from a model or a row of the mentors table."""
    return {
        "id": mentor.id,
        "external_id": mentor.external_id,
        "name": mentor.name,
        "headline": mentor.headline,
        "bio": mentor.bio,
        "timezone": mentor.timezone,
        "languages": mentor.languages,
        # Stored as strings; validation turns them into Format members.
        "formats": mentor.formats,
        "session_lengths": mentor.session_lengths,
        "skills": skills,
        "stats": stats_data(mentor),
        "version": mentor.version,
        "created_at": mentor.created_at,
        "updated_at": mentor.updated_at,
    }


# The skills one search may ask for: REST's repeated `skill` (counted as sent, and again as
# slugs once comma-separated values are split) and GraphQL's `filter.skills`.
MAX_SKILL_FILTERS = 10


def _split_slugs(value: object) -> object:
    """Slugs repeated and/or comma-separated (`skill=a&skill=b,c`), trimmed and lowercased."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [
            part.strip().lower()
            for item in value
            if isinstance(item, str)
            for part in item.split(",")
            if part.strip()
        ]
    return value


class MentorSearch(BaseModel):
    """The filters of mentor search, with their bounds: one definition for REST's query
    parameters and GraphQL's `MentorFilter`."""

    model_config = ConfigDict(extra="forbid")

    skills: Annotated[
        list[SlugFilter],
        BeforeValidator(_split_slugs),
        Field(max_length=MAX_SKILL_FILTERS, description="Every listed skill must be offered."),
    ] = Field(default_factory=list)
    q: SearchText | None = None
    language: Annotated[
        LanguageTag | None,
        AfterValidator(lambda v: normalize_language(v) if v is not None else None),
    ] = None
    format: Format | None = None
    session_length: SessionLength | None = None
