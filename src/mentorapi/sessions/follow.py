"""Who may follow which sessions as they change (GraphQL subscriptions): the same rules as
reading them. The app's API key follows anything of its app; a member follows only sessions
they take part in, and only their own mentor or mentee calendar."""

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import Caller, require_mentee, require_mentor
from mentorapi.kit.errors import InvalidInput
from mentorapi.mentees import service as mentees_service
from mentorapi.mentors import service as mentors_service
from mentorapi.sessions import service
from mentorapi.sessions.models import Session


async def authorize_session(
    *, db_session: AsyncSession, app_id: str, actor: Caller, session_id: str
) -> Session:
    """The session, if the caller may follow it; NotFound otherwise (as for an unknown id)."""
    # Following is reading, over time: whoever may read the session (sessions.service.get).
    return await service.get(
        db_session=db_session, app_id=app_id, actor=actor, session_id=session_id
    )


async def authorize_calendar(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    mentor_id: str | None = None,
    mentee_id: str | None = None,
) -> None:
    """Following every session of one mentor or of one mentee (exactly one of the two)."""
    if (mentor_id is None) == (mentee_id is None):
        raise InvalidInput("give exactly one of mentorId and menteeId", loc=["mentorId"])
    if mentor_id is not None:
        await mentors_service.get(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
        require_mentor(actor, mentor_id, "following a mentor's sessions")
    elif mentee_id is not None:
        require_mentee(actor, mentee_id)
        await mentees_service.get(db_session=db_session, app_id=app_id, mentee_id=mentee_id)
