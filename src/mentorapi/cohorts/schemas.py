"""Bodies of cohorts, match runs and matches: one family each, shared by REST and GraphQL."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict

from mentorapi.cohorts.models import (
    Cohort,
    CohortMentee,
    CohortMentor,
    CohortObjective,
    CohortPair,
    Match,
    MatchProposal,
    MatchRun,
    MatchStatus,
    PairKind,
    RunStatus,
)
from mentorapi.jobs.models import Job
from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.ids import (
    CohortId,
    CohortIdOut,
    MatchIdOut,
    MatchRunIdOut,
    MenteeId,
    MenteeIdOut,
    MentorId,
    MentorIdOut,
    ProposalId,
    ProposalIdOut,
)

# The size of a cohort. A run scores every mentee x mentor pair in one worker, in memory:
# matching/scoring.py keeps a matrix of scores (8 bytes a pair; components and reasons are made
# for the chosen pairs only) and peaks at about 0.35 KB a pair with the text ranks it reads
# (measured by ru_maxrss: 600,000 pairs in 205 MB over the process's own), and scored 300,000
# pairs in 1.5-3 s on the bench machine (bench/README.md), so 2.5 million pairs is under 1 GB
# and well under a minute of one worker, the solver's arcs included.
MAX_MENTEES = 5_000
MAX_MENTORS = 2_000
MAX_PAIRS = 2_500_000  # mentees x mentors
MAX_MENTORS_PER_MENTEE = 5
MAX_CAPACITY = 1_000
MAX_PINS = 5_000
MAX_FORBIDS = 20_000
MAX_SEED = 2**31 - 1

CohortName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Capacity = Annotated[
    int,
    Field(ge=0, le=MAX_CAPACITY, description=f"Mentees a mentor takes (0-{MAX_CAPACITY})."),
]


def _once(values: list[str]) -> list[str]:
    seen: set[str] = set()
    repeated = [v for v in values if v in seen or seen.add(v)]  # type: ignore[func-returns-value]
    if repeated:
        shown = ", ".join(sorted(set(repeated))[:5])
        raise ValueError(f"each id at most once; repeated: {shown}")
    return values


MenteeIds = Annotated[
    list[MenteeId],
    Field(min_length=1, max_length=MAX_MENTEES),
    AfterValidator(_once),
]
MentorIds = Annotated[
    list[MentorId],
    Field(min_length=1, max_length=MAX_MENTORS),
    AfterValidator(_once),
]


class Pair(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"mentee_id": ex.MENTEE_ID, "mentor_id": ex.MENTOR_ID}]}
    )

    mentee_id: MenteeId
    mentor_id: MentorId


class MentorCapacity(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"mentor_id": ex.MENTOR_2_ID, "capacity": 1}]}
    )

    mentor_id: MentorId
    capacity: Capacity


class CapacitySpec(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"default": 2, "per_mentor": [{"mentor_id": ex.MENTOR_2_ID, "capacity": 1}]}
            ]
        }
    )

    default: Capacity = 1
    per_mentor: Annotated[list[MentorCapacity], Field(max_length=MAX_MENTORS)] = Field(
        default_factory=list,
        description="Mentors whose capacity is not the default (each a mentor of the cohort, "
        "once).",
    )


COHORT_CREATE_EXAMPLE: JsonDict = {
    "name": "Spring onboarding 2027",
    "mentee_ids": [ex.MENTEE_ID, ex.MENTEE_2_ID],
    "mentor_ids": [ex.MENTOR_ID, ex.MENTOR_2_ID],
    "mentors_per_mentee": 1,
    "capacity": {"default": 2, "per_mentor": [{"mentor_id": ex.MENTOR_2_ID, "capacity": 1}]},
    "objective": "max_participation",
    "pins": [{"mentee_id": ex.MENTEE_ID, "mentor_id": ex.MENTOR_ID}],
    "forbids": [{"mentee_id": ex.MENTEE_2_ID, "mentor_id": ex.MENTOR_ID}],
    "min_score": 0.2,
}


class CohortCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                COHORT_CREATE_EXAMPLE,
                {
                    "name": "Conference mentees",
                    "mentee_ids": [ex.MENTEE_ID, ex.MENTEE_2_ID],
                    "mentor_ids": [ex.MENTOR_ID, ex.MENTOR_2_ID],
                    "capacity": 3,
                },
            ]
        }
    )

    name: CohortName
    mentee_ids: MenteeIds = Field(
        description=f"The mentees to match (1-{MAX_MENTEES}, each once, of this app)."
    )
    mentor_ids: MentorIds = Field(
        description=f"The mentors to match them with (1-{MAX_MENTORS}, each once, of this "
        f"app); mentees x mentors at most {MAX_PAIRS:,}."
    )
    mentors_per_mentee: int = Field(
        default=1,
        ge=1,
        le=MAX_MENTORS_PER_MENTEE,
        description="Mentors each mentee gets (at most as many as the cohort has).",
    )
    capacity: Capacity | CapacitySpec = Field(
        default=1,
        description="Every mentor's capacity (an integer), or a default and the mentors whose "
        "capacity differs.",
    )
    objective: CohortObjective = Field(
        default=CohortObjective.max_score,
        description="`max_score`: the highest total score, less a rising cost per extra mentee "
        "on one mentor (load balance); a mentee is left out rather than given a poor pair. "
        "`max_participation`: as many mentees matched as possible first, then the highest "
        "score among those matchings.",
    )
    pins: Annotated[list[Pair], Field(max_length=MAX_PINS)] = Field(
        default_factory=list,
        description="Pairs every run must propose (members of the cohort; at most "
        "`mentors_per_mentee` per mentee and a mentor's capacity per mentor). A pin needs no "
        "score and ignores `min_score`.",
    )
    forbids: Annotated[list[Pair], Field(max_length=MAX_FORBIDS)] = Field(
        default_factory=list,
        description="Pairs no run may propose (members of the cohort; never a pin too).",
    )
    min_score: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Pairs scoring below it are never proposed (pins excepted).",
    )


class MentorCapacityRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"mentor_id": ex.MENTOR_2_ID, "capacity": 1}]}
    )

    mentor_id: MentorIdOut
    capacity: int


class CapacityRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"default": 2, "per_mentor": [{"mentor_id": ex.MENTOR_2_ID, "capacity": 1}]}
            ]
        }
    )

    default: int
    per_mentor: list[MentorCapacityRead]


class PairRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"mentee_id": ex.MENTEE_ID, "mentor_id": ex.MENTOR_ID}]}
    )

    mentee_id: MenteeIdOut
    mentor_id: MentorIdOut


COHORT_SUMMARY_EXAMPLE: JsonDict = {
    "id": ex.COHORT_ID,
    "name": "Spring onboarding 2027",
    "mentee_count": 2,
    "mentor_count": 2,
    "mentors_per_mentee": 1,
    "objective": "max_participation",
    "min_score": 0.2,
    "created_at": ex.CREATED_AT,
    "updated_at": ex.CREATED_AT,
}


class CohortSummary(ResponseBody):
    """A cohort in a list: its settings and sizes, without its member lists."""

    model_config = ConfigDict(json_schema_extra={"examples": [COHORT_SUMMARY_EXAMPLE]})

    id: CohortIdOut
    name: str
    mentee_count: int = Field(description="Mentees in the cohort now (a deleted one has left it).")
    mentor_count: int = Field(description="Mentors in the cohort now.")
    mentors_per_mentee: int
    objective: CohortObjective
    min_score: float
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, cohort: Cohort, mentees: int, mentors: int) -> "CohortSummary":
        return cls(
            id=cohort.id,
            name=cohort.name,
            mentee_count=mentees,
            mentor_count=mentors,
            mentors_per_mentee=cohort.mentors_per_mentee,
            objective=CohortObjective(cohort.objective),
            min_score=cohort.min_score,
            created_at=cohort.created_at,
            updated_at=cohort.updated_at,
        )


class CohortRead(CohortSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **COHORT_SUMMARY_EXAMPLE,
                    "mentee_ids": [ex.MENTEE_ID, ex.MENTEE_2_ID],
                    "mentor_ids": [ex.MENTOR_ID, ex.MENTOR_2_ID],
                    "capacity": {
                        "default": 2,
                        "per_mentor": [{"mentor_id": ex.MENTOR_2_ID, "capacity": 1}],
                    },
                    "pins": [{"mentee_id": ex.MENTEE_ID, "mentor_id": ex.MENTOR_ID}],
                    "forbids": [{"mentee_id": ex.MENTEE_2_ID, "mentor_id": ex.MENTOR_ID}],
                }
            ]
        }
    )

    mentee_ids: list[MenteeIdOut] = Field(description="In the order given.")
    mentor_ids: list[MentorIdOut] = Field(description="In the order given.")
    capacity: CapacityRead
    pins: list[PairRead]
    forbids: list[PairRead]

    @classmethod
    def build(
        cls,
        cohort: Cohort,
        mentees: list[CohortMentee],
        mentors: list[CohortMentor],
        pairs: list[CohortPair],
    ) -> "CohortRead":
        def of(kind: PairKind) -> list[PairRead]:
            return [
                PairRead(mentee_id=p.mentee_id, mentor_id=p.mentor_id)
                for p in pairs
                if p.kind == kind
            ]

        return cls(
            **CohortSummary.from_model(cohort, len(mentees), len(mentors)).model_dump(),
            mentee_ids=[m.mentee_id for m in mentees],
            mentor_ids=[m.mentor_id for m in mentors],
            capacity=CapacityRead(
                default=cohort.default_capacity,
                per_mentor=[
                    MentorCapacityRead(mentor_id=m.mentor_id, capacity=m.capacity)
                    for m in mentors
                    if m.own_capacity
                ],
            ),
            pins=of(PairKind.pin),
            forbids=of(PairKind.forbid),
        )


# --- match runs ----------------------------------------------------------------------------------


class MatchRunStart(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"seed": 7}]})

    seed: int = Field(
        default=0,
        ge=0,
        le=MAX_SEED,
        description="Breaks ties between equally good matchings: the same cohort and seed give "
        "the same proposals.",
    )


PROPOSAL_EXAMPLE: JsonDict = {
    "id": ex.PROPOSAL_ID,
    "mentee_id": ex.MENTEE_ID,
    "mentor_id": ex.MENTOR_ID,
    "score": 0.82,
    "components": {"skill": 0.9, "language": 1.0, "timezone": 0.75, "load": 0.8},
    "reasons": ["Teaches Excel pivot tables at level 4 (you asked for 3)"],
    "pinned": True,
}


class ProposalRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [PROPOSAL_EXAMPLE]})

    id: ProposalIdOut
    mentee_id: MenteeIdOut
    mentor_id: MentorIdOut
    score: float = Field(description="0-1, the pair's score when the run scored it.")
    components: dict[str, float] = Field(description="The parts of the score, each 0-1.")
    reasons: list[str]
    pinned: bool = Field(description="The cohort pins this pair.")

    @classmethod
    def from_model(cls, p: MatchProposal) -> "ProposalRead":
        return cls(
            id=p.id,
            mentee_id=p.mentee_id,
            mentor_id=p.mentor_id,
            score=p.score,
            components=p.components,
            reasons=p.reasons,
            pinned=p.pinned,
        )


class UnmatchedRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"mentee_id": ex.MENTEE_2_ID, "reason": "capacity_exhausted"}]
        }
    )

    mentee_id: MenteeIdOut
    reason: str = Field(
        description="Why the mentee has no mentor: `no_eligible_mentor` (every pair filtered "
        "out or forbidden), `below_min_score` (every pair scores below `min_score`), "
        "`capacity_exhausted` (every eligible mentor is full), `load_penalty` (an eligible "
        "mentor had room, but the pair was worth less than the load it adds: `max_score` "
        "only).",
        examples=["capacity_exhausted"],
    )


STATS_EXAMPLE: JsonDict = {
    "matched": 2,
    "partially_matched": 0,
    "unmatched": 0,
    "pairs": 2,
    "mean_score": 0.71,
    "min_score": 0.6,
    "mentor_utilisation_p50": 0.75,
    "mentor_utilisation_p95": 0.98,
    "objective_value": 1.42,
    "score_seconds": 0.012,
    "solve_seconds": 0.004,
}


class RunStats(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [STATS_EXAMPLE]})

    matched: int = Field(description="Mentees given at least one mentor.")
    partially_matched: int = Field(description="Mentees given fewer than `mentors_per_mentee`.")
    unmatched: int = Field(description="Mentees given no mentor.")
    pairs: int
    mean_score: float | None = Field(description="Over the proposals; null without any.")
    min_score: float | None
    mentor_utilisation_p50: float | None = Field(
        description="Median of load / capacity over the mentors with a capacity; null if none."
    )
    mentor_utilisation_p95: float | None
    objective_value: float = Field(
        description="What the solver maximised: Σ score less the load penalties."
    )
    score_seconds: float = Field(description="Scoring every pair, from the database.")
    solve_seconds: float = Field(description="The optimisation itself.")


class RunError(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "invalid_cohort",
                    "detail": "pins (mte_…, mtr_…): the mentor's capacity is 0",
                }
            ]
        }
    )

    code: str = Field(
        description="`invalid_cohort` (the cohort cannot be solved as given), `internal_error` "
        "(the run kept failing).",
        examples=["invalid_cohort"],
    )
    detail: str


MATCH_RUN_EXAMPLE: JsonDict = {
    "id": ex.MATCH_RUN_ID,
    "cohort_id": ex.COHORT_ID,
    "seed": 7,
    "status": "succeeded",
    "progress": 1.0,
    "proposals": [
        PROPOSAL_EXAMPLE,
        {
            **PROPOSAL_EXAMPLE,
            "id": ex.PROPOSAL_2_ID,
            "mentee_id": ex.MENTEE_2_ID,
            "mentor_id": ex.MENTOR_2_ID,
            "score": 0.6,
            "components": {"skill": 0.6, "language": 1.0, "timezone": 0.5, "load": 0.9},
            "reasons": ["Speaks English, as you do"],
            "pinned": False,
        },
    ],
    "unmatched": [],
    "stats": STATS_EXAMPLE,
    "error": None,
    "published_at": None,
    "created_at": "2027-02-01T09:00:00Z",
    "started_at": "2027-02-01T09:00:01Z",
    "finished_at": "2027-02-01T09:00:02Z",
}


class MatchRunRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                MATCH_RUN_EXAMPLE,
                {
                    **MATCH_RUN_EXAMPLE,
                    "status": "queued",
                    "progress": 0.0,
                    "proposals": [],
                    "stats": None,
                    "started_at": None,
                    "finished_at": None,
                },
            ]
        }
    )

    id: MatchRunIdOut
    cohort_id: CohortIdOut
    seed: int
    status: RunStatus = Field(description="queued → running → succeeded | failed.")
    progress: float = Field(description="0-1 while running; 1 when succeeded.")
    proposals: list[ProposalRead] = Field(
        description="Once succeeded: every proposed pair, by mentee then mentor id."
    )
    unmatched: list[UnmatchedRead] = Field(description="Once succeeded: mentees with no mentor.")
    stats: RunStats | None = Field(description="Once succeeded.")
    error: RunError | None = Field(description="Once failed: why.")
    published_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def build(cls, run: MatchRun, job: Job, proposals: list[MatchProposal]) -> "MatchRunRead":
        """What the run wrote shows once its job succeeded (they commit together); the job's
        error once it failed."""
        state = RunStatus(job.status)
        done = state is RunStatus.succeeded
        return cls(
            id=run.id,
            cohort_id=run.cohort_id,
            seed=run.seed,
            status=state,
            progress=job.progress,
            proposals=[ProposalRead.from_model(p) for p in proposals] if done else [],
            unmatched=[UnmatchedRead(**u) for u in run.unmatched or []] if done else [],
            stats=RunStats(**run.stats) if done and run.stats else None,
            error=RunError(**job.error) if state is RunStatus.failed and job.error else None,
            published_at=run.published_at,
            created_at=run.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


class PublishRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"proposal_ids": [ex.PROPOSAL_ID]}, {}]}
    )

    proposal_ids: (
        Annotated[
            list[ProposalId],
            Field(min_length=1, max_length=MAX_MENTEES * MAX_MENTORS_PER_MENTEE),
            AfterValidator(_once),
        ]
        | None
    ) = Field(
        default=None,
        description="The proposals to make matches of (of this run, each once); all of them "
        "when left out.",
    )


# --- matches -------------------------------------------------------------------------------------

MATCH_EXAMPLE: JsonDict = {
    "id": ex.MATCH_ID,
    "cohort_id": ex.COHORT_ID,
    "match_run_id": ex.MATCH_RUN_ID,
    "proposal_id": ex.PROPOSAL_ID,
    "mentee_id": ex.MENTEE_ID,
    "mentor_id": ex.MENTOR_ID,
    "score": 0.82,
    "components": {"skill": 0.9, "language": 1.0, "timezone": 0.75, "load": 0.8},
    "status": "active",
    "created_at": "2027-02-01T10:30:00Z",
    "updated_at": "2027-02-01T10:30:00Z",
}


class MatchRead(ResponseBody):
    model_config = ConfigDict(json_schema_extra={"examples": [MATCH_EXAMPLE]})

    id: MatchIdOut
    cohort_id: CohortIdOut
    match_run_id: MatchRunIdOut
    proposal_id: ProposalIdOut
    mentee_id: MenteeIdOut
    mentor_id: MentorIdOut
    score: float
    components: dict[str, float]
    status: MatchStatus
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, match: Match) -> "MatchRead":
        return cls(
            id=match.id,
            cohort_id=match.cohort_id,
            match_run_id=match.run_id,
            proposal_id=match.proposal_id,
            mentee_id=match.mentee_id,
            mentor_id=match.mentor_id,
            score=match.score,
            components=match.components,
            status=MatchStatus(match.status),
            created_at=match.created_at,
            updated_at=match.updated_at,
        )


def match_json(match: Match) -> dict[str, Any]:
    """`data` of `match.created`: the match as `GET /v1/matches/{id}` returns it."""
    return MatchRead.from_model(match).model_dump(mode="json")


class MatchRunPublished(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "match_run_id": ex.MATCH_RUN_ID,
                    "cohort_id": ex.COHORT_ID,
                    "published_at": "2027-02-01T10:30:00Z",
                    "matches": [MATCH_EXAMPLE],
                }
            ]
        }
    )

    match_run_id: MatchRunIdOut
    cohort_id: CohortIdOut
    published_at: datetime
    matches: list[MatchRead] = Field(
        description="One per proposal published, each announced by a `match.created` webhook."
    )

    @classmethod
    def build(cls, run: MatchRun, matches: list[Match]) -> "MatchRunPublished":
        if run.published_at is None:
            raise ValueError(f"run {run.id} is not published")
        return cls(
            match_run_id=run.id,
            cohort_id=run.cohort_id,
            published_at=run.published_at,
            matches=[MatchRead.from_model(m) for m in matches],
        )


class MatchListArgs(BaseModel):
    """The filters of the match list: REST's query parameters and GraphQL's `MatchFilter`."""

    mentee_id: MenteeId | None = None
    mentor_id: MentorId | None = None
    cohort_id: CohortId | None = None
