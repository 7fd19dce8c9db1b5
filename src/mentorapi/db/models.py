"""Imports every table model, so `metadata` is complete (for Alembic and for tests)."""

from mentorapi.apps.models import ApiKey, App
from mentorapi.db.base import metadata
from mentorapi.mentees.models import Mentee, MenteeSkill
from mentorapi.mentors.models import Mentor, MentorSkill
from mentorapi.skills.models import Skill
from mentorapi.webhooks.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint

__all__ = [
    "ApiKey",
    "App",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "Mentee",
    "MenteeSkill",
    "Mentor",
    "MentorSkill",
    "Skill",
    "WebhookEndpoint",
    "metadata",
]
