from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from mentorapi.db.base import TenantOwned, same_app
from mentorapi.db.types import JSONList
from mentorapi.kit.ids import new_id


class Mentee(TenantOwned, table=True):
    __tablename__ = "mentees"
    __table_args__ = (UniqueConstraint("app_id", "external_id"),)

    id: str = Field(default_factory=lambda: new_id("mte"), primary_key=True, max_length=30)
    external_id: str = Field(max_length=128)
    name: str = Field(max_length=200)
    timezone: str = Field(max_length=64)
    languages: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    version: int = Field(default=1)


class MenteeSkill(SQLModel, table=True):
    """A skill a mentee wants to develop; `level` is where they are now (1-5)."""

    __tablename__ = "mentee_skills"
    __table_args__ = (
        same_app("mentee_id", "mentees"),
        same_app("skill_id", "skills", ondelete="RESTRICT"),
    )

    # The app first, as in every tenant table's key (db/base.py TenantOwned).
    app_id: str = Field(foreign_key="apps.id", ondelete="CASCADE", primary_key=True, max_length=30)
    mentee_id: str = Field(sa_column=Column(String(30), primary_key=True))
    skill_id: str = Field(sa_column=Column(String(30), primary_key=True, index=True))
    level: int
    note: str | None = Field(default=None, max_length=500)
