from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.fields import Languages
from mentorapi.kit.ids import MenteeId, MenteeIdOut, MentorId, MentorIdOut, SkillId
from mentorapi.matching.models import FeedbackAction, MatchFeedback, MatchingPolicy
from mentorapi.matching.scoring import COMPONENTS, DEFAULT_WEIGHTS
from mentorapi.mentors.models import Format
from mentorapi.mentors.schemas import MentorRead, SessionLength
from mentorapi.sessions.schemas import Instant

MAX_ASK = 2000
MAX_SKILLS = 10
MAX_LIMIT = 50
DEFAULT_LIMIT = 5
MAX_WINDOW = timedelta(days=31)

Ask = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=MAX_ASK),
    Field(
        description=f"What the mentee wants help with, in their words (3-{MAX_ASK} characters). "
        "Matched against each mentor's headline, skill names and notes, bio and the topics of "
        "their past sessions by the database's full-text search.",
        examples=["I need to build a pivot table for Friday's sales report"],
    ),
]
Weight = Annotated[float, Field(ge=0, le=1)]
_DEFAULT_WEIGHTS: JsonDict = {**DEFAULT_WEIGHTS}


class AskedSkill(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"skill_id": ex.SKILL_ID, "min_level": 3}]}
    )

    skill_id: SkillId
    min_level: int = Field(default=1, ge=1, le=5, description="The least level (1-5) accepted.")


class MatchWindow(RequestBody):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [{"from": "2027-03-01T00:00:00Z", "to": "2027-03-06T00:00:00Z"}]
        },
    )

    from_: Instant = Field(alias="from", description="Free slots starting at or after this.")
    to: Instant = Field(description="... and before this (at most 31 days after `from`).")

    @model_validator(mode="after")
    def _ordered(self) -> "MatchWindow":
        if self.to <= self.from_:
            raise ValueError("`to` must be after `from`")
        if self.to - self.from_ > MAX_WINDOW:
            raise ValueError("a window is at most 31 days")
        return self


RECOMMENDATION_REQUEST_EXAMPLE: JsonDict = {
    "mentee_id": ex.MENTEE_ID,
    "ask": "I need to build a pivot table for Friday's sales report",
    "skills": [{"skill_id": ex.SKILL_ID, "min_level": 3}],
    "languages": ["en"],
    "format": "video",
    "duration_minutes": 15,
    "window": {"from": "2027-03-01T00:00:00Z", "to": "2027-03-06T00:00:00Z"},
    "limit": 5,
}


class RecommendationRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                RECOMMENDATION_REQUEST_EXAMPLE,
                {"mentee_id": ex.MENTEE_ID, "ask": "negotiating my first salary offer"},
            ]
        }
    )

    mentee_id: MenteeId
    ask: Ask
    skills: list[AskedSkill] = Field(
        default_factory=list,
        max_length=MAX_SKILLS,
        description="Skills the mentor must offer, each at `min_level` or above. Left out, "
        "the ask's text alone finds the mentors, and the skills the mentee seeks stand for "
        "the skill fit.",
    )
    languages: Languages | None = Field(
        default=None,
        description="The mentor must speak one of these (preferred first); default: the "
        "mentee's languages.",
    )
    format: Format | None = Field(default=None, description="The mentor must offer it.")
    duration_minutes: SessionLength | None = Field(
        default=None, description="The mentor must offer sessions of this length."
    )
    window: MatchWindow | None = Field(
        default=None,
        description="The mentor must have a free slot starting in it (not checked for "
        "`async`). Default: availability is looked at over the next 7 days, and a mentor whose "
        "current week is full is left out.",
    )
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    @model_validator(mode="after")
    def _distinct_skills(self) -> "RecommendationRequest":
        ids = [s.skill_id for s in self.skills]
        if len(set(ids)) != len(ids):
            raise ValueError("each skill at most once")
        return self


COMPONENTS_EXAMPLE: JsonDict = {
    "skill": 0.8667,
    "text": 1.0,
    "availability": 0.875,
    "feedback": 0.7891,
    "language": 1.0,
    "timezone": 1.0,
    "load": 0.6,
    "continuity": 0.0,
}


class MatchComponents(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [COMPONENTS_EXAMPLE]})

    skill: float = Field(description="Level fit on the asked skills (0-1).")
    text: float = Field(description="Relevance of the ask to the mentor's profile, 1 the best.")
    availability: float = Field(description="Free slots in the window, in the mentee's day.")
    feedback: float = Field(description="Smoothed ratings and impact stories on the skills.")
    language: float = Field(description="1 for the mentee's first language.")
    timezone: float = Field(description="1 for the same offset, 0 for 12 hours apart.")
    load: float = Field(description="1 - utilisation of the weekly capacity.")
    continuity: float = Field(description="A past mentor with good feedback, or bookmarked.")


RECOMMENDATION_EXAMPLE: JsonDict = {
    "mentor": MentorRead.model_json_schema()["examples"][0],
    "score": 0.8771,
    "components": COMPONENTS_EXAMPLE,
    "reasons": [
        "Your ask matches their profile (text relevance 1.00)",
        "Teaches Pivot tables at level 5 (you asked for 3)",
        "7 free 15-minute slots in the window, 4 within 08:00-20:00 in your zone",
        "4.80 from 12 rated sessions on this skill",
    ],
    "first_slots": ["2027-03-02T14:00:00Z", "2027-03-02T14:15:00Z"],
}


class Recommendation(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [RECOMMENDATION_EXAMPLE]})

    mentor: MentorRead
    score: float = Field(description="0-1: the components weighted by the app's policy.")
    components: MatchComponents
    reasons: list[str] = Field(
        description="Why, most weighty first; each checkable from this response's data."
    )
    first_slots: list[datetime] = Field(
        description="The first free starts (up to 3) in the window, for `duration_minutes` "
        "or the mentor's shortest session."
    )


class Recommendations(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data": [RECOMMENDATION_EXAMPLE],
                    "excluded_count": 12,
                }
            ]
        }
    )

    data: list[Recommendation] = Field(description="Highest score first.")
    excluded_count: int = Field(
        description="Mentors examined and left out by a hard filter (language, format, "
        "length, level, no free slot, a full week, dismissed). The mentors the ask or the "
        "skills found are examined in order of relevance until enough candidates pass: those "
        "found but ranked after the last candidate kept are not examined and not counted (all "
        "found mentors are when fewer candidates than wanted pass)."
    )


class MatchWeights(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [_DEFAULT_WEIGHTS]})

    skill: Weight = DEFAULT_WEIGHTS["skill"]
    text: Weight = DEFAULT_WEIGHTS["text"]
    availability: Weight = DEFAULT_WEIGHTS["availability"]
    feedback: Weight = DEFAULT_WEIGHTS["feedback"]
    language: Weight = DEFAULT_WEIGHTS["language"]
    timezone: Weight = DEFAULT_WEIGHTS["timezone"]
    load: Weight = DEFAULT_WEIGHTS["load"]
    continuity: Weight = DEFAULT_WEIGHTS["continuity"]


class MatchingPolicyPut(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"weights": {**_DEFAULT_WEIGHTS, "load": 0.3}}]}
    )

    weights: MatchWeights = Field(
        default_factory=MatchWeights,
        description="Each component's weight, 0-1 (left out: its default); not all 0.",
    )

    @model_validator(mode="after")
    def _some_weight(self) -> "MatchingPolicyPut":
        if not any(getattr(self.weights, name) > 0 for name in COMPONENTS):
            raise ValueError("at least one weight must be above 0")
        return self


class MatchWeightsRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [_DEFAULT_WEIGHTS]})

    skill: float
    text: float
    availability: float
    feedback: float
    language: float
    timezone: float
    load: float
    continuity: float


class MatchingPolicyRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"weights": _DEFAULT_WEIGHTS, "version": 1, "updated_at": ex.UPDATED_AT}]
        }
    )

    weights: MatchWeightsRead
    version: int = Field(description="0 while the app has never set its policy (the defaults).")
    updated_at: datetime | None

    @classmethod
    def from_model(cls, policy: MatchingPolicy) -> "MatchingPolicyRead":
        weights: dict[str, Any] = {**DEFAULT_WEIGHTS, **policy.weights}
        return cls(
            weights=MatchWeightsRead(**{name: weights[name] for name in COMPONENTS}),
            version=policy.version,
            updated_at=policy.updated_at if policy.version else None,
        )


class MatchFeedbackCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"mentee_id": ex.MENTEE_ID, "mentor_id": ex.MENTOR_ID, "action": "dismiss"}
            ]
        }
    )

    mentee_id: MenteeId
    mentor_id: MentorId
    action: FeedbackAction = Field(
        description="`dismiss`: never recommend this mentor to this mentee again; `bookmark`: "
        "keep them (a little continuity bonus). The last word counts: a bookmark undoes a "
        "dismissal."
    )


class MatchFeedbackRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mentee_id": ex.MENTEE_ID,
                    "mentor_id": ex.MENTOR_ID,
                    "action": "dismiss",
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    mentee_id: MenteeIdOut
    mentor_id: MentorIdOut
    action: FeedbackAction
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, mark: MatchFeedback) -> "MatchFeedbackRead":
        return cls(
            mentee_id=mark.mentee_id,
            mentor_id=mark.mentor_id,
            action=FeedbackAction(mark.action),
            created_at=mark.created_at,
            updated_at=mark.updated_at,
        )
