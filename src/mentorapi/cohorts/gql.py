"""GraphQL face of cohorts, match runs and matches, over cohorts.service (no rules here: cohorts
and runs are the API key's; a member reads their own matches, as in REST)."""

from datetime import datetime
from enum import Enum
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON

from mentorapi.cohorts import service
from mentorapi.cohorts.models import Cohort, CohortObjective, Match, MatchStatus, RunStatus
from mentorapi.cohorts.repository import Members
from mentorapi.cohorts.schemas import (
    CohortCreate,
    CohortRead,
    MatchListArgs,
    MatchRead,
    MatchRunPublished,
    MatchRunRead,
    MatchRunStart,
    PairRead,
    PublishRequest,
)
from mentorapi.cohorts.service import CohortView, Listed, RunView
from mentorapi.graphql.context import Info
from mentorapi.graphql.inputs import as_dict, typed_id, validate
from mentorapi.graphql.relay import AFTER_DESCRIPTION, FIRST_DESCRIPTION, Connection, page_args
from mentorapi.kit.pagination import DEFAULT_LIMIT

First = Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)]
After = Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)]


@strawberry.enum(name="CohortObjective")
class ObjectiveEnum(Enum):
    MAX_SCORE = CohortObjective.max_score.value
    MAX_PARTICIPATION = CohortObjective.max_participation.value


@strawberry.enum(name="MatchRunStatus")
class RunStatusEnum(Enum):
    QUEUED = RunStatus.queued.value
    RUNNING = RunStatus.running.value
    SUCCEEDED = RunStatus.succeeded.value
    FAILED = RunStatus.failed.value


@strawberry.enum(name="MatchStatus")
class MatchStatusEnum(Enum):
    ACTIVE = MatchStatus.active.value


@strawberry.type(name="CohortPair", description="A pin or a forbid: a mentee and a mentor.")
class PairType:
    mentee_id: strawberry.ID
    mentor_id: strawberry.ID


@strawberry.type(name="CohortMentorCapacity")
class MentorCapacityType:
    mentor_id: strawberry.ID
    capacity: int


@strawberry.type(name="CohortCapacity")
class CapacityType:
    default: int
    per_mentor: list[MentorCapacityType] = strawberry.field(
        description="The mentors whose capacity is not the default."
    )


def _read(cohort: Cohort, members: Members) -> CohortRead:
    return CohortRead.build(cohort, members.mentees, members.mentors, members.pairs)


@strawberry.type(name="Cohort", description="Mentees and mentors to match at once (API key only).")
class CohortType:
    id: strawberry.ID
    name: str
    mentors_per_mentee: int
    objective: ObjectiveEnum
    min_score: float
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[Cohort]

    @strawberry.field(description="Mentees in the cohort now (a deleted one has left it).")
    async def mentee_count(self, info: Info) -> int:
        return (await info.context.loaders.cohort_sizes.load(self.row.id))[0]

    @strawberry.field(description="Mentors in the cohort now.")
    async def mentor_count(self, info: Info) -> int:
        return (await info.context.loaders.cohort_sizes.load(self.row.id))[1]

    async def _full(self, info: Info) -> CohortRead:
        return _read(self.row, await info.context.loaders.cohort_members.load(self.row.id))

    @strawberry.field(description="In the order given.")
    async def mentee_ids(self, info: Info) -> list[strawberry.ID]:
        return [strawberry.ID(m) for m in (await self._full(info)).mentee_ids]

    @strawberry.field(description="In the order given.")
    async def mentor_ids(self, info: Info) -> list[strawberry.ID]:
        return [strawberry.ID(m) for m in (await self._full(info)).mentor_ids]

    @strawberry.field
    async def capacity(self, info: Info) -> CapacityType:
        read = (await self._full(info)).capacity
        return CapacityType(
            default=read.default,
            per_mentor=[
                MentorCapacityType(mentor_id=strawberry.ID(c.mentor_id), capacity=c.capacity)
                for c in read.per_mentor
            ],
        )

    @strawberry.field
    async def pins(self, info: Info) -> list[PairType]:
        return _pairs((await self._full(info)).pins)

    @strawberry.field
    async def forbids(self, info: Info) -> list[PairType]:
        return _pairs((await self._full(info)).forbids)

    @classmethod
    def from_model(cls, cohort: Cohort) -> "CohortType":
        return cls(
            id=strawberry.ID(cohort.id),
            name=cohort.name,
            mentors_per_mentee=cohort.mentors_per_mentee,
            objective=ObjectiveEnum(cohort.objective),
            min_score=cohort.min_score,
            created_at=cohort.created_at,
            updated_at=cohort.updated_at,
            row=cohort,
        )


def _pairs(pairs: list[PairRead]) -> list[PairType]:
    return [
        PairType(mentee_id=strawberry.ID(p.mentee_id), mentor_id=strawberry.ID(p.mentor_id))
        for p in pairs
    ]


def _cohort(info: Info, view: CohortView) -> CohortType:
    # The service loaded the lists already: hand them to the loaders.
    members = view.members
    loaders = info.context.loaders
    loaders.cohort_members.prime(view.cohort.id, members, force=True)
    sizes = (len(members.mentees), len(members.mentors))
    loaders.cohort_sizes.prime(view.cohort.id, sizes, force=True)
    return CohortType.from_model(view.cohort)


def _listed(info: Info, listed: Listed) -> CohortType:
    sizes = (listed.mentees, listed.mentors)
    info.context.loaders.cohort_sizes.prime(listed.cohort.id, sizes, force=True)
    return CohortType.from_model(listed.cohort)


@strawberry.type(name="MatchProposal")
class ProposalType:
    id: strawberry.ID
    mentee_id: strawberry.ID
    mentor_id: strawberry.ID
    score: float = strawberry.field(description="0-1.")
    components: JSON = strawberry.field(description="The parts of the score, each 0-1.")
    reasons: list[str]
    pinned: bool


@strawberry.type(name="UnmatchedMentee")
class UnmatchedType:
    mentee_id: strawberry.ID
    reason: str = strawberry.field(
        description="no_eligible_mentor, below_min_score, capacity_exhausted or load_penalty."
    )


@strawberry.type(name="MatchRunStats")
class StatsType:
    matched: int
    partially_matched: int
    unmatched: int
    pairs: int
    mean_score: float | None
    min_score: float | None
    mentor_utilisation_p50: float | None
    mentor_utilisation_p95: float | None
    objective_value: float
    score_seconds: float
    solve_seconds: float


@strawberry.type(name="MatchRunError")
class RunErrorType:
    code: str
    detail: str


@strawberry.type(name="MatchRun", description="One matching of a cohort, done in a worker.")
class MatchRunType:
    id: strawberry.ID
    cohort_id: strawberry.ID
    seed: int
    status: RunStatusEnum
    progress: float
    proposals: list[ProposalType] = strawberry.field(
        description="Once succeeded: every proposed pair, by mentee then mentor id."
    )
    unmatched: list[UnmatchedType]
    stats: StatsType | None
    error: RunErrorType | None
    published_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_view(cls, view: RunView) -> "MatchRunType":
        read = MatchRunRead.build(view.run, view.job, view.proposals)
        return cls(
            id=strawberry.ID(read.id),
            cohort_id=strawberry.ID(read.cohort_id),
            seed=read.seed,
            status=RunStatusEnum(read.status.value),
            progress=read.progress,
            proposals=[
                ProposalType(
                    id=strawberry.ID(p.id),
                    mentee_id=strawberry.ID(p.mentee_id),
                    mentor_id=strawberry.ID(p.mentor_id),
                    score=p.score,
                    components=cast(JSON, p.components),
                    reasons=p.reasons,
                    pinned=p.pinned,
                )
                for p in read.proposals
            ],
            unmatched=[
                UnmatchedType(mentee_id=strawberry.ID(u.mentee_id), reason=u.reason)
                for u in read.unmatched
            ],
            stats=StatsType(**read.stats.model_dump()) if read.stats else None,
            error=RunErrorType(**read.error.model_dump()) if read.error else None,
            published_at=read.published_at,
            created_at=read.created_at,
            started_at=read.started_at,
            finished_at=read.finished_at,
        )


@strawberry.type(name="Match", description="A mentee and a mentor matched by a published run.")
class MatchType:
    id: strawberry.ID
    cohort_id: strawberry.ID
    match_run_id: strawberry.ID
    proposal_id: strawberry.ID
    mentee_id: strawberry.ID
    mentor_id: strawberry.ID
    score: float
    components: JSON
    status: MatchStatusEnum
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, match: Match) -> "MatchType":
        read = MatchRead.from_model(match)
        return cls(
            id=strawberry.ID(read.id),
            cohort_id=strawberry.ID(read.cohort_id),
            match_run_id=strawberry.ID(read.match_run_id),
            proposal_id=strawberry.ID(read.proposal_id),
            mentee_id=strawberry.ID(read.mentee_id),
            mentor_id=strawberry.ID(read.mentor_id),
            score=read.score,
            components=cast(JSON, read.components),
            status=MatchStatusEnum(read.status.value),
            created_at=read.created_at,
            updated_at=read.updated_at,
        )


@strawberry.type(name="MatchRunPublished")
class PublishedType:
    match_run_id: strawberry.ID
    cohort_id: strawberry.ID
    published_at: datetime
    matches: list[MatchType] = strawberry.field(
        description="One per proposal published, each announced by a match.created webhook."
    )


@strawberry.input(name="CohortPairInput")
class PairInput:
    mentee_id: strawberry.ID
    mentor_id: strawberry.ID


@strawberry.input(name="CohortMentorCapacityInput")
class MentorCapacityInput:
    mentor_id: strawberry.ID
    capacity: int


@strawberry.input(
    name="CohortCapacityInput",
    description="Every mentor's capacity (`default`), and the mentors whose capacity differs.",
)
class CapacityInput:
    default: int | None = strawberry.UNSET
    per_mentor: list[MentorCapacityInput] | None = strawberry.UNSET


@strawberry.input(description="As POST /v1/cohorts.")
class CreateCohortInput:
    name: str
    mentee_ids: list[strawberry.ID]
    mentor_ids: list[strawberry.ID]
    mentors_per_mentee: int | None = strawberry.UNSET
    capacity: CapacityInput | None = strawberry.UNSET
    objective: ObjectiveEnum | None = strawberry.UNSET
    pins: list[PairInput] | None = strawberry.UNSET
    forbids: list[PairInput] | None = strawberry.UNSET
    min_score: float | None = strawberry.UNSET


@strawberry.input
class MatchFilter:
    mentee_id: strawberry.ID | None = None
    mentor_id: strawberry.ID | None = None
    cohort_id: strawberry.ID | None = None


def _matches(rows: list[Match], cursor: str | None, info: Info) -> Connection[MatchType]:
    return Connection[MatchType].build(
        rows, cursor, node=MatchType.from_model, sort="id", key=lambda m: [m.id], info=info
    )


@strawberry.type
class Query:
    @strawberry.field(description="A cohort (API key only).")
    async def cohort(self, info: Info, id: strawberry.ID) -> CohortType:
        cohort_id = typed_id(id, "coh")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.get_cohort(
                db_session=db_session, app_id=app_id, actor=actor, cohort_id=cohort_id
            )
        return _cohort(info, view)

    @strawberry.field(description="The app's cohorts, oldest first (API key only).")
    async def cohorts(
        self, info: Info, first: First = DEFAULT_LIMIT, after: After = None
    ) -> Connection[CohortType]:
        page = page_args(first, after)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            rows, cursor = await service.list_cohorts(
                db_session=db_session, app_id=app_id, actor=actor, page=page
            )
        return Connection[CohortType].build(
            rows,
            cursor,
            info=info,
            node=lambda listed: _listed(info, listed),
            sort="id",
            key=lambda listed: [listed.cohort.id],
        )

    @strawberry.field(
        description="A match run: status, progress, and once succeeded its proposals (API key "
        "only)."
    )
    async def match_run(self, info: Info, id: strawberry.ID) -> MatchRunType:
        run_id = typed_id(id, "mrn")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.get_run(
                db_session=db_session, app_id=app_id, actor=actor, run_id=run_id
            )
        return MatchRunType.from_view(view)

    @strawberry.field(description="Matches, oldest first; a member sees only their own.")
    async def matches(
        self,
        info: Info,
        filter: MatchFilter | None = None,
        first: First = DEFAULT_LIMIT,
        after: After = None,
    ) -> Connection[MatchType]:
        page = page_args(first, after)
        args = validate(MatchListArgs, filter or {}, argument="filter")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            rows, cursor = await service.list_matches(
                db_session=db_session, app_id=app_id, actor=actor, args=args, page=page
            )
        return _matches(rows, cursor, info)

    @strawberry.field(description="A match; to a member, only one of their own.")
    async def match(self, info: Info, id: strawberry.ID) -> MatchType:
        match_id = typed_id(id, "mat")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            match = await service.get_match(
                db_session=db_session, app_id=app_id, actor=actor, match_id=match_id
            )
        return MatchType.from_model(match)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create a cohort to match (POST /v1/cohorts).")
    async def create_cohort(self, info: Info, input: CreateCohortInput) -> CohortType:
        fields = {k: v for k, v in as_dict(input).items() if v is not None}
        data = validate(CohortCreate, fields)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.create_cohort(
                db_session=db_session, app_id=app_id, actor=actor, data=data
            )
        return _cohort(info, view)

    @strawberry.mutation(
        description="Match the cohort in a worker; follow it with `matchRun` until it succeeds "
        "or fails. The same cohort and seed give the same proposals."
    )
    async def start_match_run(
        self, info: Info, cohort_id: strawberry.ID, seed: int | None = None
    ) -> MatchRunType:
        checked = typed_id(cohort_id, "coh", argument="cohortId")
        data = validate(MatchRunStart, {} if seed is None else {"seed": seed}, argument=None)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.start_run(
                db_session=db_session, app_id=app_id, actor=actor, cohort_id=checked, data=data
            )
        return MatchRunType.from_view(view)

    @strawberry.mutation(
        description="Make a succeeded run's proposals (all, or `proposalIds`) into matches, "
        "each with a match.created webhook. A cohort is published once (else CONFLICT)."
    )
    async def publish_match_run(
        self, info: Info, id: strawberry.ID, proposal_ids: list[strawberry.ID] | None = None
    ) -> PublishedType:
        run_id = typed_id(id, "mrn")
        body = validate(
            PublishRequest,
            {} if proposal_ids is None else {"proposal_ids": list(proposal_ids)},
            argument=None,
        )
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            published = await service.publish_run(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                run_id=run_id,
                proposal_ids=body.proposal_ids,
            )
        read = MatchRunPublished.build(published.run, published.matches)
        return PublishedType(
            match_run_id=strawberry.ID(read.match_run_id),
            cohort_id=strawberry.ID(read.cohort_id),
            published_at=read.published_at,
            matches=[MatchType.from_model(m) for m in published.matches],
        )
