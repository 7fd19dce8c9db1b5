from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mentorapi.kit.fields import ExternalId, Languages, PersonName, SearchText, Timezone
from mentorapi.mentees.models import Mentee, MenteeSkill
from mentorapi.skills.models import Skill
from mentorapi.skills.schemas import SkillChoice, SkillLevelRead, SkillRef, SlugFilter

Seeking = Annotated[
    list[SkillChoice],
    Field(max_length=50, description="Skills to develop; `level` is the mentee's level today."),
]


class MenteeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: ExternalId
    name: PersonName
    timezone: Timezone
    languages: Languages = Field(default_factory=list)
    seeking: Seeking = Field(default_factory=list)


class MenteeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: ExternalId | None = None
    name: PersonName | None = None
    timezone: Timezone | None = None
    languages: Languages | None = None
    seeking: Seeking | None = None


class MenteeRead(BaseModel):
    id: str
    external_id: str
    name: str
    timezone: str
    languages: list[str]
    seeking: list[SkillLevelRead]
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, mentee: Mentee, seeking: list[tuple[MenteeSkill, Skill]]) -> "MenteeRead":
        return cls(
            id=mentee.id,
            external_id=mentee.external_id,
            name=mentee.name,
            timezone=mentee.timezone,
            languages=mentee.languages,
            seeking=[
                SkillLevelRead(
                    skill=SkillRef(id=s.id, slug=s.slug, name=s.name, category=s.category),
                    level=link.level,
                    note=link.note,
                )
                for link, s in seeking
            ],
            version=mentee.version,
            created_at=mentee.created_at,
            updated_at=mentee.updated_at,
        )


class MenteeListArgs(BaseModel):
    """The filters of the mentee list: REST's query parameters and GraphQL's `MenteeFilter`."""

    skill: SlugFilter | None = None
    q: SearchText | None = None
