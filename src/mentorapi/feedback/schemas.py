from datetime import date, datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from mentorapi.feedback.models import Author, Feedback, ImpactUpdate, Visibility, editable_until
from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.ids import (
    FeedbackIdOut,
    GroupSessionIdOut,
    ImpactUpdateIdOut,
    MenteeId,
    MenteeIdOut,
    MentorIdOut,
    SeatIdOut,
    SessionIdOut,
)

Rating = Annotated[int, Field(ge=1, le=5)]
Impact = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=4000),
    Field(description="In the mentee's words: what they did differently, what changed."),
]
Takeaways = Annotated[
    list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]],
    Field(max_length=10),
]
Thanks = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Note = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2000),
    Field(description="The mentor's note to the mentee: what to practise next."),
]

# Which fields each author may write: the mentee rates and tells the impact; the mentor notes.
MENTEE_ONLY = ("rating", "impact", "takeaways", "thanks")
MENTOR_ONLY = ("note",)


class FeedbackCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "author": "mentee",
                    "rating": 5,
                    "impact": "Built the Q1 pivot in 10 minutes instead of an afternoon.",
                    "takeaways": ["Regions as rows", "Show values as % growth"],
                    "thanks": "Thank you, Ana!",
                    "visibility": "mentor",
                },
                {
                    "author": "mentor",
                    "note": "Next: try slicers so your manager can filter by region.",
                },
            ]
        }
    )

    author: Author
    rating: Rating | None = Field(default=None, description="1-5; required from the mentee.")
    impact: Impact = ""
    takeaways: Takeaways = Field(default_factory=list)
    thanks: Thanks = ""
    note: Note = ""
    visibility: Visibility = Visibility.mentor

    @model_validator(mode="after")
    def _fields_of_the_author(self) -> "FeedbackCreate":
        if self.author is Author.mentee and self.rating is None:
            raise ValueError("a mentee's feedback needs a rating from 1 to 5")
        foreign = MENTOR_ONLY if self.author is Author.mentee else MENTEE_ONLY
        given = [f for f in foreign if f in self.model_fields_set and getattr(self, f)]
        if given:
            raise ValueError(f"a {self.author.value}'s feedback has no {', '.join(given)}")
        return self


class GroupFeedbackCreate(FeedbackCreate):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "author": "mentee",
                    "mentee_id": ex.MENTEE_ID,
                    "rating": 5,
                    "impact": "Ranked each region's reps with ROW_NUMBER, no helper column.",
                    "visibility": "public",
                },
                {
                    "author": "mentor",
                    "mentee_id": ex.MENTEE_ID,
                    "note": "Next: try PARTITION BY with a running total.",
                },
            ]
        }
    )

    mentee_id: MenteeId | None = Field(
        default=None,
        description="Whose seat the feedback is on. Required from the mentor and with the API "
        "key; a mentee's member token may leave it out (their own seat).",
    )


class FeedbackUpdate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"visibility": "public"}]})

    rating: Rating | None = None
    impact: Impact | None = None
    takeaways: Takeaways | None = None
    thanks: Thanks | None = None
    note: Note | None = None
    visibility: Visibility | None = None


class ImpactUpdateCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "text": "My pivot-based sales review is now the team's monthly template.",
                    "occurred_on": "2027-05-14",
                }
            ]
        }
    )

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    occurred_on: date | None = Field(default=None, description="When it happened (default: today).")


IMPACT_UPDATE_EXAMPLE: JsonDict = {
    "id": ex.IMPACT_ID,
    "text": "My pivot-based sales review is now the team's monthly template.",
    "occurred_on": "2027-05-14",
    "created_at": "2027-05-15T08:30:00Z",
}


class ImpactUpdateRead(ResponseBody):
    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [IMPACT_UPDATE_EXAMPLE]}
    )

    id: ImpactUpdateIdOut
    text: str
    occurred_on: date | None
    created_at: datetime


class FeedbackRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.FEEDBACK_ID,
                    "session_id": ex.SESSION_ID,
                    "group_session_id": None,
                    "seat_id": None,
                    "mentor_id": ex.MENTOR_ID,
                    "mentee_id": ex.MENTEE_ID,
                    "author": "mentee",
                    "rating": 5,
                    "impact": "Built the Q1 pivot in 10 minutes instead of an afternoon.",
                    "takeaways": ["Regions as rows", "Show values as % growth"],
                    "thanks": "Thank you, Ana!",
                    "note": "",
                    "visibility": "mentor",
                    "impact_updates": [IMPACT_UPDATE_EXAMPLE],
                    "editable_until": "2027-03-09T14:30:00Z",
                    "version": 2,
                    "created_at": "2027-03-02T14:30:00Z",
                    "updated_at": "2027-05-15T08:30:00Z",
                }
            ]
        }
    )

    id: FeedbackIdOut
    session_id: SessionIdOut | None = Field(
        description="The one-to-one session the feedback is on (null: a group session's seat)."
    )
    group_session_id: GroupSessionIdOut | None = Field(
        description="The group session the feedback is on (null: a one-to-one session)."
    )
    seat_id: SeatIdOut | None = Field(
        description="The seat of the group session (its mentee is `mentee_id`)."
    )
    mentor_id: MentorIdOut
    mentee_id: MenteeIdOut
    author: Author
    rating: int | None
    impact: str
    takeaways: list[str]
    thanks: str
    note: str
    visibility: Visibility
    impact_updates: list[ImpactUpdateRead]
    editable_until: datetime
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, feedback: Feedback, updates: list[ImpactUpdate]) -> "FeedbackRead":
        return cls(
            id=feedback.id,
            session_id=feedback.session_id,
            group_session_id=feedback.group_session_id,
            seat_id=feedback.seat_id,
            mentor_id=feedback.mentor_id,
            mentee_id=feedback.mentee_id,
            author=Author(feedback.author),
            rating=feedback.rating,
            impact=feedback.impact,
            takeaways=feedback.takeaways,
            thanks=feedback.thanks,
            note=feedback.note,
            visibility=Visibility(feedback.visibility),
            impact_updates=[ImpactUpdateRead.model_validate(u) for u in updates],
            editable_until=editable_until(feedback),
            version=feedback.version,
            created_at=feedback.created_at,
            updated_at=feedback.updated_at,
        )
