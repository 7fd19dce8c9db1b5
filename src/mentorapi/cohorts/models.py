"""Cohorts, their match runs, the proposals a run makes, and the matches a publish makes real.

A cohort is written once (no update route): its mentees, its mentors with their capacities,
and the pins and forbids between them are rows of their own, the pairs referencing the cohort's
member rows, so a pin can only name a member, and a mentee or mentor deleted from the app
leaves every cohort (and every pin and forbid) they were in (ON DELETE CASCADE); a run
matches the cohort as it is when the run starts.

A match run is a job (jobs/): `match_runs.job_id` names it, and the run's status, progress and
error are the job's. What the run produces (its proposals, the unmatched mentees, the stats) is
written by the job's handler (cohorts/runs.py) in the transaction that marks the job succeeded,
so a run is either finished with all of it or has none of it.

Publishing turns a succeeded run's proposals (all of them or those chosen) into `matches`, once
per cohort.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, UniqueConstraint
from sqlmodel import Field

from mentorapi.db.base import TenantOwned, same_app
from mentorapi.db.types import JSONList, UTCDateTime
from mentorapi.kit.enums import NamedStrEnum
from mentorapi.kit.ids import new_id


class CohortObjective(NamedStrEnum):
    # The highest total score (less the load penalties), leaving a mentee out rather than
    # giving them a poor pair.
    max_score = "max_score"
    # As many mentees matched as can be, then the highest total score among those matchings.
    max_participation = "max_participation"


class PairKind(NamedStrEnum):
    pin = "pin"
    forbid = "forbid"


class RunStatus(NamedStrEnum):
    """A match run's status: its job's (jobs/models.JobStatus)."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class MatchStatus(NamedStrEnum):
    active = "active"


class Cohort(TenantOwned, table=True):
    __tablename__ = "cohorts"

    id: str = Field(default_factory=lambda: new_id("coh"), primary_key=True, max_length=30)
    name: str = Field(max_length=200)
    mentors_per_mentee: int
    # A mentor's capacity unless cohort_mentors says otherwise (kept there for every mentor).
    default_capacity: int
    objective: str = Field(max_length=24)
    min_score: float


class CohortMentee(TenantOwned, table=True):
    __tablename__ = "cohort_mentees"
    __table_args__ = (same_app("cohort_id", "cohorts"), same_app("mentee_id", "mentees"))

    cohort_id: str = Field(primary_key=True, max_length=30)
    mentee_id: str = Field(primary_key=True, index=True, max_length=30)
    position: int  # the order the client gave


class CohortMentor(TenantOwned, table=True):
    __tablename__ = "cohort_mentors"
    __table_args__ = (same_app("cohort_id", "cohorts"), same_app("mentor_id", "mentors"))

    cohort_id: str = Field(primary_key=True, max_length=30)
    mentor_id: str = Field(primary_key=True, index=True, max_length=30)
    capacity: int
    # Whether the client set this capacity (per mentor) rather than the cohort's default.
    own_capacity: bool = Field(default=False)
    position: int


class CohortPair(TenantOwned, table=True):
    """A pin (the pair must be in every run's result) or a forbid (never), between two members
    of the cohort; a pair is one or the other, never both (the primary key)."""

    __tablename__ = "cohort_pairs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["app_id", "cohort_id", "mentee_id"],
            ["cohort_mentees.app_id", "cohort_mentees.cohort_id", "cohort_mentees.mentee_id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["app_id", "cohort_id", "mentor_id"],
            ["cohort_mentors.app_id", "cohort_mentors.cohort_id", "cohort_mentors.mentor_id"],
            ondelete="CASCADE",
        ),
    )

    cohort_id: str = Field(primary_key=True, max_length=30)
    mentee_id: str = Field(primary_key=True, max_length=30)
    mentor_id: str = Field(primary_key=True, index=True, max_length=30)
    kind: str = Field(max_length=8)
    position: int


class MatchRun(TenantOwned, table=True):
    __tablename__ = "match_runs"
    __table_args__ = (same_app("cohort_id", "cohorts"), same_app("job_id", "jobs"))

    id: str = Field(default_factory=lambda: new_id("mrn"), primary_key=True, max_length=30)
    cohort_id: str = Field(index=True, max_length=30)
    job_id: str = Field(index=True, max_length=30)
    seed: int
    # Written with the job's success (cohorts/runs.py): [{"mentee_id", "reason"}] and the stats.
    unmatched: list[dict[str, Any]] | None = Field(default=None, sa_type=JSONList, nullable=True)
    stats: dict[str, Any] | None = Field(default=None, sa_type=JSONList, nullable=True)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MatchProposal(TenantOwned, table=True):
    __tablename__ = "match_proposals"
    __table_args__ = (
        same_app("run_id", "match_runs"),
        same_app("mentee_id", "mentees"),
        same_app("mentor_id", "mentors"),
    )

    id: str = Field(default_factory=lambda: new_id("mpr"), primary_key=True, max_length=30)
    run_id: str = Field(index=True, max_length=30)
    mentee_id: str = Field(index=True, max_length=30)
    mentor_id: str = Field(index=True, max_length=30)
    score: float
    components: dict[str, float] = Field(default_factory=dict, sa_type=JSONList, nullable=False)
    reasons: list[str] = Field(default_factory=list, sa_type=JSONList, nullable=False)
    pinned: bool = Field(default=False)


class Match(TenantOwned, table=True):
    __tablename__ = "matches"
    __table_args__ = (
        # A cohort is published once; this keeps a pair from being matched twice whatever
        # happens around that rule.
        UniqueConstraint("app_id", "cohort_id", "mentee_id", "mentor_id"),
        same_app("cohort_id", "cohorts"),
        same_app("run_id", "match_runs"),
        same_app("proposal_id", "match_proposals"),
        same_app("mentee_id", "mentees"),
        same_app("mentor_id", "mentors"),
    )

    id: str = Field(default_factory=lambda: new_id("mat"), primary_key=True, max_length=30)
    cohort_id: str = Field(max_length=30)
    run_id: str = Field(index=True, max_length=30)
    proposal_id: str = Field(index=True, max_length=30)
    mentee_id: str = Field(index=True, max_length=30)
    mentor_id: str = Field(index=True, max_length=30)
    score: float
    components: dict[str, float] = Field(default_factory=dict, sa_type=JSONList, nullable=False)
    status: str = Field(default=MatchStatus.active, max_length=16)
