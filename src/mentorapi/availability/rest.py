from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.auth import CurrentCaller, lean_endpoint
from mentorapi.apps.caller import Caller
from mentorapi.availability import service
from mentorapi.availability.models import Availability
from mentorapi.availability.schemas import AvailabilityPut, AvailabilityRead, Slot, ZoneName
from mentorapi.db.uow import DbSession
from mentorapi.kit import lean
from mentorapi.kit.errors import InvalidInput
from mentorapi.kit.ids import MentorId
from mentorapi.kit.problems import problems
from mentorapi.kit.timezones import validate_timezone
from mentorapi.kit.versioning import parse_if_match, set_etag
from mentorapi.mentors.models import Mentor
from mentorapi.mentors.schemas import SessionLength
from mentorapi.sessions.schemas import Instant

router = APIRouter(prefix="/v1/mentors", tags=["availability"])


class SlotPage(BaseModel):
    """The body `FreeSlots.page_json` writes: every slot in the range, in one page."""

    data: list[Slot]
    next_cursor: None = Field(
        description="Always null: the range (at most 31 days) comes whole, there is no next "
        "page. Kept so that a slots page reads like every other list.",
    )


def _read(mentor: Mentor, availability: Availability, response: Response) -> AvailabilityRead:
    set_etag(response, availability.version)
    return AvailabilityRead.from_model(availability, mentor.timezone)


@router.get(
    "/{mentor_id}/availability",
    operation_id="getMentorAvailability",
    summary="Get a mentor's availability",
    responses=problems(404, etag=200),
)
async def get_availability(
    caller: CurrentCaller, db_session: DbSession, mentor_id: MentorId, response: Response
) -> AvailabilityRead:
    mentor, availability = await service.get(
        db_session=db_session, app_id=caller.app_id, mentor_id=mentor_id
    )
    return _read(mentor, availability, response)


@router.put(
    "/{mentor_id}/availability",
    operation_id="setAvailability",
    summary="Replace a mentor's availability",
    description="Weekly windows and date overrides are local times in the mentor's zone; so "
    "are the days of the daily limits. `buffer_minutes` is deprecated: it sets both "
    "`buffer_before_minutes` and `buffer_after_minutes`. "
    "With a member token: the mentor themself only (anyone else gets 403).",
    responses=problems(403, 404, 412, 422, etag=200),
)
async def put_availability(
    caller: CurrentCaller,
    db_session: DbSession,
    mentor_id: MentorId,
    body: AvailabilityPut,
    response: Response,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> AvailabilityRead:
    mentor, availability = await service.put(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        mentor_id=mentor_id,
        data=body,
        expected_version=expected_version,
    )
    return _read(mentor, availability, response)


SlotStart = Annotated[Instant, Query(description="RFC 3339 with an offset.")]
SlotEnd = Annotated[Instant, Query(description="RFC 3339 with an offset.")]
SlotDuration = Annotated[SessionLength, Query(description="Minutes; one the mentor offers.")]
SlotZone = Annotated[
    ZoneName | None, Query(description="Zone for `local_start` (default: the mentor's).")
]


async def _slots_response(
    caller: Caller,
    db_session: AsyncSession,
    mentor_id: str,
    start: datetime,
    end: datetime,
    duration: int,
    timezone: str | None,
) -> Response:
    """The slots page: one body for both faces of the route (below and `lean_routes`)."""
    if timezone is not None:
        try:
            validate_timezone(timezone)
        except ValueError as exc:
            raise InvalidInput(str(exc), loc=["query", "timezone"]) from exc
    found = await service.slots(
        db_session=db_session,
        app_id=caller.app_id,
        mentor_id=mentor_id,
        start=start,
        end=end,
        duration_minutes=duration,
        display_timezone=timezone,
    )
    return Response(found.page_json(), media_type="application/json")


@router.get(
    "/{mentor_id}/slots",
    # The body is written by FreeSlots.page_json (hundreds of slots: no model per slot for
    # FastAPI to validate and serialize again); the model documents it.
    response_model=SlotPage,
    operation_id="listMentorSlots",
    summary="Free start times for a session",
    description="Slots starting in [start, end) (at most 31 days) for a session of `duration` "
    "minutes, after windows, overrides, buffers, notice, booking horizon, weekly capacity, "
    "daily limits and existing sessions: exactly the starts a booking would accept now.",
    responses=problems(404, 422),
)
async def list_slots(
    caller: CurrentCaller,
    db_session: DbSession,
    mentor_id: MentorId,
    start: SlotStart,
    end: SlotEnd,
    duration: SlotDuration,
    timezone: SlotZone = None,
) -> Response:
    return await _slots_response(caller, db_session, mentor_id, start, end, duration, timezone)


# The same route for every request whose parameters validate, without FastAPI's machinery
# (kit/lean.py); tests/test_lean_routes.py holds the two to the same answers.
lean_routes = [
    lean.LeanRoute(
        "/v1/mentors/{mentor_id}/slots",
        lean_endpoint(_slots_response),
        documented=list_slots,
    )
]
