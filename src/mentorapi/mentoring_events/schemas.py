"""Bodies of the speed-mentoring routes, and the shapes of their webhook events and live feed."""

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.config import JsonDict

from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.fields import Timezone
from mentorapi.kit.ids import (
    BODY_PATTERN,
    MAX_ID_LENGTH,
    MenteeId,
    MenteeIdOut,
    MentorId,
    MentorIdOut,
    MentoringEventIdOut,
    SkillIdOut,
    SkillRefId,
    id_kind,
)
from mentorapi.kit.timezones import zone
from mentorapi.mentoring_events.models import (
    Assignment,
    Attendance,
    Counts,
    EventMode,
    EventRole,
    EventStatus,
    FollowUpOutcome,
    MentoringEvent,
    Registration,
    ScheduleStatus,
    Timeline,
)
from mentorapi.mentors.models import Format
from mentorapi.mentors.schemas import SessionLength
from mentorapi.sessions.schemas import SESSION_READ_EXAMPLE, Instant, Question, SessionRead, Topic

MIN_ROUNDS, MAX_ROUNDS = 2, 12
MIN_ROUND_MINUTES, MAX_ROUND_MINUTES = 3, 20
MAX_TRANSITION_MINUTES = 15
MIN_TABLE_CAPACITY, MAX_TABLE_CAPACITY = 1, 4
MAX_WISHES = 20  # must_meet and no_thanks, each
MAX_SKILLS = 10


# --- ids of either kind of member --------------------------------------------------------------

# A mentor's or a mentee's id (kit/ids.py): the kinds the validator takes, and the pattern the
# document shows (it showed any kind, `[a-z]{3}`, which the server refused).
MEMBER_KINDS = ("mtr", "mte")
MEMBER_PATTERN = f"^({'|'.join(MEMBER_KINDS)})_{BODY_PATTERN}$"


def _member_id(value: str) -> str:
    if id_kind(value) not in MEMBER_KINDS:
        raise ValueError(f"expected a mentor id (mtr_…) or a mentee id (mte_…), got {value!r}")
    return value


_MEMBER_SCHEMA: JsonDict = {
    "type": "string",
    "pattern": MEMBER_PATTERN,
    "minLength": 30,
    "maxLength": 30,
    "description": "A mentor id (`mtr_…`) or a mentee id (`mte_…`).",
    "examples": [ex.MENTEE_ID],
}
MemberId = Annotated[
    str,
    StringConstraints(max_length=MAX_ID_LENGTH),
    AfterValidator(_member_id),
    WithJsonSchema(_MEMBER_SCHEMA),
]
MemberIdOut = Annotated[str, WithJsonSchema(_MEMBER_SCHEMA)]


def _distinct(values: list[str]) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"each id at most once; repeated: {repeated}")
    return values


Wishes = Annotated[list[MemberId], Field(max_length=MAX_WISHES), AfterValidator(_distinct)]

# --- the event --------------------------------------------------------------------------------

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

CREATE_EXAMPLE: JsonDict = {
    "title": "Spreadsheet speed mentoring, March",
    "starts_at": "2027-03-04T17:00:00Z",
    "timezone": "Europe/Berlin",
    "rounds": 6,
    "round_minutes": 7,
    "transition_minutes": 2,
    "table_capacity": 2,
    "meetings_per_mentee": 4,
    "mode": "relevance",
    "registration_closes_at": "2027-03-03T17:00:00Z",
}


def _whole_minute(value: datetime) -> datetime:
    if value.second or value.microsecond:
        raise ValueError("times of an event are whole minutes")
    return value


class MentoringEventCreate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [CREATE_EXAMPLE]})

    title: Title
    starts_at: Annotated[Instant, AfterValidator(_whole_minute)] = Field(
        description="The start of round 1 (whole minutes)."
    )
    timezone: Timezone = Field(description="The room's zone: the local times of the rounds.")
    rounds: int = Field(ge=MIN_ROUNDS, le=MAX_ROUNDS)
    round_minutes: int = Field(ge=MIN_ROUND_MINUTES, le=MAX_ROUND_MINUTES)
    transition_minutes: int = Field(
        default=2,
        ge=0,
        le=MAX_TRANSITION_MINUTES,
        description="Between two rounds: the time to move to the next table.",
    )
    table_capacity: int = Field(
        default=1,
        ge=MIN_TABLE_CAPACITY,
        le=MAX_TABLE_CAPACITY,
        description="Mentees at one mentor's table in one round.",
    )
    meetings_per_mentee: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ROUNDS,
        description="How many mentors each mentee meets, at most `rounds`; left out: `rounds`.",
    )
    mode: EventMode = Field(
        default=EventMode.relevance,
        description="`relevance`: the pairs the matching scores best, mentors' load balanced; "
        "`everyone`: a rotation, mentors moving one table each round.",
    )
    registration_closes_at: Instant | None = Field(
        default=None, description="At or before `starts_at`; left out: `starts_at`."
    )

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.meetings_per_mentee is not None and self.meetings_per_mentee > self.rounds:
            raise ValueError("meetings_per_mentee is at most rounds")
        if self.registration_closes_at is not None and self.registration_closes_at > self.starts_at:
            raise ValueError("registration_closes_at is at or before starts_at")
        return self


class EventCounts(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"mentors": 6, "mentees": 12, "checked_in": 17, "no_shows": 1}]
        }
    )

    mentors: int = Field(description="Mentors registered.")
    mentees: int = Field(description="Mentees registered.")
    checked_in: int = Field(description="People checked in (mentors and mentees).")
    no_shows: int = Field(description="People marked as not there.")


SCHEDULE_SUMMARY_EXAMPLE: JsonDict = {
    "status": "published",
    "version": 1,
    "published_at": "2027-03-04T12:00:00Z",
    "error": None,
}


class ScheduleSummary(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [SCHEDULE_SUMMARY_EXAMPLE]})

    status: ScheduleStatus
    version: int = Field(description="Bumped by publishing and by every late change.")
    published_at: datetime | None
    error: str | None = Field(description="Why the last build failed (status `failed`).")


EVENT_READ_EXAMPLE: JsonDict = {
    "id": ex.MENTORING_EVENT_ID,
    **CREATE_EXAMPLE,
    "status": "scheduled",
    "ends_at": "2027-03-04T17:52:00Z",
    "local_starts_at": "2027-03-04T18:00:00+01:00",
    "registration_open": False,
    "counts": {"mentors": 6, "mentees": 12, "checked_in": 0, "no_shows": 0},
    "schedule": SCHEDULE_SUMMARY_EXAMPLE,
    "version": 3,
    "created_at": ex.CREATED_AT,
    "updated_at": "2027-03-04T12:00:00Z",
}


class MentoringEventRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [EVENT_READ_EXAMPLE]})

    id: MentoringEventIdOut
    title: str
    status: EventStatus = Field(
        description="`draft` → `open` (registration) → `scheduled` (published) → `live` → "
        "`ended`; a draft or open event whose start comes before its schedule is published is "
        "`expired` (final: nothing changes any more). `live`, `ended` and `expired` follow "
        "from the clock."
    )
    starts_at: datetime
    ends_at: datetime = Field(description="The end of the last round.")
    local_starts_at: str = Field(description="The start in the event's zone, with its offset.")
    timezone: str
    rounds: int
    round_minutes: int
    transition_minutes: int
    table_capacity: int
    meetings_per_mentee: int
    mode: EventMode
    registration_closes_at: datetime
    registration_open: bool = Field(description="Whether a registration would be taken now.")
    counts: EventCounts
    schedule: ScheduleSummary
    version: int
    created_at: datetime
    updated_at: datetime


# --- registrations ------------------------------------------------------------------------------


class RegistrationCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"mentor_id": ex.MENTOR_ID, "skills": [ex.SKILL_ID]},
                {
                    "mentee_id": ex.MENTEE_ID,
                    "ask": "How do I make my monthly pivot refresh without breaking?",
                    "skills": [ex.SKILL_ID],
                    "must_meet": [ex.MENTOR_ID],
                    "no_thanks": [],
                },
            ]
        }
    )

    mentor_id: MentorId | None = Field(default=None, description="A mentor registers: or…")
    mentee_id: MenteeId | None = Field(default=None, description="…a mentee (exactly one).")
    ask: Topic | None = Field(
        default=None, description="A mentee's question for the event (10-500 characters)."
    )
    skills: list[SkillRefId] = Field(
        default_factory=list,
        max_length=MAX_SKILLS,
        description="Skills to talk about: sought (a mentee) or offered (a mentor).",
    )
    must_meet: Wishes = Field(
        default_factory=list,
        description="Registered people of the other side to meet if at all possible.",
    )
    no_thanks: Wishes = Field(
        default_factory=list, description="Registered people of the other side never to meet."
    )

    @model_validator(mode="after")
    def _one_person(self) -> Self:
        if (self.mentor_id is None) == (self.mentee_id is None):
            raise ValueError("give exactly one of mentor_id and mentee_id")
        if self.mentor_id is not None and self.ask is not None:
            raise ValueError("an ask is a mentee's")
        both = sorted(set(self.must_meet) & set(self.no_thanks))
        if both:
            raise ValueError(f"in both must_meet and no_thanks: {both}")
        return self


REGISTRATION_EXAMPLE: JsonDict = {
    "event_id": ex.MENTORING_EVENT_ID,
    "member_id": ex.MENTEE_ID,
    "role": "mentee",
    "mentor_id": None,
    "mentee_id": ex.MENTEE_ID,
    "ask": "How do I make my monthly pivot refresh without breaking?",
    "skills": [ex.SKILL_ID],
    "must_meet": [ex.MENTOR_ID],
    "no_thanks": [],
    "attendance": "checked_in",
    "checked_in_at": "2027-03-04T16:52:00Z",
    "created_at": ex.CREATED_AT,
    "updated_at": "2027-03-04T16:52:00Z",
}


class RegistrationRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [REGISTRATION_EXAMPLE]})

    event_id: MentoringEventIdOut
    member_id: MemberIdOut
    role: EventRole
    mentor_id: MentorIdOut | None
    mentee_id: MenteeIdOut | None
    ask: str | None
    skills: list[SkillIdOut]
    must_meet: list[MemberIdOut]
    no_thanks: list[MemberIdOut]
    attendance: Attendance
    checked_in_at: datetime | None
    created_at: datetime
    updated_at: datetime


class Attendee(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"member_id": ex.MENTEE_ID}]})

    member_id: MemberId


class ScheduleChange(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"from_round": 3, "changed_assignments": 5, "schedule_version": 2}]
        }
    )

    from_round: int = Field(description="The first round solved again (earlier ones are kept).")
    changed_assignments: int = Field(
        description="Meetings of those rounds that are not as they were (removed, added, moved)."
    )
    schedule_version: int


class AttendanceRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "registration": {
                        **REGISTRATION_EXAMPLE,
                        "attendance": "no_show",
                        "checked_in_at": None,
                    },
                    "schedule_change": {
                        "from_round": 3,
                        "changed_assignments": 5,
                        "schedule_version": 2,
                    },
                }
            ]
        }
    )

    registration: RegistrationRead
    schedule_change: ScheduleChange | None = Field(
        description="After publishing: how the rounds not yet started were solved again."
    )


# --- the schedule -------------------------------------------------------------------------------

ASSIGNMENT_EXAMPLE: JsonDict = {
    "round": 1,
    "starts_at": "2027-03-04T17:00:00Z",
    "ends_at": "2027-03-04T17:07:00Z",
    "local_start": "2027-03-04T18:00:00+01:00",
    "table": 3,
    "mentor_id": ex.MENTOR_ID,
    "mentee_id": ex.MENTEE_ID,
    "reasons": ["must meet", "offers Pivot tables (level 4)"],
}


class AssignmentRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [ASSIGNMENT_EXAMPLE]})

    round: int = Field(description="1-based.")
    starts_at: datetime
    ends_at: datetime
    local_start: str = Field(description="The start in the event's zone, with its offset then.")
    table: int = Field(description="1-based.")
    mentor_id: MentorIdOut
    mentee_id: MenteeIdOut
    reasons: list[str] = Field(description="Why these two meet.")


class UnmetWish(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"mentee_id": ex.MENTEE_ID, "mentor_id": ex.MENTOR_ID}]}
    )

    mentee_id: MenteeIdOut
    mentor_id: MentorIdOut


class ScheduleStats(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "meetings": 48,
                    "total_relevance": 31.42,
                    "unmet_must_meets": [],
                    "min_meetings_per_mentor": 8,
                    "max_meetings_per_mentor": 8,
                    "mentees_without_meetings": 0,
                    "built_at": "2027-03-04T11:58:03Z",
                    "build_seconds": 0.041,
                }
            ]
        }
    )

    meetings: int
    total_relevance: float
    unmet_must_meets: list[UnmetWish] = Field(
        description="must_meet wishes the schedule could not honour."
    )
    min_meetings_per_mentor: int
    max_meetings_per_mentor: int
    mentees_without_meetings: int
    built_at: datetime
    build_seconds: float


SCHEDULE_EXAMPLE: JsonDict = {
    "event_id": ex.MENTORING_EVENT_ID,
    "status": "published",
    "version": 1,
    "error": None,
    "stats": None,
    "assignments": [ASSIGNMENT_EXAMPLE],
}


class ScheduleRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [SCHEDULE_EXAMPLE]})

    event_id: MentoringEventIdOut
    status: ScheduleStatus
    version: int = Field(description="The schedule's version (ScheduleSummary.version).")
    error: str | None = Field(description="Why the last build failed (status `failed`).")
    stats: ScheduleStats | None = Field(
        description="Of the last build; for the app's API key only (null to members)."
    )
    assignments: list[AssignmentRead] = Field(
        description="By round, then table. A member sees only their own, and only once the "
        "schedule is published."
    )


# --- live ---------------------------------------------------------------------------------------


class LiveUpdate(ResponseBody):
    """One message of the live feed (`GET /v1/mentoring-events/{id}/live`, `eventLive`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": ex.MENTORING_EVENT_ID,
                    "server_time": "2027-03-04T17:07:00.004Z",
                    "cause": "phase",
                    "phase": "transition",
                    "round": 2,
                    "round_starts_at": "2027-03-04T17:09:00Z",
                    "round_ends_at": "2027-03-04T17:16:00Z",
                    "next_change_at": "2027-03-04T17:09:00Z",
                    "schedule_version": 1,
                    "my_assignment": {
                        **ASSIGNMENT_EXAMPLE,
                        "round": 2,
                        "starts_at": "2027-03-04T17:09:00Z",
                        "ends_at": "2027-03-04T17:16:00Z",
                        "local_start": "2027-03-04T18:09:00+01:00",
                    },
                }
            ]
        }
    )

    event_id: MentoringEventIdOut
    server_time: datetime = Field(description="The server's clock: the event's clock.")
    cause: str = Field(
        description="`connected` (the first message), `phase` (the phase changed), "
        "`schedule` (a late change moved the schedule)."
    )
    phase: str = Field(
        description="`not_started` (before round 1), `in_round`, `transition` (between two "
        "rounds), `ended`; or `expired`: the schedule was never published by the start, no "
        "round will run (the last message, as `ended` is)."
    )
    round: int | None = Field(
        description="The round in progress, or the next one (`not_started`, `transition`); "
        "null once ended or expired."
    )
    round_starts_at: datetime | None
    round_ends_at: datetime | None
    next_change_at: datetime | None = Field(description="When the phase changes next.")
    schedule_version: int
    my_assignment: AssignmentRead | None = Field(
        description="The member's place in `round` (null: a break, or the API key)."
    )


# --- follow-ups ---------------------------------------------------------------------------------


class FollowUpCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mentor_id": ex.MENTOR_ID,
                    "mentee_id": ex.MENTEE_ID,
                    "ask": "Walk me through a pivot with a growth column, on my real data",
                }
            ]
        }
    )

    mentor_id: MentorId
    mentee_id: MenteeId | None = Field(
        default=None, description="The mentee following up: required with the API key."
    )
    ask: Topic
    questions: list[Question] = Field(default_factory=list, max_length=10)
    skill_id: SkillRefId | None = Field(
        default=None, description="Left out: the mentor's skill the mentee registered with."
    )
    format: Format | None = Field(
        default=None, description="Left out: video if the mentor offers it, else their first."
    )
    duration_minutes: SessionLength | None = Field(
        default=None, description="Left out: the mentor's shortest session."
    )
    starts_at: Instant | None = Field(
        default=None, description="Left out: the mentor's first free slot within 14 days."
    )


class FollowUpRecommendation(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reason": "no free slot of 15 minutes in the next 14 days",
                    "skill_id": ex.SKILL_ID,
                    "format": "video",
                    "duration_minutes": 15,
                }
            ]
        }
    )

    reason: str
    skill_id: SkillIdOut
    format: Format
    duration_minutes: int


FOLLOW_UP_EXAMPLE: JsonDict = {
    "event_id": ex.MENTORING_EVENT_ID,
    "mentee_id": ex.MENTEE_ID,
    "mentor_id": ex.MENTOR_ID,
    "outcome": "session_requested",
    "ask": "Walk me through a pivot with a growth column, on my real data",
    "session": {**SESSION_READ_EXAMPLE, "status": "requested", "version": 1},
    "recommendation": None,
    "created_at": "2027-03-04T18:01:00Z",
}


class FollowUpRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [FOLLOW_UP_EXAMPLE]})

    event_id: MentoringEventIdOut
    mentee_id: MenteeIdOut
    mentor_id: MentorIdOut
    outcome: FollowUpOutcome
    ask: str
    session: SessionRead | None = Field(description="The session asked for (or booked).")
    recommendation: FollowUpRecommendation | None = Field(
        description="No slot soon: what to book once the mentor has one."
    )
    created_at: datetime


# --- webhook payloads ---------------------------------------------------------------------------

_LATENESS = (
    "Seconds between `due_at` and when it was written to the outbox (more only when the "
    "worker was down)."
)


class ScheduleEventData(MentoringEventRead):
    """`data` of `mentoring_event.schedule_published` and `mentoring_event.schedule_changed`:
    the event, and what changed (read the schedule: `GET .../schedule`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **EVENT_READ_EXAMPLE,
                    "assignments": 48,
                    "from_round": 1,
                    "changed_assignments": 48,
                }
            ]
        }
    )

    assignments: int = Field(description="Meetings in the published schedule now.")
    from_round: int = Field(description="The first round that changed.")
    changed_assignments: int


class RoundEventData(MentoringEventRead):
    """`data` of `mentoring_event.round_started` (and `mentoring_event.ended`: `round` is the
    last, and the times are its)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **EVENT_READ_EXAMPLE,
                    "status": "live",
                    "round": 2,
                    "round_starts_at": "2027-03-04T17:09:00Z",
                    "round_ends_at": "2027-03-04T17:16:00Z",
                    "due_at": "2027-03-04T17:09:00Z",
                    "lateness_seconds": 0.21,
                }
            ]
        }
    )

    round: int
    round_starts_at: datetime
    round_ends_at: datetime
    due_at: datetime = Field(description="The round's start (round_started) or the end (ended).")
    lateness_seconds: float = Field(description=_LATENESS)


class ExpiredEventData(MentoringEventRead):
    """`data` of `mentoring_event.expired`: the event (status `expired`), at its start."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **EVENT_READ_EXAMPLE,
                    "status": "expired",
                    "registration_open": False,
                    "due_at": EVENT_READ_EXAMPLE["starts_at"],
                    "lateness_seconds": 0.21,
                }
            ]
        }
    )

    due_at: datetime = Field(description="The event's start.")
    lateness_seconds: float = Field(description=_LATENESS)


# --- from the models ---------------------------------------------------------------------------


def local_text(instant: datetime, timezone: str) -> str:
    """The instant in the zone, with the zone's offset at that instant (so a round after a
    change of the clocks shows the new offset)."""
    return instant.astimezone(zone(timezone)).isoformat()


def event_read(event: MentoringEvent, counts: Counts, now: datetime) -> MentoringEventRead:
    return MentoringEventRead(
        id=event.id,
        title=event.title,
        status=event.status_at(now),
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        local_starts_at=local_text(event.starts_at, event.timezone),
        timezone=event.timezone,
        rounds=event.rounds,
        round_minutes=event.round_minutes,
        transition_minutes=event.transition_minutes,
        table_capacity=event.table_capacity,
        meetings_per_mentee=event.meetings_per_mentee,
        mode=EventMode(event.mode),
        registration_closes_at=event.registration_closes_at,
        registration_open=event.registration_refusal(now) is None,
        counts=EventCounts(
            mentors=counts.mentors,
            mentees=counts.mentees,
            checked_in=counts.checked_in,
            no_shows=counts.no_shows,
        ),
        schedule=ScheduleSummary(
            status=ScheduleStatus(event.schedule_status),
            version=event.schedule_version,
            published_at=event.published_at,
            error=event.schedule_error,
        ),
        version=event.version,
        created_at=event.created_at,
        updated_at=event.updated_at,
    )


def event_json(event: MentoringEvent, counts: Counts, now: datetime) -> dict[str, Any]:
    return event_read(event, counts, now).model_dump(mode="json")


def registration_read(registration: Registration) -> RegistrationRead:
    return RegistrationRead(
        event_id=registration.event_id,
        member_id=registration.member_id,
        role=EventRole(registration.role),
        mentor_id=registration.mentor_id,
        mentee_id=registration.mentee_id,
        ask=registration.ask,
        skills=registration.skill_ids,
        must_meet=registration.must_meet,
        no_thanks=registration.no_thanks,
        attendance=Attendance(registration.attendance),
        checked_in_at=registration.checked_in_at,
        created_at=registration.created_at,
        updated_at=registration.updated_at,
    )


def assignment_read(assignment: Assignment, timeline: Timeline, timezone: str) -> AssignmentRead:
    starts_at = timeline.round_starts_at(assignment.round)
    return AssignmentRead(
        round=assignment.round,
        starts_at=starts_at,
        ends_at=timeline.round_ends_at(assignment.round),
        local_start=local_text(starts_at, timezone),
        table=assignment.table_no,
        mentor_id=assignment.mentor_id,
        mentee_id=assignment.mentee_id,
        reasons=assignment.reasons,
    )
