from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from mentorapi.apps.auth import CurrentCaller
from mentorapi.db.uow import DbSession
from mentorapi.kit.ids import MentorId
from mentorapi.kit.problems import problems
from mentorapi.kit.versioning import parse_if_match, set_etag
from mentorapi.reminders import service
from mentorapi.reminders.models import MentorReminderPolicy, ReminderPolicy
from mentorapi.reminders.schemas import (
    MentorRemindersPut,
    MentorRemindersRead,
    ReminderPolicyPut,
    ReminderPolicyRead,
)

router = APIRouter(prefix="/v1/app/reminders", tags=["app"])

POLICY = (
    "Reminders (`session.reminder`) go at each offset before a booked session's start, in real "
    "minutes from the start instant; a mentor's own offsets replace the app's for their "
    "sessions. `session.started` and `session.ended` go at the session's times; "
    "`feedback.requested` goes to each party of a completed session that has not given "
    "feedback, `feedback_request_delay_minutes` after the end; `action_item.due` at 09:00 in "
    "the mentee's zone on the due date. A reminder whose time has passed when it is planned is "
    "skipped, never sent late. A new policy applies at once to every booked session still to "
    "come. The app's API key only."
)


def _policy(policy: ReminderPolicy, response: Response) -> ReminderPolicyRead:
    set_etag(response, policy.version)
    return ReminderPolicyRead.from_model(policy)


def _mentor(
    mentor_id: str,
    found: tuple[MentorReminderPolicy | None, ReminderPolicy],
    response: Response,
) -> MentorRemindersRead:
    read = MentorRemindersRead.build(mentor_id, *found)
    set_etag(response, read.version)
    return read


@router.get(
    "",
    operation_id="getReminderPolicy",
    summary="The app's reminder policy",
    description=POLICY,
    responses=problems(403, etag=200),
)
async def get_policy(
    caller: CurrentCaller, db_session: DbSession, response: Response
) -> ReminderPolicyRead:
    policy = await service.get_policy(db_session=db_session, app_id=caller.app_id, actor=caller)
    return _policy(policy, response)


@router.put(
    "",
    operation_id="setReminderPolicy",
    summary="Replace the app's reminder policy",
    description=POLICY,
    responses=problems(403, 409, 412, 422, etag=200),
)
async def put_policy(
    caller: CurrentCaller,
    db_session: DbSession,
    body: ReminderPolicyPut,
    response: Response,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> ReminderPolicyRead:
    policy = await service.put_policy(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        data=body,
        expected_version=expected_version,
    )
    return _policy(policy, response)


@router.get(
    "/mentors/{mentor_id}",
    operation_id="getMentorReminders",
    summary="The reminder offsets of one mentor's sessions",
    description="The mentor's own offsets (`source: mentor`), or the app's (`source: app`).",
    responses=problems(403, 404, etag=200),
)
async def get_mentor_reminders(
    caller: CurrentCaller, db_session: DbSession, mentor_id: MentorId, response: Response
) -> MentorRemindersRead:
    found = await service.get_mentor_reminders(
        db_session=db_session, app_id=caller.app_id, actor=caller, mentor_id=mentor_id
    )
    return _mentor(mentor_id, found, response)


@router.put(
    "/mentors/{mentor_id}",
    operation_id="setMentorReminders",
    summary="Give one mentor's sessions their own reminder offsets",
    description="In place of the app's offsets, for every booked session of the mentor still "
    "to come and every later one.",
    responses=problems(403, 404, 409, 412, 422, etag=200),
)
async def put_mentor_reminders(
    caller: CurrentCaller,
    db_session: DbSession,
    mentor_id: MentorId,
    body: MentorRemindersPut,
    response: Response,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> MentorRemindersRead:
    found = await service.put_mentor_reminders(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        mentor_id=mentor_id,
        data=body,
        expected_version=expected_version,
    )
    return _mentor(mentor_id, found, response)


@router.delete(
    "/mentors/{mentor_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="clearMentorReminders",
    summary="Let one mentor's sessions follow the app's reminder offsets again",
    responses=problems(403, 404, 412),
)
async def clear_mentor_reminders(
    caller: CurrentCaller,
    db_session: DbSession,
    mentor_id: MentorId,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> None:
    await service.clear_mentor_reminders(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        mentor_id=mentor_id,
        expected_version=expected_version,
    )
