"""GraphQL face of reminders: the app's policy and one mentor's offsets, over reminders.service
(no rules here; the app's API key only, as in REST)."""

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from mentorapi.graphql.context import Info
from mentorapi.graphql.inputs import typed_id, validate
from mentorapi.reminders import service
from mentorapi.reminders.models import MentorReminderPolicy, ReminderPolicy
from mentorapi.reminders.schemas import (
    MentorRemindersPut,
    MentorRemindersRead,
    OffsetsSource,
    ReminderPolicyPut,
    ReminderPolicyRead,
)

EXPECTED_VERSION = strawberry.argument(description="Like REST's If-Match (0: never set).")


@strawberry.type(
    name="ReminderPolicy",
    description="When the app's time-driven events go: reminders before a booked session's "
    "start, and the feedback request after its end (as GET /v1/app/reminders).",
)
class ReminderPolicyType:
    offsets_minutes: list[int] = strawberry.field(
        description="Minutes before the start, one session.reminder each, latest first."
    )
    feedback_request_delay_minutes: int
    version: int = strawberry.field(description="0 while the app has never set its policy.")
    updated_at: datetime | None

    @classmethod
    def from_model(cls, policy: ReminderPolicy) -> "ReminderPolicyType":
        read = ReminderPolicyRead.from_model(policy)
        return cls(**read.model_dump())


@strawberry.enum(name="ReminderOffsetsSource")
class SourceEnum(Enum):
    MENTOR = OffsetsSource.mentor.value
    APP = OffsetsSource.app.value


@strawberry.type(name="MentorReminders", description="The reminder offsets of a mentor.")
class MentorRemindersType:
    mentor_id: strawberry.ID
    offsets_minutes: list[int]
    source: SourceEnum = strawberry.field(
        description="MENTOR: the mentor's own; APP: the app's policy (none of their own)."
    )
    version: int = strawberry.field(description="0 while the mentor has none of their own.")
    updated_at: datetime | None

    @classmethod
    def build(
        cls, mentor_id: str, found: tuple[MentorReminderPolicy | None, ReminderPolicy]
    ) -> "MentorRemindersType":
        read = MentorRemindersRead.build(mentor_id, *found)
        return cls(
            mentor_id=strawberry.ID(read.mentor_id),
            offsets_minutes=read.offsets_minutes,
            source=SourceEnum(read.source.value),
            version=read.version,
            updated_at=read.updated_at,
        )


@strawberry.input(description="The whole policy (replaced, as PUT does); defaults if left out.")
class ReminderPolicyInput:
    offsets_minutes: list[int] | None = strawberry.UNSET
    feedback_request_delay_minutes: int | None = strawberry.UNSET


@strawberry.input
class MentorRemindersInput:
    offsets_minutes: list[int]


@strawberry.type
class Query:
    @strawberry.field(description="The app's reminder policy (the defaults, version 0, if unset).")
    async def reminder_policy(self, info: Info) -> ReminderPolicyType:
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            policy = await service.get_policy(
                db_session=db_session, app_id=app_id, actor=await info.context.caller()
            )
        return ReminderPolicyType.from_model(policy)

    @strawberry.field(description="The reminder offsets that apply to one mentor's sessions.")
    async def mentor_reminders(self, info: Info, mentor_id: strawberry.ID) -> MentorRemindersType:
        checked = typed_id(mentor_id, "mtr", argument="mentorId")
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            found = await service.get_mentor_reminders(
                db_session=db_session,
                app_id=app_id,
                actor=await info.context.caller(),
                mentor_id=checked,
            )
        return MentorRemindersType.build(checked, found)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Replace the app's reminder policy (PUT /v1/app/reminders); it applies at "
        "once to every booked session still to come."
    )
    async def set_reminder_policy(
        self,
        info: Info,
        input: ReminderPolicyInput,
        expected_version: Annotated[int | None, EXPECTED_VERSION] = None,
    ) -> ReminderPolicyType:
        data = validate(ReminderPolicyPut, input)
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            policy = await service.put_policy(
                db_session=db_session,
                app_id=app_id,
                actor=await info.context.caller(),
                data=data,
                expected_version=expected_version,
            )
        return ReminderPolicyType.from_model(policy)

    @strawberry.mutation(description="Give one mentor's sessions their own reminder offsets.")
    async def set_mentor_reminders(
        self,
        info: Info,
        mentor_id: strawberry.ID,
        input: MentorRemindersInput,
        expected_version: Annotated[int | None, EXPECTED_VERSION] = None,
    ) -> MentorRemindersType:
        checked = typed_id(mentor_id, "mtr", argument="mentorId")
        data = validate(MentorRemindersPut, input)
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            found = await service.put_mentor_reminders(
                db_session=db_session,
                app_id=app_id,
                actor=await info.context.caller(),
                mentor_id=checked,
                data=data,
                expected_version=expected_version,
            )
        return MentorRemindersType.build(checked, found)

    @strawberry.mutation(
        description="Let one mentor's sessions follow the app's offsets again; returns them."
    )
    async def clear_mentor_reminders(
        self,
        info: Info,
        mentor_id: strawberry.ID,
        expected_version: Annotated[int | None, EXPECTED_VERSION] = None,
    ) -> MentorRemindersType:
        checked = typed_id(mentor_id, "mtr", argument="mentorId")
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            found = await service.clear_mentor_reminders(
                db_session=db_session,
                app_id=app_id,
                actor=await info.context.caller(),
                mentor_id=checked,
                expected_version=expected_version,
            )
        return MentorRemindersType.build(checked, found)
