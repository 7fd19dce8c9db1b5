from datetime import date, datetime

from sqlmodel import Field

from mentorapi.db.base import TenantOwned, same_app
from mentorapi.db.types import UTCDateTime
from mentorapi.kit.ids import new_id


class Goal(TenantOwned, table=True):
    __tablename__ = "goals"
    __table_args__ = (
        same_app("mentee_id", "mentees"),
        same_app("skill_id", "skills", ondelete="RESTRICT"),
    )

    id: str = Field(default_factory=lambda: new_id("gol"), primary_key=True, max_length=30)
    mentee_id: str = Field(index=True, max_length=30)
    skill_id: str | None = Field(default=None, index=True, max_length=30)
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    target_date: date | None = None
    version: int = Field(default=1)


class Milestone(TenantOwned, table=True):
    __tablename__ = "milestones"
    __table_args__ = (same_app("goal_id", "goals"),)

    id: str = Field(default_factory=lambda: new_id("mls"), primary_key=True, max_length=30)
    goal_id: str = Field(index=True, max_length=30)
    title: str = Field(max_length=200)
    target_date: date | None = None
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    position: int = Field(default=0)
