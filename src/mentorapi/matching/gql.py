"""GraphQL face of matching: recommendMentors, the policy and a mentee's feedback, over
matching.service (no rules here; the same permissions as REST)."""

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from mentorapi.graphql.context import Info
from mentorapi.graphql.inputs import as_dict, validate
from mentorapi.matching import service
from mentorapi.matching.models import FeedbackAction, MatchFeedback, MatchingPolicy
from mentorapi.matching.schemas import (
    MatchFeedbackCreate,
    MatchFeedbackRead,
    MatchingPolicyPut,
    MatchingPolicyRead,
    RecommendationRequest,
)
from mentorapi.mentors.gql import FormatEnum, MentorType, mentor_objects

EXPECTED_VERSION = strawberry.argument(description="Like REST's If-Match (0: never set).")


@strawberry.type(name="MatchComponents", description="Each component of a score, 0-1.")
class ComponentsType:
    skill: float = strawberry.field(description="Level fit on the asked skills.")
    text: float = strawberry.field(description="Relevance of the ask to the profile, 1 the best.")
    availability: float = strawberry.field(description="Free slots, in the mentee's day.")
    feedback: float = strawberry.field(description="Smoothed ratings and impact stories.")
    language: float
    timezone: float
    load: float = strawberry.field(description="1 - utilisation of the weekly capacity.")
    continuity: float = strawberry.field(description="A past mentor rated well, or bookmarked.")


@strawberry.type(name="Recommendation")
class RecommendationType:
    mentor: MentorType
    score: float = strawberry.field(description="0-1: the components weighted by the policy.")
    components: ComponentsType
    reasons: list[str] = strawberry.field(
        description="Why, most weighty first; each checkable from this response's data."
    )
    first_slots: list[datetime] = strawberry.field(description="The first free starts (up to 3).")


@strawberry.type(name="Recommendations")
class RecommendationsType:
    data: list[RecommendationType] = strawberry.field(description="Highest score first.")
    excluded_count: int = strawberry.field(
        description="Mentors examined and left out by a hard filter: the found mentors are "
        "examined in order of relevance until enough candidates pass (those ranked after the "
        "last candidate kept are not counted)."
    )


@strawberry.type(name="MatchWeights")
class WeightsType:
    skill: float
    text: float
    availability: float
    feedback: float
    language: float
    timezone: float
    load: float
    continuity: float


@strawberry.type(
    name="MatchingPolicy",
    description="The weights of the components of a match score (as GET /v1/matching/policy).",
)
class PolicyType:
    weights: WeightsType
    version: int = strawberry.field(description="0 while the app has never set its policy.")
    updated_at: datetime | None

    @classmethod
    def from_model(cls, policy: MatchingPolicy) -> "PolicyType":
        read = MatchingPolicyRead.from_model(policy)
        return cls(
            weights=WeightsType(**read.weights.model_dump()),
            version=read.version,
            updated_at=read.updated_at,
        )


@strawberry.enum(name="MatchFeedbackAction")
class ActionEnum(Enum):
    DISMISS = FeedbackAction.dismiss.value
    BOOKMARK = FeedbackAction.bookmark.value


@strawberry.type(name="MatchFeedback", description="A mentee's last word on a mentor.")
class FeedbackType:
    mentee_id: strawberry.ID
    mentor_id: strawberry.ID
    action: ActionEnum
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, mark: MatchFeedback) -> "FeedbackType":
        read = MatchFeedbackRead.from_model(mark)
        return cls(
            mentee_id=strawberry.ID(read.mentee_id),
            mentor_id=strawberry.ID(read.mentor_id),
            action=ActionEnum(read.action.value),
            created_at=read.created_at,
            updated_at=read.updated_at,
        )


@strawberry.input
class AskedSkillInput:
    skill_id: strawberry.ID
    min_level: int | None = strawberry.UNSET


@strawberry.input
class MatchWindowInput:
    from_: datetime = strawberry.field(name="from", description="Free slots starting from this.")
    to: datetime = strawberry.field(description="... and before this (at most 31 days later).")


@strawberry.input(description="As POST /v1/matching/recommendations.")
class RecommendMentorsInput:
    mentee_id: strawberry.ID
    ask: str
    skills: list[AskedSkillInput] | None = strawberry.UNSET
    languages: list[str] | None = strawberry.UNSET
    format: FormatEnum | None = strawberry.UNSET
    duration_minutes: int | None = strawberry.UNSET
    window: MatchWindowInput | None = strawberry.UNSET
    limit: int | None = strawberry.UNSET


@strawberry.input(description="The weights (replaced, as PUT does); defaults if left out.")
class MatchWeightsInput:
    skill: float | None = strawberry.UNSET
    text: float | None = strawberry.UNSET
    availability: float | None = strawberry.UNSET
    feedback: float | None = strawberry.UNSET
    language: float | None = strawberry.UNSET
    timezone: float | None = strawberry.UNSET
    load: float | None = strawberry.UNSET
    continuity: float | None = strawberry.UNSET


@strawberry.input
class MatchingPolicyInput:
    weights: MatchWeightsInput | None = strawberry.UNSET


@strawberry.input
class MatchFeedbackInput:
    mentee_id: strawberry.ID
    mentor_id: strawberry.ID
    action: ActionEnum


def _no_nulls(value: object) -> object:
    # An input's null means "the default", as a left-out field does in REST.
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


@strawberry.type
class Query:
    @strawberry.field(
        description="The mentors who fit one ask, best first (POST /v1/matching/recommendations)."
    )
    async def recommend_mentors(
        self, info: Info, input: RecommendMentorsInput
    ) -> RecommendationsType:
        data = validate(RecommendationRequest, _no_nulls(as_dict(input)))
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            found = await service.recommend(
                db_session=db_session,
                app_id=app_id,
                actor=await info.context.caller(),
                data=data,
            )
        mentors = await mentor_objects(info, [item.mentor for item in found.data], "data", "mentor")
        return RecommendationsType(
            data=[
                RecommendationType(
                    mentor=mentor,
                    score=item.evaluation.score.score,
                    components=ComponentsType(**item.evaluation.score.components),
                    reasons=item.evaluation.score.reasons,
                    first_slots=item.first_slots,
                )
                for mentor, item in zip(mentors, found.data, strict=True)
            ],
            excluded_count=found.excluded_count,
        )

    @strawberry.field(description="The app's matching weights (the defaults, version 0, if unset).")
    async def matching_policy(self, info: Info) -> PolicyType:
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            policy = await service.get_policy(
                db_session=db_session, app_id=app_id, actor=await info.context.caller()
            )
        return PolicyType.from_model(policy)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Replace the app's matching weights (PUT /v1/matching/policy)."
    )
    async def set_matching_policy(
        self,
        info: Info,
        input: MatchingPolicyInput,
        expected_version: Annotated[int | None, EXPECTED_VERSION] = None,
    ) -> PolicyType:
        data = validate(MatchingPolicyPut, _no_nulls(as_dict(input)))
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            policy = await service.put_policy(
                db_session=db_session,
                app_id=app_id,
                actor=await info.context.caller(),
                data=data,
                expected_version=expected_version,
            )
        return PolicyType.from_model(policy)

    @strawberry.mutation(
        description="Dismiss (never recommend again) or bookmark a mentor for a mentee."
    )
    async def give_match_feedback(self, info: Info, input: MatchFeedbackInput) -> FeedbackType:
        data = validate(MatchFeedbackCreate, input)
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            mark = await service.give_feedback(
                db_session=db_session,
                app_id=app_id,
                actor=await info.context.caller(),
                data=data,
            )
        return FeedbackType.from_model(mark)
