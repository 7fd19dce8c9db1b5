"""GraphQL face of goals: a mentee's goals and milestones over goals.service (no rules here)."""

from datetime import date, datetime
from typing import Annotated

import strawberry

from mentorapi.goals import service
from mentorapi.goals.models import Goal, Milestone
from mentorapi.goals.schemas import (
    GoalCreate,
    GoalProgress,
    GoalUpdate,
    MilestoneCreate,
    MilestoneUpdate,
)
from mentorapi.goals.service import GoalView
from mentorapi.graphql.context import Info
from mentorapi.graphql.inputs import as_dict, typed_id, validate
from mentorapi.skills.gql import SkillType


@strawberry.type(name="Milestone")
class MilestoneType:
    id: strawberry.ID
    title: str
    target_date: date | None
    done: bool
    done_at: datetime | None

    @classmethod
    def from_model(cls, m: Milestone) -> "MilestoneType":
        return cls(
            id=strawberry.ID(m.id),
            title=m.title,
            target_date=m.target_date,
            done=m.done_at is not None,
            done_at=m.done_at,
        )


@strawberry.type(description="Derived from the milestones done; never stored.")
class Progress:
    milestones_done: int
    milestones_total: int
    percent: int


@strawberry.type(name="Goal", description="A mentee's goal, broken into milestones.")
class GoalType:
    id: strawberry.ID
    mentee_id: strawberry.ID
    title: str
    description: str
    target_date: date | None
    version: int
    created_at: datetime
    updated_at: datetime
    skill_id: strawberry.Private[str | None]

    @strawberry.field
    async def skill(self, info: Info) -> SkillType | None:
        if self.skill_id is None:
            return None
        skill = await info.context.loaders.skill.load(self.skill_id)
        return SkillType.from_model(skill) if skill else None

    @strawberry.field(description="In order.")
    async def milestones(self, info: Info) -> list[MilestoneType]:
        rows = await info.context.loaders.milestones.load(self.id)
        return [MilestoneType.from_model(m) for m in rows]

    @strawberry.field
    async def progress(self, info: Info) -> Progress:
        rows = await info.context.loaders.milestones.load(self.id)
        progress = GoalProgress(
            milestones_done=sum(1 for m in rows if m.done_at is not None),
            milestones_total=len(rows),
        )
        return Progress(
            milestones_done=progress.milestones_done,
            milestones_total=progress.milestones_total,
            percent=progress.percent,
        )

    @classmethod
    def from_model(cls, goal: Goal) -> "GoalType":
        return cls(
            id=strawberry.ID(goal.id),
            mentee_id=strawberry.ID(goal.mentee_id),
            title=goal.title,
            description=goal.description,
            target_date=goal.target_date,
            version=goal.version,
            created_at=goal.created_at,
            updated_at=goal.updated_at,
            skill_id=goal.skill_id,
        )


def _node(info: Info, view: GoalView) -> GoalType:
    # The service loaded milestones and skill already: hand them to the loaders.
    info.context.loaders.milestones.prime(view.goal.id, view.milestones, force=True)
    if view.skill is not None:
        info.context.loaders.skill.prime(view.skill.id, view.skill, force=True)
    return GoalType.from_model(view.goal)


@strawberry.input
class MilestoneInput:
    title: str
    target_date: date | None = strawberry.UNSET


@strawberry.input(description="As POST /v1/mentees/{id}/goals; the skill by id or by slug.")
class CreateGoalInput:
    title: str
    description: str | None = strawberry.UNSET
    skill_id: strawberry.ID | None = strawberry.UNSET
    slug: str | None = strawberry.UNSET
    target_date: date | None = strawberry.UNSET
    milestones: list[MilestoneInput] | None = strawberry.UNSET


@strawberry.input(description="Fields to change; leave one out to keep it.")
class UpdateGoalInput:
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    target_date: date | None = strawberry.UNSET


@strawberry.input(description="Fields to change; leave one out to keep it.")
class UpdateMilestoneInput:
    title: str | None = strawberry.UNSET
    target_date: date | None = strawberry.UNSET
    done: bool | None = strawberry.UNSET


ExpectedVersion = Annotated[int | None, strawberry.argument(description="Like REST's If-Match.")]


@strawberry.type
class Query:
    @strawberry.field
    async def goal(self, info: Info, id: strawberry.ID) -> GoalType:
        goal_id = typed_id(id, "gol")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.get(
                db_session=db_session, app_id=app_id, actor=actor, goal_id=goal_id
            )
        return _node(info, view)

    @strawberry.field(description="A mentee's goals, oldest first.")
    async def goals(self, info: Info, mentee_id: strawberry.ID) -> list[GoalType]:
        checked = typed_id(mentee_id, "mte", argument="menteeId")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            views = await service.list_for_mentee(
                db_session=db_session, app_id=app_id, actor=actor, mentee_id=checked
            )
        return [_node(info, v) for v in views]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Set a goal for a mentee, with milestones.")
    async def create_goal(
        self, info: Info, mentee_id: strawberry.ID, input: CreateGoalInput
    ) -> GoalType:
        checked = typed_id(mentee_id, "mte", argument="menteeId")
        fields = {k: v for k, v in as_dict(input).items() if v is not None}
        data = validate(GoalCreate, fields)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.create(
                db_session=db_session, app_id=app_id, actor=actor, mentee_id=checked, data=data
            )
        return _node(info, view)

    @strawberry.mutation
    async def update_goal(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateGoalInput,
        expected_version: ExpectedVersion = None,
    ) -> GoalType:
        goal_id = typed_id(id, "gol")
        data = validate(GoalUpdate, input)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.update(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                goal_id=goal_id,
                data=data,
                expected_version=expected_version,
            )
        return _node(info, view)

    @strawberry.mutation(description="Delete a goal and its milestones; returns its id.")
    async def delete_goal(
        self, info: Info, id: strawberry.ID, expected_version: ExpectedVersion = None
    ) -> strawberry.ID:
        goal_id = typed_id(id, "gol")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            await service.delete(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                goal_id=goal_id,
                expected_version=expected_version,
            )
        return id

    @strawberry.mutation(description="Add a milestone; returns the goal.")
    async def add_milestone(
        self, info: Info, goal_id: strawberry.ID, input: MilestoneInput
    ) -> GoalType:
        checked = typed_id(goal_id, "gol", argument="goalId")
        data = validate(MilestoneCreate, input)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.add_milestone(
                db_session=db_session, app_id=app_id, actor=actor, goal_id=checked, data=data
            )
        return _node(info, view)

    @strawberry.mutation(description="Rename, re-date or mark a milestone done; returns the goal.")
    async def update_milestone(
        self, info: Info, goal_id: strawberry.ID, id: strawberry.ID, input: UpdateMilestoneInput
    ) -> GoalType:
        checked = typed_id(goal_id, "gol", argument="goalId")
        milestone_id = typed_id(id, "mls")
        data = validate(MilestoneUpdate, input)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.update_milestone(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                goal_id=checked,
                milestone_id=milestone_id,
                data=data,
            )
        return _node(info, view)

    @strawberry.mutation(description="Remove a milestone; returns the goal.")
    async def delete_milestone(
        self, info: Info, goal_id: strawberry.ID, id: strawberry.ID
    ) -> GoalType:
        checked = typed_id(goal_id, "gol", argument="goalId")
        milestone_id = typed_id(id, "mls")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.delete_milestone(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                goal_id=checked,
                milestone_id=milestone_id,
            )
        return _node(info, view)
