"""Imports every table model, so `metadata` is complete (for Alembic and for tests)."""

from mentorapi.apps.models import ApiKey, App
from mentorapi.availability.models import Availability
from mentorapi.cohorts.models import (
    Cohort,
    CohortMentee,
    CohortMentor,
    CohortPair,
    Match,
    MatchProposal,
    MatchRun,
)
from mentorapi.db.base import metadata
from mentorapi.feedback.models import Feedback, ImpactUpdate
from mentorapi.goals.models import Goal, Milestone
from mentorapi.group_sessions.models import GroupSession, Seat
from mentorapi.jobs.models import Job
from mentorapi.kit.idempotency import IdempotencyKey
from mentorapi.kit.ratelimit import RateLimitBucket
from mentorapi.matching.models import MatchFeedback, MatchingPolicy, MentorDocument
from mentorapi.mentees.models import Mentee, MenteeSkill
from mentorapi.mentoring_events.models import (
    Assignment,
    FollowUp,
    MentoringEvent,
    Registration,
    ScoresRow,
)
from mentorapi.mentors.models import Mentor, MentorSkill
from mentorapi.reminders.models import MentorReminderPolicy, ReminderPolicy, ScheduledNotification
from mentorapi.sessions.models import ActionItem, Series, Session, SessionNote
from mentorapi.skills.models import Skill
from mentorapi.webhooks.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint

__all__ = [
    "ActionItem",
    "ApiKey",
    "App",
    "Assignment",
    "Availability",
    "Cohort",
    "CohortMentee",
    "CohortMentor",
    "CohortPair",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "Feedback",
    "FollowUp",
    "Goal",
    "GroupSession",
    "IdempotencyKey",
    "ImpactUpdate",
    "Job",
    "Match",
    "MatchFeedback",
    "MatchProposal",
    "MatchRun",
    "MatchingPolicy",
    "Mentee",
    "MenteeSkill",
    "Mentor",
    "MentorDocument",
    "MentorReminderPolicy",
    "MentorSkill",
    "MentoringEvent",
    "Milestone",
    "RateLimitBucket",
    "Registration",
    "ReminderPolicy",
    "ScheduledNotification",
    "ScoresRow",
    "Seat",
    "Series",
    "Session",
    "SessionNote",
    "Skill",
    "WebhookEndpoint",
    "metadata",
]
