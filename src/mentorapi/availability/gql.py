"""GraphQL face of availability: a mentor's weekly windows and overrides, and free slots, over
availability.service (no rules here)."""

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from mentorapi.availability import service
from mentorapi.availability.models import Availability
from mentorapi.availability.schemas import AvailabilityPut, AvailabilityRead, Day, SlotArgs
from mentorapi.graphql.context import Info
from mentorapi.graphql.inputs import typed_id, validate


@strawberry.enum(name="Weekday")
class DayEnum(Enum):
    MON = Day.mon.value
    TUE = Day.tue.value
    WED = Day.wed.value
    THU = Day.thu.value
    FRI = Day.fri.value
    SAT = Day.sat.value
    SUN = Day.sun.value


@strawberry.type(description="A local time window, HH:MM to HH:MM (24:00 ends a day).")
class TimeWindow:
    start: str
    end: str


@strawberry.type
class WeeklyWindow:
    day: DayEnum
    start: str
    end: str


@strawberry.type(description="One date's windows, replacing the weekly ones; [] is a day off.")
class DateOverride:
    date: date
    windows: list[TimeWindow]


_BUFFER_DEPRECATED = "Use bufferBeforeMinutes and bufferAfterMinutes."


@strawberry.type(name="Availability", description="Local times in the mentor's zone.")
class AvailabilityType:
    mentor_id: strawberry.ID
    timezone: str
    weekly: list[WeeklyWindow]
    overrides: list[DateOverride]
    buffer_before_minutes: int = strawberry.field(
        description="Minutes before each session in which no other session may be."
    )
    buffer_after_minutes: int = strawberry.field(
        description="Minutes after each session in which no other session may be."
    )
    buffer_minutes: int = strawberry.field(
        description="The larger of the two buffers.", deprecation_reason=_BUFFER_DEPRECATED
    )
    min_notice_minutes: int
    booking_horizon_days: int | None = strawberry.field(
        description="A session starts at most this many days after it is booked; null: no limit."
    )
    weekly_capacity: int | None
    daily_limit_sessions: int | None = strawberry.field(
        description="Most sessions per day in the mentor's zone; null: any."
    )
    daily_limit_minutes: int | None = strawberry.field(
        description="Most minutes of sessions per day in the mentor's zone; null: any."
    )
    auto_accept: bool
    version: int = strawberry.field(description="0 while the mentor has never set any.")
    updated_at: datetime | None

    @classmethod
    def from_model(cls, availability: Availability, timezone: str) -> "AvailabilityType":
        read = AvailabilityRead.from_model(availability, timezone)
        return cls(
            mentor_id=strawberry.ID(read.mentor_id),
            timezone=read.timezone,
            weekly=[
                WeeklyWindow(day=DayEnum(w.day.value), start=w.start, end=w.end)
                for w in read.weekly
            ],
            overrides=[
                DateOverride(
                    date=o.date, windows=[TimeWindow(start=w.start, end=w.end) for w in o.windows]
                )
                for o in read.overrides
            ],
            buffer_before_minutes=read.buffer_before_minutes,
            buffer_after_minutes=read.buffer_after_minutes,
            buffer_minutes=read.buffer_minutes,
            min_notice_minutes=read.min_notice_minutes,
            booking_horizon_days=read.booking_horizon_days,
            weekly_capacity=read.weekly_capacity,
            daily_limit_sessions=read.daily_limit_sessions,
            daily_limit_minutes=read.daily_limit_minutes,
            auto_accept=read.auto_accept,
            version=read.version,
            updated_at=read.updated_at,
        )


@strawberry.type
class Slot:
    starts_at: datetime
    ends_at: datetime
    local_start: str = strawberry.field(
        description="The start in the requested zone, with its offset."
    )


@strawberry.input
class TimeWindowInput:
    start: str
    end: str


@strawberry.input
class WeeklyWindowInput:
    day: DayEnum
    start: str
    end: str


@strawberry.input
class DateOverrideInput:
    date: date
    windows: list[TimeWindowInput]


@strawberry.input(description="The whole availability (replaced, as PUT does).")
class AvailabilityInput:
    weekly: list[WeeklyWindowInput] | None = strawberry.UNSET
    overrides: list[DateOverrideInput] | None = strawberry.UNSET
    buffer_before_minutes: int | None = strawberry.UNSET
    buffer_after_minutes: int | None = strawberry.UNSET
    buffer_minutes: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Sets both buffers.",
        deprecation_reason=_BUFFER_DEPRECATED,
    )
    min_notice_minutes: int | None = strawberry.UNSET
    booking_horizon_days: int | None = strawberry.UNSET
    weekly_capacity: int | None = strawberry.UNSET
    daily_limit_sessions: int | None = strawberry.UNSET
    daily_limit_minutes: int | None = strawberry.UNSET
    auto_accept: bool | None = strawberry.UNSET


@strawberry.type
class Query:
    @strawberry.field(description="A mentor's availability (empty, version 0, if never set).")
    async def mentor_availability(self, info: Info, mentor_id: strawberry.ID) -> AvailabilityType:
        checked = typed_id(mentor_id, "mtr", argument="mentorId")
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            mentor, availability = await service.get(
                db_session=db_session, app_id=app_id, mentor_id=checked
            )
        return AvailabilityType.from_model(availability, mentor.timezone)

    @strawberry.field(
        description="Free start times in [start, end) (at most 31 days) for a session of "
        "`duration` minutes, as GET /v1/mentors/{id}/slots."
    )
    async def mentor_slots(
        self,
        info: Info,
        mentor_id: strawberry.ID,
        start: datetime,
        end: datetime,
        duration: int,
        timezone: Annotated[
            str | None, strawberry.argument(description="Zone for localStart (default: mentor's).")
        ] = None,
    ) -> list[Slot]:
        checked = typed_id(mentor_id, "mtr", argument="mentorId")
        args = validate(
            SlotArgs,
            {"start": start, "end": end, "duration": duration, "timezone": timezone},
            argument=None,
        )
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            found = await service.slots(
                db_session=db_session,
                app_id=app_id,
                mentor_id=checked,
                start=args.start,
                end=args.end,
                duration_minutes=args.duration,
                display_timezone=args.timezone,
            )
        return [Slot(starts_at=a, ends_at=b, local_start=local) for a, b, local in found.rows()]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Replace a mentor's availability (PUT semantics).")
    async def set_availability(
        self,
        info: Info,
        mentor_id: strawberry.ID,
        input: AvailabilityInput,
        expected_version: Annotated[
            int | None, strawberry.argument(description="Like REST's If-Match (0: never set).")
        ] = None,
    ) -> AvailabilityType:
        checked = typed_id(mentor_id, "mtr", argument="mentorId")
        data = validate(AvailabilityPut, input)
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            mentor, availability = await service.put(
                db_session=db_session,
                app_id=app_id,
                actor=await info.context.caller(),
                mentor_id=checked,
                data=data,
                expected_version=expected_version,
            )
        return AvailabilityType.from_model(availability, mentor.timezone)
