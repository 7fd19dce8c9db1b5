"""GraphQL face of group sessions and their seats, over group_sessions.service. No rules here."""

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from mentorapi.apps.caller import acts_as_mentee
from mentorapi.graphql.context import Info
from mentorapi.graphql.inputs import as_dict, typed_id, validate
from mentorapi.graphql.relay import AFTER_DESCRIPTION, FIRST_DESCRIPTION, Connection, page_args
from mentorapi.group_sessions import service
from mentorapi.group_sessions.models import GroupSession, GroupSessionStatus, Seat, SeatStatus
from mentorapi.group_sessions.schemas import (
    GroupSessionCancel,
    GroupSessionCreate,
    GroupSessionListArgs,
    GroupSessionRead,
    SeatCreate,
    SeatRead,
)
from mentorapi.kit.pagination import DEFAULT_LIMIT
from mentorapi.mentees.gql import MenteeType
from mentorapi.mentors.gql import FormatEnum, MentorType, mentor_objects
from mentorapi.sessions.gql import PastTime, SideEnum
from mentorapi.sessions.schemas import Cancel, Complete, Reschedule
from mentorapi.skills.gql import SkillType

if TYPE_CHECKING:
    from mentorapi.feedback.gql import FeedbackType


@strawberry.enum(name="GroupSessionStatus")
class GroupStatusEnum(Enum):
    SCHEDULED = GroupSessionStatus.scheduled.value
    CANCELLED = GroupSessionStatus.cancelled.value
    COMPLETED = GroupSessionStatus.completed.value


@strawberry.enum(name="SeatStatus")
class SeatStatusEnum(Enum):
    TAKEN = SeatStatus.taken.value
    CANCELLED = SeatStatus.cancelled.value


@strawberry.type(name="Seat", description="A mentee's seat in a group session, with their ask.")
class SeatType:
    id: strawberry.ID
    group_session_id: strawberry.ID
    mentee_id: strawberry.ID
    ask: str
    status: SeatStatusEnum
    cancelled_by: SideEnum | None
    cancel_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @strawberry.field(
        description="Null for a member who is not this mentee (profiles are private)."
    )
    async def mentee(self, info: Info) -> MenteeType | None:
        if not acts_as_mentee(await info.context.caller(), self.mentee_id):
            return None
        mentee = await info.context.loaders.mentee.load(self.mentee_id)
        return MenteeType.from_model(mentee) if mentee else None

    @strawberry.field
    async def group_session(self, info: Info) -> "GroupSessionType | None":
        group = await info.context.loaders.group_session.load(self.group_session_id)
        return GroupSessionType.from_model(group) if group else None

    @classmethod
    def from_model(cls, seat: Seat) -> "SeatType":
        read = SeatRead.from_model(seat)
        return cls(
            id=strawberry.ID(read.id),
            group_session_id=strawberry.ID(read.group_session_id),
            mentee_id=strawberry.ID(read.mentee_id),
            ask=read.ask,
            status=SeatStatusEnum(read.status),
            cancelled_by=SideEnum(read.cancelled_by.value) if read.cancelled_by else None,
            cancel_reason=read.cancel_reason,
            version=read.version,
            created_at=read.created_at,
            updated_at=read.updated_at,
        )


@strawberry.type(
    name="GroupSession", description="A mentor's session with a few seats, each with its ask."
)
class GroupSessionType:
    id: strawberry.ID
    mentor_id: strawberry.ID
    status: GroupStatusEnum
    topic: str
    skill_id: strawberry.ID
    format: FormatEnum
    duration_minutes: int
    seats: int = strawberry.field(description="Seats offered (2-12).")
    seats_taken: int
    seats_left: int
    starts_at: datetime
    ends_at: datetime
    rescheduled_from: datetime | None
    history: list[PastTime]
    cancel_reason: str | None
    completion_note: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @strawberry.field
    async def mentor(self, info: Info) -> MentorType | None:
        mentor = await info.context.loaders.mentor.load(self.mentor_id)
        if mentor is None:
            return None
        (node,) = await mentor_objects(info, [mentor])
        return node

    @strawberry.field
    async def skill(self, info: Info) -> SkillType | None:
        skill = await info.context.loaders.skill.load(self.skill_id)
        return SkillType.from_model(skill) if skill else None

    @strawberry.field(
        description="The taken seats the caller may see: every one for the API key and the "
        "mentor, a mentee's own for a mentee, none for anyone else."
    )
    async def attendees(self, info: Info) -> list[SeatType]:
        rows = await info.context.loaders.attendees.load(self.id)
        return [SeatType.from_model(s) for s in rows]

    @strawberry.field(
        description="The feedback on its seats that the caller may read (as GET "
        "/v1/group-sessions/{id}/feedback), by seat."
    )
    async def feedback(
        self, info: Info
    ) -> list[Annotated["FeedbackType", strawberry.lazy("mentorapi.feedback.gql")]]:
        from mentorapi.feedback.gql import FeedbackType

        rows = await info.context.loaders.group_session_feedback.load(self.id)
        return [FeedbackType.from_model(f) for f in rows]

    @classmethod
    def from_model(cls, group: GroupSession) -> "GroupSessionType":
        read = GroupSessionRead.from_model(group)
        return cls(
            id=strawberry.ID(read.id),
            mentor_id=strawberry.ID(read.mentor_id),
            status=GroupStatusEnum(read.status),
            topic=read.topic,
            skill_id=strawberry.ID(read.skill_id),
            format=FormatEnum(read.format.value),
            duration_minutes=read.duration_minutes,
            seats=read.seats,
            seats_taken=read.seats_taken,
            seats_left=read.seats_left,
            starts_at=read.starts_at,
            ends_at=read.ends_at,
            rescheduled_from=read.rescheduled_from,
            history=[
                PastTime(starts_at=h.starts_at, ends_at=h.ends_at, at=h.at) for h in read.history
            ],
            cancel_reason=read.cancel_reason,
            completion_note=read.completion_note,
            version=read.version,
            created_at=read.created_at,
            updated_at=read.updated_at,
        )


# --- inputs ------------------------------------------------------------------------------------


@strawberry.input(description="As POST /v1/group-sessions.")
class CreateGroupSessionInput:
    mentor_id: strawberry.ID
    topic: str
    skill_id: strawberry.ID
    format: FormatEnum
    duration_minutes: int
    seats: int = strawberry.field(description="2-12.")
    starts_at: datetime


@strawberry.input(description="As POST /v1/group-sessions/{id}/seats.")
class TakeSeatInput:
    mentee_id: strawberry.ID
    ask: str = strawberry.field(description="The mentee's own ask (10-500 characters).")


@strawberry.input
class GroupSessionFilter:
    mentor_id: strawberry.ID | None = None
    mentee_id: strawberry.ID | None = strawberry.field(
        default=None, description="Group sessions where this mentee holds a seat."
    )
    skill_id: strawberry.ID | None = None
    status: list[GroupStatusEnum] | None = None
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Starting at or after."
    )
    to: datetime | None = strawberry.field(default=None, description="Starting before.")


def _set(**fields: Any) -> dict[str, Any]:
    """Arguments a client gave (None = left out), as a body for a REST schema."""
    return {k: v for k, v in fields.items() if v is not None}


ExpectedVersion = Annotated[int | None, strawberry.argument(description="Like REST's If-Match.")]


# --- operations --------------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field
    async def group_session(self, info: Info, id: strawberry.ID) -> GroupSessionType:
        group_id = typed_id(id, "grp")
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            group = await service.get(db_session=db_session, app_id=app_id, group_id=group_id)
        return GroupSessionType.from_model(group)

    @strawberry.field(
        description="Group sessions, oldest first (the filters of GET /v1/group-sessions)."
    )
    async def group_sessions(
        self,
        info: Info,
        filter: GroupSessionFilter | None = None,
        first: Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)] = DEFAULT_LIMIT,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[GroupSessionType]:
        page = page_args(first, after)
        args = validate(GroupSessionListArgs, filter or {}, argument="filter")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            groups, cursor = await service.list_group_sessions(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                page=page,
                mentor_id=args.mentor_id,
                mentee_id=args.mentee_id,
                skill_id=args.skill_id,
                statuses=args.status,
                starts_from=args.from_,
                starts_before=args.to,
            )
        return Connection[GroupSessionType].build(
            groups,
            cursor,
            node=GroupSessionType.from_model,
            sort="created",
            key=lambda g: [g.id],
            info=info,
        )

    @strawberry.field(description="A seat (its mentee and the group session's mentor only).")
    async def seat(
        self, info: Info, group_session_id: strawberry.ID, id: strawberry.ID
    ) -> SeatType:
        group_id = typed_id(group_session_id, "grp", argument="groupSessionId")
        seat_id = typed_id(id, "sea")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            _, seat = await service.get_seat(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                group_id=group_id,
                seat_id=seat_id,
            )
        return SeatType.from_model(seat)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="CONFLICT when the mentor's slot is not free.")
    async def create_group_session(
        self, info: Info, input: CreateGroupSessionInput
    ) -> GroupSessionType:
        data = validate(GroupSessionCreate, as_dict(input))
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            group = await service.create(
                db_session=db_session, app_id=app_id, actor=actor, data=data
            )
        return GroupSessionType.from_model(group)

    @strawberry.mutation(description="Move a group session and its seats to another free slot.")
    async def reschedule_group_session(
        self,
        info: Info,
        id: strawberry.ID,
        starts_at: datetime,
        expected_version: ExpectedVersion = None,
    ) -> GroupSessionType:
        group_id = typed_id(id, "grp")
        data = validate(Reschedule, {"starts_at": starts_at}, argument=None)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            group = await service.reschedule(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                group_id=group_id,
                starts_at=data.starts_at,
                expected_version=expected_version,
            )
        return GroupSessionType.from_model(group)

    @strawberry.mutation(description="Cancel a group session and every seat in it.")
    async def cancel_group_session(
        self,
        info: Info,
        id: strawberry.ID,
        reason: str | None = None,
        expected_version: ExpectedVersion = None,
    ) -> GroupSessionType:
        group_id = typed_id(id, "grp")
        data = validate(GroupSessionCancel, _set(reason=reason), argument=None)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            group = await service.cancel(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                group_id=group_id,
                data=data,
                expected_version=expected_version,
            )
        return GroupSessionType.from_model(group)

    @strawberry.mutation
    async def complete_group_session(
        self,
        info: Info,
        id: strawberry.ID,
        note: str | None = None,
        expected_version: ExpectedVersion = None,
    ) -> GroupSessionType:
        group_id = typed_id(id, "grp")
        data = validate(Complete, _set(note=note), argument=None)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            group = await service.complete(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                group_id=group_id,
                data=data,
                expected_version=expected_version,
            )
        return GroupSessionType.from_model(group)

    @strawberry.mutation(description="CONFLICT when full, or the mentee is elsewhere then.")
    async def take_seat(
        self, info: Info, group_session_id: strawberry.ID, input: TakeSeatInput
    ) -> SeatType:
        group_id = typed_id(group_session_id, "grp", argument="groupSessionId")
        data = validate(SeatCreate, as_dict(input))
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            group, seat = await service.take_seat(
                db_session=db_session, app_id=app_id, actor=actor, group_id=group_id, data=data
            )
        info.context.loaders.group_session.prime(group.id, group, force=True)
        return SeatType.from_model(seat)

    @strawberry.mutation(description="Give a seat back (`by`: the caller's own side).")
    async def cancel_seat(
        self,
        info: Info,
        group_session_id: strawberry.ID,
        id: strawberry.ID,
        by: SideEnum,
        reason: str | None = None,
        expected_version: ExpectedVersion = None,
    ) -> SeatType:
        group_id = typed_id(group_session_id, "grp", argument="groupSessionId")
        seat_id = typed_id(id, "sea")
        data = validate(Cancel, _set(by=by, reason=reason), argument=None)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            group, seat = await service.cancel_seat(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                group_id=group_id,
                seat_id=seat_id,
                data=data,
                expected_version=expected_version,
            )
        info.context.loaders.group_session.prime(group.id, group, force=True)
        return SeatType.from_model(seat)
