"""GraphQL face of sessions: sessions, series, notes and action items over sessions.service,
and subscriptions fed by the committed `session.*` events (graphql/feed.py). No rules here."""

import asyncio
from collections.abc import AsyncGenerator
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from mentorapi.apps.caller import acts_as_mentee
from mentorapi.graphql.context import Info, SocketClosed
from mentorapi.graphql.feed import SessionEvent, mentee_topic, mentor_topic, session_topic
from mentorapi.graphql.inputs import as_dict, typed_id, validate
from mentorapi.graphql.loaders import Loaders
from mentorapi.graphql.pubsub import Gap, GapReason
from mentorapi.graphql.relay import AFTER_DESCRIPTION, FIRST_DESCRIPTION, Connection, page_args
from mentorapi.kit.pagination import DEFAULT_LIMIT
from mentorapi.mentees.gql import MenteeType
from mentorapi.mentors.gql import FormatEnum, MentorType, mentor_objects
from mentorapi.sessions import follow, service
from mentorapi.sessions.models import (
    ActionItem,
    CancelledBy,
    Series,
    SeriesStatus,
    Session,
    SessionNote,
    SessionStatus,
)
from mentorapi.sessions.schemas import (
    ActionItemCreate,
    ActionItemRead,
    ActionItemUpdate,
    Cancel,
    Complete,
    Decline,
    NotesPut,
    Reschedule,
    SeriesCancel,
    SeriesCreate,
    SessionCreate,
    SessionListArgs,
    SessionRead,
)
from mentorapi.skills.gql import SkillType

if TYPE_CHECKING:
    from mentorapi.feedback.gql import FeedbackType


@strawberry.enum(name="SessionStatus")
class StatusEnum(Enum):
    REQUESTED = SessionStatus.requested.value
    BOOKED = SessionStatus.booked.value
    DECLINED = SessionStatus.declined.value
    CANCELLED = SessionStatus.cancelled.value
    EXPIRED = SessionStatus.expired.value
    COMPLETED = SessionStatus.completed.value
    NO_SHOW = SessionStatus.no_show.value


@strawberry.enum(name="SessionSide")
class SideEnum(Enum):
    MENTEE = CancelledBy.mentee.value
    MENTOR = CancelledBy.mentor.value


@strawberry.enum(name="SeriesStatus")
class SeriesStatusEnum(Enum):
    ACTIVE = SeriesStatus.active.value
    CANCELLED = SeriesStatus.cancelled.value


@strawberry.type(description="A time a session had before it was moved.")
class PastTime:
    starts_at: datetime
    ends_at: datetime
    at: datetime


@strawberry.type(name="Session", description="A short, focused mentoring session.")
class SessionType:
    id: strawberry.ID
    mentor_id: strawberry.ID
    mentee_id: strawberry.ID
    status: StatusEnum
    topic: str = strawberry.field(description="The ask: what the mentee wants out of it.")
    questions: list[str]
    skill_id: strawberry.ID
    format: FormatEnum
    duration_minutes: int
    starts_at: datetime | None
    ends_at: datetime | None
    series_id: strawberry.ID | None
    rescheduled_from: datetime | None
    history: list[PastTime]
    cancelled_by: SideEnum | None
    cancel_reason: str | None
    decline_reason: str | None
    completion_note: str | None
    expires_at: datetime | None
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

    @strawberry.field(
        description="Null for a member who is not this mentee (profiles are private)."
    )
    async def mentee(self, info: Info) -> MenteeType | None:
        if not acts_as_mentee(await info.context.caller(), self.mentee_id):
            return None
        mentee = await info.context.loaders.mentee.load(self.mentee_id)
        return MenteeType.from_model(mentee) if mentee else None

    @strawberry.field
    async def skill(self, info: Info) -> SkillType | None:
        skill = await info.context.loaders.skill.load(self.skill_id)
        return SkillType.from_model(skill) if skill else None

    @strawberry.field(description="The feedback on this session that the caller may read.")
    async def feedback(
        self, info: Info
    ) -> list[Annotated["FeedbackType", strawberry.lazy("mentorapi.feedback.gql")]]:
        from mentorapi.feedback.gql import FeedbackType

        rows = await info.context.loaders.session_feedback.load(self.id)
        return [FeedbackType.from_model(f) for f in rows]

    @strawberry.field
    async def series(self, info: Info) -> "SeriesType | None":
        if self.series_id is None:
            return None
        series = await info.context.loaders.series.load(self.series_id)
        return SeriesType.from_model(series) if series else None

    @classmethod
    def from_read(cls, read: SessionRead) -> "SessionType":
        return cls(
            id=strawberry.ID(read.id),
            mentor_id=strawberry.ID(read.mentor_id),
            mentee_id=strawberry.ID(read.mentee_id),
            status=StatusEnum(read.status),
            topic=read.topic,
            questions=list(read.questions),
            skill_id=strawberry.ID(read.skill_id),
            format=FormatEnum(read.format.value),
            duration_minutes=read.duration_minutes,
            starts_at=read.starts_at,
            ends_at=read.ends_at,
            series_id=strawberry.ID(read.series_id) if read.series_id else None,
            rescheduled_from=read.rescheduled_from,
            history=[
                PastTime(starts_at=h.starts_at, ends_at=h.ends_at, at=h.at) for h in read.history
            ],
            cancelled_by=SideEnum(read.cancelled_by.value) if read.cancelled_by else None,
            cancel_reason=read.cancel_reason,
            decline_reason=read.decline_reason,
            completion_note=read.completion_note,
            expires_at=read.expires_at,
            version=read.version,
            created_at=read.created_at,
            updated_at=read.updated_at,
        )

    @classmethod
    def from_model(cls, session: Session) -> "SessionType":
        return cls.from_read(SessionRead.from_model(session))


@strawberry.type(name="Series", description="A weekly series of sessions.")
class SeriesType:
    id: strawberry.ID
    mentor_id: strawberry.ID
    mentee_id: strawberry.ID
    count: int
    interval_weeks: int
    status: SeriesStatusEnum
    version: int
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="The occurrences, in time order.")
    async def sessions(self, info: Info) -> list[SessionType]:
        rows = await info.context.loaders.series_sessions.load(self.id)
        return [SessionType.from_model(s) for s in rows]

    @classmethod
    def from_model(cls, series: Series) -> "SeriesType":
        return cls(
            id=strawberry.ID(series.id),
            mentor_id=strawberry.ID(series.mentor_id),
            mentee_id=strawberry.ID(series.mentee_id),
            count=series.count,
            interval_weeks=series.interval_weeks,
            status=SeriesStatusEnum(series.status),
            version=series.version,
            created_at=series.created_at,
            updated_at=series.updated_at,
        )


@strawberry.type(name="SessionNotes", description="The mentee's private notes on a session.")
class NotesType:
    session_id: strawberry.ID
    notes: str
    takeaways: list[str]
    version: int = strawberry.field(description="0 while there are none.")
    updated_at: datetime | None

    @classmethod
    def from_model(cls, note: SessionNote) -> "NotesType":
        return cls(
            session_id=strawberry.ID(note.session_id),
            notes=note.notes,
            takeaways=list(note.takeaways),
            version=note.version,
            updated_at=note.updated_at,
        )


@strawberry.type(name="ActionItem", description="A follow-up to do after a session.")
class ActionItemType:
    id: strawberry.ID
    session_id: strawberry.ID
    text: str
    due_on: date | None
    done: bool
    done_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, item: ActionItem) -> "ActionItemType":
        read = ActionItemRead.from_model(item)
        return cls(
            id=strawberry.ID(read.id),
            session_id=strawberry.ID(read.session_id),
            text=read.text,
            due_on=read.due_on,
            done=read.done,
            done_at=read.done_at,
            version=read.version,
            created_at=read.created_at,
            updated_at=read.updated_at,
        )


GAP_TYPE = "subscription.gap"


@strawberry.enum(
    name="SubscriptionGapReason",
    description="Why messages were lost: SLOW_SUBSCRIBER, this subscription read too slowly and "
    "its oldest messages were dropped; FEED_INTERRUPTED, the server lost its feed of changes "
    "for a while (its database connection) and cannot say what it missed.",
)
class GapReasonEnum(Enum):
    SLOW_SUBSCRIBER = GapReason.slow_subscriber.value
    FEED_INTERRUPTED = GapReason.feed_interrupted.value


@strawberry.type(
    name="SubscriptionGap",
    description="What a gap marker stands for: messages this subscription lost just before it.",
)
class SubscriptionGapType:
    reason: GapReasonEnum
    missed: int | None = strawberry.field(
        description="How many messages were lost; null when the server cannot count them."
    )


@strawberry.type(
    description="One committed change of a session (the same as its webhook), its start or end "
    "(session.started, session.ended, at their times; reminders go to webhooks only), or a gap "
    "marker. "
    "A gap marker has `gap` set, `type` `subscription.gap`, and `eventId`, `session` and "
    "`previous` null: changes were lost between the message before it and the one after (the "
    "subscriber fell behind, or the server lost its feed for a while). Nothing is lost without "
    "one; on a marker, read the sessions you follow again (query `session` or `sessions`), then "
    "keep reading: the messages after it are live. Every other message has `gap` null and "
    "`eventId` and `session` set; a subscription hears each change once, in commit order."
)
class SessionChange:
    event_id: strawberry.ID | None = strawberry.field(description="Null on a gap marker only.")
    type: str = strawberry.field(
        description="The event type, e.g. session.booked; subscription.gap on a gap marker."
    )
    session: SessionType | None = strawberry.field(description="Null on a gap marker only.")
    previous: JSON | None = strawberry.field(
        description="The fields this change altered, with their values before it."
    )
    gap: SubscriptionGapType | None = strawberry.field(
        default=None, description="Set on a gap marker only: what was lost, and why."
    )

    @classmethod
    def from_event(cls, found: SessionEvent) -> "SessionChange":
        return cls(
            event_id=strawberry.ID(found.id),
            type=found.type,
            session=SessionType.from_read(SessionRead.model_validate(found.data)),
            previous=found.data.get("previous"),
        )

    @classmethod
    def from_gap(cls, gap: Gap) -> "SessionChange":
        return cls(
            event_id=None,
            type=GAP_TYPE,
            session=None,
            previous=None,
            gap=SubscriptionGapType(reason=GapReasonEnum(gap.reason.value), missed=gap.missed),
        )


# --- inputs ------------------------------------------------------------------------------------


@strawberry.input(description="The ask and the slot, as POST /v1/sessions.")
class BookSessionInput:
    mentor_id: strawberry.ID
    mentee_id: strawberry.ID
    topic: str
    skill_id: strawberry.ID
    format: FormatEnum
    duration_minutes: int
    questions: list[str] | None = strawberry.UNSET
    starts_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="A free slot; omit for ASYNC sessions only."
    )


@strawberry.input(description="A booking plus how many and how often, as POST /v1/series.")
class CreateSeriesInput(BookSessionInput):
    count: int = strawberry.field(description="2-26, the first included.")
    interval_weeks: int | None = strawberry.UNSET


@strawberry.input
class SessionFilter:
    mentor_id: strawberry.ID | None = None
    mentee_id: strawberry.ID | None = None
    status: list[StatusEnum] | None = None
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Sessions starting at or after."
    )
    to: datetime | None = strawberry.field(default=None, description="Sessions starting before.")


@strawberry.input
class ActionItemInput:
    text: str
    due_on: date | None = strawberry.UNSET


@strawberry.input(description="Fields to change; leave one out to keep it.")
class UpdateActionItemInput:
    text: str | None = strawberry.UNSET
    due_on: date | None = strawberry.UNSET
    done: bool | None = strawberry.UNSET


def _set(**fields: Any) -> dict[str, Any]:
    """Arguments a client gave (None = left out), as a body for a REST schema."""
    return {k: v for k, v in fields.items() if v is not None}


ExpectedVersion = Annotated[int | None, strawberry.argument(description="Like REST's If-Match.")]


# --- operations --------------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field
    async def session(self, info: Info, id: strawberry.ID) -> SessionType:
        session_id = typed_id(id, "ses")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            session = await service.get(
                db_session=db_session, app_id=app_id, actor=actor, session_id=session_id
            )
        return SessionType.from_model(session)

    @strawberry.field(
        description="Sessions, oldest booking first (the filters of GET /v1/sessions)."
    )
    async def sessions(
        self,
        info: Info,
        filter: SessionFilter | None = None,
        first: Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)] = DEFAULT_LIMIT,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[SessionType]:
        page = page_args(first, after)
        args = validate(SessionListArgs, filter or {}, argument="filter")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            sessions, cursor = await service.list_sessions(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                page=page,
                mentor_id=args.mentor_id,
                mentee_id=args.mentee_id,
                statuses=args.status,
                starts_from=args.from_,
                starts_before=args.to,
            )
        return Connection[SessionType].build(
            sessions,
            cursor,
            node=SessionType.from_model,
            sort="created",
            key=lambda s: [s.id],
            info=info,
        )

    @strawberry.field
    async def series(self, info: Info, id: strawberry.ID) -> SeriesType:
        series_id = typed_id(id, "ser")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            series, sessions = await service.get_series(
                db_session=db_session, app_id=app_id, actor=actor, series_id=series_id
            )
        info.context.loaders.series_sessions.prime(series.id, sessions, force=True)
        return SeriesType.from_model(series)

    @strawberry.field(description="The mentee's private notes on a session.")
    async def session_notes(self, info: Info, session_id: strawberry.ID) -> NotesType:
        checked = typed_id(session_id, "ses", argument="sessionId")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            note = await service.get_notes(
                db_session=db_session, app_id=app_id, actor=actor, session_id=checked
            )
        return NotesType.from_model(note)

    @strawberry.field(description="A session's follow-up action items.")
    async def action_items(self, info: Info, session_id: strawberry.ID) -> list[ActionItemType]:
        checked = typed_id(session_id, "ses", argument="sessionId")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            items = await service.list_action_items(
                db_session=db_session, app_id=app_id, actor=actor, session_id=checked
            )
        return [ActionItemType.from_model(i) for i in items]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="BOOKED when the mentor auto-accepts, else REQUESTED; CONFLICT when the slot "
        "is not free."
    )
    async def book_session(self, info: Info, input: BookSessionInput) -> SessionType:
        data = validate(SessionCreate, as_dict(input))
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            session = await service.book(
                db_session=db_session, app_id=app_id, actor=actor, data=data
            )
        return SessionType.from_model(session)

    @strawberry.mutation
    async def accept_session(
        self, info: Info, id: strawberry.ID, expected_version: ExpectedVersion = None
    ) -> SessionType:
        session_id = typed_id(id, "ses")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            session = await service.accept(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                session_id=session_id,
                expected_version=expected_version,
            )
        return SessionType.from_model(session)

    @strawberry.mutation
    async def decline_session(
        self,
        info: Info,
        id: strawberry.ID,
        reason: str | None = None,
        expected_version: ExpectedVersion = None,
    ) -> SessionType:
        session_id = typed_id(id, "ses")
        data = validate(Decline, _set(reason=reason), argument=None)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            session = await service.decline(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                session_id=session_id,
                data=data,
                expected_version=expected_version,
            )
        return SessionType.from_model(session)

    @strawberry.mutation(description="Move a session to another free slot; the status stays.")
    async def reschedule_session(
        self,
        info: Info,
        id: strawberry.ID,
        starts_at: datetime,
        expected_version: ExpectedVersion = None,
    ) -> SessionType:
        session_id = typed_id(id, "ses")
        data = validate(Reschedule, {"starts_at": starts_at}, argument=None)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            session = await service.reschedule(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                session_id=session_id,
                starts_at=data.starts_at,
                expected_version=expected_version,
            )
        return SessionType.from_model(session)

    @strawberry.mutation
    async def cancel_session(
        self,
        info: Info,
        id: strawberry.ID,
        by: SideEnum,
        reason: str | None = None,
        expected_version: ExpectedVersion = None,
    ) -> SessionType:
        session_id = typed_id(id, "ses")
        data = validate(Cancel, _set(by=by, reason=reason), argument=None)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            session = await service.cancel(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                session_id=session_id,
                data=data,
                expected_version=expected_version,
            )
        return SessionType.from_model(session)

    @strawberry.mutation
    async def complete_session(
        self,
        info: Info,
        id: strawberry.ID,
        note: str | None = None,
        expected_version: ExpectedVersion = None,
    ) -> SessionType:
        session_id = typed_id(id, "ses")
        data = validate(Complete, _set(note=note), argument=None)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            session = await service.complete(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                session_id=session_id,
                data=data,
                expected_version=expected_version,
            )
        return SessionType.from_model(session)

    @strawberry.mutation
    async def mark_no_show(
        self, info: Info, id: strawberry.ID, expected_version: ExpectedVersion = None
    ) -> SessionType:
        session_id = typed_id(id, "ses")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            session = await service.no_show(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                session_id=session_id,
                expected_version=expected_version,
            )
        return SessionType.from_model(session)

    @strawberry.mutation(
        description="All or nothing: CONFLICT lists every conflicting occurrence in "
        "extensions.conflicts."
    )
    async def create_series(self, info: Info, input: CreateSeriesInput) -> SeriesType:
        data = validate(SeriesCreate, as_dict(input))
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            series, sessions = await service.create_series(
                db_session=db_session, app_id=app_id, actor=actor, data=data
            )
        info.context.loaders.series_sessions.prime(series.id, sessions, force=True)
        return SeriesType.from_model(series)

    @strawberry.mutation(description="Cancel every occurrence still to come.")
    async def cancel_series(
        self,
        info: Info,
        id: strawberry.ID,
        by: SideEnum,
        reason: str | None = None,
        expected_version: ExpectedVersion = None,
    ) -> SeriesType:
        series_id = typed_id(id, "ser")
        data = validate(SeriesCancel, _set(by=by, reason=reason), argument=None)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            series, sessions = await service.cancel_series(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                series_id=series_id,
                data=data,
                expected_version=expected_version,
            )
        info.context.loaders.series_sessions.prime(series.id, sessions, force=True)
        return SeriesType.from_model(series)

    @strawberry.mutation(description="Replace the mentee's private notes and takeaways.")
    async def put_session_notes(
        self,
        info: Info,
        session_id: strawberry.ID,
        notes: str | None = None,
        takeaways: list[str] | None = None,
        expected_version: ExpectedVersion = None,
    ) -> NotesType:
        checked = typed_id(session_id, "ses", argument="sessionId")
        data = validate(NotesPut, _set(notes=notes, takeaways=takeaways), argument=None)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            note = await service.put_notes(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                session_id=checked,
                data=data,
                expected_version=expected_version,
            )
        return NotesType.from_model(note)

    @strawberry.mutation
    async def add_action_item(
        self, info: Info, session_id: strawberry.ID, input: ActionItemInput
    ) -> ActionItemType:
        checked = typed_id(session_id, "ses", argument="sessionId")
        data = validate(ActionItemCreate, input)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            item = await service.add_action_item(
                db_session=db_session, app_id=app_id, actor=actor, session_id=checked, data=data
            )
        return ActionItemType.from_model(item)

    @strawberry.mutation(description="Change an action item, or mark it done / undone.")
    async def update_action_item(
        self,
        info: Info,
        session_id: strawberry.ID,
        id: strawberry.ID,
        input: UpdateActionItemInput,
        expected_version: ExpectedVersion = None,
    ) -> ActionItemType:
        checked = typed_id(session_id, "ses", argument="sessionId")
        item_id = typed_id(id, "act")
        data = validate(ActionItemUpdate, input)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            item = await service.update_action_item(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                session_id=checked,
                item_id=item_id,
                data=data,
                expected_version=expected_version,
            )
        return ActionItemType.from_model(item)


async def _changes(info: Info, topic: str) -> AsyncGenerator[SessionChange, None]:
    # The authorizing read ran in the connection's session: end that transaction now (reads
    # only), so an idle subscription holds no transaction (on SQLite: no write lock).
    await info.context.finish(commit=False)
    async with info.context.pubsub.subscribe(topic) as messages:
        async for found in messages:
            try:
                # The credential may have lapsed or been revoked since the last message.
                await info.context.close_unless_admitted()
            except SocketClosed:
                # Closed with 4401: the socket's handler cancels every operation on it as soon
                # as the close completes (the server bounds that wait); nothing more to send.
                await asyncio.sleep(SocketClosed.WAIT_SECONDS)
                return
            # Fresh loaders per message: nested fields show the data as it is now, not as the
            # connection first saw it.
            info.context.loaders = Loaders(info.context)
            if isinstance(found, Gap):
                yield SessionChange.from_gap(found)
                continue
            yield SessionChange.from_event(found)
            await info.context.finish(commit=False)  # the nested fields' reads, likewise


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every committed change of one session (the API key, or a member taking part)."
    )
    async def session_updated(
        self, info: Info, session_id: strawberry.ID
    ) -> AsyncGenerator[SessionChange, None]:
        checked = typed_id(session_id, "ses", argument="sessionId")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            await follow.authorize_session(
                db_session=db_session, app_id=app_id, actor=actor, session_id=checked
            )
        async for change in _changes(info, session_topic(app_id, checked)):
            yield change

    @strawberry.subscription(
        description="Every committed change of any session of one mentor or one mentee (give "
        "exactly one; a member follows only their own)."
    )
    async def sessions_changed(
        self,
        info: Info,
        mentor_id: strawberry.ID | None = None,
        mentee_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[SessionChange, None]:
        mentor = typed_id(mentor_id, "mtr", argument="mentorId") if mentor_id else None
        mentee = typed_id(mentee_id, "mte", argument="menteeId") if mentee_id else None
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            await follow.authorize_calendar(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                mentor_id=mentor,
                mentee_id=mentee,
            )
        topic = mentor_topic(app_id, mentor) if mentor else mentee_topic(app_id, mentee or "")
        async for change in _changes(info, topic):
            yield change
