from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from mentorapi.apps.auth import CurrentCaller
from mentorapi.db.uow import DbSession
from mentorapi.group_sessions import ics, service
from mentorapi.group_sessions.models import GroupSession, Seat
from mentorapi.group_sessions.schemas import (
    GroupSessionCancel,
    GroupSessionCreate,
    GroupSessionRead,
    GroupStatusFilter,
    SeatCreate,
    SeatRead,
    SeatStatusFilter,
)
from mentorapi.kit.ids import GroupSessionId, MenteeId, MentorId, SeatId, SkillId
from mentorapi.kit.pagination import Page, PageRequest, page_request
from mentorapi.kit.problems import problems
from mentorapi.kit.versioning import parse_if_match, set_etag
from mentorapi.sessions.schemas import Cancel, Complete, Instant, Reschedule

router = APIRouter(prefix="/v1/group-sessions", tags=["group sessions"])

IfMatch = Annotated[int | None, Depends(parse_if_match)]
# A change of the group session: another member is a 403 (group sessions are public).
CHANGE = problems(403, 404, 409, 412, 422, etag=200)
MENTOR_ONLY = "With a member token: the group session's mentor only (anyone else: 403)."
CALENDAR = {
    "description": "An iCalendar (RFC 5545) file with one event, its times in the reader's "
    "zone (with its VTIMEZONE).",
    "content": {"text/calendar": {"schema": {"type": "string"}}},
    "headers": {
        "Content-Disposition": {
            "description": '`attachment; filename="<id>.ics"`',
            "required": True,
            "schema": {"type": "string"},
        }
    },
}


def _read(group: GroupSession, response: Response) -> GroupSessionRead:
    set_etag(response, group.version)
    return GroupSessionRead.from_model(group)


def _seat(seat: Seat, response: Response) -> SeatRead:
    set_etag(response, seat.version)
    return SeatRead.from_model(seat)


def _calendar(body: bytes, name: str) -> Response:
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.ics"'},
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a group session",
    description="In a free slot of the mentor, as a booking would take it (availability, "
    "notice, buffers, capacity and daily limits: it counts as one session); 409 when the slot "
    "is not free. " + MENTOR_ONLY.replace("anyone else", "another member"),
    responses=problems(403, 404, 409, 422, etag=201),
)
async def create_group_session(
    caller: CurrentCaller, db_session: DbSession, body: GroupSessionCreate, response: Response
) -> GroupSessionRead:
    group = await service.create(
        db_session=db_session, app_id=caller.app_id, actor=caller, data=body
    )
    return _read(group, response)


@router.get(
    "",
    summary="List group sessions",
    description="Every member of the app sees group sessions (they are offers, as mentors "
    "are); `mentee_id` lists those where that mentee holds a seat (a member may give only "
    "their own).",
    responses=problems(404, 422),
)
async def list_group_sessions(
    caller: CurrentCaller,
    db_session: DbSession,
    page: Annotated[PageRequest, Depends(page_request)],
    mentor_id: Annotated[MentorId | None, Query()] = None,
    mentee_id: Annotated[
        MenteeId | None, Query(description="Group sessions where this mentee holds a seat.")
    ] = None,
    skill_id: Annotated[SkillId | None, Query()] = None,
    status: Annotated[GroupStatusFilter | None, Query(description="Repeat for several.")] = None,
    from_: Annotated[
        Instant | None, Query(alias="from", description="Starting at or after.")
    ] = None,
    to: Annotated[Instant | None, Query(description="Starting before.")] = None,
) -> Page[GroupSessionRead]:
    groups, cursor = await service.list_group_sessions(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        page=page,
        mentor_id=mentor_id,
        mentee_id=mentee_id,
        skill_id=skill_id,
        statuses=status,
        starts_from=from_,
        starts_before=to,
    )
    return Page(data=[GroupSessionRead.from_model(g) for g in groups], next_cursor=cursor)


# Before /{group_session_id}: that pattern would take "grp_….ics" too.
@router.get(
    "/{group_session_id}.ics",
    operation_id="getGroupSessionCalendar",
    summary="The organizer's calendar event, with every attendee",
    description="In the mentor's zone. " + MENTOR_ONLY + " Attendees take their seat's file.",
    response_class=Response,
    responses={200: CALENDAR, **problems(403, 404, 422)},
)
async def group_session_ics(
    caller: CurrentCaller, db_session: DbSession, group_session_id: GroupSessionId
) -> Response:
    group, mentor, attendees = await service.organizer_calendar_parts(
        db_session=db_session, app_id=caller.app_id, actor=caller, group_id=group_session_id
    )
    return _calendar(ics.render_organizer(group, mentor, attendees), group.id)


@router.get(
    "/{group_session_id}",
    summary="Get a group session",
    description="Any caller of the app.",
    responses=problems(404, 422, etag=200),
)
async def get_group_session(
    caller: CurrentCaller,
    db_session: DbSession,
    group_session_id: GroupSessionId,
    response: Response,
) -> GroupSessionRead:
    group = await service.get(
        db_session=db_session, app_id=caller.app_id, group_id=group_session_id
    )
    return _read(group, response)


@router.post(
    "/{group_session_id}/reschedule",
    summary="Move a group session, with its seats, to another free slot",
    description="409 unless the new time is free for the mentor (as a booking) and for every "
    "attendee (`attendees_elsewhere` counts those who are not). The old times are kept in "
    "`history`. " + MENTOR_ONLY,
    responses=CHANGE,
)
async def reschedule_group_session(
    caller: CurrentCaller,
    db_session: DbSession,
    group_session_id: GroupSessionId,
    body: Reschedule,
    response: Response,
    expected_version: IfMatch,
) -> GroupSessionRead:
    group = await service.reschedule(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        group_id=group_session_id,
        starts_at=body.starts_at,
        expected_version=expected_version,
    )
    return _read(group, response)


@router.post(
    "/{group_session_id}/cancel",
    summary="Cancel a group session and every seat in it",
    description=MENTOR_ONLY,
    responses=CHANGE,
)
async def cancel_group_session(
    caller: CurrentCaller,
    db_session: DbSession,
    group_session_id: GroupSessionId,
    response: Response,
    expected_version: IfMatch,
    body: GroupSessionCancel | None = None,
) -> GroupSessionRead:
    group = await service.cancel(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        group_id=group_session_id,
        data=body or GroupSessionCancel(),
        expected_version=expected_version,
    )
    return _read(group, response)


@router.post(
    "/{group_session_id}/complete",
    summary="Mark a group session completed",
    description="Once it has started. " + MENTOR_ONLY,
    responses=CHANGE,
)
async def complete_group_session(
    caller: CurrentCaller,
    db_session: DbSession,
    group_session_id: GroupSessionId,
    response: Response,
    expected_version: IfMatch,
    body: Complete | None = None,
) -> GroupSessionRead:
    group = await service.complete(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        group_id=group_session_id,
        data=body or Complete(),
        expected_version=expected_version,
    )
    return _read(group, response)


@router.post(
    "/{group_session_id}/seats",
    status_code=status.HTTP_201_CREATED,
    summary="Take a seat in a group session",
    description="The mentee joins with their own ask, before the start. 409 when the group "
    "session is full (`seats`, `seats_taken`), not scheduled, has started, or the mentee is "
    "already seated or in another session at that time. With a member token: a mentee takes "
    "a seat for themself only (another `mentee_id` is a 404).",
    responses=problems(404, 409, 422, etag=201),
)
async def take_seat(
    caller: CurrentCaller,
    db_session: DbSession,
    group_session_id: GroupSessionId,
    body: SeatCreate,
    response: Response,
) -> SeatRead:
    _, seat = await service.take_seat(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        group_id=group_session_id,
        data=body,
    )
    return _seat(seat, response)


@router.get(
    "/{group_session_id}/seats",
    summary="List the seats of a group session",
    description="The API key and the group session's mentor see every seat; a mentee their "
    "own; anyone else none.",
    responses=problems(404, 422),
)
async def list_seats(
    caller: CurrentCaller,
    db_session: DbSession,
    group_session_id: GroupSessionId,
    page: Annotated[PageRequest, Depends(page_request)],
    status: Annotated[SeatStatusFilter | None, Query(description="Repeat for several.")] = None,
) -> Page[SeatRead]:
    seats, cursor = await service.list_seats(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        group_id=group_session_id,
        page=page,
        statuses=status,
    )
    return Page(data=[SeatRead.from_model(s) for s in seats], next_cursor=cursor)


# Before /{seat_id}: that pattern would take "sea_….ics" too.
@router.get(
    "/{group_session_id}/seats/{seat_id}.ics",
    operation_id="getSeatCalendar",
    summary="An attendee's calendar event",
    description="In the mentee's zone, with their own ask. With a member token: the seat's "
    "mentee and the group session's mentor only (anyone else: 404).",
    response_class=Response,
    responses={200: CALENDAR, **problems(404, 422)},
)
async def seat_ics(
    caller: CurrentCaller,
    db_session: DbSession,
    group_session_id: GroupSessionId,
    seat_id: SeatId,
) -> Response:
    group, seat, mentor, mentee = await service.seat_calendar_parts(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        group_id=group_session_id,
        seat_id=seat_id,
    )
    return _calendar(ics.render_seat(group, seat, mentor, mentee), seat.id)


@router.get(
    "/{group_session_id}/seats/{seat_id}",
    summary="Get a seat",
    description="With a member token: the seat's mentee and the group session's mentor only "
    "(anyone else: 404).",
    responses=problems(404, 422, etag=200),
)
async def get_seat(
    caller: CurrentCaller,
    db_session: DbSession,
    group_session_id: GroupSessionId,
    seat_id: SeatId,
    response: Response,
) -> SeatRead:
    _, seat = await service.get_seat(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        group_id=group_session_id,
        seat_id=seat_id,
    )
    return _seat(seat, response)


@router.post(
    "/{group_session_id}/seats/{seat_id}/cancel",
    summary="Give a seat back",
    description="The seat is free for someone else. With a member token, `by` must be the "
    "member's own side: the seat's mentee (`mentee`) or the group session's mentor (`mentor`); "
    "the other side is a 403, anyone else a 404.",
    responses=CHANGE,
)
async def cancel_seat(
    caller: CurrentCaller,
    db_session: DbSession,
    group_session_id: GroupSessionId,
    seat_id: SeatId,
    body: Cancel,
    response: Response,
    expected_version: IfMatch,
) -> SeatRead:
    _, seat = await service.cancel_seat(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        group_id=group_session_id,
        seat_id=seat_id,
        data=body,
        expected_version=expected_version,
    )
    return _seat(seat, response)
