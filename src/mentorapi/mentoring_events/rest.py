"""REST face of speed-mentoring events over mentoring_events.service (no rules here)."""

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from mentorapi.apps.admission import Standing
from mentorapi.apps.auth import CurrentCaller, authenticate_request
from mentorapi.apps.service import Authenticated
from mentorapi.db.uow import DbSession
from mentorapi.kit.errors import DomainError, TooManyRequests
from mentorapi.kit.ids import MentoringEventId
from mentorapi.kit.pagination import Page, PageRequest, page_request
from mentorapi.kit.problems import problems
from mentorapi.kit.versioning import parse_if_match, set_etag
from mentorapi.mentoring_events import live, service
from mentorapi.mentoring_events.live import KeepAlive, StreamSlots
from mentorapi.mentoring_events.models import EventRole
from mentorapi.mentoring_events.render import follow_up_read, schedule_read
from mentorapi.mentoring_events.schemas import (
    AttendanceRead,
    Attendee,
    FollowUpCreate,
    FollowUpRead,
    LiveUpdate,
    MemberId,
    MentoringEventCreate,
    MentoringEventRead,
    RegistrationCreate,
    RegistrationRead,
    ScheduleRead,
    event_read,
    registration_read,
)
from mentorapi.mentoring_events.service import EventView

router = APIRouter(prefix="/v1/mentoring-events", tags=["mentoring-events"])

IfMatch = Annotated[int | None, Depends(parse_if_match)]
EventId = Annotated[MentoringEventId, "the mentoring event"]
MemberQuery = Annotated[
    MemberId | None,
    Query(description="One person's assignments (a member: their own only)."),
]
API_KEY_ONLY = "The app's API key only (a member token is a 403)."


def _event(view: EventView, response: Response | None = None) -> MentoringEventRead:
    if response is not None:
        set_etag(response, view.event.version)
    return event_read(view.event, view.counts, service.now())


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a speed-mentoring event",
    description="A `draft`: open its registration when it is ready. " + API_KEY_ONLY,
    responses=problems(403, 422, etag=201),
)
async def create_mentoring_event(
    caller: CurrentCaller, db_session: DbSession, body: MentoringEventCreate, response: Response
) -> MentoringEventRead:
    view = await service.create(
        db_session=db_session, app_id=caller.app_id, actor=caller, data=body
    )
    return _event(view, response)


@router.get(
    "",
    summary="List speed-mentoring events",
    description="Oldest first. A member sees the events that are not drafts.",
    responses=problems(422),
)
async def list_mentoring_events(
    caller: CurrentCaller,
    db_session: DbSession,
    page: Annotated[PageRequest, Depends(page_request)],
) -> Page[MentoringEventRead]:
    views, cursor = await service.list_events(
        db_session=db_session, app_id=caller.app_id, actor=caller, page=page
    )
    return Page(data=[_event(v) for v in views], next_cursor=cursor)


@router.get(
    "/{mentoring_event_id}",
    summary="Get a speed-mentoring event",
    description="With its counts and status (`draft` → `open` → `scheduled` → `live` → "
    "`ended`). A draft is not found with a member token.",
    responses=problems(404, 422, etag=200),
)
async def get_mentoring_event(
    caller: CurrentCaller, db_session: DbSession, mentoring_event_id: EventId, response: Response
) -> MentoringEventRead:
    view = await service.get(
        db_session=db_session, app_id=caller.app_id, actor=caller, event_id=mentoring_event_id
    )
    return _event(view, response)


@router.post(
    "/{mentoring_event_id}/open",
    summary="Open registration",
    description="`draft` → `open`: members see the event and register until "
    "`registration_closes_at` (or publishing). " + API_KEY_ONLY,
    responses=problems(403, 404, 409, 412, 422, etag=200),
)
async def open_mentoring_event_registration(
    caller: CurrentCaller,
    db_session: DbSession,
    mentoring_event_id: EventId,
    response: Response,
    expected_version: IfMatch,
) -> MentoringEventRead:
    view = await service.open_registration(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        event_id=mentoring_event_id,
        expected_version=expected_version,
    )
    return _event(view, response)


# --- registrations ------------------------------------------------------------------------------


@router.post(
    "/{mentoring_event_id}/registrations",
    status_code=status.HTTP_201_CREATED,
    summary="Register a mentor or a mentee",
    description="While registration is open (409 otherwise, or for a second registration). "
    "`must_meet` and `no_thanks` name registered people of the other side (422 otherwise). "
    "With a member token: oneself only (another mentee is a 404, another mentor a 403).",
    responses=problems(403, 404, 409, 422),
)
async def register_for_mentoring_event(
    caller: CurrentCaller,
    db_session: DbSession,
    mentoring_event_id: EventId,
    body: RegistrationCreate,
) -> RegistrationRead:
    registration = await service.register(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        event_id=mentoring_event_id,
        data=body,
    )
    return registration_read(registration)


@router.get(
    "/{mentoring_event_id}/registrations",
    summary="List an event's registrations",
    description="By member id. With a member token: one's own only.",
    responses=problems(404, 422),
)
async def list_mentoring_event_registrations(
    caller: CurrentCaller,
    db_session: DbSession,
    mentoring_event_id: EventId,
    page: Annotated[PageRequest, Depends(page_request)],
    role: Annotated[EventRole | None, Query(description="Mentors or mentees only.")] = None,
) -> Page[RegistrationRead]:
    rows, cursor = await service.list_registrations(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        event_id=mentoring_event_id,
        page=page,
        role=role,
    )
    return Page(data=[registration_read(r) for r in rows], next_cursor=cursor)


@router.get(
    "/{mentoring_event_id}/registrations/{member_id}",
    summary="Get one registration",
    responses=problems(403, 404, 422),
)
async def get_mentoring_event_registration(
    caller: CurrentCaller, db_session: DbSession, mentoring_event_id: EventId, member_id: MemberId
) -> RegistrationRead:
    registration = await service.get_registration(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        event_id=mentoring_event_id,
        member_id=member_id,
    )
    return registration_read(registration)


@router.delete(
    "/{mentoring_event_id}/registrations/{member_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Withdraw a registration",
    description="Before publishing (then 409: mark a no-show instead).",
    responses=problems(403, 404, 409, 422),
)
async def withdraw_mentoring_event_registration(
    caller: CurrentCaller, db_session: DbSession, mentoring_event_id: EventId, member_id: MemberId
) -> None:
    await service.withdraw(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        event_id=mentoring_event_id,
        member_id=member_id,
    )


LATE_CHANGE = (
    " After publishing, the rounds not yet started are solved again (`schedule_change` says "
    "from which round, and how many assignments changed); earlier rounds are kept. "
)


@router.post(
    "/{mentoring_event_id}/check-ins",
    summary="Check someone in",
    description="Present. Someone marked a no-show who turns up is a late arrival."
    + LATE_CHANGE
    + API_KEY_ONLY,
    responses=problems(403, 404, 409, 422),
)
async def check_in_to_mentoring_event(
    caller: CurrentCaller, db_session: DbSession, mentoring_event_id: EventId, body: Attendee
) -> AttendanceRead:
    registration, change = await service.check_in(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        event_id=mentoring_event_id,
        member_id=body.member_id,
    )
    return AttendanceRead(registration=registration_read(registration), schedule_change=change)


@router.post(
    "/{mentoring_event_id}/no-shows",
    summary="Mark someone as not there",
    description="Absent: left out of the next build, and" + LATE_CHANGE + API_KEY_ONLY,
    responses=problems(403, 404, 409, 422),
)
async def mark_mentoring_event_no_show(
    caller: CurrentCaller, db_session: DbSession, mentoring_event_id: EventId, body: Attendee
) -> AttendanceRead:
    registration, change = await service.mark_no_show(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        event_id=mentoring_event_id,
        member_id=body.member_id,
    )
    return AttendanceRead(registration=registration_read(registration), schedule_change=change)


# --- the schedule -------------------------------------------------------------------------------


@router.post(
    "/{mentoring_event_id}/schedule",
    summary="Build a provisional schedule",
    description=f"Of the registered people not marked absent. Up to {service.SYNC_BUILD_LIMIT} "
    "people: built now (200, `provisional`); more: by a job in the worker (202, `building`: "
    "read `GET .../schedule` until it is `provisional` or `failed`). Replaces an earlier "
    "provisional schedule; 409 once published or started. " + API_KEY_ONLY,
    responses={
        **problems(403, 404, 409, 422),
        202: {"model": ScheduleRead, "description": "A job builds it: `building`."},
    },
)
async def build_mentoring_event_schedule(
    caller: CurrentCaller, db_session: DbSession, mentoring_event_id: EventId, response: Response
) -> ScheduleRead:
    view = await service.build(
        db_session=db_session, app_id=caller.app_id, actor=caller, event_id=mentoring_event_id
    )
    if view.status.value == "building":
        response.status_code = status.HTTP_202_ACCEPTED
    return schedule_read(view)


@router.post(
    "/{mentoring_event_id}/schedule/publish",
    summary="Publish the provisional schedule",
    description="`open` → `scheduled`: registration closes, members see their rounds, "
    "`mentoring_event.schedule_published` goes out, and `round_started`/`ended` at their "
    "times. 409 when registrations changed since the build (build again). " + API_KEY_ONLY,
    responses=problems(403, 404, 409, 412, 422),
)
async def publish_mentoring_event_schedule(
    caller: CurrentCaller,
    db_session: DbSession,
    mentoring_event_id: EventId,
    expected_version: IfMatch,
) -> ScheduleRead:
    view = await service.publish(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        event_id=mentoring_event_id,
        expected_version=expected_version,
    )
    return schedule_read(view)


@router.get(
    "/{mentoring_event_id}/schedule",
    summary="The schedule: rounds, times, tables, counterparts and reasons",
    description="The API key: everyone's (or `member_id`'s), provisional before publishing. "
    "A member: their own, once published. Times are real minutes from the start; "
    "`local_start` is in the event's zone with the offset of that moment.",
    responses=problems(403, 404, 422),
)
async def get_mentoring_event_schedule(
    caller: CurrentCaller,
    db_session: DbSession,
    mentoring_event_id: EventId,
    member_id: MemberQuery = None,
) -> ScheduleRead:
    view = await service.get_schedule(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        event_id=mentoring_event_id,
        member_id=member_id,
    )
    return schedule_read(view)


# --- live ---------------------------------------------------------------------------------------

_STREAM_DOC = {
    "description": "`text/event-stream`: an `event: live` message (data: a LiveUpdate, JSON) "
    "at once, then on every change of phase and every change of the schedule, `: keep-alive` "
    "comments while nothing happens; the stream ends after `ended`. An `event: error` "
    "(data: a problem) ends it when the credential no longer holds.",
    "content": {
        "text/event-stream": {
            # Before OpenAPI 3.2's `itemSchema`, a stream's `schema` describes each event (as
            # schemathesis and other SSE-aware tools read it): its fields, `data` as JSON text.
            "schema": {
                "type": "object",
                "description": "One Server-Sent Event.",
                "required": ["event", "data"],
                "properties": {
                    "event": {"type": "string", "enum": ["live", "error"]},
                    "id": {"type": "string", "description": "`live` events: a resume point."},
                    "retry": {"type": "integer", "description": "On the first event: 3000."},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "description": "`live`: a LiveUpdate; `error`: a problem.",
                    },
                },
            },
            "examples": {
                "update": {
                    "value": {
                        "event": "live",
                        "id": "1.transition.2",
                        "data": json.dumps(LiveUpdate.model_json_schema()["examples"][0]),
                    }
                }
            },
        }
    },
}


def _sse(update: LiveUpdate, *, first: bool) -> bytes:
    lines = ["event: live", f"id: {update.schedule_version}.{update.phase}.{update.round or 0}"]
    if first:
        lines.append("retry: 3000")
    lines.append("data: " + update.model_dump_json())
    return ("\n".join(lines) + "\n\n").encode()


def _sse_error(error: DomainError) -> bytes:
    body = {"title": error.title, "status": error.status, "detail": error.detail}
    return f"event: error\ndata: {json.dumps(body)}\n\n".encode()


@router.get(
    "/{mentoring_event_id}/live",
    summary="Follow the event live (Server-Sent Events)",
    description="The server's clock is the event's: `{server_time, round, phase, "
    "round_ends_at, my_assignment}` at once and on every change of phase (`not_started`, "
    "`in_round`, `transition`, `ended`) or of the schedule. A member follows as themself (or "
    "as `member_id`, their own); the API key sees phases only, or `member_id`'s assignments. "
    "At most MENTORAPI_LIVE_STREAMS_PER_CALLER streams per caller (429 past it).",
    response_class=StreamingResponse,
    responses={200: _STREAM_DOC, **problems(403, 404, 422)},
)
async def follow_mentoring_event_live(
    request: Request,
    found: Annotated[Authenticated, Depends(authenticate_request)],
    db_session: DbSession,
    mentoring_event_id: EventId,
    member_id: MemberQuery = None,
) -> StreamingResponse:
    caller = found.caller
    viewer = await service.authorize_live(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        event_id=mentoring_event_id,
        member_id=member_id,
    )
    state = request.app.state
    slots: StreamSlots = state.live_streams
    if not slots.take(found.rate_key):
        raise TooManyRequests(
            f"at most {slots.limit} live streams at once per caller: close one first",
            headers={"Retry-After": "5"},
        )
    standing = Standing(request, state.db, request.headers.get("authorization"), found)
    updates = live.follow(
        database=state.db,
        pubsub=state.pubsub,
        app_id=caller.app_id,
        event_id=mentoring_event_id,
        viewer=viewer,
        check=standing.check,
        keepalive_seconds=state.settings.live_keepalive_seconds,
    )
    return LiveStream(_stream(request, updates), release=lambda: slots.give_back(found.rate_key))


async def _disconnected(request: Request) -> None:
    """Until the client leaves. Starlette watches for that itself below ASGI 2.4 (and cancels
    the stream); from 2.4 on it would learn only at the next write, a keep-alive away."""
    spec = tuple(map(int, request.scope.get("asgi", {}).get("spec_version", "2.0").split(".")))
    if spec < (2, 4):
        await asyncio.Event().wait()  # forever: Starlette cancels the stream
    # A GET's body is read: what comes next is the client leaving.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _stream(
    request: Request, updates: AsyncGenerator[LiveUpdate | KeepAlive, None]
) -> AsyncIterator[bytes]:
    """The feed as Server-Sent Events, until it ends, the credential lapses or the client
    leaves."""
    gone = asyncio.ensure_future(_disconnected(request))
    following: asyncio.Future[LiveUpdate | KeepAlive] | None = None
    first = True
    try:
        while True:
            following = asyncio.ensure_future(anext(updates))
            done, _ = await asyncio.wait({following, gone}, return_when=asyncio.FIRST_COMPLETED)
            if following not in done:
                return
            try:
                item = following.result()
            except StopAsyncIteration:
                return
            except DomainError as refused:  # the credential lapsed: say why, and end
                yield _sse_error(refused)
                return
            finally:
                following = None
            if isinstance(item, KeepAlive):
                yield b": keep-alive\n\n"
            else:
                yield _sse(item, first=first)
                first = False
    finally:
        gone.cancel()
        if following is not None:
            # The feed is between two messages: stop it there (its subscription goes too).
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await following
        await updates.aclose()


class LiveStream(StreamingResponse):
    """A live stream that gives its caller's slot back however it ends (even one whose client
    left before it started)."""

    def __init__(self, content: AsyncIterator[bytes], *, release: Callable[[], None]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


# --- follow-ups ---------------------------------------------------------------------------------


@router.post(
    "/{mentoring_event_id}/follow-ups",
    status_code=status.HTTP_201_CREATED,
    summary="Follow up with a mentor met at the event",
    description="After the round they met in: a session request (or a booking, if the "
    "mentor auto-accepts) through the sessions service, at `starts_at` or the mentor's first "
    "free slot within 14 days; without one, a recommendation to book later. Once per pair. "
    "A mentee for herself (the API key names `mentee_id`).",
    responses=problems(404, 409, 422),
)
async def follow_up_mentoring_event(
    caller: CurrentCaller,
    db_session: DbSession,
    mentoring_event_id: EventId,
    body: FollowUpCreate,
) -> FollowUpRead:
    view = await service.follow_up(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        event_id=mentoring_event_id,
        data=body,
    )
    return follow_up_read(view)


@router.get(
    "/{mentoring_event_id}/follow-ups",
    summary="List an event's follow-ups",
    description="Oldest first, all on one page. A member: those they are part of.",
    responses=problems(404, 422),
)
async def list_mentoring_event_follow_ups(
    caller: CurrentCaller, db_session: DbSession, mentoring_event_id: EventId
) -> Page[FollowUpRead]:
    views = await service.list_follow_ups(
        db_session=db_session, app_id=caller.app_id, actor=caller, event_id=mentoring_event_id
    )
    return Page(data=[follow_up_read(v) for v in views], next_cursor=None)
