import itertools
import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from mentorapi.availability.models import Availability
from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.enums import NamedStrEnum
from mentorapi.kit.fields import shown
from mentorapi.kit.ids import MentorIdOut
from mentorapi.kit.timezones import TIMEZONE_PATTERN, validate_timezone
from mentorapi.mentors.schemas import SessionLength
from mentorapi.sessions.schemas import Instant

MAX_WEEKLY_WINDOWS = 70
MAX_OVERRIDES = 366
MAX_WINDOWS_PER_DAY = 12

# A wall-clock time, 00:00 to 24:00 (24:00 only ends a window): the check below and the
# `pattern` of the schema.
HHMM_PATTERN = r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
_HHMM = re.compile(HHMM_PATTERN)


class Day(NamedStrEnum):
    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"


DAYS = list(Day)
# Weekday numbers (0 = Monday) by name, as the windows store them.
DAY_NUMBERS = {day.value: number for number, day in enumerate(DAYS)}

# Every time a window may hold (HH:MM, 00:00-24:00: 1,441 of them, fixed), parsed once: the slot
# rules of every mentor scored are read from these strings on every request.
_MINUTES = {f"{m // 60:02d}:{m % 60:02d}": m for m in range(24 * 60 + 1)}


def minutes_of(hhmm: str) -> int:
    found = _MINUTES.get(hhmm)
    if found is not None:
        return found
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"{value[:20]!r} is not a time of day as HH:MM (00:00-24:00)")
    return value


LocalTime = Annotated[
    str,
    Field(max_length=5, description="HH:MM, 00:00-24:00."),
    AfterValidator(_hhmm),
    shown(pattern=HHMM_PATTERN),
]


class TimeWindow(RequestBody):
    """From `start` to `end` (later the same day; `end` may be 24:00)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"start": "09:00", "end": "11:30"}]})

    # An example each, so that a window built from the fields' examples is a valid one.
    start: Annotated[LocalTime, Field(examples=["09:00"])]
    end: Annotated[LocalTime, Field(examples=["11:30"])]

    @model_validator(mode="after")
    def _ordered(self) -> "TimeWindow":
        if minutes_of(self.end) <= minutes_of(self.start):
            raise ValueError(f"end {self.end} must be after start {self.start}")
        if self.start == "24:00":
            raise ValueError("a window cannot start at 24:00")
        return self


class WeeklyWindow(TimeWindow):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"day": "tue", "start": "15:00", "end": "17:00"}]}
    )

    day: Day


def _no_overlap(windows: list[TimeWindow], where: str) -> None:
    spans = sorted((minutes_of(w.start), minutes_of(w.end), w) for w in windows)
    for (_, end, a), (start, _, b) in itertools.pairwise(spans):
        if start < end:
            raise ValueError(f"windows {a.start}-{a.end} and {b.start}-{b.end} overlap on {where}")


class DateOverride(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"date": "2027-03-16", "windows": [{"start": "08:00", "end": "09:00"}]},
                {"date": "2027-04-05", "windows": []},
            ]
        }
    )

    date: date
    windows: list[TimeWindow] = Field(
        max_length=MAX_WINDOWS_PER_DAY, description="Replace that day's windows; [] is a day off."
    )

    @model_validator(mode="after")
    def _check(self) -> "DateOverride":
        _no_overlap(self.windows, self.date.isoformat())
        return self


AVAILABILITY_EXAMPLE: JsonDict = {
    "weekly": [
        {"day": "tue", "start": "15:00", "end": "17:00"},
        {"day": "thu", "start": "09:00", "end": "09:45"},
    ],
    "overrides": [{"date": "2027-04-05", "windows": []}],
    "buffer_before_minutes": 10,
    "buffer_after_minutes": 5,
    "min_notice_minutes": 720,
    "booking_horizon_days": 400,
    "weekly_capacity": 4,
    "daily_limit_sessions": 2,
    "daily_limit_minutes": 90,
    "auto_accept": False,
}

MAX_BUFFER = 240
MAX_HORIZON_DAYS = 730
_DEPRECATED: JsonDict = {"deprecated": True}


def larger_buffer(before: int, after: int) -> int:
    """What the deprecated `buffer_minutes` reads: the least time between two sessions."""
    return max(before, after)


class AvailabilityPut(RequestBody):
    """Local wall-clock times in the mentor's own zone; the whole availability is replaced."""

    model_config = ConfigDict(json_schema_extra={"examples": [AVAILABILITY_EXAMPLE]})

    weekly: list[WeeklyWindow] = Field(default_factory=list, max_length=MAX_WEEKLY_WINDOWS)
    overrides: list[DateOverride] = Field(default_factory=list, max_length=MAX_OVERRIDES)
    buffer_before_minutes: int = Field(
        default=0,
        ge=0,
        le=MAX_BUFFER,
        description="Minutes before each session in which no other session may be (to prepare).",
    )
    buffer_after_minutes: int = Field(
        default=0,
        ge=0,
        le=MAX_BUFFER,
        description="Minutes after each session in which no other session may be (to write "
        "notes, to rest). Buffers keep sessions apart, not each other: two sessions one after "
        "the other are at least the larger of the earlier one's after-buffer and the later "
        "one's before-buffer apart.",
    )
    # Absent or an integer (null is refused, as before): the schema shows an integer.
    buffer_minutes: Annotated[int, Field(ge=0, le=MAX_BUFFER)] | SkipJsonSchema[None] = Field(
        default=None,
        description="Deprecated: use `buffer_before_minutes` and `buffer_after_minutes`. Sets "
        "both. Sent together with either of them, it must equal the larger of the two (as "
        "reads show it), else 422.",
        json_schema_extra=_DEPRECATED,
    )
    min_notice_minutes: int = Field(
        default=0, ge=0, le=60 * 24 * 60, description="How far ahead a session must be booked."
    )
    booking_horizon_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HORIZON_DAYS,
        description="How far ahead a session may be booked: it starts at most this many days "
        "(of 24 hours) after the moment of booking; null: no limit. Longer than the notice.",
    )
    weekly_capacity: int | None = Field(
        default=None, ge=1, le=200, description="Most sessions per week (mentor's zone); null: any."
    )
    daily_limit_sessions: int | None = Field(
        default=None,
        ge=1,
        le=48,
        description="Most sessions per day, a day in the mentor's zone (23 or 25 hours across "
        "a daylight-saving switch); a session counts for the day it starts. Counted as the "
        "weekly capacity counts: requested, booked, completed and no-show. null: any.",
    )
    daily_limit_minutes: int | None = Field(
        default=None,
        ge=5,
        le=24 * 60,
        description="Most minutes of sessions per day (the day a session starts, in the "
        "mentor's zone), counted as `daily_limit_sessions`; null: any.",
    )
    auto_accept: bool = Field(default=False, description="Book requests without asking.")

    @field_validator("buffer_minutes", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("buffer_minutes is an integer (or left out)")
        return value

    @model_validator(mode="after")
    def _check(self) -> "AvailabilityPut":
        for day in DAYS:
            of_day: list[TimeWindow] = [w for w in self.weekly if w.day == day]
            if len(of_day) > MAX_WINDOWS_PER_DAY:
                raise ValueError(f"at most {MAX_WINDOWS_PER_DAY} windows per day ({day.value})")
            _no_overlap(of_day, day.value)
        dates = [o.date for o in self.overrides]
        if len(set(dates)) != len(dates):
            raise ValueError("each date may have only one override")
        if self.booking_horizon_days is not None and (
            self.min_notice_minutes >= self.booking_horizon_days * 24 * 60
        ):
            raise ValueError(
                "booking_horizon_days must be longer than min_notice_minutes "
                "(else no session could ever be booked)"
            )
        self._one_buffer()
        return self

    def _one_buffer(self) -> None:
        """The deprecated single buffer sets both; beside them it must agree with them."""
        if self.buffer_minutes is None:
            return
        split = {"buffer_before_minutes", "buffer_after_minutes"} & self.model_fields_set
        if not split:
            self.buffer_before_minutes = self.buffer_after_minutes = self.buffer_minutes
        elif self.buffer_minutes != larger_buffer(
            self.buffer_before_minutes, self.buffer_after_minutes
        ):
            raise ValueError(
                "buffer_minutes (deprecated) sets both buffers; sent with "
                "buffer_before_minutes or buffer_after_minutes it must equal the larger of "
                "them: leave it out"
            )


class AvailabilityRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mentor_id": ex.MENTOR_ID,
                    "timezone": "Europe/Berlin",
                    **AVAILABILITY_EXAMPLE,
                    "buffer_minutes": 10,
                    "version": 2,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    mentor_id: MentorIdOut
    timezone: str
    weekly: list[WeeklyWindow]
    overrides: list[DateOverride]
    buffer_before_minutes: int
    buffer_after_minutes: int
    buffer_minutes: int = Field(
        description="Deprecated: the larger of `buffer_before_minutes` and "
        "`buffer_after_minutes` (the least time between two sessions).",
        json_schema_extra=_DEPRECATED,
    )
    min_notice_minutes: int
    booking_horizon_days: int | None
    weekly_capacity: int | None
    daily_limit_sessions: int | None
    daily_limit_minutes: int | None
    auto_accept: bool
    version: int
    updated_at: datetime | None

    @classmethod
    def from_model(cls, availability: Availability, timezone: str) -> "AvailabilityRead":
        return cls(
            mentor_id=availability.mentor_id,
            timezone=timezone,
            weekly=[WeeklyWindow.model_validate(w) for w in availability.weekly],
            overrides=[DateOverride.model_validate(o) for o in availability.overrides],
            buffer_before_minutes=availability.buffer_before_minutes,
            buffer_after_minutes=availability.buffer_after_minutes,
            buffer_minutes=larger_buffer(
                availability.buffer_before_minutes, availability.buffer_after_minutes
            ),
            min_notice_minutes=availability.min_notice_minutes,
            booking_horizon_days=availability.booking_horizon_days,
            weekly_capacity=availability.weekly_capacity,
            daily_limit_sessions=availability.daily_limit_sessions,
            daily_limit_minutes=availability.daily_limit_minutes,
            auto_accept=availability.auto_accept,
            version=availability.version,
            updated_at=availability.updated_at,
        )


def dump_weekly(windows: list[WeeklyWindow]) -> list[dict[str, Any]]:
    order = {d: i for i, d in enumerate(DAYS)}
    ordered = sorted(windows, key=lambda w: (order[w.day], w.start))
    return [w.model_dump(mode="json") for w in ordered]


class Slot(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "starts_at": ex.STARTS_AT,
                    "ends_at": ex.ENDS_AT,
                    "local_start": "2027-03-02T15:00:00+01:00",
                }
            ]
        }
    )

    starts_at: datetime
    ends_at: datetime
    local_start: str = Field(description="The start in the requested zone, with its offset.")


# The zone a slots page is shown in (checked against the IANA database where it is used).
ZoneName = Annotated[str, StringConstraints(max_length=64), shown(pattern=TIMEZONE_PATTERN)]


def _timezone(value: str | None) -> str | None:
    return validate_timezone(value) if value is not None else None


class SlotArgs(BaseModel):
    """The arguments of a slots page: REST's query parameters (availability/rest.py, and its
    lean route, use these very types) and GraphQL's `slots` field."""

    start: Instant
    end: Instant
    duration: SessionLength
    timezone: Annotated[ZoneName | None, AfterValidator(_timezone)] = None
