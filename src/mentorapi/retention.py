"""Retention: what housekeeping prunes by age, so that no table grows for ever.

- Webhook deliveries that are over (succeeded, or gave up) for MENTORAPI_WEBHOOK_RETENTION_DAYS,
  with their attempts (the endpoint's delivery log).
- Webhook events older than that window that no delivery refers to any more (every pending
  one keeps its event, and so does a recent redelivery), except the latest event of each
  object: an object's next event is numbered from the highest `sequence` in the log, so that
  one is kept, whatever its age, and an object's numbers only ever grow.
- Jobs that finished (succeeded or failed) more than MENTORAPI_JOB_RETENTION_DAYS ago, except
  those a match run names (the run's status and error are its job's: `match_runs.job_id`
  cascades from `jobs`, so deleting the job would delete the run's history) or a
  speed-mentoring event still waits on (its failed build's reason).
(Idempotency-Keys past their 24 hours and full rate-limit buckets are purged by housekeeping
in the same kind of batches: `in_batches` here, kit/ratelimit.py.)

Every prune runs in batches of its own short transactions, rows picked FOR UPDATE SKIP LOCKED,
so any number of processes prune at once without waiting on each other or on requests, and
without deleting a row twice; a round does at most `max_batches` of each, and the next round
goes on. The event log is swept in (created_at, app_id, id) order from where this process's
last batch stopped, so events kept as their object's latest are not read again each round.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.cohorts.models import MatchRun
from mentorapi.config import Settings
from mentorapi.db.engine import Database
from mentorapi.jobs import repository as jobs_repository
from mentorapi.jobs.repository import JobReference
from mentorapi.kit.timezones import utcnow
from mentorapi.mentoring_events.models import MentoringEvent
from mentorapi.webhooks import repository as webhooks_repository
from mentorapi.webhooks.repository import EventPosition

DEFAULT_DAYS = 30
BATCH_SIZE = 500
MAX_BATCHES = 20  # of each kind per round: the next round goes on where this one stopped

# Rows whose job is their history (see the module's docstring).
JOB_REFERENCES: tuple[JobReference, ...] = (
    (col(MatchRun.app_id), col(MatchRun.job_id)),
    (col(MentoringEvent.app_id), col(MentoringEvent.schedule_job_id)),
)


@dataclass(frozen=True)
class Pruned:
    deliveries: int = 0
    events: int = 0
    jobs: int = 0


@dataclass
class Retention:
    """The windows, and this process's place in its sweep of the event log."""

    webhooks: timedelta = timedelta(days=DEFAULT_DAYS)
    jobs: timedelta = timedelta(days=DEFAULT_DAYS)
    batch_size: int = BATCH_SIZE
    max_batches: int = MAX_BATCHES
    # The last event the sweep looked at; None: start from the oldest.
    events_after: EventPosition | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Retention":
        return cls(
            webhooks=timedelta(days=settings.webhook_retention_days),
            jobs=timedelta(days=settings.job_retention_days),
        )

    async def prune(self, db: Database, now: datetime | None = None) -> Pruned:
        """One round of every prune, by the wall clock unless `now` is given."""
        at = now or utcnow()
        deliveries = await in_batches(
            db,
            lambda s: webhooks_repository.prune_deliveries(
                s, before=at - self.webhooks, limit=self.batch_size
            ),
            self.batch_size,
            self.max_batches,
        )
        events = await self.prune_events(db, before=at - self.webhooks)
        jobs = await in_batches(
            db,
            lambda s: jobs_repository.prune_finished(
                s, before=at - self.jobs, limit=self.batch_size, kept_by=JOB_REFERENCES
            ),
            self.batch_size,
            self.max_batches,
        )
        return Pruned(deliveries=deliveries, events=events, jobs=jobs)

    async def prune_events(self, db: Database, *, before: datetime) -> int:
        """Up to `max_batches` steps of the sweep, each a short transaction; back to the oldest
        once the sweep reaches `before`."""
        pruned = 0
        for _ in range(self.max_batches):
            async with db.sessionmaker() as s, s.begin():
                seen = await webhooks_repository.old_events(
                    s, before=before, after=self.events_after, limit=self.batch_size
                )
                pruned += await webhooks_repository.prune_events(
                    s, [(app_id, id_) for _, app_id, id_ in seen]
                )
            if len(seen) < self.batch_size:
                self.events_after = None
                break
            self.events_after = seen[-1]
        return pruned


async def in_batches(
    db: Database,
    step: Callable[[AsyncSession], Awaitable[int]],
    batch_size: int = BATCH_SIZE,
    max_batches: int = MAX_BATCHES,
) -> int:
    """`step` (which deletes at most `batch_size` rows and says how many) in a transaction of
    its own each time, until a step finds fewer than a batch or `max_batches` ran."""
    done = 0
    for _ in range(max_batches):
        async with db.sessionmaker() as s, s.begin():
            count = await step(s)
        done += count
        if count < batch_size:
            break
    return done
