"""Cohorts, match runs and matches: the rules, once, for REST, GraphQL and the job.

- A cohort names mentees and mentors of the app (another app's id, or an unknown one, is a 404
  as in a booking), each once; pins, forbids and per-mentor capacities name members of the
  cohort (else a 422, with where). Cohorts and runs are the app's servers' business: a member
  token is refused (403) on every cohort and match-run operation.
- A run is a job (cohorts/runs.py does the work in a worker); starting one is a 202.
- Publishing makes a succeeded run's proposals (all, or those named) into matches and sends a
  `match.created` webhook for each, in the same transaction. A cohort is published once: a
  second publish of any of its runs is a 409 (an `Idempotency-Key` makes a retried publish
  answer as the first one did).
- Matches are read by the API key, and by the mentee and the mentor of each match (their own
  only; to anyone else a match does not exist).
"""

from collections import Counter
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import Caller, own_profiles, require_api_key, require_participant
from mentorapi.cohorts import repository
from mentorapi.cohorts.models import (
    Cohort,
    CohortMentee,
    CohortMentor,
    CohortPair,
    Match,
    MatchProposal,
    MatchRun,
    PairKind,
    RunStatus,
)
from mentorapi.cohorts.repository import Members
from mentorapi.cohorts.schemas import (
    MAX_PAIRS,
    CohortCreate,
    MatchListArgs,
    MatchRunStart,
    Pair,
    match_json,
)
from mentorapi.jobs import service as jobs_service
from mentorapi.jobs.models import Job, JobStatus
from mentorapi.kit.errors import Conflict, InvalidInput, NotFound
from mentorapi.kit.ids import new_id
from mentorapi.kit.pagination import PageRequest
from mentorapi.kit.timezones import utcnow
from mentorapi.webhooks import outbox
from mentorapi.webhooks.models import EventType

RUN_KIND = "match_run"  # jobs/registry.KINDS
MANAGING = "managing cohorts and match runs"


@dataclass
class CohortView:
    cohort: Cohort
    members: Members


@dataclass
class Listed:
    """A cohort in a list: its sizes, not its lists."""

    cohort: Cohort
    mentees: int
    mentors: int


@dataclass
class RunView:
    run: MatchRun
    job: Job
    # Empty until the run succeeded (they are written with its success).
    proposals: list[MatchProposal]

    @property
    def status(self) -> RunStatus:
        return RunStatus(self.job.status)


@dataclass
class Published:
    run: MatchRun
    matches: list[Match]


# --- cohorts -------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """A cohort request checked against itself: every mentor's capacity, the pairs."""

    capacity: dict[str, int]
    own_capacity: set[str]
    default_capacity: int
    pins: list[Pair]
    forbids: list[Pair]


def _plan(data: CohortCreate) -> _Plan:
    mentees, mentors = set(data.mentee_ids), set(data.mentor_ids)
    if len(mentees) * len(mentors) > MAX_PAIRS:
        raise InvalidInput(
            f"a cohort has at most {MAX_PAIRS:,} mentee-mentor pairs; this one has "
            f"{len(mentees) * len(mentors):,}",
            loc=["body", "mentor_ids"],
        )
    if data.mentors_per_mentee > len(mentors):
        raise InvalidInput(
            f"mentors_per_mentee ({data.mentors_per_mentee}) is more than the cohort's "
            f"{len(mentors)} mentor(s)",
            loc=["body", "mentors_per_mentee"],
        )
    if isinstance(data.capacity, int):
        default, per_mentor = data.capacity, []
    else:
        default, per_mentor = data.capacity.default, data.capacity.per_mentor
    capacity = dict.fromkeys(data.mentor_ids, default)
    own: set[str] = set()
    for i, entry in enumerate(per_mentor):
        loc: list[str | int] = ["body", "capacity", "per_mentor", i, "mentor_id"]
        if entry.mentor_id not in mentors:
            raise InvalidInput(f"{entry.mentor_id} is not one of mentor_ids", loc=loc)
        if entry.mentor_id in own:
            raise InvalidInput(f"{entry.mentor_id} is listed twice", loc=loc)
        own.add(entry.mentor_id)
        capacity[entry.mentor_id] = entry.capacity
    pins = _pairs(data.pins, "pins", mentees, mentors)
    forbids = _pairs(data.forbids, "forbids", mentees, mentors)
    pinned = {(p.mentee_id, p.mentor_id) for p in pins}
    for i, pair in enumerate(forbids):
        if (pair.mentee_id, pair.mentor_id) in pinned:
            raise InvalidInput(
                f"({pair.mentee_id}, {pair.mentor_id}) is pinned and forbidden at once",
                loc=["body", "forbids", i],
            )
    per_mentee: Counter[str] = Counter()
    per_mentor_pins: Counter[str] = Counter()
    for i, pair in enumerate(pins):
        per_mentee[pair.mentee_id] += 1
        per_mentor_pins[pair.mentor_id] += 1
        if per_mentee[pair.mentee_id] > data.mentors_per_mentee:
            raise InvalidInput(
                f"{pair.mentee_id} has more pins than mentors_per_mentee "
                f"({data.mentors_per_mentee})",
                loc=["body", "pins", i],
            )
        if per_mentor_pins[pair.mentor_id] > capacity[pair.mentor_id]:
            raise InvalidInput(
                f"{pair.mentor_id} has more pins than their capacity ({capacity[pair.mentor_id]})",
                loc=["body", "pins", i],
            )
    return _Plan(capacity, own, default, pins, forbids)


def _pairs(pairs: list[Pair], field: str, mentees: set[str], mentors: set[str]) -> list[Pair]:
    seen: set[tuple[str, str]] = set()
    for i, pair in enumerate(pairs):
        if pair.mentee_id not in mentees:
            raise InvalidInput(
                f"{pair.mentee_id} is not one of mentee_ids", loc=["body", field, i, "mentee_id"]
            )
        if pair.mentor_id not in mentors:
            raise InvalidInput(
                f"{pair.mentor_id} is not one of mentor_ids", loc=["body", field, i, "mentor_id"]
            )
        key = (pair.mentee_id, pair.mentor_id)
        if key in seen:
            raise InvalidInput(f"({key[0]}, {key[1]}) is listed twice", loc=["body", field, i])
        seen.add(key)
    return pairs


def _unknown(kind: str, given: list[str], found: set[str]) -> NotFound | None:
    missing = [i for i in given if i not in found]
    if not missing:
        return None
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    return NotFound(f"no {kind} {missing[0]}{more}")


async def create_cohort(
    *, db_session: AsyncSession, app_id: str, actor: Caller, data: CohortCreate
) -> CohortView:
    require_api_key(actor, MANAGING)
    plan = _plan(data)
    for kind, given, found in (
        (
            "mentee",
            data.mentee_ids,
            await repository.existing_mentees(db_session, app_id, data.mentee_ids),
        ),
        (
            "mentor",
            data.mentor_ids,
            await repository.existing_mentors(db_session, app_id, data.mentor_ids),
        ),
    ):
        missing = _unknown(kind, given, found)
        if missing is not None:
            raise missing
    now = utcnow()
    cohort = Cohort(
        app_id=app_id,
        name=data.name,
        mentors_per_mentee=data.mentors_per_mentee,
        default_capacity=plan.default_capacity,
        objective=data.objective.value,
        min_score=data.min_score,
        created_at=now,
        updated_at=now,
    )
    stamp = {"app_id": app_id, "cohort_id": cohort.id, "created_at": now, "updated_at": now}
    mentees = [{**stamp, "mentee_id": m, "position": i} for i, m in enumerate(data.mentee_ids)]
    mentors = [
        {
            **stamp,
            "mentor_id": m,
            "capacity": plan.capacity[m],
            "own_capacity": m in plan.own_capacity,
            "position": i,
        }
        for i, m in enumerate(data.mentor_ids)
    ]
    pairs = [
        {**stamp, "mentee_id": p.mentee_id, "mentor_id": p.mentor_id, "kind": kind, "position": i}
        for kind, given in ((PairKind.pin, plan.pins), (PairKind.forbid, plan.forbids))
        for i, p in enumerate(given)
    ]
    await repository.insert_cohort(db_session, cohort, mentees, mentors, pairs)
    return CohortView(
        cohort,
        Members(
            [CohortMentee(**row) for row in mentees],
            [CohortMentor(**row) for row in mentors],
            [CohortPair(**row) for row in pairs],
        ),
    )


async def _cohort(db_session: AsyncSession, app_id: str, cohort_id: str) -> Cohort:
    cohort = await repository.get_cohort(db_session, app_id, cohort_id)
    if cohort is None:
        raise NotFound(f"no cohort {cohort_id}")
    return cohort


async def get_cohort(
    *, db_session: AsyncSession, app_id: str, actor: Caller, cohort_id: str
) -> CohortView:
    require_api_key(actor, MANAGING)
    cohort = await _cohort(db_session, app_id, cohort_id)
    members = await repository.members_of(db_session, app_id, [cohort.id])
    return CohortView(cohort, members[cohort.id])


async def list_cohorts(
    *, db_session: AsyncSession, app_id: str, actor: Caller, page: PageRequest
) -> tuple[list[Listed], str | None]:
    require_api_key(actor, MANAGING)
    rows, cursor = await repository.list_cohorts(db_session, app_id, page)
    sizes = await repository.sizes_of(db_session, app_id, [c.id for c in rows])
    return [Listed(c, *sizes[c.id]) for c in rows], cursor


# --- match runs ----------------------------------------------------------------------------------


async def start_run(
    *, db_session: AsyncSession, app_id: str, actor: Caller, cohort_id: str, data: MatchRunStart
) -> RunView:
    require_api_key(actor, MANAGING)
    cohort = await _cohort(db_session, app_id, cohort_id)
    run_id = new_id("mrn")
    job = await jobs_service.enqueue(
        db_session, app_id=app_id, kind=RUN_KIND, payload={"match_run_id": run_id}
    )
    run = MatchRun(
        app_id=app_id,
        id=run_id,
        cohort_id=cohort.id,
        job_id=job.id,
        seed=data.seed,
        created_at=job.created_at,
        updated_at=job.created_at,
    )
    await repository.insert_run(db_session, run)
    return RunView(run, job, [])


async def _run(db_session: AsyncSession, app_id: str, run_id: str) -> tuple[MatchRun, Job]:
    found = await repository.get_run(db_session, app_id, run_id)
    if found is None:
        raise NotFound(f"no match run {run_id}")
    return found


async def get_run(*, db_session: AsyncSession, app_id: str, actor: Caller, run_id: str) -> RunView:
    require_api_key(actor, MANAGING)
    run, job = await _run(db_session, app_id, run_id)
    proposals: list[MatchProposal] = []
    # Written in the transaction that marked the job succeeded: read after its status, so a
    # run never shows half of them.
    if job.status == JobStatus.succeeded:
        proposals = await repository.proposals_of(db_session, app_id, run.id)
    return RunView(run, job, proposals)


async def publish_run(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    run_id: str,
    proposal_ids: list[str] | None,
) -> Published:
    require_api_key(actor, MANAGING)
    run, job = await _run(db_session, app_id, run_id)
    if job.status != JobStatus.succeeded:
        raise Conflict(
            f"only a succeeded run can be published; this one is {job.status}",
            extra={"run_status": job.status},
        )
    # One publish of a cohort at a time; the published run is read after the lock, so a
    # publish that committed meanwhile is seen.
    await repository.lock_cohort(db_session, app_id, run.cohort_id)
    published = await repository.published_run(db_session, app_id, run.cohort_id)
    if published is not None:
        which = "this run" if published.id == run.id else f"run {published.id}"
        raise Conflict(
            f"cohort {run.cohort_id} was published already, from {which}; a cohort is "
            "published once",
            extra={"published_run_id": published.id},
        )
    proposals = await repository.proposals_of(db_session, app_id, run.id)
    chosen = proposals
    if proposal_ids is not None:
        by_id = {p.id: p for p in proposals}
        for i, proposal_id in enumerate(proposal_ids):
            if proposal_id not in by_id:
                raise InvalidInput(
                    f"{proposal_id} is not a proposal of run {run.id}",
                    loc=["body", "proposal_ids", i],
                )
        wanted = set(proposal_ids)
        chosen = [p for p in proposals if p.id in wanted]
    now = utcnow()
    matches = [
        Match(
            app_id=app_id,
            cohort_id=run.cohort_id,
            run_id=run.id,
            proposal_id=p.id,
            mentee_id=p.mentee_id,
            mentor_id=p.mentor_id,
            score=p.score,
            components=p.components,
            created_at=now,
            updated_at=now,
        )
        for p in chosen
    ]
    await repository.insert_matches(db_session, matches)
    await outbox.record_many(
        db_session,
        app_id=app_id,
        events=[
            outbox.NewEvent(EventType.match_created, match_json(m), object_id=m.id, created=True)
            for m in matches
        ],
    )
    run.published_at = now
    run.updated_at = now
    await repository.save(db_session, run)
    return Published(run, matches)


# --- matches -------------------------------------------------------------------------------------


async def list_matches(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    args: MatchListArgs,
    page: PageRequest,
) -> tuple[list[Match], str | None]:
    return await repository.list_matches(
        db_session,
        app_id,
        page,
        own=own_profiles(actor),
        mentee_id=args.mentee_id,
        mentor_id=args.mentor_id,
        cohort_id=args.cohort_id,
    )


async def get_match(
    *, db_session: AsyncSession, app_id: str, actor: Caller, match_id: str
) -> Match:
    match = await repository.get_match(db_session, app_id, match_id)
    not_found = f"no match {match_id}"
    if match is None:
        raise NotFound(not_found)
    require_participant(
        actor, mentor_id=match.mentor_id, mentee_id=match.mentee_id, not_found=not_found
    )
    return match
