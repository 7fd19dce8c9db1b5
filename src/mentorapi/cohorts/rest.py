from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from mentorapi.apps.auth import CurrentCaller
from mentorapi.cohorts import service
from mentorapi.cohorts.schemas import (
    CohortCreate,
    CohortRead,
    CohortSummary,
    MatchListArgs,
    MatchRead,
    MatchRunPublished,
    MatchRunRead,
    MatchRunStart,
    PublishRequest,
)
from mentorapi.cohorts.service import CohortView, RunView
from mentorapi.db.uow import DbSession
from mentorapi.kit.ids import CohortId, MatchId, MatchRunId, MenteeId, MentorId
from mentorapi.kit.pagination import Page, PageRequest, page_request
from mentorapi.kit.problems import problems

cohorts = APIRouter(prefix="/v1/cohorts", tags=["cohorts"])
match_runs = APIRouter(prefix="/v1/match-runs", tags=["cohorts"])
matches = APIRouter(prefix="/v1/matches", tags=["cohorts"])

API_KEY_ONLY = "The app's API key only (a member token is a 403)."
COHORT = (
    "Mentees and mentors of this app (an unknown id, or another app's, is a 404), each once; "
    "pins, forbids and per-mentor capacities name members of the cohort. At most 5,000 "
    "mentees, 2,000 mentors and 2,500,000 pairs (mentees x mentors). A cohort does not "
    "change once created: create another to match differently. " + API_KEY_ONLY
)
RUN = (
    "Runs in a worker: poll `GET /v1/match-runs/{id}` (the `Location` header) until `status` "
    "is `succeeded` or `failed`. A run is optimal for the cohort's objective, and the same "
    "cohort and `seed` give the same proposals. " + API_KEY_ONLY
)
PUBLISH = (
    "Makes the proposals (all of them, or `proposal_ids`) into matches, each announced by a "
    "`match.created` webhook in the same transaction. Only a succeeded run; a cohort is "
    "published once (from one run, with the proposals chosen then): a second publish is a 409 "
    "whose `published_run_id` names the run. Send an `Idempotency-Key` to retry safely. "
    + API_KEY_ONLY
)
MATCHES = (
    "With a member token: only the matches the member is the mentee or the mentor of, whatever "
    "the filters."
)

LOCATION = {
    "Location": {
        "description": "Where to follow the run: `/v1/match-runs/{id}`.",
        "schema": {"type": "string"},
    }
}


def _cohort(view: CohortView) -> CohortRead:
    members = view.members
    return CohortRead.build(view.cohort, members.mentees, members.mentors, members.pairs)


def _run(view: RunView) -> MatchRunRead:
    return MatchRunRead.build(view.run, view.job, view.proposals)


# --- cohorts -------------------------------------------------------------------------------------


@cohorts.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="createCohort",
    summary="Create a cohort to match",
    description=COHORT,
    responses=problems(403, 404, 422),
)
async def create_cohort(
    caller: CurrentCaller, db_session: DbSession, body: CohortCreate
) -> CohortRead:
    view = await service.create_cohort(
        db_session=db_session, app_id=caller.app_id, actor=caller, data=body
    )
    return _cohort(view)


@cohorts.get(
    "",
    operation_id="listCohorts",
    summary="List cohorts (without their member lists)",
    description=API_KEY_ONLY,
    responses=problems(403, 422),
)
async def list_cohorts(
    caller: CurrentCaller,
    db_session: DbSession,
    page: Annotated[PageRequest, Depends(page_request)],
) -> Page[CohortSummary]:
    rows, cursor = await service.list_cohorts(
        db_session=db_session, app_id=caller.app_id, actor=caller, page=page
    )
    return Page(
        data=[CohortSummary.from_model(c.cohort, c.mentees, c.mentors) for c in rows],
        next_cursor=cursor,
    )


@cohorts.get(
    "/{cohort_id}",
    operation_id="getCohort",
    summary="Get a cohort",
    description=API_KEY_ONLY,
    responses=problems(403, 404, 422),
)
async def get_cohort(
    caller: CurrentCaller, db_session: DbSession, cohort_id: CohortId
) -> CohortRead:
    view = await service.get_cohort(
        db_session=db_session, app_id=caller.app_id, actor=caller, cohort_id=cohort_id
    )
    return _cohort(view)


@cohorts.post(
    "/{cohort_id}/match-runs",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="startMatchRun",
    summary="Match the cohort (in a worker)",
    description=RUN,
    responses={**problems(403, 404, 422), 202: {"headers": LOCATION}},
)
async def start_match_run(
    caller: CurrentCaller,
    db_session: DbSession,
    cohort_id: CohortId,
    response: Response,
    body: MatchRunStart | None = None,
) -> MatchRunRead:
    view = await service.start_run(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        cohort_id=cohort_id,
        data=body or MatchRunStart(),
    )
    response.headers["Location"] = f"/v1/match-runs/{view.run.id}"
    return _run(view)


# --- match runs ----------------------------------------------------------------------------------


@match_runs.get(
    "/{match_run_id}",
    operation_id="getMatchRun",
    summary="A match run: status, progress, and once succeeded its proposals",
    description=API_KEY_ONLY,
    responses=problems(403, 404, 422),
)
async def get_match_run(
    caller: CurrentCaller, db_session: DbSession, match_run_id: MatchRunId
) -> MatchRunRead:
    view = await service.get_run(
        db_session=db_session, app_id=caller.app_id, actor=caller, run_id=match_run_id
    )
    return _run(view)


@match_runs.post(
    "/{match_run_id}/publish",
    operation_id="publishMatchRun",
    summary="Make a succeeded run's proposals into matches",
    description=PUBLISH,
    responses=problems(403, 404, 409, 422),
)
async def publish_match_run(
    caller: CurrentCaller,
    db_session: DbSession,
    match_run_id: MatchRunId,
    body: PublishRequest | None = None,
) -> MatchRunPublished:
    published = await service.publish_run(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        run_id=match_run_id,
        proposal_ids=body.proposal_ids if body else None,
    )
    return MatchRunPublished.build(published.run, published.matches)


# --- matches -------------------------------------------------------------------------------------


@matches.get(
    "",
    operation_id="listMatches",
    summary="List matches",
    description=MATCHES,
    responses=problems(422),
)
async def list_matches(
    caller: CurrentCaller,
    db_session: DbSession,
    page: Annotated[PageRequest, Depends(page_request)],
    mentee_id: Annotated[MenteeId | None, Query()] = None,
    mentor_id: Annotated[MentorId | None, Query()] = None,
    cohort_id: Annotated[CohortId | None, Query()] = None,
) -> Page[MatchRead]:
    rows, cursor = await service.list_matches(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        args=MatchListArgs(mentee_id=mentee_id, mentor_id=mentor_id, cohort_id=cohort_id),
        page=page,
    )
    return Page(data=[MatchRead.from_model(m) for m in rows], next_cursor=cursor)


@matches.get(
    "/{match_id}",
    operation_id="getMatch",
    summary="Get a match",
    description="With a member token: the match's mentee and mentor only (anyone else: 404).",
    responses=problems(404, 422),
)
async def get_match(caller: CurrentCaller, db_session: DbSession, match_id: MatchId) -> MatchRead:
    match = await service.get_match(
        db_session=db_session, app_id=caller.app_id, actor=caller, match_id=match_id
    )
    return MatchRead.from_model(match)
