from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic_core import to_json

from mentorapi.apps.auth import CurrentCaller, authenticate_request
from mentorapi.db.uow import DbSession, unit_of_work
from mentorapi.kit import lean
from mentorapi.kit.ids import ActionItemId, MenteeId, MentorId, SeriesId, SessionId
from mentorapi.kit.pagination import Page, PageRequest, page_request
from mentorapi.kit.problems import problems
from mentorapi.kit.versioning import parse_if_match, set_etag
from mentorapi.sessions import ics, service
from mentorapi.sessions.models import Series, Session
from mentorapi.sessions.schemas import (
    ActionItemCreate,
    ActionItemRead,
    ActionItemUpdate,
    Cancel,
    Complete,
    Decline,
    Instant,
    NotesPut,
    NotesRead,
    Reschedule,
    SeriesCancel,
    SeriesCreate,
    SeriesRead,
    SessionCreate,
    SessionRead,
    StatusFilter,
)

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])
series_router = APIRouter(prefix="/v1/series", tags=["series"])

IfMatch = Annotated[int | None, Depends(parse_if_match)]
# A lifecycle move: a member who is the other side of the session gets 403, a stranger 404.
CHANGE = problems(403, 404, 409, 412, 422, etag=200)
MENTOR_MOVE = "With a member token: the session's mentor only (its mentee gets 403)."


def _read(session: Session, response: Response) -> SessionRead:
    set_etag(response, session.version)
    return SessionRead.from_model(session)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Book a session",
    description="`booked` when the mentor auto-accepts, else `requested`. 409 when the slot is "
    "not free. With a member token: a mentee books for themself only (another `mentee_id` is a "
    "404).",
    responses=problems(404, 409, 422, etag=201),
)
async def book_session(
    caller: CurrentCaller, db_session: DbSession, body: SessionCreate, response: Response
) -> SessionRead:
    return _read(
        await service.book(db_session=db_session, app_id=caller.app_id, actor=caller, data=body),
        response,
    )


async def _lean_book(request: Request, body: SessionCreate) -> Response:
    # What the documented route's dependencies do, in their order: the unit of work (the
    # Idempotency-Key's, when the middleware opened one), the caller admitted, then the body
    # (already validated); committed on the way out, before the response is sent.
    async with unit_of_work(request) as db_session:
        found = await authenticate_request(request, db_session)
        caller = found.caller
        booked = await service.book_as_json(
            db_session=db_session, app_id=caller.app_id, actor=caller, data=body
        )
    # The SessionRead its event carries, written as FastAPI writes the model (the same bytes:
    # tests/test_lean_routes.py), without building it again.
    response = Response(
        to_json(booked.data), status_code=status.HTTP_201_CREATED, media_type="application/json"
    )
    set_etag(response, booked.session.version)
    return response


# The booking, the busiest write, without FastAPI's machinery for every body that validates
# (kit/lean.py); tests/test_lean_routes.py holds the two faces to the same answers.
lean_routes = [
    lean.LeanBodyRoute("/v1/sessions", _lean_book, documented=book_session, body=SessionCreate)
]


@router.get(
    "",
    summary="List sessions",
    description="With a member token: only the sessions the member takes part in, whatever the "
    "filters.",
    responses=problems(422),
)
async def list_sessions(
    caller: CurrentCaller,
    db_session: DbSession,
    page: Annotated[PageRequest, Depends(page_request)],
    mentor_id: Annotated[MentorId | None, Query()] = None,
    mentee_id: Annotated[MenteeId | None, Query()] = None,
    status: Annotated[StatusFilter | None, Query(description="Repeat for several.")] = None,
    from_: Annotated[
        Instant | None, Query(alias="from", description="Sessions starting at or after.")
    ] = None,
    to: Annotated[Instant | None, Query(description="Sessions starting before.")] = None,
) -> Page[SessionRead]:
    sessions, cursor = await service.list_sessions(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        page=page,
        mentor_id=mentor_id,
        mentee_id=mentee_id,
        statuses=status,
        starts_from=from_,
        starts_before=to,
    )
    return Page(data=[SessionRead.from_model(s) for s in sessions], next_cursor=cursor)


# Before /{session_id}: that pattern would take "ses_….ics" too.
@router.get(
    "/{session_id}.ics",
    operation_id="getSessionCalendar",
    summary="The session as an iCalendar event",
    description="With a member token: the session's mentor and mentee only (anyone else: 404).",
    response_class=Response,
    responses={
        200: {
            "description": "An iCalendar (RFC 5545) file with one event.",
            "content": {"text/calendar": {"schema": {"type": "string"}}},
            "headers": {
                "Content-Disposition": {
                    "description": '`attachment; filename="<session id>.ics"`',
                    "required": True,
                    "schema": {"type": "string"},
                }
            },
        },
        **problems(404, 409, 422),
    },
)
async def session_ics(
    caller: CurrentCaller, db_session: DbSession, session_id: SessionId
) -> Response:
    session, mentor_name, mentee_name = await service.calendar_parts(
        db_session=db_session, app_id=caller.app_id, actor=caller, session_id=session_id
    )
    return Response(
        ics.render(session, mentor_name, mentee_name),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{session.id}.ics"'},
    )


@router.get(
    "/{session_id}",
    summary="Get a session",
    description="With a member token: the session's mentor and mentee only (anyone else: 404).",
    responses=problems(404, 422, etag=200),
)
async def get_session(
    caller: CurrentCaller, db_session: DbSession, session_id: SessionId, response: Response
) -> SessionRead:
    session = await service.get(
        db_session=db_session, app_id=caller.app_id, actor=caller, session_id=session_id
    )
    return _read(session, response)


@router.post(
    "/{session_id}/accept",
    summary="Accept a requested session",
    description=MENTOR_MOVE,
    responses=CHANGE,
)
async def accept_session(
    caller: CurrentCaller,
    db_session: DbSession,
    session_id: SessionId,
    response: Response,
    expected_version: IfMatch,
) -> SessionRead:
    session = await service.accept(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        session_id=session_id,
        expected_version=expected_version,
    )
    return _read(session, response)


@router.post(
    "/{session_id}/decline",
    summary="Decline a requested session",
    description=MENTOR_MOVE,
    responses=CHANGE,
)
async def decline_session(
    caller: CurrentCaller,
    db_session: DbSession,
    session_id: SessionId,
    response: Response,
    expected_version: IfMatch,
    body: Decline | None = None,
) -> SessionRead:
    session = await service.decline(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        session_id=session_id,
        data=body or Decline(),
        expected_version=expected_version,
    )
    return _read(session, response)


@router.post(
    "/{session_id}/reschedule",
    summary="Move a session to another free slot",
    description="The status stays; the old times are kept in `history` and `rescheduled_from`. "
    "With a member token: the session's mentee only (its mentor gets 403; a mentor who cannot "
    "make it declines or cancels).",
    responses=CHANGE,
)
async def reschedule_session(
    caller: CurrentCaller,
    db_session: DbSession,
    session_id: SessionId,
    body: Reschedule,
    response: Response,
    expected_version: IfMatch,
) -> SessionRead:
    session = await service.reschedule(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        session_id=session_id,
        starts_at=body.starts_at,
        expected_version=expected_version,
    )
    return _read(session, response)


@router.post(
    "/{session_id}/cancel",
    summary="Cancel a session",
    description="With a member token, `by` must be the member's own side of the session "
    "(the other side is a 403).",
    responses=CHANGE,
)
async def cancel_session(
    caller: CurrentCaller,
    db_session: DbSession,
    session_id: SessionId,
    body: Cancel,
    response: Response,
    expected_version: IfMatch,
) -> SessionRead:
    session = await service.cancel(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        session_id=session_id,
        data=body,
        expected_version=expected_version,
    )
    return _read(session, response)


@router.post(
    "/{session_id}/complete",
    summary="Mark a session completed",
    description=MENTOR_MOVE,
    responses=CHANGE,
)
async def complete_session(
    caller: CurrentCaller,
    db_session: DbSession,
    session_id: SessionId,
    response: Response,
    expected_version: IfMatch,
    body: Complete | None = None,
) -> SessionRead:
    session = await service.complete(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        session_id=session_id,
        data=body or Complete(),
        expected_version=expected_version,
    )
    return _read(session, response)


@router.post(
    "/{session_id}/no-show",
    operation_id="markNoShow",
    summary="Mark a session as a no-show",
    description=MENTOR_MOVE,
    responses=CHANGE,
)
async def no_show_session(
    caller: CurrentCaller,
    db_session: DbSession,
    session_id: SessionId,
    response: Response,
    expected_version: IfMatch,
) -> SessionRead:
    session = await service.no_show(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        session_id=session_id,
        expected_version=expected_version,
    )
    return _read(session, response)


@router.get(
    "/{session_id}/notes",
    operation_id="getSessionNotes",
    summary="The mentee's private notes",
    description="With a member token: the session's mentee only; to its mentor (and anyone "
    "else) they do not exist (404).",
    responses=problems(404, 422, etag=200),
)
async def get_notes(
    caller: CurrentCaller, db_session: DbSession, session_id: SessionId, response: Response
) -> NotesRead:
    note = await service.get_notes(
        db_session=db_session, app_id=caller.app_id, actor=caller, session_id=session_id
    )
    set_etag(response, note.version)
    return NotesRead.from_model(note)


@router.put(
    "/{session_id}/notes",
    operation_id="putSessionNotes",
    summary="Replace the mentee's private notes and takeaways",
    description="Private to the mentee: never part of webhook payloads. With a member token: "
    "the session's mentee only (anyone else, the mentor included: 404).",
    responses=problems(404, 412, 422, etag=200),
)
async def put_notes(
    caller: CurrentCaller,
    db_session: DbSession,
    session_id: SessionId,
    body: NotesPut,
    response: Response,
    expected_version: IfMatch,
) -> NotesRead:
    note = await service.put_notes(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        session_id=session_id,
        data=body,
        expected_version=expected_version,
    )
    set_etag(response, note.version)
    return NotesRead.from_model(note)


@router.get(
    "/{session_id}/action-items",
    summary="Follow-up action items (the mentee writes them, the mentor may read them)",
    description="With a member token: the session's mentor and mentee (anyone else: 404).",
    responses=problems(404, 422),
)
async def list_action_items(
    caller: CurrentCaller, db_session: DbSession, session_id: SessionId
) -> Page[ActionItemRead]:
    items = await service.list_action_items(
        db_session=db_session, app_id=caller.app_id, actor=caller, session_id=session_id
    )
    return Page(data=[ActionItemRead.from_model(i) for i in items], next_cursor=None)


@router.post(
    "/{session_id}/action-items",
    status_code=status.HTTP_201_CREATED,
    summary="Add an action item",
    description="With a member token: the session's mentee only (its mentor may read the items "
    "but gets 403 here; anyone else 404).",
    responses=problems(403, 404, 409, 422),
)
async def add_action_item(
    caller: CurrentCaller, db_session: DbSession, session_id: SessionId, body: ActionItemCreate
) -> ActionItemRead:
    item = await service.add_action_item(
        db_session=db_session, app_id=caller.app_id, actor=caller, session_id=session_id, data=body
    )
    return ActionItemRead.from_model(item)


@router.patch(
    "/{session_id}/action-items/{item_id}",
    summary="Change an action item, or mark it done / undone",
    description="With a member token: the session's mentee only (its mentor gets 403, anyone "
    "else 404).",
    responses=problems(403, 404, 412, 422),
)
async def update_action_item(
    caller: CurrentCaller,
    db_session: DbSession,
    session_id: SessionId,
    item_id: ActionItemId,
    body: ActionItemUpdate,
    expected_version: IfMatch,
) -> ActionItemRead:
    item = await service.update_action_item(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        session_id=session_id,
        item_id=item_id,
        data=body,
        expected_version=expected_version,
    )
    return ActionItemRead.from_model(item)


def _series(series: Series, sessions: list[Session], response: Response) -> SeriesRead:
    set_etag(response, series.version)
    return SeriesRead.from_model(series, sessions)


@series_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Book a weekly series",
    description="All or nothing: 409 lists every conflicting occurrence under `conflicts`. "
    "With a member token: a mentee books for themself only (another `mentee_id` is a 404).",
    responses=problems(404, 409, 422, etag=201),
)
async def create_series(
    caller: CurrentCaller, db_session: DbSession, body: SeriesCreate, response: Response
) -> SeriesRead:
    series, sessions = await service.create_series(
        db_session=db_session, app_id=caller.app_id, actor=caller, data=body
    )
    return _series(series, sessions, response)


@series_router.get(
    "/{series_id}",
    summary="Get a series",
    description="With a member token: the series' mentor and mentee only (anyone else: 404).",
    responses=problems(404, 422, etag=200),
)
async def get_series(
    caller: CurrentCaller, db_session: DbSession, series_id: SeriesId, response: Response
) -> SeriesRead:
    series, sessions = await service.get_series(
        db_session=db_session, app_id=caller.app_id, actor=caller, series_id=series_id
    )
    return _series(series, sessions, response)


@series_router.post(
    "/{series_id}/cancel",
    summary="Cancel the rest of a series",
    description="With a member token, `by` must be the member's own side of the series "
    "(the other side is a 403).",
    responses=CHANGE,
)
async def cancel_series(
    caller: CurrentCaller,
    db_session: DbSession,
    series_id: SeriesId,
    body: SeriesCancel,
    response: Response,
    expected_version: IfMatch,
) -> SeriesRead:
    series, sessions = await service.cancel_series(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        series_id=series_id,
        data=body,
        expected_version=expected_version,
    )
    return _series(series, sessions, response)
