"""GraphQL face of speed-mentoring events over mentoring_events.service (no rules here): the
same operations as REST, and the live feed as the subscription `eventLive`."""

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from mentorapi.graphql.context import Info, SocketClosed
from mentorapi.graphql.inputs import as_dict, typed_id, validate
from mentorapi.graphql.relay import AFTER_DESCRIPTION, FIRST_DESCRIPTION, Connection, page_args
from mentorapi.kit.errors import InvalidInput
from mentorapi.kit.ids import id_kind
from mentorapi.kit.pagination import DEFAULT_LIMIT
from mentorapi.mentoring_events import live, service
from mentorapi.mentoring_events.models import (
    Attendance,
    EventMode,
    EventRole,
    EventStatus,
    FollowUpOutcome,
    Registration,
    ScheduleStatus,
)
from mentorapi.mentoring_events.render import follow_up_read, schedule_read
from mentorapi.mentoring_events.schemas import (
    AssignmentRead,
    FollowUpCreate,
    LiveUpdate,
    MentoringEventCreate,
    RegistrationCreate,
    ScheduleChange,
    ScheduleRead,
    event_read,
    registration_read,
)
from mentorapi.mentoring_events.service import EventView, FollowUpView, ScheduleView
from mentorapi.mentors.gql import FormatEnum
from mentorapi.sessions.gql import SessionType

EVENT = "mev"


@strawberry.enum(name="MentoringEventStatus")
class EventStatusEnum(Enum):
    DRAFT = EventStatus.draft.value
    OPEN = EventStatus.open.value
    SCHEDULED = EventStatus.scheduled.value
    LIVE = EventStatus.live.value
    ENDED = EventStatus.ended.value
    EXPIRED = EventStatus.expired.value


@strawberry.enum(name="MentoringEventMode")
class EventModeEnum(Enum):
    RELEVANCE = EventMode.relevance.value
    EVERYONE = EventMode.everyone.value


@strawberry.enum(name="MentoringEventScheduleStatus")
class ScheduleStatusEnum(Enum):
    NONE = ScheduleStatus.none.value
    BUILDING = ScheduleStatus.building.value
    PROVISIONAL = ScheduleStatus.provisional.value
    PUBLISHED = ScheduleStatus.published.value
    FAILED = ScheduleStatus.failed.value


@strawberry.enum(name="MentoringEventRole")
class RoleEnum(Enum):
    MENTOR = EventRole.mentor.value
    MENTEE = EventRole.mentee.value


@strawberry.enum(name="MentoringEventAttendance")
class AttendanceEnum(Enum):
    REGISTERED = Attendance.registered.value
    CHECKED_IN = Attendance.checked_in.value
    NO_SHOW = Attendance.no_show.value


@strawberry.enum(name="FollowUpOutcome")
class OutcomeEnum(Enum):
    SESSION_REQUESTED = FollowUpOutcome.session_requested.value
    SESSION_BOOKED = FollowUpOutcome.session_booked.value
    RECOMMENDATION = FollowUpOutcome.recommendation.value


# --- types ------------------------------------------------------------------------------------


@strawberry.type(name="MentoringEventCounts")
class CountsType:
    mentors: int
    mentees: int
    checked_in: int
    no_shows: int


@strawberry.type(
    name="MentoringEventAssignment",
    description="One mentee at one mentor's table in one round.",
)
class AssignmentType:
    round: int
    starts_at: datetime
    ends_at: datetime
    local_start: str = strawberry.field(description="In the event's zone, with its offset then.")
    table: int
    mentor_id: strawberry.ID
    mentee_id: strawberry.ID
    reasons: list[str]

    @classmethod
    def from_read(cls, read: AssignmentRead) -> "AssignmentType":
        return cls(
            round=read.round,
            starts_at=read.starts_at,
            ends_at=read.ends_at,
            local_start=read.local_start,
            table=read.table,
            mentor_id=strawberry.ID(read.mentor_id),
            mentee_id=strawberry.ID(read.mentee_id),
            reasons=list(read.reasons),
        )


@strawberry.type(name="UnmetWish")
class UnmetWishType:
    mentee_id: strawberry.ID
    mentor_id: strawberry.ID


@strawberry.type(name="MentoringEventScheduleStats", description="The figures of the last build.")
class StatsType:
    meetings: int
    total_relevance: float
    unmet_must_meets: list[UnmetWishType]
    min_meetings_per_mentor: int
    max_meetings_per_mentor: int
    mentees_without_meetings: int
    built_at: datetime
    build_seconds: float


@strawberry.type(
    name="MentoringEventSchedule",
    description="As GET /v1/mentoring-events/{id}/schedule: a member sees their own "
    "assignments, once published; the API key everyone's (provisional before publishing).",
)
class ScheduleType:
    event_id: strawberry.ID
    status: ScheduleStatusEnum
    version: int
    error: str | None
    stats: StatsType | None = strawberry.field(description="The API key only.")
    assignments: list[AssignmentType]

    @classmethod
    def from_read(cls, read: ScheduleRead) -> "ScheduleType":
        stats = None
        if read.stats is not None:
            s = read.stats
            stats = StatsType(
                meetings=s.meetings,
                total_relevance=s.total_relevance,
                unmet_must_meets=[
                    UnmetWishType(
                        mentee_id=strawberry.ID(u.mentee_id), mentor_id=strawberry.ID(u.mentor_id)
                    )
                    for u in s.unmet_must_meets
                ],
                min_meetings_per_mentor=s.min_meetings_per_mentor,
                max_meetings_per_mentor=s.max_meetings_per_mentor,
                mentees_without_meetings=s.mentees_without_meetings,
                built_at=s.built_at,
                build_seconds=s.build_seconds,
            )
        return cls(
            event_id=strawberry.ID(read.event_id),
            status=ScheduleStatusEnum(read.status.value),
            version=read.version,
            error=read.error,
            stats=stats,
            assignments=[AssignmentType.from_read(a) for a in read.assignments],
        )

    @classmethod
    def from_view(cls, view: ScheduleView) -> "ScheduleType":
        return cls.from_read(schedule_read(view))


@strawberry.type(name="MentoringEventRegistration")
class RegistrationType:
    event_id: strawberry.ID
    member_id: strawberry.ID
    role: RoleEnum
    mentor_id: strawberry.ID | None
    mentee_id: strawberry.ID | None
    ask: str | None
    skills: list[strawberry.ID]
    must_meet: list[strawberry.ID]
    no_thanks: list[strawberry.ID]
    attendance: AttendanceEnum
    checked_in_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, registration: Registration) -> "RegistrationType":
        read = registration_read(registration)
        return cls(
            event_id=strawberry.ID(read.event_id),
            member_id=strawberry.ID(read.member_id),
            role=RoleEnum(read.role.value),
            mentor_id=strawberry.ID(read.mentor_id) if read.mentor_id else None,
            mentee_id=strawberry.ID(read.mentee_id) if read.mentee_id else None,
            ask=read.ask,
            skills=[strawberry.ID(s) for s in read.skills],
            must_meet=[strawberry.ID(m) for m in read.must_meet],
            no_thanks=[strawberry.ID(m) for m in read.no_thanks],
            attendance=AttendanceEnum(read.attendance.value),
            checked_in_at=read.checked_in_at,
            created_at=read.created_at,
            updated_at=read.updated_at,
        )


@strawberry.type(name="ScheduleChange", description="How a late change solved the rest again.")
class ScheduleChangeType:
    from_round: int
    changed_assignments: int
    schedule_version: int


@strawberry.type(name="MentoringEventAttendanceResult")
class AttendanceResultType:
    registration: RegistrationType
    schedule_change: ScheduleChangeType | None

    @classmethod
    def build(
        cls, registration: Registration, change: ScheduleChange | None
    ) -> "AttendanceResultType":
        return cls(
            registration=RegistrationType.from_model(registration),
            schedule_change=ScheduleChangeType(**change.model_dump()) if change else None,
        )


@strawberry.type(name="FollowUpRecommendation")
class RecommendationType:
    reason: str
    skill_id: strawberry.ID
    format: FormatEnum
    duration_minutes: int


@strawberry.type(name="MentoringEventFollowUp")
class FollowUpType:
    event_id: strawberry.ID
    mentee_id: strawberry.ID
    mentor_id: strawberry.ID
    outcome: OutcomeEnum
    ask: str
    session: SessionType | None
    recommendation: RecommendationType | None
    created_at: datetime

    @classmethod
    def from_view(cls, view: FollowUpView) -> "FollowUpType":
        read = follow_up_read(view)
        r = read.recommendation
        return cls(
            event_id=strawberry.ID(read.event_id),
            mentee_id=strawberry.ID(read.mentee_id),
            mentor_id=strawberry.ID(read.mentor_id),
            outcome=OutcomeEnum(read.outcome.value),
            ask=read.ask,
            session=SessionType.from_read(read.session) if read.session else None,
            recommendation=RecommendationType(
                reason=r.reason,
                skill_id=strawberry.ID(r.skill_id),
                format=FormatEnum(r.format.value),
                duration_minutes=r.duration_minutes,
            )
            if r
            else None,
            created_at=read.created_at,
        )


@strawberry.type(
    name="MentoringEvent",
    description="A speed-mentoring event (as GET /v1/mentoring-events/{id}).",
)
class MentoringEventType:
    id: strawberry.ID
    title: str
    status: EventStatusEnum
    starts_at: datetime
    ends_at: datetime
    local_starts_at: str
    timezone: str
    rounds: int
    round_minutes: int
    transition_minutes: int
    table_capacity: int
    meetings_per_mentee: int
    mode: EventModeEnum
    registration_closes_at: datetime
    registration_open: bool
    counts: CountsType
    schedule_status: ScheduleStatusEnum
    schedule_version: int
    published_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    @strawberry.field(
        description="The schedule (a member: their own, once published; `memberId` as REST)."
    )
    async def schedule(self, info: Info, member_id: strawberry.ID | None = None) -> ScheduleType:
        member = _member(member_id, "memberId")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.get_schedule(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                event_id=str(self.id),
                member_id=member,
            )
        return ScheduleType.from_view(view)

    @strawberry.field(description="By member id; a member sees their own only.")
    async def registrations(
        self,
        info: Info,
        role: RoleEnum | None = None,
        first: Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)] = DEFAULT_LIMIT,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[RegistrationType]:
        page = page_args(first, after)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            rows, cursor = await service.list_registrations(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                event_id=str(self.id),
                page=page,
                role=EventRole(role.value) if role else None,
            )
        return Connection[RegistrationType].build(
            rows,
            cursor,
            info=info,
            node=RegistrationType.from_model,
            sort="member",
            key=lambda r: [r.member_id],
        )

    @strawberry.field(description="Oldest first; a member sees those they are part of.")
    async def follow_ups(self, info: Info) -> list[FollowUpType]:
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            views = await service.list_follow_ups(
                db_session=db_session, app_id=app_id, actor=actor, event_id=str(self.id)
            )
        return [FollowUpType.from_view(v) for v in views]

    @classmethod
    def from_view(cls, view: EventView) -> "MentoringEventType":
        read = event_read(view.event, view.counts, service.now())
        return cls(
            id=strawberry.ID(read.id),
            title=read.title,
            status=EventStatusEnum(read.status.value),
            starts_at=read.starts_at,
            ends_at=read.ends_at,
            local_starts_at=read.local_starts_at,
            timezone=read.timezone,
            rounds=read.rounds,
            round_minutes=read.round_minutes,
            transition_minutes=read.transition_minutes,
            table_capacity=read.table_capacity,
            meetings_per_mentee=read.meetings_per_mentee,
            mode=EventModeEnum(read.mode.value),
            registration_closes_at=read.registration_closes_at,
            registration_open=read.registration_open,
            counts=CountsType(**read.counts.model_dump()),
            schedule_status=ScheduleStatusEnum(read.schedule.status.value),
            schedule_version=read.schedule.version,
            published_at=read.schedule.published_at,
            version=read.version,
            created_at=read.created_at,
            updated_at=read.updated_at,
        )


@strawberry.type(
    name="EventLive",
    description="One message of an event's live feed (as GET /v1/mentoring-events/{id}/live).",
)
class EventLiveType:
    event_id: strawberry.ID
    server_time: datetime = strawberry.field(description="The server's clock: the event's.")
    cause: str = strawberry.field(description="connected, phase or schedule.")
    phase: str = strawberry.field(
        description="not_started, in_round, transition, ended, or expired (never published by "
        "the start: no round will run; the last message)."
    )
    round: int | None
    round_starts_at: datetime | None
    round_ends_at: datetime | None
    next_change_at: datetime | None
    schedule_version: int
    my_assignment: AssignmentType | None

    @classmethod
    def from_update(cls, update: LiveUpdate) -> "EventLiveType":
        return cls(
            event_id=strawberry.ID(update.event_id),
            server_time=update.server_time,
            cause=update.cause,
            phase=update.phase,
            round=update.round,
            round_starts_at=update.round_starts_at,
            round_ends_at=update.round_ends_at,
            next_change_at=update.next_change_at,
            schedule_version=update.schedule_version,
            my_assignment=AssignmentType.from_read(update.my_assignment)
            if update.my_assignment
            else None,
        )


# --- inputs -------------------------------------------------------------------------------------


@strawberry.input(description="As POST /v1/mentoring-events.")
class CreateMentoringEventInput:
    title: str
    starts_at: datetime
    timezone: str
    rounds: int
    round_minutes: int
    transition_minutes: int | None = strawberry.UNSET
    table_capacity: int | None = strawberry.UNSET
    meetings_per_mentee: int | None = strawberry.UNSET
    mode: EventModeEnum | None = strawberry.UNSET
    registration_closes_at: datetime | None = strawberry.UNSET


@strawberry.input(description="As POST /v1/mentoring-events/{id}/registrations: one of the ids.")
class RegisterInput:
    mentor_id: strawberry.ID | None = strawberry.UNSET
    mentee_id: strawberry.ID | None = strawberry.UNSET
    ask: str | None = strawberry.UNSET
    skills: list[strawberry.ID] | None = strawberry.UNSET
    must_meet: list[strawberry.ID] | None = strawberry.UNSET
    no_thanks: list[strawberry.ID] | None = strawberry.UNSET


@strawberry.input(description="As POST /v1/mentoring-events/{id}/follow-ups.")
class FollowUpInput:
    mentor_id: strawberry.ID
    ask: str
    mentee_id: strawberry.ID | None = strawberry.UNSET
    questions: list[str] | None = strawberry.UNSET
    skill_id: strawberry.ID | None = strawberry.UNSET
    format: FormatEnum | None = strawberry.UNSET
    duration_minutes: int | None = strawberry.UNSET
    starts_at: datetime | None = strawberry.UNSET


def _given(obj: object) -> dict[str, object]:
    return {k: v for k, v in as_dict(obj).items() if v is not None}


def _member(value: strawberry.ID | None, argument: str) -> str | None:
    """A mentor or a mentee id (REST's MemberId): the wrong kind is BAD_USER_INPUT."""
    if value is None:
        return None
    if id_kind(str(value)) not in ("mtr", "mte"):
        raise InvalidInput(
            f"expected a mentor id (mtr_…) or a mentee id (mte_…), got {str(value)[:40]!r}",
            loc=[argument],
        )
    return str(value)


ExpectedVersion = Annotated[int | None, strawberry.argument(description="Like REST's If-Match.")]


# --- operations ---------------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field(description="A speed-mentoring event (a draft: the API key only).")
    async def mentoring_event(self, info: Info, id: strawberry.ID) -> MentoringEventType:
        event_id = typed_id(id, EVENT)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.get(
                db_session=db_session, app_id=app_id, actor=actor, event_id=event_id
            )
        return MentoringEventType.from_view(view)

    @strawberry.field(description="Speed-mentoring events, oldest first.")
    async def mentoring_events(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)] = DEFAULT_LIMIT,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[MentoringEventType]:
        page = page_args(first, after)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            views, cursor = await service.list_events(
                db_session=db_session, app_id=app_id, actor=actor, page=page
            )
        return Connection[MentoringEventType].build(
            views,
            cursor,
            info=info,
            node=MentoringEventType.from_view,
            sort="created",
            key=lambda v: [v.event.id],
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="A draft event (the API key only).")
    async def create_mentoring_event(
        self, info: Info, input: CreateMentoringEventInput
    ) -> MentoringEventType:
        data = validate(MentoringEventCreate, _given(input))
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.create(
                db_session=db_session, app_id=app_id, actor=actor, data=data
            )
        return MentoringEventType.from_view(view)

    @strawberry.mutation(description="draft → open (the API key only).")
    async def open_mentoring_event_registration(
        self, info: Info, id: strawberry.ID, expected_version: ExpectedVersion = None
    ) -> MentoringEventType:
        event_id = typed_id(id, EVENT)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.open_registration(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                event_id=event_id,
                expected_version=expected_version,
            )
        return MentoringEventType.from_view(view)

    @strawberry.mutation(description="A mentor or a mentee registers (a member: themself).")
    async def register_for_mentoring_event(
        self, info: Info, event_id: strawberry.ID, input: RegisterInput
    ) -> RegistrationType:
        checked = typed_id(event_id, EVENT, argument="eventId")
        data = validate(RegistrationCreate, _given(input))
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            registration = await service.register(
                db_session=db_session, app_id=app_id, actor=actor, event_id=checked, data=data
            )
        return RegistrationType.from_model(registration)

    @strawberry.mutation(description="Withdraw before publishing; returns the member id.")
    async def withdraw_from_mentoring_event(
        self, info: Info, event_id: strawberry.ID, member_id: strawberry.ID
    ) -> strawberry.ID:
        checked = typed_id(event_id, EVENT, argument="eventId")
        member = _member(member_id, "memberId") or ""
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            await service.withdraw(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                event_id=checked,
                member_id=member,
            )
        return member_id

    @strawberry.mutation(description="Present; a late arrival after publishing (the API key).")
    async def check_in_to_mentoring_event(
        self, info: Info, event_id: strawberry.ID, member_id: strawberry.ID
    ) -> AttendanceResultType:
        checked = typed_id(event_id, EVENT, argument="eventId")
        member = _member(member_id, "memberId") or ""
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            registration, change = await service.check_in(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                event_id=checked,
                member_id=member,
            )
        return AttendanceResultType.build(registration, change)

    @strawberry.mutation(description="Absent; after publishing, the rest is solved again.")
    async def mark_mentoring_event_no_show(
        self, info: Info, event_id: strawberry.ID, member_id: strawberry.ID
    ) -> AttendanceResultType:
        checked = typed_id(event_id, EVENT, argument="eventId")
        member = _member(member_id, "memberId") or ""
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            registration, change = await service.mark_no_show(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                event_id=checked,
                member_id=member,
            )
        return AttendanceResultType.build(registration, change)

    @strawberry.mutation(
        description="A provisional schedule: PROVISIONAL at once, or BUILDING by a job for a "
        "large event (the API key only)."
    )
    async def build_mentoring_event_schedule(
        self, info: Info, event_id: strawberry.ID
    ) -> ScheduleType:
        checked = typed_id(event_id, EVENT, argument="eventId")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.build(
                db_session=db_session, app_id=app_id, actor=actor, event_id=checked
            )
        return ScheduleType.from_view(view)

    @strawberry.mutation(description="Publish the provisional schedule (the API key only).")
    async def publish_mentoring_event_schedule(
        self, info: Info, event_id: strawberry.ID, expected_version: ExpectedVersion = None
    ) -> ScheduleType:
        checked = typed_id(event_id, EVENT, argument="eventId")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.publish(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                event_id=checked,
                expected_version=expected_version,
            )
        return ScheduleType.from_view(view)

    @strawberry.mutation(description="A session request to a mentor met at the event.")
    async def follow_up_mentoring_event(
        self, info: Info, event_id: strawberry.ID, input: FollowUpInput
    ) -> FollowUpType:
        checked = typed_id(event_id, EVENT, argument="eventId")
        data = validate(FollowUpCreate, _given(input))
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.follow_up(
                db_session=db_session, app_id=app_id, actor=actor, event_id=checked, data=data
            )
        return FollowUpType.from_view(view)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The event's live feed: a message at once, then on every change of phase "
        "and of the schedule; it completes after ENDED. A member follows as themself (or "
        "`memberId`, their own); the API key sees phases only, or `memberId`'s assignments."
    )
    async def event_live(
        self, info: Info, event_id: strawberry.ID, member_id: strawberry.ID | None = None
    ) -> AsyncGenerator[EventLiveType, None]:
        checked = typed_id(event_id, EVENT, argument="eventId")
        member = _member(member_id, "memberId")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            viewer = await service.authorize_live(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                event_id=checked,
                member_id=member,
            )
        # The authorizing read ran in the connection's session: end that transaction now, so
        # an idle subscription holds none.
        await info.context.finish(commit=False)
        updates = live.follow(
            database=info.context.database,
            pubsub=info.context.pubsub,
            app_id=app_id,
            event_id=checked,
            viewer=viewer,
            check=info.context.close_unless_admitted,
        )
        try:
            async for update in updates:
                if isinstance(update, LiveUpdate):
                    yield EventLiveType.from_update(update)
        except SocketClosed:
            # Closed with 4401: the socket's handler cancels every operation on it as soon as
            # the close completes; nothing more to send.
            await asyncio.sleep(SocketClosed.WAIT_SECONDS)
        finally:
            await updates.aclose()
