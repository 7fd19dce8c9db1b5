from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.auth import CurrentCaller, authenticate_request
from mentorapi.apps.caller import Caller
from mentorapi.db.uow import DbSession, reads_only, unit_of_work
from mentorapi.kit import lean
from mentorapi.kit.problems import problems
from mentorapi.kit.responses import data_response
from mentorapi.kit.versioning import parse_if_match, set_etag
from mentorapi.matching import service
from mentorapi.matching.models import MatchingPolicy
from mentorapi.matching.schemas import (
    MatchFeedbackCreate,
    MatchFeedbackRead,
    MatchingPolicyPut,
    MatchingPolicyRead,
    RecommendationRequest,
    Recommendations,
)
from mentorapi.mentors.schemas import read_data

router = APIRouter(prefix="/v1/matching", tags=["matching"])

RECOMMEND = (
    "The mentors who fit one ask, best first, each with its score, the components it is made "
    "of, the reasons (each checkable from this response) and the first free slots. Hard "
    "filters: an active mentor (a skill, a format and a session length offered), a shared "
    "language, the format, the session length, a free slot in the window (when one is given), "
    "the week not full, the skills at their least levels, not dismissed by this mentee. The "
    "ask's words are matched by the database's full-text search (and trigrams, for short or "
    "misspelled asks), so `skills` may be left out. The API key for any mentee; a mentee's "
    "member token for themself only (another mentee is a 404; mentor tokens find no mentee)."
)
POLICY = (
    "The weights of the components in a recommendation's score (and in cohort matching), "
    "each 0-1; the score is the weighted mean of the components. The app's API key only."
)


def render_data(found: service.Recommendations) -> dict[str, Any]:
    """The fields of Recommendations as plain data, written straight to JSON by the route
    (kit/responses.py: FastAPI would validate a returned model again, turn it into Python data
    and then into JSON). tests/matching/test_recommendations.py holds the bytes to the model's."""
    return {
        "data": [
            {
                "mentor": read_data(item.mentor, item.offers),
                "score": float(item.evaluation.score.score),
                "components": {k: float(v) for k, v in item.evaluation.score.components.items()},
                "reasons": item.evaluation.score.reasons,
                "first_slots": item.first_slots,
            }
            for item in found.data
        ],
        "excluded_count": found.excluded_count,
    }


@router.post(
    "/recommendations",
    operation_id="recommendMentors",
    summary="Recommend mentors for an ask",
    description=RECOMMEND,
    response_model=Recommendations,
    responses=problems(404, 422),
    dependencies=[Depends(reads_only)],  # a POST that only reads
)
async def recommend_mentors(
    caller: CurrentCaller, db_session: DbSession, body: RecommendationRequest
) -> Response:
    return await _recommend(caller, db_session, body)


async def _recommend(
    caller: Caller, db_session: AsyncSession, body: RecommendationRequest
) -> Response:
    """The answer: one body for both faces of the route (above and `lean_routes`)."""
    found = await service.recommend(
        db_session=db_session, app_id=caller.app_id, actor=caller, data=body
    )
    return data_response(render_data(found))


async def _lean_recommend(request: Request, body: RecommendationRequest) -> Response:
    # What the documented route's dependencies do, in their order: the unit of work opened
    # read-only (`reads_only`), the caller admitted, then the body (already validated).
    reads_only(request)
    async with unit_of_work(request) as db_session:
        found = await authenticate_request(request, db_session)
        return await _recommend(found.caller, db_session, body)


# The same route for every request whose JSON body validates, without FastAPI's machinery
# (kit/lean.py); tests/test_lean_routes.py holds the two to the same answers.
lean_routes = [
    lean.LeanBodyRoute(
        "/v1/matching/recommendations",
        _lean_recommend,
        documented=recommend_mentors,
        body=RecommendationRequest,
    )
]


@router.post(
    "/feedback",
    operation_id="giveMatchFeedback",
    summary="Dismiss or bookmark a recommended mentor",
    description="`dismiss`: this mentor is never recommended to this mentee again; `bookmark`: "
    "kept, with a small continuity bonus. The last word counts. The API key, or the mentee's "
    "member token for themself.",
    responses=problems(404, 409, 422),
)
async def give_match_feedback(
    caller: CurrentCaller, db_session: DbSession, body: MatchFeedbackCreate
) -> MatchFeedbackRead:
    mark = await service.give_feedback(
        db_session=db_session, app_id=caller.app_id, actor=caller, data=body
    )
    return MatchFeedbackRead.from_model(mark)


def _policy(policy: MatchingPolicy, response: Response) -> MatchingPolicyRead:
    set_etag(response, policy.version)
    return MatchingPolicyRead.from_model(policy)


@router.get(
    "/policy",
    operation_id="getMatchingPolicy",
    summary="The app's matching weights",
    description=POLICY,
    responses=problems(403, etag=200),
)
async def get_policy(
    caller: CurrentCaller, db_session: DbSession, response: Response
) -> MatchingPolicyRead:
    policy = await service.get_policy(db_session=db_session, app_id=caller.app_id, actor=caller)
    return _policy(policy, response)


@router.put(
    "/policy",
    operation_id="setMatchingPolicy",
    summary="Replace the app's matching weights",
    description=POLICY,
    responses=problems(403, 409, 412, 422, etag=200),
)
async def put_policy(
    caller: CurrentCaller,
    db_session: DbSession,
    body: MatchingPolicyPut,
    response: Response,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> MatchingPolicyRead:
    policy = await service.put_policy(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        data=body,
        expected_version=expected_version,
    )
    return _policy(policy, response)
