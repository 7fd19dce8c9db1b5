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

from mentorapi.kit.fields import SearchText

SLUG_MAX_LENGTH = 64


def _normalize_slug(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


Slug = Annotated[
    str,
    BeforeValidator(_normalize_slug),
    StringConstraints(
        min_length=1, max_length=SLUG_MAX_LENGTH, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
    ),
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


class SkillCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    name: Name
    category: Category | None = None
    description: Description | None = None


class SkillUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug | None = None
    name: Name | None = None
    category: Category | None = None
    description: Description | None = None


class SkillRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    slug: str
    name: str
    category: str | None
    description: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class SkillRef(BaseModel):
    """A skill as it appears inside a mentor or mentee."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    slug: str
    name: str
    category: str | None


class SkillChoice(BaseModel):
    """A skill picked by id or by slug, with a level (1-5) and a short note."""

    model_config = ConfigDict(extra="forbid")

    skill_id: Annotated[
        str | None, Field(max_length=40, examples=["skl_01JD8X4K8Y3N6Q2W5E7R9T1V3V"])
    ] = None
    slug: Slug | None = None
    level: Annotated[int, Field(ge=1, le=5)] = 3
    note: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=500)] = None

    @model_validator(mode="after")
    def _one_reference(self) -> "SkillChoice":
        if (self.skill_id is None) == (self.slug is None):
            raise ValueError("give exactly one of skill_id or slug")
        return self


class SkillLevelRead(BaseModel):
    skill: SkillRef
    level: int
    note: str | None
