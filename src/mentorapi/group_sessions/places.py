"""Never a mentee in two places at once: the one rule, for seats and one-to-one sessions alike.

A mentee's places in time are their taken seats (each with a copy of its group session's time)
and their one-to-one sessions that hold time (booked, or requested and not yet expired). Who
checks what:
- taking a seat, or moving a group session: the mentee's seats and one-to-one sessions;
- booking, rescheduling a one-to-one session, or booking a series: the mentee's seats and
  their other one-to-one sessions (a mentee booking two mentors for the same time was once
  accepted; it is a 409 `the mentee is in another session at that time` since).
The caller holds the mentee's row lock (after the mentor's and the session's: the order every
change keeps), so no seat or session of theirs can slip in between this read and the write.
Between two seats PostgreSQL's exclusion constraint on `seats` holds it besides.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.group_sessions import repository
from mentorapi.group_sessions.repository import Place

ELSEWHERE = "the mentee is in another session at that time"

__all__ = ["ELSEWHERE", "Place", "clashing", "of_mentees"]


async def of_mentees(
    db_session: AsyncSession,
    app_id: str,
    mentee_ids: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    with_sessions: bool = False,
    exclude_group_id: str | None = None,
    exclude_session_id: str | None = None,
) -> list[Place]:
    """The places of these mentees that overlap [start, end): their taken seats (but those of
    `exclude_group_id`), and with `with_sessions` their one-to-one sessions holding time (but
    `exclude_session_id`)."""
    if not mentee_ids:
        return []
    return await repository.places_of(
        db_session,
        app_id,
        mentee_ids,
        start,
        end,
        now=now,
        with_sessions=with_sessions,
        exclude_group_id=exclude_group_id,
        exclude_session_id=exclude_session_id,
    )


def clashing(found: Sequence[Place], start: datetime, end: datetime) -> list[Place]:
    """The places that overlap [start, end) (a place ending as another starts does not)."""
    return [p for p in found if p.starts_at < end and start < p.ends_at]
