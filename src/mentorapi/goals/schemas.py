from datetime import date, datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, computed_field
from pydantic.config import JsonDict

from mentorapi.goals.models import Goal, Milestone
from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.ids import GoalIdOut, MenteeIdOut, MilestoneIdOut, SkillRefId
from mentorapi.skills.models import Skill
from mentorapi.skills.schemas import SKILL_REF_EXAMPLE, SkillRef, Slug

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
MAX_MILESTONES = 20


class MilestoneCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"title": "Present the Q1 pivot to my team", "target_date": "2027-04-01"}]
        }
    )

    title: Title
    target_date: date | None = None


class MilestoneUpdate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"done": True}]})

    title: Title | None = None
    target_date: date | None = None
    done: bool | None = None


class GoalCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Own the monthly sales report",
                    "description": "Build it myself, from raw export to the slides.",
                    "slug": "pivot-tables",
                    "target_date": "2027-06-30",
                    "milestones": [
                        {"title": "Present the Q1 pivot to my team", "target_date": "2027-04-01"}
                    ],
                }
            ]
        }
    )

    title: Title
    description: Description = ""
    skill_id: SkillRefId | None = None
    slug: Slug | None = None
    target_date: date | None = None
    milestones: Annotated[list[MilestoneCreate], Field(max_length=MAX_MILESTONES)] = Field(
        default_factory=list
    )


class GoalUpdate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"target_date": "2027-07-31"}]})

    title: Title | None = None
    description: Description | None = None
    target_date: date | None = None


MILESTONE_EXAMPLE: JsonDict = {
    "id": ex.MILESTONE_ID,
    "title": "Present the Q1 pivot to my team",
    "target_date": "2027-04-01",
    "done": True,
    "done_at": "2027-03-30T10:00:00Z",
}


class MilestoneRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [MILESTONE_EXAMPLE]})

    id: MilestoneIdOut
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


class GoalProgress(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"milestones_done": 1, "milestones_total": 2, "percent": 50}]
        }
    )

    milestones_done: int
    milestones_total: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent(self) -> int:
        """Derived from the milestones done: never stored, so it cannot disagree with them."""
        if not self.milestones_total:
            return 0
        return round(100 * self.milestones_done / self.milestones_total)


class GoalRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.GOAL_ID,
                    "mentee_id": ex.MENTEE_ID,
                    "skill": SKILL_REF_EXAMPLE,
                    "title": "Own the monthly sales report",
                    "description": "Build it myself, from raw export to the slides.",
                    "target_date": "2027-06-30",
                    "milestones": [
                        MILESTONE_EXAMPLE,
                        {
                            **MILESTONE_EXAMPLE,
                            "id": "mls_01JD8XB3D4E5F6G7H8J9K0M1N3",
                            "title": "Automate the refresh",
                            "target_date": "2027-05-15",
                            "done": False,
                            "done_at": None,
                        },
                    ],
                    "progress": {"milestones_done": 1, "milestones_total": 2, "percent": 50},
                    "version": 4,
                    "created_at": ex.CREATED_AT,
                    "updated_at": "2027-03-30T10:00:00Z",
                }
            ]
        }
    )

    id: GoalIdOut
    mentee_id: MenteeIdOut
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
