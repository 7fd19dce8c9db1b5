from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Float, cast, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.db.paging import SortKey, paginate
from mentorapi.db.ranked import first_per_group
from mentorapi.feedback.models import Author, Feedback, ImpactUpdate, Visibility
from mentorapi.kit.pagination import PageRequest, id_key
from mentorapi.mentors.models import Mentor


async def get(db_session: AsyncSession, app_id: str, feedback_id: str) -> Feedback | None:
    query = select(Feedback).where(col(Feedback.app_id) == app_id, col(Feedback.id) == feedback_id)
    return (await db_session.exec(query)).first()


async def for_session(db_session: AsyncSession, app_id: str, session_id: str) -> list[Feedback]:
    query = (
        select(Feedback)
        .where(col(Feedback.app_id) == app_id, col(Feedback.session_id) == session_id)
        .order_by(col(Feedback.id))
    )
    return list((await db_session.exec(query)).all())


async def by_author(
    db_session: AsyncSession, app_id: str, session_id: str, author: Author
) -> Feedback | None:
    return await _given(db_session, app_id, col(Feedback.session_id) == session_id, author)


async def for_group_session(db_session: AsyncSession, app_id: str, group_id: str) -> list[Feedback]:
    return (await for_group_sessions(db_session, app_id, [group_id])).get(group_id, [])


async def by_seat_author(
    db_session: AsyncSession, app_id: str, seat_id: str, author: Author
) -> Feedback | None:
    return await _given(db_session, app_id, col(Feedback.seat_id) == seat_id, author)


async def _given(
    db_session: AsyncSession, app_id: str, subject: ColumnElement[bool], author: Author
) -> Feedback | None:
    """What `author` gave on one subject (a session, or a seat of a group session)."""
    query = select(Feedback).where(
        col(Feedback.app_id) == app_id, subject, col(Feedback.author) == author.value
    )
    return (await db_session.exec(query)).first()


async def public_for_mentor(
    db_session: AsyncSession, app_id: str, mentor_id: str, page: PageRequest
) -> tuple[list[Feedback], str | None]:
    """What the mentor's public profile shows: mentees' feedback they chose to make public."""
    query = select(Feedback).where(
        col(Feedback.app_id) == app_id,
        col(Feedback.mentor_id) == mentor_id,
        col(Feedback.author) == Author.mentee.value,
        col(Feedback.visibility) == Visibility.public.value,
    )
    keys = [SortKey(col(Feedback.id), "id", descending=True, kind=id_key("fbk"))]  # newest first
    return await paginate(db_session, query, sort="-created", keys=keys, page=page)


async def updates_for(
    db_session: AsyncSession, app_id: str, feedback_ids: Sequence[str]
) -> dict[str, list[ImpactUpdate]]:
    """The impact updates of several feedback, in one query; another app's ids find nothing."""
    result: dict[str, list[ImpactUpdate]] = defaultdict(list)
    if not feedback_ids:
        return result
    query = (
        select(ImpactUpdate)
        .where(
            col(ImpactUpdate.app_id) == app_id,
            col(ImpactUpdate.feedback_id).in_(list(feedback_ids)),
        )
        .order_by(col(ImpactUpdate.id))
    )
    for row in (await db_session.exec(query)).all():
        result[row.feedback_id].append(row)
    return result


async def add_to_mentor_stats(
    db_session: AsyncSession,
    app_id: str,
    mentor_id: str,
    *,
    ratings: int = 0,
    rating_points: int = 0,
    impact_stories: int = 0,
) -> None:
    """Change the mentor's counters in one UPDATE relative to the stored values, so concurrent
    submissions add up exactly (no read-modify-write in Python)."""
    count = col(Mentor.ratings_count) + ratings
    total = col(Mentor.rating_sum) + rating_points
    await db_session.exec(
        update(Mentor)
        .where(col(Mentor.app_id) == app_id, col(Mentor.id) == mentor_id)
        .values(
            ratings_count=count,
            rating_sum=total,
            # No ratings left (count 0) means a sum of 0 too: divide by 1 rather than by 0.
            rating_avg=cast(total, Float) / func.coalesce(func.nullif(count, 0), 1),
            impact_stories=col(Mentor.impact_stories) + impact_stories,
        )
        .execution_options(synchronize_session=False)
    )


async def for_sessions(
    db_session: AsyncSession, app_id: str, session_ids: Sequence[str]
) -> dict[str, list[Feedback]]:
    """The feedback on several sessions in one query (for DataLoaders)."""
    result: dict[str, list[Feedback]] = defaultdict(list)
    if not session_ids:
        return result
    query = (
        select(Feedback)
        .where(col(Feedback.app_id) == app_id, col(Feedback.session_id).in_(list(session_ids)))
        .order_by(col(Feedback.id))
    )
    for row in (await db_session.exec(query)).all():
        result[row.session_id or ""].append(row)
    return result


async def for_group_sessions(
    db_session: AsyncSession, app_id: str, group_ids: Sequence[str]
) -> dict[str, list[Feedback]]:
    """The feedback on the seats of several group sessions in one query (for DataLoaders),
    by seat and then author."""
    result: dict[str, list[Feedback]] = defaultdict(list)
    if not group_ids:
        return result
    query = (
        select(Feedback)
        .where(
            col(Feedback.app_id) == app_id,
            col(Feedback.group_session_id).in_(list(group_ids)),
        )
        .order_by(col(Feedback.seat_id), col(Feedback.author), col(Feedback.id))
    )
    for row in (await db_session.exec(query)).all():
        result[row.group_session_id or ""].append(row)
    return result


async def public_for_mentors(
    db_session: AsyncSession, app_id: str, mentor_ids: Sequence[str], *, limit: int
) -> dict[str, list[Feedback]]:
    """Each mentor's `limit` newest public feedback (as `public_for_mentor`), in one query."""
    if not mentor_ids:
        return {}
    query = select(Feedback).where(
        col(Feedback.app_id) == app_id,
        col(Feedback.mentor_id).in_(list(mentor_ids)),
        col(Feedback.author) == Author.mentee.value,
        col(Feedback.visibility) == Visibility.public.value,
    )
    return await first_per_group(
        db_session,
        Feedback,
        query,
        group="mentor_id",
        order_by=[col(Feedback.id).desc()],
        limit=limit,
    )
