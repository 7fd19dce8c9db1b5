from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from mentorapi.apps.auth import CurrentCaller
from mentorapi.db.uow import DbSession
from mentorapi.feedback import service
from mentorapi.feedback.schemas import (
    FeedbackCreate,
    FeedbackRead,
    FeedbackUpdate,
    GroupFeedbackCreate,
    ImpactUpdateCreate,
)
from mentorapi.feedback.service import FeedbackView
from mentorapi.kit.ids import FeedbackId, GroupSessionId, MentorId, SessionId
from mentorapi.kit.pagination import Page, PageRequest, page_request
from mentorapi.kit.problems import problems
from mentorapi.kit.versioning import parse_if_match, set_etag

router = APIRouter(prefix="/v1", tags=["feedback"])


def _read(view: FeedbackView, response: Response | None = None) -> FeedbackRead:
    if response is not None:
        set_etag(response, view.feedback.version)
    return FeedbackRead.from_model(view.feedback, view.updates)


@router.post(
    "/sessions/{session_id}/feedback",
    status_code=status.HTTP_201_CREATED,
    summary="Give feedback on a completed session (one per author)",
    description="409 while the session is not completed, a cancelled one included "
    "(`session_status`), or when that author already gave feedback on it.",
    responses=problems(404, 409, 422, etag=201),
)
async def submit_feedback(
    caller: CurrentCaller,
    db_session: DbSession,
    session_id: SessionId,
    body: FeedbackCreate,
    response: Response,
) -> FeedbackRead:
    view = await service.submit(
        db_session=db_session, app_id=caller.app_id, actor=caller, session_id=session_id, data=body
    )
    return _read(view, response)


@router.get(
    "/sessions/{session_id}/feedback",
    operation_id="listSessionFeedback",
    summary="The feedback on a session, from both sides",
    responses=problems(404, 422),
)
async def session_feedback(
    caller: CurrentCaller, db_session: DbSession, session_id: SessionId
) -> Page[FeedbackRead]:
    views = await service.for_session(
        db_session=db_session, app_id=caller.app_id, actor=caller, session_id=session_id
    )
    return Page(data=[_read(v) for v in views], next_cursor=None)


@router.post(
    "/group-sessions/{group_session_id}/feedback",
    status_code=status.HTTP_201_CREATED,
    operation_id="submitGroupSessionFeedback",
    summary="Give feedback on a seat of a completed group session (one per seat and author)",
    description="The body of session feedback, plus `mentee_id`: whose seat (required from "
    "the mentor and with the API key; a mentee's member token may leave it out). 409 while the "
    "group session is not completed, a cancelled one included (`group_session_status`), or "
    "when that author already gave feedback on the seat; 404 when the completed group session "
    "has no taken seat of that mentee.",
    responses=problems(404, 409, 422, etag=201),
)
async def submit_group_session_feedback(
    caller: CurrentCaller,
    db_session: DbSession,
    group_session_id: GroupSessionId,
    body: GroupFeedbackCreate,
    response: Response,
) -> FeedbackRead:
    view = await service.submit_for_group(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        group_id=group_session_id,
        data=body,
    )
    return _read(view, response)


@router.get(
    "/group-sessions/{group_session_id}/feedback",
    operation_id="listGroupSessionFeedback",
    summary="The feedback on a group session's seats, from both sides",
    description="All of it for the API key and the group session's mentor; for a mentee, "
    "their own seat's and the mentees' public feedback.",
    responses=problems(404, 422),
)
async def group_session_feedback(
    caller: CurrentCaller, db_session: DbSession, group_session_id: GroupSessionId
) -> Page[FeedbackRead]:
    views = await service.for_group_session(
        db_session=db_session, app_id=caller.app_id, actor=caller, group_id=group_session_id
    )
    return Page(data=[_read(v) for v in views], next_cursor=None)


@router.get(
    "/mentors/{mentor_id}/feedback",
    operation_id="listMentorFeedback",
    summary="A mentor's public feedback (what mentees chose to show on the profile), newest first",
    responses=problems(404, 422),
)
async def mentor_feedback(
    caller: CurrentCaller,
    db_session: DbSession,
    mentor_id: MentorId,
    page: Annotated[PageRequest, Depends(page_request)],
) -> Page[FeedbackRead]:
    views, cursor = await service.public_for_mentor(
        db_session=db_session, app_id=caller.app_id, actor=caller, mentor_id=mentor_id, page=page
    )
    return Page(data=[_read(v) for v in views], next_cursor=cursor)


@router.get(
    "/feedback/{feedback_id}", summary="Get feedback", responses=problems(404, 422, etag=200)
)
async def get_feedback(
    caller: CurrentCaller, db_session: DbSession, feedback_id: FeedbackId, response: Response
) -> FeedbackRead:
    view = await service.get(
        db_session=db_session, app_id=caller.app_id, actor=caller, feedback_id=feedback_id
    )
    return _read(view, response)


@router.patch(
    "/feedback/{feedback_id}",
    summary="Edit feedback (within 7 days of giving it)",
    responses=problems(404, 409, 412, 422, etag=200),
)
async def update_feedback(
    caller: CurrentCaller,
    db_session: DbSession,
    feedback_id: FeedbackId,
    body: FeedbackUpdate,
    response: Response,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> FeedbackRead:
    view = await service.update(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        feedback_id=feedback_id,
        data=body,
        expected_version=expected_version,
    )
    return _read(view, response)


@router.post(
    "/feedback/{feedback_id}/impact-updates",
    status_code=status.HTTP_201_CREATED,
    summary="A later word on what the advice changed; returns the feedback",
    responses=problems(404, 409, 422),
)
async def add_impact_update(
    caller: CurrentCaller, db_session: DbSession, feedback_id: FeedbackId, body: ImpactUpdateCreate
) -> FeedbackRead:
    view = await service.add_impact_update(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        feedback_id=feedback_id,
        data=body,
    )
    return _read(view)
