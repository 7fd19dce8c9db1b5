from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from mentorapi.apps.auth import CurrentCaller
from mentorapi.db.uow import DbSession
from mentorapi.goals import service
from mentorapi.goals.schemas import (
    GoalCreate,
    GoalRead,
    GoalUpdate,
    MilestoneCreate,
    MilestoneUpdate,
)
from mentorapi.goals.service import GoalView
from mentorapi.kit.ids import GoalId, MenteeId, MilestoneId
from mentorapi.kit.pagination import Page
from mentorapi.kit.problems import problems
from mentorapi.kit.versioning import parse_if_match, set_etag

router = APIRouter(prefix="/v1", tags=["goals"])


def _read(view: GoalView, response: Response | None = None) -> GoalRead:
    if response is not None:
        set_etag(response, view.goal.version)
    return GoalRead.from_model(view.goal, view.milestones, view.skill)


@router.get("/mentees/{mentee_id}/goals", summary="A mentee's goals", responses=problems(404, 422))
async def list_goals(
    caller: CurrentCaller, db_session: DbSession, mentee_id: MenteeId
) -> Page[GoalRead]:
    views = await service.list_for_mentee(
        db_session=db_session, app_id=caller.app_id, actor=caller, mentee_id=mentee_id
    )
    return Page(data=[_read(v) for v in views], next_cursor=None)


@router.post(
    "/mentees/{mentee_id}/goals",
    status_code=status.HTTP_201_CREATED,
    summary="Set a goal, with milestones",
    responses=problems(404, 422, etag=201),
)
async def create_goal(
    caller: CurrentCaller,
    db_session: DbSession,
    mentee_id: MenteeId,
    body: GoalCreate,
    response: Response,
) -> GoalRead:
    view = await service.create(
        db_session=db_session, app_id=caller.app_id, actor=caller, mentee_id=mentee_id, data=body
    )
    return _read(view, response)


@router.get("/goals/{goal_id}", summary="Get a goal", responses=problems(404, 422, etag=200))
async def get_goal(
    caller: CurrentCaller, db_session: DbSession, goal_id: GoalId, response: Response
) -> GoalRead:
    return _read(
        await service.get(
            db_session=db_session, app_id=caller.app_id, actor=caller, goal_id=goal_id
        ),
        response,
    )


@router.patch(
    "/goals/{goal_id}", summary="Update a goal", responses=problems(404, 412, 422, etag=200)
)
async def update_goal(
    caller: CurrentCaller,
    db_session: DbSession,
    goal_id: GoalId,
    body: GoalUpdate,
    response: Response,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> GoalRead:
    view = await service.update(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        goal_id=goal_id,
        data=body,
        expected_version=expected_version,
    )
    return _read(view, response)


@router.delete(
    "/goals/{goal_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a goal and its milestones",
    responses=problems(404, 412, 422),
)
async def delete_goal(
    caller: CurrentCaller,
    db_session: DbSession,
    goal_id: GoalId,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> None:
    await service.delete(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        goal_id=goal_id,
        expected_version=expected_version,
    )


@router.post(
    "/goals/{goal_id}/milestones",
    status_code=status.HTTP_201_CREATED,
    summary="Add a milestone; returns the goal",
    responses=problems(404, 409, 422),
)
async def add_milestone(
    caller: CurrentCaller, db_session: DbSession, goal_id: GoalId, body: MilestoneCreate
) -> GoalRead:
    view = await service.add_milestone(
        db_session=db_session, app_id=caller.app_id, actor=caller, goal_id=goal_id, data=body
    )
    return _read(view)


@router.patch(
    "/goals/{goal_id}/milestones/{milestone_id}",
    summary="Rename, re-date or mark a milestone done/undone; returns the goal",
    responses=problems(404, 422),
)
async def update_milestone(
    caller: CurrentCaller,
    db_session: DbSession,
    goal_id: GoalId,
    milestone_id: MilestoneId,
    body: MilestoneUpdate,
) -> GoalRead:
    view = await service.update_milestone(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        goal_id=goal_id,
        milestone_id=milestone_id,
        data=body,
    )
    return _read(view)


@router.delete(
    "/goals/{goal_id}/milestones/{milestone_id}",
    summary="Remove a milestone; returns the goal",
    responses=problems(404, 422),
)
async def delete_milestone(
    caller: CurrentCaller, db_session: DbSession, goal_id: GoalId, milestone_id: MilestoneId
) -> GoalRead:
    view = await service.delete_milestone(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        goal_id=goal_id,
        milestone_id=milestone_id,
    )
    return _read(view)
