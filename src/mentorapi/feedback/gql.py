"""GraphQL face of feedback: ratings, impact and later impact updates over feedback.service
(no rules here)."""

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from mentorapi.feedback import service
from mentorapi.feedback.models import Author, Feedback, Visibility, editable_until
from mentorapi.feedback.schemas import (
    FeedbackCreate,
    FeedbackUpdate,
    GroupFeedbackCreate,
    ImpactUpdateCreate,
)
from mentorapi.feedback.service import FeedbackView
from mentorapi.graphql.context import Info
from mentorapi.graphql.inputs import as_dict, typed_id, validate
from mentorapi.graphql.relay import AFTER_DESCRIPTION, FIRST_DESCRIPTION, Connection, page_args
from mentorapi.kit.pagination import DEFAULT_LIMIT


@strawberry.enum(name="FeedbackAuthor")
class AuthorEnum(Enum):
    MENTEE = Author.mentee.value
    MENTOR = Author.mentor.value


@strawberry.enum(name="FeedbackVisibility")
class VisibilityEnum(Enum):
    MENTOR = Visibility.mentor.value
    PUBLIC = Visibility.public.value


def _id(value: str | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(value)


@strawberry.type
class ImpactUpdate:
    id: strawberry.ID
    text: str
    occurred_on: date | None
    created_at: datetime


@strawberry.type(
    name="Feedback",
    description="What a session (or a seat of a group session) changed, in one side's words.",
)
class FeedbackType:
    id: strawberry.ID
    session_id: strawberry.ID | None = strawberry.field(
        description="Null for feedback on a group session's seat."
    )
    group_session_id: strawberry.ID | None = strawberry.field(
        description="Null for feedback on a one-to-one session."
    )
    seat_id: strawberry.ID | None
    mentor_id: strawberry.ID
    mentee_id: strawberry.ID
    author: AuthorEnum
    rating: int | None
    impact: str
    takeaways: list[str]
    thanks: str
    note: str
    visibility: VisibilityEnum
    editable_until: datetime
    version: int
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="Later words on what the advice changed, oldest first.")
    async def impact_updates(self, info: Info) -> list[ImpactUpdate]:
        rows = await info.context.loaders.impact_updates.load(self.id)
        return [
            ImpactUpdate(
                id=strawberry.ID(u.id),
                text=u.text,
                occurred_on=u.occurred_on,
                created_at=u.created_at,
            )
            for u in rows
        ]

    @classmethod
    def from_model(cls, feedback: Feedback) -> "FeedbackType":
        return cls(
            id=strawberry.ID(feedback.id),
            session_id=_id(feedback.session_id),
            group_session_id=_id(feedback.group_session_id),
            seat_id=_id(feedback.seat_id),
            mentor_id=strawberry.ID(feedback.mentor_id),
            mentee_id=strawberry.ID(feedback.mentee_id),
            author=AuthorEnum(feedback.author),
            rating=feedback.rating,
            impact=feedback.impact,
            takeaways=list(feedback.takeaways),
            thanks=feedback.thanks,
            note=feedback.note,
            visibility=VisibilityEnum(feedback.visibility),
            editable_until=editable_until(feedback),
            version=feedback.version,
            created_at=feedback.created_at,
            updated_at=feedback.updated_at,
        )


def _node(info: Info, view: FeedbackView) -> FeedbackType:
    info.context.loaders.impact_updates.prime(view.feedback.id, view.updates, force=True)
    return FeedbackType.from_model(view.feedback)


@strawberry.input(description="As POST /v1/sessions/{id}/feedback.")
class SubmitFeedbackInput:
    author: AuthorEnum
    rating: int | None = strawberry.UNSET
    impact: str | None = strawberry.UNSET
    takeaways: list[str] | None = strawberry.UNSET
    thanks: str | None = strawberry.UNSET
    note: str | None = strawberry.UNSET
    visibility: VisibilityEnum | None = strawberry.UNSET


@strawberry.input(description="As POST /v1/group-sessions/{id}/feedback.")
class SubmitGroupSessionFeedbackInput:
    author: AuthorEnum
    mentee_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Whose seat: required from the mentor and with the API key.",
    )
    rating: int | None = strawberry.UNSET
    impact: str | None = strawberry.UNSET
    takeaways: list[str] | None = strawberry.UNSET
    thanks: str | None = strawberry.UNSET
    note: str | None = strawberry.UNSET
    visibility: VisibilityEnum | None = strawberry.UNSET


@strawberry.input(description="Fields to change; leave one out to keep it.")
class UpdateFeedbackInput:
    rating: int | None = strawberry.UNSET
    impact: str | None = strawberry.UNSET
    takeaways: list[str] | None = strawberry.UNSET
    thanks: str | None = strawberry.UNSET
    note: str | None = strawberry.UNSET
    visibility: VisibilityEnum | None = strawberry.UNSET


@strawberry.input
class ImpactUpdateInput:
    text: str
    occurred_on: date | None = strawberry.UNSET


def _no_nulls(data: dict[str, object]) -> dict[str, object]:
    # FeedbackCreate has defaults, not nulls: null means "the default", as left out.
    return {k: v for k, v in data.items() if v is not None}


@strawberry.type
class Query:
    @strawberry.field
    async def feedback(self, info: Info, id: strawberry.ID) -> FeedbackType:
        feedback_id = typed_id(id, "fbk")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.get(
                db_session=db_session, app_id=app_id, actor=actor, feedback_id=feedback_id
            )
        return _node(info, view)

    @strawberry.field(description="The feedback on a session, from both sides.")
    async def session_feedback(self, info: Info, session_id: strawberry.ID) -> list[FeedbackType]:
        checked = typed_id(session_id, "ses", argument="sessionId")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            views = await service.for_session(
                db_session=db_session, app_id=app_id, actor=actor, session_id=checked
            )
        return [_node(info, v) for v in views]

    @strawberry.field(description="A mentor's public feedback, newest first.")
    async def mentor_feedback(
        self,
        info: Info,
        mentor_id: strawberry.ID,
        first: Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)] = DEFAULT_LIMIT,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[FeedbackType]:
        checked = typed_id(mentor_id, "mtr", argument="mentorId")
        page = page_args(first, after)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            views, cursor = await service.public_for_mentor(
                db_session=db_session, app_id=app_id, actor=actor, mentor_id=checked, page=page
            )
        return Connection[FeedbackType].build(
            views,
            cursor,
            node=lambda v: _node(info, v),
            sort="-created",
            key=lambda v: [v.feedback.id],
            info=info,
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Feedback on a completed session (one per author).")
    async def submit_feedback(
        self, info: Info, session_id: strawberry.ID, input: SubmitFeedbackInput
    ) -> FeedbackType:
        checked = typed_id(session_id, "ses", argument="sessionId")
        data = validate(FeedbackCreate, _no_nulls(as_dict(input)))
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.submit(
                db_session=db_session, app_id=app_id, actor=actor, session_id=checked, data=data
            )
        return _node(info, view)

    @strawberry.mutation(
        description="Feedback on a taken seat of a completed group session (one per seat and "
        "author). CONFLICT (with `group_session_status`) while the group session is not "
        "completed, a cancelled one included, as `submitFeedback` for a session."
    )
    async def submit_group_session_feedback(
        self, info: Info, group_session_id: strawberry.ID, input: SubmitGroupSessionFeedbackInput
    ) -> FeedbackType:
        checked = typed_id(group_session_id, "grp", argument="groupSessionId")
        data = validate(GroupFeedbackCreate, _no_nulls(as_dict(input)))
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.submit_for_group(
                db_session=db_session, app_id=app_id, actor=actor, group_id=checked, data=data
            )
        return _node(info, view)

    @strawberry.mutation(description="Edit feedback (within 7 days of giving it).")
    async def update_feedback(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateFeedbackInput,
        expected_version: Annotated[
            int | None, strawberry.argument(description="Like REST's If-Match.")
        ] = None,
    ) -> FeedbackType:
        feedback_id = typed_id(id, "fbk")
        data = validate(FeedbackUpdate, input)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.update(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                feedback_id=feedback_id,
                data=data,
                expected_version=expected_version,
            )
        return _node(info, view)

    @strawberry.mutation(description="A later word on what the advice changed.")
    async def add_impact_update(
        self, info: Info, feedback_id: strawberry.ID, input: ImpactUpdateInput
    ) -> FeedbackType:
        checked = typed_id(feedback_id, "fbk", argument="feedbackId")
        data = validate(ImpactUpdateCreate, input)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.add_impact_update(
                db_session=db_session, app_id=app_id, actor=actor, feedback_id=checked, data=data
            )
        return _node(info, view)
