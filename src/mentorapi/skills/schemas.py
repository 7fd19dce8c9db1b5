from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.config import JsonDict

from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.fields import SearchText
from mentorapi.kit.ids import SkillIdOut, SkillRefId

SLUG_MAX_LENGTH = 64


def _normalize_slug(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
# The constraints before the normaliser: after it, pydantic would check them as plain
# functions and drop the pattern from the JSON Schema (the normaliser still runs first).
Slug = Annotated[
    str,
    StringConstraints(min_length=1, max_length=SLUG_MAX_LENGTH, pattern=SLUG_PATTERN),
    BeforeValidator(_normalize_slug),
    Field(
        description="Lowercase words joined by hyphens, unique in the app.",
        examples=["pivot-tables"],
    ),
]
CATEGORY_MAX_LENGTH = 64
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Category = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=CATEGORY_MAX_LENGTH)
]
# What list filters accept: the longest a slug or a category can be (a filter need not match).
SlugFilter = Annotated[str, StringConstraints(max_length=SLUG_MAX_LENGTH)]
CategoryFilter = Annotated[str, StringConstraints(max_length=CATEGORY_MAX_LENGTH)]


class SkillListArgs(BaseModel):
    """The filters of the skill list: REST's query parameters and GraphQL's `SkillFilter`."""

    category: CategoryFilter | None = None
    q: SearchText | None = None


Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class SkillCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "slug": "pivot-tables",
                    "name": "Pivot tables",
                    "category": "Spreadsheets",
                    "description": "Summarise a sales sheet in minutes, not hours.",
                }
            ]
        }
    )

    slug: Slug
    name: Name
    category: Category | None = None
    description: Description | None = None


class SkillUpdate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Pivot tables in Excel"}]})

    slug: Slug | None = None
    name: Name | None = None
    category: Category | None = None
    description: Description | None = None


SKILL_REF_EXAMPLE: JsonDict = {
    "id": ex.SKILL_ID,
    "slug": "pivot-tables",
    "name": "Pivot tables",
    "category": "Spreadsheets",
}


class SkillRead(ResponseBody):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    **SKILL_REF_EXAMPLE,
                    "description": "Summarise a sales sheet in minutes, not hours.",
                    "version": 1,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.CREATED_AT,
                }
            ]
        },
    )

    id: SkillIdOut
    slug: str
    name: str
    category: str | None
    description: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class SkillRef(ResponseBody):
    """A skill as it appears inside a mentor or mentee."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [SKILL_REF_EXAMPLE]}
    )

    id: SkillIdOut
    slug: str
    name: str
    category: str | None


class SkillChoice(RequestBody):
    """A skill picked by id or by slug, with a level (1-5) and a short note."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"slug": "pivot-tables", "level": 4, "note": "Ten years of finance reporting"},
                {"skill_id": ex.SKILL_ID},
            ]
        }
    )

    skill_id: SkillRefId | None = None
    slug: Slug | None = None
    level: Annotated[int, Field(ge=1, le=5)] = 3
    note: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=500)] = None

    @model_validator(mode="after")
    def _one_reference(self) -> "SkillChoice":
        if (self.skill_id is None) == (self.slug is None):
            raise ValueError("give exactly one of skill_id or slug")
        return self


class SkillLevelRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"skill": SKILL_REF_EXAMPLE, "level": 4, "note": "Finance reporting"}]
        }
    )

    skill: SkillRef
    level: int
    note: str | None
