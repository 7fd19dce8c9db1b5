"""Goals and milestones of a mentee; progress is derived from the milestones done."""

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import Caller, require_mentee
from mentorapi.goals import repository
from mentorapi.goals.models import Goal, Milestone
from mentorapi.goals.schemas import (
    MAX_MILESTONES,
    GoalCreate,
    GoalUpdate,
    MilestoneCreate,
    MilestoneUpdate,
)
from mentorapi.kit.errors import Conflict, InvalidInput, NotFound
from mentorapi.kit.timezones import utcnow
from mentorapi.kit.versioning import check_version
from mentorapi.mentees import service as mentees_service
from mentorapi.skills import repository as skills_repository
from mentorapi.skills.models import Skill


@dataclass
class GoalView:
    goal: Goal
    milestones: list[Milestone]
    skill: Skill | None


async def _get(db_session: AsyncSession, app_id: str, actor: Caller, goal_id: str) -> Goal:
    goal = await repository.get(db_session, app_id, goal_id)
    if goal is None:
        raise NotFound(f"no goal {goal_id}")
    # A goal is as private as its mentee: to any other member it does not exist.
    require_mentee(actor, goal.mentee_id, what="goal")
    return goal


async def _views(db_session: AsyncSession, app_id: str, goals: list[Goal]) -> list[GoalView]:
    milestones = await repository.milestones_for(db_session, app_id, [g.id for g in goals])
    skill_ids = {g.skill_id for g in goals if g.skill_id}
    skills = {s.id: s for s in await skills_repository.find(db_session, app_id, ids=skill_ids)}
    return [GoalView(g, milestones.get(g.id, []), skills.get(g.skill_id or "")) for g in goals]


async def get(*, db_session: AsyncSession, app_id: str, actor: Caller, goal_id: str) -> GoalView:
    goal = await _get(db_session, app_id, actor, goal_id)
    return (await _views(db_session, app_id, [goal]))[0]


async def list_for_mentee(
    *, db_session: AsyncSession, app_id: str, actor: Caller, mentee_id: str
) -> list[GoalView]:
    require_mentee(actor, mentee_id)
    await mentees_service.get(db_session=db_session, app_id=app_id, mentee_id=mentee_id)
    goals = await repository.for_mentee(db_session, app_id, mentee_id)
    return await _views(db_session, app_id, goals)


async def _skill(db_session: AsyncSession, app_id: str, data: GoalCreate) -> Skill | None:
    if data.skill_id is None and data.slug is None:
        return None
    if data.skill_id is not None and data.slug is not None:
        raise InvalidInput("give at most one of skill_id or slug", loc=["body", "skill_id"])
    if data.skill_id is not None:
        skill = await skills_repository.get(db_session, app_id, data.skill_id)
    else:
        skill = await skills_repository.get_by_slug(db_session, app_id, data.slug or "")
    if skill is None:
        field = "skill_id" if data.skill_id else "slug"
        raise InvalidInput(
            f"no skill {data.skill_id or data.slug!r} in this app", loc=["body", field]
        )
    return skill


async def create(
    *, db_session: AsyncSession, app_id: str, actor: Caller, mentee_id: str, data: GoalCreate
) -> GoalView:
    require_mentee(actor, mentee_id)
    await mentees_service.get(db_session=db_session, app_id=app_id, mentee_id=mentee_id)
    skill = await _skill(db_session, app_id, data)
    goal = Goal(
        app_id=app_id,
        mentee_id=mentee_id,
        skill_id=skill.id if skill else None,
        title=data.title,
        description=data.description,
        target_date=data.target_date,
    )
    db_session.add(goal)
    await db_session.flush()
    milestones = [
        Milestone(
            app_id=app_id, goal_id=goal.id, title=m.title, target_date=m.target_date, position=i
        )
        for i, m in enumerate(data.milestones)
    ]
    db_session.add_all(milestones)
    await db_session.flush()
    return GoalView(goal, milestones, skill)


def _touch(goal: Goal) -> None:
    goal.version += 1
    goal.updated_at = utcnow()


async def update(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    goal_id: str,
    data: GoalUpdate,
    expected_version: int | None = None,
) -> GoalView:
    goal = await _get(db_session, app_id, actor, goal_id)
    check_version(goal.version, expected_version, "the goal")
    changes = data.model_dump(exclude_unset=True)
    for field in ("title", "description"):
        if changes.get(field) is None:
            changes.pop(field, None)
    if changes:
        for field, value in changes.items():
            setattr(goal, field, value)
        _touch(goal)
        db_session.add(goal)
        await db_session.flush()
    return await get(db_session=db_session, app_id=app_id, actor=actor, goal_id=goal_id)


async def delete(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    goal_id: str,
    expected_version: int | None = None,
) -> None:
    goal = await _get(db_session, app_id, actor, goal_id)
    check_version(goal.version, expected_version, "the goal")
    await repository.delete(db_session, goal)


async def add_milestone(
    *, db_session: AsyncSession, app_id: str, actor: Caller, goal_id: str, data: MilestoneCreate
) -> GoalView:
    goal = await _get(db_session, app_id, actor, goal_id)
    if await repository.count_milestones(db_session, app_id, goal.id) >= MAX_MILESTONES:
        raise Conflict(f"a goal has at most {MAX_MILESTONES} milestones")
    milestone = Milestone(
        app_id=app_id,
        goal_id=goal.id,
        title=data.title,
        target_date=data.target_date,
        position=await repository.next_position(db_session, app_id, goal.id),
    )
    db_session.add(milestone)
    _touch(goal)
    db_session.add(goal)
    await db_session.flush()
    return await get(db_session=db_session, app_id=app_id, actor=actor, goal_id=goal_id)


async def _milestone(
    db_session: AsyncSession, app_id: str, actor: Caller, goal_id: str, milestone_id: str
) -> tuple[Goal, Milestone]:
    goal = await _get(db_session, app_id, actor, goal_id)
    milestone = await repository.get_milestone(db_session, app_id, goal_id, milestone_id)
    if milestone is None:
        raise NotFound(f"no milestone {milestone_id} in goal {goal_id}")
    return goal, milestone


async def update_milestone(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    goal_id: str,
    milestone_id: str,
    data: MilestoneUpdate,
) -> GoalView:
    goal, milestone = await _milestone(db_session, app_id, actor, goal_id, milestone_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("title") is not None:
        milestone.title = changes["title"]
    if "target_date" in changes:
        milestone.target_date = changes["target_date"]
    if changes.get("done") is not None and changes["done"] != (milestone.done_at is not None):
        milestone.done_at = utcnow() if changes["done"] else None
    milestone.updated_at = utcnow()
    db_session.add(milestone)
    _touch(goal)
    db_session.add(goal)
    await db_session.flush()
    return await get(db_session=db_session, app_id=app_id, actor=actor, goal_id=goal_id)


async def delete_milestone(
    *, db_session: AsyncSession, app_id: str, actor: Caller, goal_id: str, milestone_id: str
) -> GoalView:
    goal, milestone = await _milestone(db_session, app_id, actor, goal_id, milestone_id)
    await repository.delete(db_session, milestone)
    _touch(goal)
    db_session.add(goal)
    await db_session.flush()
    return await get(db_session=db_session, app_id=app_id, actor=actor, goal_id=goal_id)
