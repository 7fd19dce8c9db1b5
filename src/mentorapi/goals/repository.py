from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.goals.models import Goal, Milestone


async def get(db_session: AsyncSession, app_id: str, goal_id: str) -> Goal | None:
    query = select(Goal).where(col(Goal.app_id) == app_id, col(Goal.id) == goal_id)
    return (await db_session.exec(query)).first()


async def for_mentee(db_session: AsyncSession, app_id: str, mentee_id: str) -> list[Goal]:
    query = (
        select(Goal)
        .where(col(Goal.app_id) == app_id, col(Goal.mentee_id) == mentee_id)
        .order_by(col(Goal.id))
    )
    return list((await db_session.exec(query)).all())


async def milestones_for(
    db_session: AsyncSession, app_id: str, goal_ids: Sequence[str]
) -> dict[str, list[Milestone]]:
    """The milestones of several goals, in one query; another app's goal ids find nothing."""
    result: dict[str, list[Milestone]] = defaultdict(list)
    if not goal_ids:
        return result
    query = (
        select(Milestone)
        .where(col(Milestone.app_id) == app_id, col(Milestone.goal_id).in_(list(goal_ids)))
        .order_by(col(Milestone.position), col(Milestone.id))
    )
    for milestone in (await db_session.exec(query)).all():
        result[milestone.goal_id].append(milestone)
    return result


async def get_milestone(
    db_session: AsyncSession, app_id: str, goal_id: str, milestone_id: str
) -> Milestone | None:
    query = select(Milestone).where(
        col(Milestone.app_id) == app_id,
        col(Milestone.goal_id) == goal_id,
        col(Milestone.id) == milestone_id,
    )
    return (await db_session.exec(query)).first()


async def next_position(db_session: AsyncSession, app_id: str, goal_id: str) -> int:
    query = select(func.coalesce(func.max(Milestone.position), -1)).where(
        col(Milestone.app_id) == app_id, col(Milestone.goal_id) == goal_id
    )
    return int((await db_session.exec(query)).one()) + 1


async def count_milestones(db_session: AsyncSession, app_id: str, goal_id: str) -> int:
    query = select(func.count()).where(
        col(Milestone.app_id) == app_id, col(Milestone.goal_id) == goal_id
    )
    return (await db_session.exec(query)).one()


async def delete(db_session: AsyncSession, row: Goal | Milestone) -> None:
    await db_session.delete(row)
    await db_session.flush()


async def count_for_skill(db_session: AsyncSession, app_id: str, skill_id: str) -> int:
    query = select(func.count()).where(col(Goal.app_id) == app_id, col(Goal.skill_id) == skill_id)
    return (await db_session.exec(query)).one()


async def for_mentees(
    db_session: AsyncSession, app_id: str, mentee_ids: Sequence[str]
) -> dict[str, list[Goal]]:
    """The goals of several mentees in one query, each mentee's oldest first."""
    result: dict[str, list[Goal]] = defaultdict(list)
    if not mentee_ids:
        return result
    query = (
        select(Goal)
        .where(col(Goal.app_id) == app_id, col(Goal.mentee_id).in_(list(mentee_ids)))
        .order_by(col(Goal.id))
    )
    for goal in (await db_session.exec(query)).all():
        result[goal.mentee_id].append(goal)
    return result
