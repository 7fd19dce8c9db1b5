"""The service's views as the response bodies both faces show."""

from mentorapi.mentoring_events.models import FollowUpOutcome
from mentorapi.mentoring_events.schemas import (
    FollowUpRead,
    FollowUpRecommendation,
    ScheduleRead,
    ScheduleStats,
    assignment_read,
)
from mentorapi.mentoring_events.service import FollowUpView, ScheduleView
from mentorapi.sessions.schemas import SessionRead


def schedule_read(view: ScheduleView) -> ScheduleRead:
    event = view.event
    line = event.timeline
    return ScheduleRead(
        event_id=event.id,
        status=view.status,
        version=event.schedule_version,
        error=view.error,
        stats=ScheduleStats.model_validate(view.stats) if view.stats else None,
        assignments=[assignment_read(a, line, event.timezone) for a in view.assignments],
    )


def follow_up_read(view: FollowUpView) -> FollowUpRead:
    found = view.follow_up
    recommendation = None
    if found.recommendation is not None:
        recommendation = FollowUpRecommendation.model_validate(found.recommendation)
    return FollowUpRead(
        event_id=found.event_id,
        mentee_id=found.mentee_id,
        mentor_id=found.mentor_id,
        outcome=FollowUpOutcome(found.outcome),
        ask=found.ask,
        session=SessionRead.from_model(view.session) if view.session else None,
        recommendation=recommendation,
        created_at=found.created_at,
    )
