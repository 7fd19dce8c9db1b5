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
