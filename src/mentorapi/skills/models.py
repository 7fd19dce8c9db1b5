from datetime import datetime
from typing import Protocol

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

from mentorapi.db.base import TenantOwned
from mentorapi.kit.ids import new_id


class Skill(TenantOwned, table=True):
    __tablename__ = "skills"
    __table_args__ = (UniqueConstraint("app_id", "slug"),)

    id: str = Field(default_factory=lambda: new_id("skl"), primary_key=True, max_length=30)
    slug: str = Field(max_length=64)
    name: str = Field(max_length=100)
    category: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=2000)
    version: int = Field(default=1)


class SkillFields(Protocol):
    """What displaying a skill reads: a Skill, or a row of the skills table (read-only pages
    read rows, not entities)."""

    @property
    def id(self) -> str: ...
    @property
    def app_id(self) -> str: ...
    @property
    def slug(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def category(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def version(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
