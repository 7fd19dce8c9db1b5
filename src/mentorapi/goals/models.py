from datetime import date, datetime

from sqlmodel import Field

from mentorapi.db.base import TenantOwned
from mentorapi.db.types import UTCDateTime
from mentorapi.kit.ids import new_id


class Goal(TenantOwned, table=True):
    __tablename__ = "goals"

    id: str = Field(default_factory=lambda: new_id("gol"), primary_key=True, max_length=30)
    mentee_id: str = Field(foreign_key="mentees.id", ondelete="CASCADE", index=True, max_length=30)
    skill_id: str | None = Field(
        default=None, foreign_key="skills.id", ondelete="RESTRICT", index=True, max_length=30
    )
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    target_date: date | None = None
    version: int = Field(default=1)


class Milestone(TenantOwned, table=True):
    __tablename__ = "milestones"

    id: str = Field(default_factory=lambda: new_id("mls"), primary_key=True, max_length=30)
    goal_id: str = Field(foreign_key="goals.id", ondelete="CASCADE", index=True, max_length=30)
    title: str = Field(max_length=200)
    target_date: date | None = None
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    position: int = Field(default=0)
