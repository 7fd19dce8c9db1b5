from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

from mentorapi.goals.models import Goal, Milestone
from mentorapi.skills.models import Skill
from mentorapi.skills.schemas import SkillRef, Slug

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
MAX_MILESTONES = 20


class MilestoneCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    target_date: date | None = None


class MilestoneUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    target_date: date | None = None
    done: bool | None = None


class GoalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description = ""
    skill_id: Annotated[str | None, Field(max_length=40)] = None
    slug: Slug | None = None
    target_date: date | None = None
    milestones: Annotated[list[MilestoneCreate], Field(max_length=MAX_MILESTONES)] = Field(
        default_factory=list
    )


class GoalUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    target_date: date | None = None


class MilestoneRead(BaseModel):
    id: str
    title: str
    target_date: date | None
    done: bool
    done_at: datetime | None

    @classmethod
    def from_model(cls, m: Milestone) -> "MilestoneRead":
        return cls(
            id=m.id,
            title=m.title,
            target_date=m.target_date,
            done=m.done_at is not None,
            done_at=m.done_at,
        )


class GoalProgress(BaseModel):
    milestones_done: int
    milestones_total: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent(self) -> int:
        """Derived from the milestones done: never stored, so it cannot disagree with them."""
        if not self.milestones_total:
            return 0
        return round(100 * self.milestones_done / self.milestones_total)


class GoalRead(BaseModel):
    id: str
    mentee_id: str
    skill: SkillRef | None
    title: str
    description: str
    target_date: date | None
    milestones: list[MilestoneRead]
    progress: GoalProgress
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, goal: Goal, milestones: list[Milestone], skill: Skill | None) -> "GoalRead":
        return cls(
            id=goal.id,
            mentee_id=goal.mentee_id,
            skill=SkillRef.model_validate(skill) if skill else None,
            title=goal.title,
            description=goal.description,
            target_date=goal.target_date,
            milestones=[MilestoneRead.from_model(m) for m in milestones],
            progress=GoalProgress(
                milestones_done=sum(1 for m in milestones if m.done_at is not None),
                milestones_total=len(milestones),
            ),
            version=goal.version,
            created_at=goal.created_at,
            updated_at=goal.updated_at,
        )
