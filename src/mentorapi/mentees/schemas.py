from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.fields import ExternalId, Languages, PersonName, SearchText, Timezone
from mentorapi.kit.ids import MenteeIdOut
from mentorapi.mentees.models import Mentee, MenteeSkill
from mentorapi.skills.models import Skill
from mentorapi.skills.schemas import (
    SKILL_REF_EXAMPLE,
    SkillChoice,
    SkillLevelRead,
    SkillRef,
    SlugFilter,
)

Seeking = Annotated[
    list[SkillChoice],
    Field(max_length=50, description="Skills to develop; `level` is the mentee's level today."),
]


class MenteeCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "external_id": "user-4821",
                    "name": "Ben Okafor",
                    "timezone": "Africa/Lagos",
                    "languages": ["en"],
                    "seeking": [
                        {"slug": "pivot-tables", "level": 1, "note": "Quarterly sales report"}
                    ],
                }
            ]
        }
    )

    external_id: ExternalId
    name: PersonName
    timezone: Timezone
    languages: Languages = Field(default_factory=list)
    seeking: Seeking = Field(default_factory=list)


class MenteeUpdate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"timezone": "Europe/London", "languages": ["en", "yo"]}]}
    )

    external_id: ExternalId | None = None
    name: PersonName | None = None
    timezone: Timezone | None = None
    languages: Languages | None = None
    seeking: Seeking | None = None


class MenteeRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.MENTEE_ID,
                    "external_id": "user-4821",
                    "name": "Ben Okafor",
                    "timezone": "Africa/Lagos",
                    "languages": ["en"],
                    "seeking": [
                        {"skill": SKILL_REF_EXAMPLE, "level": 1, "note": "Quarterly sales report"}
                    ],
                    "version": 1,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.CREATED_AT,
                }
            ]
        }
    )

    id: MenteeIdOut
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
