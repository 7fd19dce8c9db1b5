"""Speed-mentoring events, who registered for them, their schedules and the follow-ups.

An event keeps the status a person moves it through (`draft`, `open`, `scheduled`); `live`,
`ended` and `expired` (a draft or open event whose start came before its schedule was
published) follow from the clock and are never stored (`MentoringEvent.status_at`), so nothing
has to run at the start or the end for a reader to see them. The reminders worker still tells
the app when they happen (`mentoring_event.round_started`, `.ended`, `.expired`: timed.py).

A schedule is rows in `mentoring_event_assignments`, one per mentee per round, under a `stage`:
`provisional` (the last build, for the organiser to look at) or `published` (what the people
see). Publishing copies the provisional rows; a late change (a no-show, a late arrival)
rewrites the published rows of the rounds not yet started. The database itself refuses a pair
meeting twice (the primary key) and a mentee in two places in one round (the unique key).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from mentorapi.db.base import TenantOwned, Timestamped, same_app
from mentorapi.db.types import JSONList, UTCDateTime
from mentorapi.kit.enums import NamedStrEnum
from mentorapi.kit.ids import new_id


class EventStatus(NamedStrEnum):
    draft = "draft"  # being prepared: members do not see it
    open = "open"  # registration open (until registration_closes_at)
    scheduled = "scheduled"  # the schedule is published
    live = "live"  # derived: published, between the start of round 1 and the end of the last
    ended = "ended"  # derived: the last round is over
    expired = "expired"  # derived: never published, and its start has passed (final)


STORED_STATUSES = (EventStatus.draft, EventStatus.open, EventStatus.scheduled)


class EventMode(NamedStrEnum):
    relevance = "relevance"  # the pairs with the best matching scores
    everyone = "everyone"  # a rotation: each mentee meets as many mentors as the rounds allow


class ScheduleStatus(NamedStrEnum):
    none = "none"  # never built
    building = "building"  # a job in the worker builds it
    provisional = "provisional"  # built, not yet published
    published = "published"
    failed = "failed"  # the last build failed: see `schedule_error`


class Stage(NamedStrEnum):
    provisional = "provisional"
    published = "published"


class EventRole(NamedStrEnum):
    mentor = "mentor"
    mentee = "mentee"


class Attendance(NamedStrEnum):
    registered = "registered"
    checked_in = "checked_in"
    no_show = "no_show"


class FollowUpOutcome(NamedStrEnum):
    session_requested = "session_requested"  # a request the mentor answers
    session_booked = "session_booked"  # the mentor auto-accepts: booked at once
    recommendation = "recommendation"  # no free slot soon: book when the mentor has one


@dataclass(frozen=True, slots=True)
class Counts:
    """An event's registrations by role and attendance (read, never stored)."""

    mentors: int = 0
    mentees: int = 0
    checked_in: int = 0
    no_shows: int = 0


def _ref(*, nullable: bool = False, primary_key: bool = False) -> Any:
    # The id of another row of the same app (its foreign key is same_app(...) on the table).
    if primary_key:
        return Column(String(30), primary_key=True)
    return Column(String(30), nullable=nullable, index=True)


SCHEDULED = "schedule_job_id IS NOT NULL"


class MentoringEvent(TenantOwned, table=True):
    __tablename__ = "mentoring_events"
    __table_args__ = (
        # Retention: the prune of finished jobs keeps the job an event names as its schedule's
        # build (retention.py, JOB_REFERENCES), and looks that up for every finished job it
        # considers. Partial: an event with no build is never looked up (`=` implies NOT NULL,
        # so even a generic plan uses it).
        Index(
            "ix_mentoring_events_schedule_job",
            "app_id",
            "schedule_job_id",
            postgresql_where=text(SCHEDULED),
            sqlite_where=text(SCHEDULED),
        ),
    )

    id: str = Field(default_factory=lambda: new_id("mev"), primary_key=True, max_length=30)
    title: str = Field(max_length=200)
    starts_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    timezone: str = Field(max_length=64)
    rounds: int
    round_minutes: int
    transition_minutes: int
    table_capacity: int
    meetings_per_mentee: int
    mode: str = Field(max_length=16)
    registration_closes_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    status: str = Field(default=EventStatus.draft.value, max_length=16)
    # Bumped by every registration, withdrawal and no-show before publishing: a provisional
    # schedule built from an older count is stale and cannot be published.
    registrations_version: int = Field(default=0)
    schedule_status: str = Field(default=ScheduleStatus.none.value, max_length=16)
    schedule_built_from: int | None = Field(default=None)  # registrations_version of the build
    # Bumped by every change of the schedule people see (publish, a late change): the live
    # feed's messages carry it, so a client knows its copy of the schedule is current.
    schedule_version: int = Field(default=0)
    schedule_job_id: str | None = Field(default=None, max_length=64)
    schedule_error: str | None = Field(default=None, max_length=1000)
    # Of the last build: total relevance, must-meets not honoured, the solver's figures.
    schedule_stats: dict[str, Any] = Field(default_factory=dict, sa_type=JSONList, nullable=False)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = Field(default=1)

    @property
    def timeline(self) -> "Timeline":
        return Timeline(self.starts_at, self.rounds, self.round_minutes, self.transition_minutes)

    @property
    def ends_at(self) -> datetime:
        return self.timeline.ends_at

    def expired_refusal(self, at: datetime) -> str | None:
        """Why nothing changes any more at `at` (None: the event has not expired)."""
        if self.status_at(at) is not EventStatus.expired:
            return None
        started = self.starts_at.isoformat().replace("+00:00", "Z")
        return f"the event expired: it started at {started} without a published schedule"

    def registration_refusal(self, at: datetime) -> str | None:
        """Why a registration is refused at `at`, or None: it is taken."""
        expired = self.expired_refusal(at)
        if expired is not None:
            return expired
        if self.status == EventStatus.draft:
            return "registration is not open yet"
        if self.status != EventStatus.open:
            return "the schedule is published: registration is closed"
        if at >= self.registration_closes_at:
            closed = self.registration_closes_at.isoformat().replace("+00:00", "Z")
            return f"registration closed at {closed}"
        return None

    def status_at(self, now: datetime) -> EventStatus:
        """The stored status, or `live`/`ended` once a published event's time has come, or
        `expired` once an unpublished (draft or open) event's start has come."""
        stored = EventStatus(self.status)
        if stored is not EventStatus.scheduled:
            return EventStatus.expired if now >= self.starts_at else stored
        if now >= self.ends_at:
            return EventStatus.ended
        return EventStatus.live if now >= self.starts_at else stored


class Phase(NamedStrEnum):
    not_started = "not_started"
    in_round = "in_round"
    transition = "transition"
    ended = "ended"
    expired = "expired"  # never published, and its start has come: the event will not run


@dataclass(frozen=True, slots=True)
class Moment:
    """Where an event is at one instant."""

    phase: Phase
    round: int | None  # in progress, or next (not_started, transition); None once ended
    round_starts_at: datetime | None
    round_ends_at: datetime | None
    next_change_at: datetime | None


@dataclass(frozen=True, slots=True)
class Timeline:
    """The times of an event's rounds. Round k starts (k - 1) * (round + transition) real
    minutes after the start: a change of the clocks during the event moves the local times
    shown, never the gaps between rounds."""

    starts_at: datetime
    rounds: int
    round_minutes: int
    transition_minutes: int

    def round_starts_at(self, number: int) -> datetime:
        step = self.round_minutes + self.transition_minutes
        return self.starts_at + timedelta(minutes=step * (number - 1))

    def round_ends_at(self, number: int) -> datetime:
        return self.round_starts_at(number) + timedelta(minutes=self.round_minutes)

    @property
    def ends_at(self) -> datetime:
        return self.round_ends_at(self.rounds)

    def first_round_after(self, now: datetime) -> int | None:
        """The first round that has not started at `now` (None: all have)."""
        for number in range(1, self.rounds + 1):
            if self.round_starts_at(number) > now:
                return number
        return None

    def moment(self, at: datetime) -> Moment:
        if at < self.starts_at:
            return self._round(Phase.not_started, 1, next_change=self.starts_at)
        for number in range(1, self.rounds + 1):
            start, end = self.round_starts_at(number), self.round_ends_at(number)
            if start <= at < end:
                return self._round(Phase.in_round, number, next_change=end)
            if number < self.rounds:
                following = self.round_starts_at(number + 1)
                if end <= at < following:
                    return self._round(Phase.transition, number + 1, next_change=following)
        return Moment(Phase.ended, None, None, None, None)

    def _round(self, phase: Phase, number: int, *, next_change: datetime) -> Moment:
        return Moment(
            phase,
            number,
            self.round_starts_at(number),
            self.round_ends_at(number),
            next_change,
        )


class Registration(Timestamped, table=True):
    """One person at one event: a mentor or a mentee (`member_id` is the one of the two set)."""

    __tablename__ = "mentoring_event_registrations"
    __table_args__ = (
        same_app("event_id", "mentoring_events"),
        same_app("mentor_id", "mentors"),
        same_app("mentee_id", "mentees"),
    )

    app_id: str = Field(foreign_key="apps.id", ondelete="CASCADE", primary_key=True, max_length=30)
    event_id: str = Field(sa_column=_ref(primary_key=True))
    member_id: str = Field(sa_column=_ref(primary_key=True))
    role: str = Field(max_length=8)
    mentor_id: str | None = Field(default=None, sa_column=_ref(nullable=True))
    mentee_id: str | None = Field(default=None, sa_column=_ref(nullable=True))
    ask: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    skill_ids: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    must_meet: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    no_thanks: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    attendance: str = Field(default=Attendance.registered.value, max_length=16)
    checked_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Assignment(SQLModel, table=True):
    """One mentee at one mentor's table in one round, in one stage of the schedule."""

    __tablename__ = "mentoring_event_assignments"
    __table_args__ = (
        same_app("event_id", "mentoring_events"),
        same_app("mentor_id", "mentors"),
        same_app("mentee_id", "mentees"),
        # A mentee is in one place per round, whatever the solver or a late change did.
        UniqueConstraint("app_id", "event_id", "stage", "round", "mentee_id"),
        # A mentor's own schedule.
        Index("ix_mentoring_event_assignments_mentor", "app_id", "event_id", "stage", "mentor_id"),
    )

    app_id: str = Field(foreign_key="apps.id", ondelete="CASCADE", primary_key=True, max_length=30)
    event_id: str = Field(sa_column=_ref(primary_key=True))
    stage: str = Field(sa_column=Column(String(12), primary_key=True))
    # The key is the pair: no pair meets twice. Indexed alone for the cascades from people.
    mentee_id: str = Field(sa_column=Column(String(30), primary_key=True, index=True))
    mentor_id: str = Field(sa_column=Column(String(30), primary_key=True, index=True))
    round: int
    table_no: int
    reasons: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    relevance: float = Field(default=0.0)


class ScoresRow(Timestamped, table=True):
    """The matching's scores an event's schedule was built from (planner.Scores): the mentees
    and mentors in order, and the pairs' relevance row-major, -1 for an excluded pair. Read by
    late changes only (300 x 50 is 15,000 numbers: never with the event itself)."""

    __tablename__ = "mentoring_event_scores"
    __table_args__ = (same_app("event_id", "mentoring_events"),)

    app_id: str = Field(foreign_key="apps.id", ondelete="CASCADE", primary_key=True, max_length=30)
    event_id: str = Field(sa_column=_ref(primary_key=True))
    mentees: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    mentors: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    relevance: list[float] = Field(default_factory=list, sa_type=JSONList, nullable=False)


class FollowUp(Timestamped, table=True):
    """A mentee's follow-up with a mentor met at the event: at most one per pair."""

    __tablename__ = "mentoring_event_follow_ups"
    __table_args__ = (
        same_app("event_id", "mentoring_events"),
        same_app("mentor_id", "mentors"),
        same_app("mentee_id", "mentees"),
        same_app("session_id", "sessions"),
    )

    app_id: str = Field(foreign_key="apps.id", ondelete="CASCADE", primary_key=True, max_length=30)
    event_id: str = Field(sa_column=_ref(primary_key=True))
    mentee_id: str = Field(sa_column=Column(String(30), primary_key=True, index=True))
    mentor_id: str = Field(sa_column=Column(String(30), primary_key=True, index=True))
    outcome: str = Field(max_length=24)
    ask: str = Field(max_length=500)
    session_id: str | None = Field(default=None, sa_column=_ref(nullable=True))
    # outcome `recommendation`: what to book once the mentor has a slot
    # (schemas.FollowUpRecommendation)
    recommendation: dict[str, Any] | None = Field(default=None, sa_type=JSONList, nullable=True)
