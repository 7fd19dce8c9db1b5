from datetime import datetime
from typing import Protocol

from sqlalchemy import JSON, Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel
from typing_extensions import TypedDict  # pydantic needs it for TypedDict fields on 3.11

from mentorapi.db.base import TenantOwned, same_app
from mentorapi.db.types import JSONList
from mentorapi.kit.enums import NamedStrEnum
from mentorapi.kit.ids import new_id
from mentorapi.skills.models import Skill


class Format(NamedStrEnum):
    video = "video"
    phone = "phone"
    chat = "chat"
    in_person = "in_person"
    async_ = "async"


class SkillRefData(TypedDict):
    id: str
    slug: str
    name: str
    category: str | None


class SkillOffer(TypedDict):
    """A skill as one mentor offers it, read for display, in the shape of SkillLevelRead:
    plain data rather than two ORM objects, so a page of mentors reads its skills from one
    column of its own rows (Mentor.offers)."""

    skill: SkillRefData
    level: int
    note: str | None


class Mentor(TenantOwned, table=True):
    __tablename__ = "mentors"
    __table_args__ = (
        UniqueConstraint("app_id", "external_id"),
        Index("ix_mentors_app_id_name_id", "app_id", "name", "id"),
        Index("ix_mentors_app_id_rating_avg_id", "app_id", "rating_avg", "id"),
        Index("ix_mentors_app_id_sessions_completed_id", "app_id", "sessions_completed", "id"),
        # The default order (creation = id) of an app's mentors, read in keyset pages, is the
        # primary key's: (app_id, id).
    )

    id: str = Field(default_factory=lambda: new_id("mtr"), primary_key=True, max_length=30)
    external_id: str = Field(max_length=128)
    name: str = Field(max_length=200)
    headline: str = Field(default="", max_length=200)
    bio: str = Field(default="", max_length=5000)
    timezone: str = Field(max_length=64)
    languages: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    formats: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    session_lengths: list[int] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    # Stats are counters kept on the row and changed with `SET x = x + 1`, so they stay exact
    # under concurrent writers and cost nothing to read in a list.
    sessions_completed: int = Field(default=0)
    minutes_mentored: int = Field(default=0)
    ratings_count: int = Field(default=0)
    rating_sum: int = Field(default=0)
    # rating_sum / ratings_count, kept in the same UPDATE so `sort=rating` can use an index.
    rating_avg: float = Field(default=0.0)
    mentees_helped: int = Field(default=0)
    impact_stories: int = Field(default=0)
    version: int = Field(default=1)
    # The skills offered as they are shown (SkillOffer items, in display order): a copy of what
    # the links and the skills say, written in the same transaction as they are (create, PUT
    # skills, a skill's slug, name or category changing), so that a page of mentors reads one
    # column instead of a subquery per mentor (most of the list's database time). Plain
    # JSON, not JSONB, on PostgreSQL: JSONB reorders object keys. The links stay the truth:
    # reading one mentor, GraphQL and search use them.
    offers: list[SkillOffer] = Field(default_factory=list, sa_type=JSON, nullable=False)


class MentorFields(Protocol):
    """What displaying a mentor reads: a Mentor, or a row of the mentors table (the list reads
    rows, not entities: no identity map or instrumentation for a read-only page)."""

    @property
    def id(self) -> str: ...
    @property
    def app_id(self) -> str: ...
    @property
    def external_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def headline(self) -> str: ...
    @property
    def bio(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def languages(self) -> list[str]: ...
    @property
    def formats(self) -> list[str]: ...
    @property
    def session_lengths(self) -> list[int]: ...
    @property
    def sessions_completed(self) -> int: ...
    @property
    def minutes_mentored(self) -> int: ...
    @property
    def ratings_count(self) -> int: ...
    @property
    def rating_sum(self) -> int: ...
    @property
    def rating_avg(self) -> float: ...
    @property
    def mentees_helped(self) -> int: ...
    @property
    def impact_stories(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


class MentorSkill(SQLModel, table=True):
    __tablename__ = "mentor_skills"
    __table_args__ = (
        same_app("mentor_id", "mentors"),
        same_app("skill_id", "skills", ondelete="RESTRICT"),
        # "The app's mentors offering skill X" (the list's skill filter) as an index-only scan,
        # in mentor order; it also serves the skill foreign key (RESTRICT checks on deletion).
        Index("ix_mentor_skills_app_id_skill_id_mentor_id", "app_id", "skill_id", "mentor_id"),
    )

    # The app first, as in every tenant table's key (db/base.py TenantOwned).
    app_id: str = Field(foreign_key="apps.id", ondelete="CASCADE", primary_key=True, max_length=30)
    mentor_id: str = Field(sa_column=Column(String(30), primary_key=True))
    skill_id: str = Field(sa_column=Column(String(30), primary_key=True))
    level: int
    note: str | None = Field(default=None, max_length=500)


def make_offer(
    skill_id: str, slug: str, name: str, category: str | None, level: int, note: str | None
) -> SkillOffer:
    ref: SkillRefData = {"id": skill_id, "slug": slug, "name": name, "category": category}
    return {"skill": ref, "level": level, "note": note}


def offer_of(link: MentorSkill, skill: Skill) -> SkillOffer:
    return make_offer(skill.id, skill.slug, skill.name, skill.category, link.level, link.note)
