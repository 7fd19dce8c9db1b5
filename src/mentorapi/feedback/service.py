"""Feedback on completed sessions and on the seats of completed group sessions, impact
updates, and the mentor stats they feed.

A feedback row is on one subject: a one-to-one session, or one taken seat of a group session
(its mentee and the group session's mentor are the two sides, as a session's are). Every rule
after that is the same for both: one per author per subject, only once the subject completed,
the mentee's rating counted in the mentor's stats, `feedback.submitted` in the transaction,
that party's `feedback.requested` taken off the queue."""

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import (
    Caller,
    Role,
    is_participant,
    require_participant,
    require_party,
)
from mentorapi.db.integrity import flush_or_conflict
from mentorapi.feedback import repository
from mentorapi.feedback.models import Author, Feedback, ImpactUpdate, Visibility, editable_until
from mentorapi.feedback.schemas import (
    MENTEE_ONLY,
    MENTOR_ONLY,
    FeedbackCreate,
    FeedbackRead,
    FeedbackUpdate,
    GroupFeedbackCreate,
    ImpactUpdateCreate,
    ImpactUpdateRead,
)
from mentorapi.group_sessions import repository as group_sessions_repository
from mentorapi.kit.errors import Conflict, InvalidInput, NotFound
from mentorapi.kit.pagination import PageRequest
from mentorapi.kit.timezones import utcnow
from mentorapi.kit.versioning import check_version
from mentorapi.mentors import service as mentors_service
from mentorapi.reminders import service as reminders_service
from mentorapi.sessions import repository as sessions_repository
from mentorapi.sessions.models import SessionStatus
from mentorapi.webhooks import outbox
from mentorapi.webhooks.models import EventType


@dataclass
class FeedbackView:
    feedback: Feedback
    updates: list[ImpactUpdate]


def _json(view: FeedbackView) -> dict[str, object]:
    return FeedbackRead.from_model(view.feedback, view.updates).model_dump(mode="json")


async def _views(db_session: AsyncSession, app_id: str, rows: list[Feedback]) -> list[FeedbackView]:
    updates = await repository.updates_for(db_session, app_id, [f.id for f in rows])
    return [FeedbackView(f, updates.get(f.id, [])) for f in rows]


async def _get(db_session: AsyncSession, app_id: str, actor: Caller, feedback_id: str) -> Feedback:
    feedback = await repository.get(db_session, app_id, feedback_id)
    if feedback is None or not _may_read(actor, feedback):
        raise NotFound(f"no feedback {feedback_id}")
    return feedback


def _may_read(actor: Caller, feedback: Feedback) -> bool:
    """Public feedback is for everyone in the app; the rest for the two people and the app."""
    public = feedback.visibility == Visibility.public.value and feedback.author == Author.mentee
    return public or is_participant(
        actor, mentor_id=feedback.mentor_id, mentee_id=feedback.mentee_id
    )


def readable(actor: Caller, rows: list[Feedback]) -> list[Feedback]:
    """The rows this caller may read (for nested lists, where a hidden row is simply left out)."""
    return [f for f in rows if _may_read(actor, f)]


def _require_author(actor: Caller, feedback: Feedback, action: str) -> None:
    require_party(
        actor,
        Role(feedback.author),
        mentor_id=feedback.mentor_id,
        mentee_id=feedback.mentee_id,
        not_found=f"no feedback {feedback.id}",
        action=action,
    )


async def get(
    *, db_session: AsyncSession, app_id: str, actor: Caller, feedback_id: str
) -> FeedbackView:
    return (await _views(db_session, app_id, [await _get(db_session, app_id, actor, feedback_id)]))[
        0
    ]


async def for_session(
    *, db_session: AsyncSession, app_id: str, actor: Caller, session_id: str
) -> list[FeedbackView]:
    session = await sessions_repository.get(db_session, app_id, session_id)
    if session is None:
        raise NotFound(f"no session {session_id}")
    require_participant(
        actor,
        mentor_id=session.mentor_id,
        mentee_id=session.mentee_id,
        not_found=f"no session {session_id}",
    )
    return await _views(
        db_session, app_id, await repository.for_session(db_session, app_id, session_id)
    )


async def public_for_mentor(
    *, db_session: AsyncSession, app_id: str, actor: Caller, mentor_id: str, page: PageRequest
) -> tuple[list[FeedbackView], str | None]:
    # Public feedback is what a mentor's profile shows: every caller of the app may read it.
    del actor
    await mentors_service.get(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
    rows, cursor = await repository.public_for_mentor(db_session, app_id, mentor_id, page)
    return await _views(db_session, app_id, rows), cursor


async def for_group_session(
    *, db_session: AsyncSession, app_id: str, actor: Caller, group_id: str
) -> list[FeedbackView]:
    """The feedback on a group session's seats that the caller may read: all of it for the API
    key and the mentor, a mentee's own seat's (and public mentee feedback) for a mentee."""
    group = await group_sessions_repository.get(db_session, app_id, group_id)
    if group is None:
        raise NotFound(f"no group session {group_id}")
    rows = readable(actor, await repository.for_group_session(db_session, app_id, group.id))
    return await _views(db_session, app_id, rows)


def require_completed(subject: str, status: str, *, key: str) -> None:
    """Feedback closes a completed subject (a session, a group session). One that exists in
    another state (requested, scheduled, cancelled, ...) is a 409 naming that state under
    `key`: REST's problem member, GraphQL's CONFLICT extension."""
    # The one value both status enums share (sessions/models.py, group_sessions/models.py).
    if status != SessionStatus.completed.value:
        raise Conflict(
            f"feedback closes a completed {subject}; this one is {status}", extra={key: status}
        )


async def submit(
    *, db_session: AsyncSession, app_id: str, actor: Caller, session_id: str, data: FeedbackCreate
) -> FeedbackView:
    session = await sessions_repository.get(db_session, app_id, session_id)
    if session is None:
        raise NotFound(f"no session {session_id}")
    require_party(
        actor,
        Role(data.author.value),
        mentor_id=session.mentor_id,
        mentee_id=session.mentee_id,
        not_found=f"no session {session_id}",
        action=f"giving the {data.author.value}'s feedback",
    )
    require_completed("session", session.status, key="session_status")
    if await repository.by_author(db_session, app_id, session_id, data.author) is not None:
        raise Conflict(f"the {data.author.value} already gave feedback on this session")
    feedback = Feedback(
        app_id=app_id,
        session_id=session.id,
        mentor_id=session.mentor_id,
        mentee_id=session.mentee_id,
        **data.model_dump(mode="json"),
    )
    return await _give(db_session, feedback, data)


async def submit_for_group(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    group_id: str,
    data: GroupFeedbackCreate,
) -> FeedbackView:
    """Feedback on one taken seat of a completed group session: the seat's mentee's, or the
    mentor's on that mentee (`mentee_id`; a mentee's member token may leave it out)."""
    group = await group_sessions_repository.get(db_session, app_id, group_id)
    if group is None:
        raise NotFound(f"no group session {group_id}")
    mentee_id = data.mentee_id
    if mentee_id is None and data.author is Author.mentee and actor.member is not None:
        mentee_id = actor.member.mentee_id
    if mentee_id is None:
        raise InvalidInput(
            "whose seat: `mentee_id` is required (but from a mentee's own member token)",
            loc=["body", "mentee_id"],
        )
    not_found = f"no taken seat of mentee {mentee_id} in group session {group_id}"
    require_party(
        actor,
        Role(data.author.value),
        mentor_id=group.mentor_id,
        mentee_id=mentee_id,
        not_found=not_found,
        action=f"giving the {data.author.value}'s feedback",
    )
    # The state before the seat, as for a session: a cancelled group session gave its seats
    # back, and "no taken seat" (404) would say it is not there when it is the wrong state.
    require_completed("group session", group.status, key="group_session_status")
    seat = await group_sessions_repository.taken_seat_of(db_session, app_id, group.id, mentee_id)
    if seat is None:
        raise NotFound(not_found)
    if await repository.by_seat_author(db_session, app_id, seat.id, data.author) is not None:
        raise Conflict(f"the {data.author.value} already gave feedback on this seat")
    feedback = Feedback(
        app_id=app_id,
        group_session_id=group.id,
        seat_id=seat.id,
        mentor_id=group.mentor_id,
        mentee_id=seat.mentee_id,
        **data.model_dump(mode="json", exclude={"mentee_id"}),
    )
    return await _give(db_session, feedback, data)


async def _give(db_session: AsyncSession, feedback: Feedback, data: FeedbackCreate) -> FeedbackView:
    """Write new feedback (its subject checked by the caller) and what follows from it, in the
    caller's transaction; a second by the same author on the same subject, even from a racing
    request, is a 409 (the unique constraints)."""
    app_id = feedback.app_id
    db_session.add(feedback)
    await flush_or_conflict(db_session, f"the {data.author.value} already gave feedback")
    await reminders_service.feedback_given(
        db_session,
        app_id,
        data.author.value,
        session_id=feedback.session_id,
        seat_id=feedback.seat_id,
    )
    if data.author is Author.mentee:
        await repository.add_to_mentor_stats(
            db_session,
            app_id,
            feedback.mentor_id,
            ratings=1,
            rating_points=data.rating or 0,
            impact_stories=1 if data.impact else 0,
        )
    view = FeedbackView(feedback, [])
    await outbox.record(
        db_session,
        app_id=app_id,
        type=EventType.feedback_submitted,
        data=_json(view),
        object_id=feedback.id,
    )
    return view


async def update(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    feedback_id: str,
    data: FeedbackUpdate,
    expected_version: int | None = None,
) -> FeedbackView:
    feedback = await _get(db_session, app_id, actor, feedback_id)
    _require_author(actor, feedback, "editing feedback")
    check_version(feedback.version, expected_version, "the feedback")
    if utcnow() > editable_until(feedback):
        raise Conflict(
            "feedback can be edited for 7 days; add an impact update instead",
            extra={"editable_until": editable_until(feedback).isoformat()},
        )
    changes = {
        k: v for k, v in data.model_dump(exclude_unset=True, mode="json").items() if v is not None
    }
    foreign = MENTOR_ONLY if feedback.author == Author.mentee.value else MENTEE_ONLY
    for field in foreign:
        if changes.get(field):
            raise InvalidInput(
                f"a {feedback.author}'s feedback has no {field}", loc=["body", field]
            )
        changes.pop(field, None)
    if feedback.author == Author.mentee.value:
        rating_delta = changes.get("rating", feedback.rating or 0) - (feedback.rating or 0)
        had_impact, has_impact = bool(feedback.impact), bool(changes.get("impact", feedback.impact))
        if rating_delta or had_impact != has_impact:
            await repository.add_to_mentor_stats(
                db_session,
                app_id,
                feedback.mentor_id,
                rating_points=rating_delta,
                impact_stories=int(has_impact) - int(had_impact),
            )
    if changes:
        for field, value in changes.items():
            setattr(feedback, field, value)
        feedback.version += 1
        feedback.updated_at = utcnow()
        db_session.add(feedback)
        await db_session.flush()
    return await get(db_session=db_session, app_id=app_id, actor=actor, feedback_id=feedback_id)


async def add_impact_update(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    feedback_id: str,
    data: ImpactUpdateCreate,
) -> FeedbackView:
    feedback = await _get(db_session, app_id, actor, feedback_id)
    _require_author(actor, feedback, "adding an impact update")
    if feedback.author != Author.mentee.value:
        raise Conflict("impact updates are the mentee's words; this is the mentor's feedback")
    update_row = ImpactUpdate(
        app_id=app_id,
        feedback_id=feedback.id,
        text=data.text,
        occurred_on=data.occurred_on or utcnow().date(),
    )
    db_session.add(update_row)
    await db_session.flush()
    await repository.add_to_mentor_stats(db_session, app_id, feedback.mentor_id, impact_stories=1)
    view = await get(db_session=db_session, app_id=app_id, actor=actor, feedback_id=feedback_id)
    await outbox.record(
        db_session,
        app_id=app_id,
        type=EventType.feedback_impact_added,
        data={
            **_json(view),
            "impact_update": ImpactUpdateRead.model_validate(update_row).model_dump(mode="json"),
        },
        object_id=feedback.id,
    )
    return view
