from typing import Any

from sqlalchemy import Column, String
from sqlmodel import Field

from mentorapi.db.base import TenantOwned, same_app
from mentorapi.db.types import JSONList


class Availability(TenantOwned, table=True):
    """One row per mentor. Windows are local wall-clock times in the mentor's zone, kept as JSON:
    they are always read and written whole, and the slot computation needs all of them."""

    __tablename__ = "availabilities"
    __table_args__ = (same_app("mentor_id", "mentors"),)

    mentor_id: str = Field(sa_column=Column(String(30), primary_key=True))
    weekly: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    overrides: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    # Minutes before and after each session in which no other session may be. One buffer
    # (`buffer_minutes`) until 2026-12; the migration put its value in both.
    buffer_before_minutes: int = Field(default=0)
    buffer_after_minutes: int = Field(default=0)
    min_notice_minutes: int = Field(default=0)
    booking_horizon_days: int | None = Field(default=None)
    weekly_capacity: int | None = Field(default=None)
    # Per local day of the mentor; counted like the weekly capacity (sessions.models.COUNTED).
    daily_limit_sessions: int | None = Field(default=None)
    daily_limit_minutes: int | None = Field(default=None)
    auto_accept: bool = Field(default=False)
    version: int = Field(default=1)
