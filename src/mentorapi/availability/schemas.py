import itertools
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from mentorapi.availability.models import Availability
from mentorapi.kit.timezones import validate_timezone
from mentorapi.mentors.schemas import SessionLength
from mentorapi.sessions.schemas import Instant

MAX_WEEKLY_WINDOWS = 70
MAX_OVERRIDES = 366
MAX_WINDOWS_PER_DAY = 12

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class Day(StrEnum):
    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"


DAYS = list(Day)


def minutes_of(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"{value[:20]!r} is not a time of day as HH:MM (00:00-24:00)")
    return value


LocalTime = Annotated[str, Field(max_length=5, examples=["09:00"]), AfterValidator(_hhmm)]


class TimeWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _ordered(self) -> "TimeWindow":
        if minutes_of(self.end) <= minutes_of(self.start):
            raise ValueError(f"end {self.end} must be after start {self.start}")
        if self.start == "24:00":
            raise ValueError("a window cannot start at 24:00")
        return self


class WeeklyWindow(TimeWindow):
    day: Day


def _no_overlap(windows: list[TimeWindow], where: str) -> None:
    spans = sorted((minutes_of(w.start), minutes_of(w.end), w) for w in windows)
    for (_, end, a), (start, _, b) in itertools.pairwise(spans):
        if start < end:
            raise ValueError(f"windows {a.start}-{a.end} and {b.start}-{b.end} overlap on {where}")


class DateOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: date
    windows: list[TimeWindow] = Field(
        max_length=MAX_WINDOWS_PER_DAY, description="Replace that day's windows; [] is a day off."
    )

    @model_validator(mode="after")
    def _check(self) -> "DateOverride":
        _no_overlap(self.windows, self.date.isoformat())
        return self


class AvailabilityPut(BaseModel):
    """Local wall-clock times in the mentor's own zone; the whole availability is replaced."""

    model_config = ConfigDict(extra="forbid")

    weekly: list[WeeklyWindow] = Field(default_factory=list, max_length=MAX_WEEKLY_WINDOWS)
    overrides: list[DateOverride] = Field(default_factory=list, max_length=MAX_OVERRIDES)
    buffer_minutes: int = Field(default=0, ge=0, le=240, description="Free time between sessions.")
    min_notice_minutes: int = Field(
        default=0, ge=0, le=60 * 24 * 60, description="How far ahead a session must be booked."
    )
    weekly_capacity: int | None = Field(
        default=None, ge=1, le=200, description="Most sessions per week (mentor's zone); null: any."
    )
    auto_accept: bool = Field(default=False, description="Book requests without asking.")

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
        return self


class AvailabilityRead(BaseModel):
    mentor_id: str
    timezone: str
    weekly: list[WeeklyWindow]
    overrides: list[DateOverride]
    buffer_minutes: int
    min_notice_minutes: int
    weekly_capacity: int | None
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
            buffer_minutes=availability.buffer_minutes,
            min_notice_minutes=availability.min_notice_minutes,
            weekly_capacity=availability.weekly_capacity,
            auto_accept=availability.auto_accept,
            version=availability.version,
            updated_at=availability.updated_at,
        )


def dump_weekly(windows: list[WeeklyWindow]) -> list[dict[str, Any]]:
    order = {d: i for i, d in enumerate(DAYS)}
    ordered = sorted(windows, key=lambda w: (order[w.day], w.start))
    return [w.model_dump(mode="json") for w in ordered]


class Slot(BaseModel):
    starts_at: datetime
    ends_at: datetime
    local_start: str = Field(description="The start in the requested zone, with its offset.")


# The zone a slots page is shown in (checked against the IANA database where it is used).
ZoneName = Annotated[str, StringConstraints(max_length=64)]


def _timezone(value: str | None) -> str | None:
    return validate_timezone(value) if value is not None else None


class SlotArgs(BaseModel):
    """The arguments of a slots page: REST's query parameters (availability/rest.py, and its
    lean route, use these very types) and GraphQL's `slots` field."""

    start: Instant
    end: Instant
    duration: SessionLength
    timezone: Annotated[ZoneName | None, AfterValidator(_timezone)] = None
