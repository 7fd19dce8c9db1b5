"""All SQL of cohorts, match runs and matches."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import OwnProfiles
from mentorapi.cohorts.models import (
    Cohort,
    CohortMentee,
    CohortMentor,
    CohortPair,
    Match,
    MatchProposal,
    MatchRun,
)
from mentorapi.db.paging import SortKey, paginate
from mentorapi.jobs.models import Job
from mentorapi.kit.pagination import PageRequest, id_key
from mentorapi.mentees.models import Mentee
from mentorapi.mentors.models import Mentor


@dataclass
class Members:
    """A cohort's lists, each in the order the client gave."""

    mentees: list[CohortMentee]
    mentors: list[CohortMentor]
    pairs: list[CohortPair]


# --- cohorts -------------------------------------------------------------------------------------


async def existing_mentees(db_session: AsyncSession, app_id: str, ids: Sequence[str]) -> set[str]:
    """Which of `ids` are mentees of this app (another app's are not)."""
    query = select(Mentee.id).where(col(Mentee.app_id) == app_id, col(Mentee.id).in_(list(ids)))
    return set((await db_session.exec(query)).all())


async def existing_mentors(db_session: AsyncSession, app_id: str, ids: Sequence[str]) -> set[str]:
    query = select(Mentor.id).where(col(Mentor.app_id) == app_id, col(Mentor.id).in_(list(ids)))
    return set((await db_session.exec(query)).all())


async def insert_cohort(
    db_session: AsyncSession,
    cohort: Cohort,
    mentees: list[dict[str, Any]],
    mentors: list[dict[str, Any]],
    pairs: list[dict[str, Any]],
) -> None:
    """The cohort and its lists: one executemany per list (thousands of rows, no ORM objects)."""
    db_session.add(cohort)
    await db_session.flush()
    for model, rows in ((CohortMentee, mentees), (CohortMentor, mentors), (CohortPair, pairs)):
        if rows:
            await db_session.exec(insert(model), params=rows)


async def get_cohort(db_session: AsyncSession, app_id: str, cohort_id: str) -> Cohort | None:
    query = select(Cohort).where(col(Cohort.app_id) == app_id, col(Cohort.id) == cohort_id)
    return (await db_session.exec(query)).first()


async def lock_cohort(db_session: AsyncSession, app_id: str, cohort_id: str) -> Cohort | None:
    """The cohort row, locked until commit: publishes of one cohort run one at a time
    (PostgreSQL `FOR UPDATE`; SQLite serializes writers with BEGIN IMMEDIATE)."""
    query = (
        select(Cohort)
        .where(col(Cohort.app_id) == app_id, col(Cohort.id) == cohort_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await db_session.exec(query)).first()


async def list_cohorts(
    db_session: AsyncSession, app_id: str, page: PageRequest
) -> tuple[list[Cohort], str | None]:
    query = select(Cohort).where(col(Cohort.app_id) == app_id)
    keys = [SortKey(col(Cohort.id), "id", kind=id_key("coh"))]
    return await paginate(db_session, query, sort="id", keys=keys, page=page)


async def sizes_of(
    db_session: AsyncSession, app_id: str, cohort_ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """(mentees, mentors) of several cohorts: two queries, however many cohorts."""
    if not cohort_ids:
        return {}
    ids = list(cohort_ids)
    counts = [
        select(CohortMentee.cohort_id, func.count())
        .where(col(CohortMentee.app_id) == app_id, col(CohortMentee.cohort_id).in_(ids))
        .group_by(col(CohortMentee.cohort_id)),
        select(CohortMentor.cohort_id, func.count())
        .where(col(CohortMentor.app_id) == app_id, col(CohortMentor.cohort_id).in_(ids))
        .group_by(col(CohortMentor.cohort_id)),
    ]
    mentees = dict((await db_session.exec(counts[0])).all())
    mentors = dict((await db_session.exec(counts[1])).all())
    return {c: (mentees.get(c, 0), mentors.get(c, 0)) for c in ids}


async def members_of(
    db_session: AsyncSession, app_id: str, cohort_ids: Sequence[str]
) -> dict[str, Members]:
    """The lists of several cohorts: three queries, however many cohorts."""
    found: dict[str, Members] = {c: Members([], [], []) for c in cohort_ids}
    if not cohort_ids:
        return found
    ids = list(cohort_ids)
    mentees = select(CohortMentee).where(
        col(CohortMentee.app_id) == app_id, col(CohortMentee.cohort_id).in_(ids)
    )
    for mentee in (await db_session.exec(mentees.order_by(col(CohortMentee.position)))).all():
        found[mentee.cohort_id].mentees.append(mentee)
    mentors = select(CohortMentor).where(
        col(CohortMentor.app_id) == app_id, col(CohortMentor.cohort_id).in_(ids)
    )
    for mentor in (await db_session.exec(mentors.order_by(col(CohortMentor.position)))).all():
        found[mentor.cohort_id].mentors.append(mentor)
    pairs = select(CohortPair).where(
        col(CohortPair.app_id) == app_id, col(CohortPair.cohort_id).in_(ids)
    )
    for pair in (await db_session.exec(pairs.order_by(col(CohortPair.position)))).all():
        found[pair.cohort_id].pairs.append(pair)
    return found


# --- match runs ----------------------------------------------------------------------------------


async def insert_run(db_session: AsyncSession, run: MatchRun) -> MatchRun:
    db_session.add(run)
    await db_session.flush()
    return run


async def get_run(
    db_session: AsyncSession, app_id: str, run_id: str
) -> tuple[MatchRun, Job] | None:
    """The run and its job, in one query (so the status and what the run wrote with it are
    read from one snapshot)."""
    query = (
        select(MatchRun, Job)
        .join(Job, and_(col(Job.app_id) == col(MatchRun.app_id), col(Job.id) == MatchRun.job_id))
        .where(col(MatchRun.app_id) == app_id, col(MatchRun.id) == run_id)
    )
    row = (await db_session.exec(query)).first()
    return None if row is None else (row[0], row[1])


async def proposals_of(db_session: AsyncSession, app_id: str, run_id: str) -> list[MatchProposal]:
    query = (
        select(MatchProposal)
        .where(col(MatchProposal.app_id) == app_id, col(MatchProposal.run_id) == run_id)
        .order_by(col(MatchProposal.mentee_id), col(MatchProposal.mentor_id))
    )
    return list((await db_session.exec(query)).all())


async def insert_proposals(db_session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await db_session.exec(insert(MatchProposal), params=rows)


async def save(db_session: AsyncSession, row: MatchRun | Cohort) -> None:
    db_session.add(row)
    await db_session.flush()


async def published_run(db_session: AsyncSession, app_id: str, cohort_id: str) -> MatchRun | None:
    """The cohort's published run, if it has one."""
    query = select(MatchRun).where(
        col(MatchRun.app_id) == app_id,
        col(MatchRun.cohort_id) == cohort_id,
        col(MatchRun.published_at).is_not(None),
    )
    return (await db_session.exec(query.limit(1))).first()


# --- matches -------------------------------------------------------------------------------------


async def insert_matches(db_session: AsyncSession, matches: list[Match]) -> None:
    db_session.add_all(matches)
    await db_session.flush()


async def get_match(db_session: AsyncSession, app_id: str, match_id: str) -> Match | None:
    query = select(Match).where(col(Match.app_id) == app_id, col(Match.id) == match_id)
    return (await db_session.exec(query)).first()


async def list_matches(
    db_session: AsyncSession,
    app_id: str,
    page: PageRequest,
    *,
    own: OwnProfiles | None,
    mentee_id: str | None,
    mentor_id: str | None,
    cohort_id: str | None,
) -> tuple[list[Match], str | None]:
    query = select(Match).where(col(Match.app_id) == app_id)
    if own is not None:
        # A member sees the matches they are a side of ("mentor = x OR mentee = y"; a side
        # they do not have matches nothing).
        sides = [
            col(column) == value
            for column, value in (
                (Match.mentor_id, own.mentor_id),
                (Match.mentee_id, own.mentee_id),
            )
            if value is not None
        ]
        query = query.where(or_(*sides) if sides else col(Match.id).is_(None))
    if mentee_id is not None:
        query = query.where(col(Match.mentee_id) == mentee_id)
    if mentor_id is not None:
        query = query.where(col(Match.mentor_id) == mentor_id)
    if cohort_id is not None:
        query = query.where(col(Match.cohort_id) == cohort_id)
    keys = [SortKey(col(Match.id), "id", kind=id_key("mat"))]
    return await paginate(db_session, query, sort="id", keys=keys, page=page)
