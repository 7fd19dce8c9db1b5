"""The reminders worker: sends each scheduled notification at its time, exactly once.

It runs wherever webhooks are delivered (inside `mentorapi serve` unless
MENTORAPI_WEBHOOK_WORKER_ENABLED=false, and in every `mentorapi worker`), and any number may
run against PostgreSQL: each claims due rows with `FOR UPDATE SKIP LOCKED` and, in the same
transaction, writes their events to the outbox (under ids derived from the rows) and deletes
them. A worker killed mid-batch commits nothing, so its rows are due again for the next one;
none is lost and none sent twice. The webhook worker then delivers the events.

Waking on time: after each round it sleeps until the earliest due row (read from the due_at
index), but never longer than `HORIZON`; a transaction that writes a row due sooner than that
NOTIFYs the workers at its commit (PostgreSQL), so none oversleeps a row written after it fell
asleep. On SQLite (one process) it looks at least every `SQLITE_POLL_SECONDS`.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Every table model loaded, as in an API process: the ORM resolves the foreign keys of the rows
# it writes (events -> apps) when it flushes, in a `mentorapi worker` process too.
import mentorapi.db.models  # noqa: F401
from mentorapi.config import Settings
from mentorapi.db.engine import Database
from mentorapi.db.listen import listen
from mentorapi.kit.timezones import utcnow
from mentorapi.reminders import repository, service
from mentorapi.reminders.service import Round

log = logging.getLogger("mentorapi.reminders")

SQLITE_POLL_SECONDS = 0.5
# Due rows that this worker could not claim (another worker holds them, or their session is
# being changed): look again this soon rather than spin.
BUSY_SECONDS = 0.05
ERROR_PAUSE_SECONDS = 1.0
# Under a steady stream of due rows (thousands in a minute) a round per row would cost a
# transaction each; rounds that sent something are at least this far apart, so a round takes
# what fell due meanwhile (at most this much later than its time). A lone row goes on time.
ROUND_SPACING_SECONDS = 0.1


@dataclass
class Totals:
    sent: int = 0
    dropped: int = 0
    deferred: int = 0
    rounds: int = 0
    lateness: list[float] = field(default_factory=list)  # the last LATENESS_KEPT sends, seconds

    LATENESS_KEPT = 10_000

    def add(self, done: Round) -> None:
        self.sent += done.sent
        self.dropped += done.dropped
        self.deferred += done.deferred
        self.rounds += 1
        self.lateness.extend(done.lateness)
        del self.lateness[: -self.LATENESS_KEPT]


class Scheduler:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        horizon: timedelta = repository.HORIZON,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.batch = settings.scheduler_batch_size
        self.grace = timedelta(seconds=settings.reminder_grace_seconds)
        self.horizon = horizon.total_seconds()
        self.is_postgres = db.dialect == "postgresql"
        self.totals = Totals()
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(), name="reminders")]
        if self.is_postgres:
            self._tasks.append(asyncio.create_task(self._listen(), name="reminders-listen"))
        log.info("reminders worker started (batch %d)", self.batch)

    async def stop(self) -> None:
        """Let the round in flight commit, then stop."""
        self._stopping = True
        self._wake.set()
        loop, *listener = self._tasks
        await loop
        for task in listener:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        log.info("reminders worker stopped")

    def wake(self) -> None:
        self._wake.set()

    # --- one round ------------------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> Round:
        """One claim of up to a batch of due rows, in its own transaction."""
        async with self.db.sessionmaker() as s, s.begin():
            done = await service.send_due(
                s, now=now or self.clock(), limit=self.batch, grace=self.grace
            )
        self.totals.add(done)
        return done

    async def run_due(self, now: datetime | None = None) -> Round:
        """Rounds until no full batch is left; their sum."""
        total = Round()
        while True:
            done = await self.run_once(now)
            total.claimed += done.claimed
            total.sent += done.sent
            total.dropped += done.dropped
            total.deferred += done.deferred
            if done.claimed < self.batch or self._stopping:
                return total

    async def next_due(self) -> datetime | None:
        async with self.db.sessionmaker() as s:
            return await repository.next_due(s)

    # --- the loop -------------------------------------------------------------------------------

    async def _loop(self) -> None:
        last_round = -ROUND_SPACING_SECONDS
        loop = asyncio.get_running_loop()
        while not self._stopping:
            gap = last_round + ROUND_SPACING_SECONDS - loop.time()
            if gap > 0:
                await asyncio.sleep(gap)
            self._wake.clear()  # before looking: a NOTIFY meanwhile is not lost
            started = loop.time()
            try:
                done = await self.run_due()
                upcoming = await self.next_due()
            except Exception:
                log.exception("sending due reminders failed; retrying")
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            if done.sent or done.dropped:
                last_round = started
                log.info(
                    "reminders: %d sent, %d dropped, %d deferred",
                    done.sent,
                    done.dropped,
                    done.deferred,
                )
            delay = self.horizon if self.is_postgres else SQLITE_POLL_SECONDS
            if upcoming is not None:
                delay = min(delay, max(0.0, (upcoming - self.clock()).total_seconds()))
                if delay == 0.0 and not (done.sent or done.dropped):
                    delay = BUSY_SECONDS  # due, but held by others: their commit frees them
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _listen(self) -> None:
        await listen(
            self.settings.session_database_url,  # LISTEN: never through PgBouncer
            repository.NOTIFY_CHANNEL,
            self.wake,
            name="mentorapi reminders",
            on_up=self.wake,  # anything written while we were not listening
        )
