"""Planner statistics kept fresh after bulk writes, on PostgreSQL, from the API processes.

Without statistics (a table nobody has analyzed yet, as after a partner's first import into a
fresh database), PostgreSQL guesses that `app_id = $1` keeps 0.5% of the rows. For a tenant
that owns most of them that guess is wrong by 200x, and the plans built on it are too: the
first page of mentors reads and sorts every mentor of the app instead of walking the primary
key (app_id, id) for 21 rows (9 ms against 0.02 ms for 10,000 mentors; 208 against 1,253
requests/s at 64 connections: `python -m bench import`). Autovacuum would analyze the table,
but only on its next round (`autovacuum_naptime`, a minute by default), and not at all where
it is off.

So each API process that writes wakes a keeper, at most every `delay` seconds (and once more
when the writes have stopped: the last of them may commit after a round), which asks
PostgreSQL which of the application's tables changed enough since they were last analyzed and
runs ANALYZE on those. "Enough" is autovacuum's default rule (50 rows + 10% changed, from the
cumulative statistics every backend reports) or, read straight from the table's size and thus
free of the second or more those counters take to arrive, 10% more pages than the last
ANALYZE saw. Both are PostgreSQL's own, database-wide figures: a partner importing through
many processes (or hosts) is seen whole, whichever process looks. While the writes go on, a
table analyzed in the last minute must have doubled instead (BURST_FRACTION): an ANALYZE makes
every backend plan its statements on that table again.

One round is one short transaction (safe behind PgBouncer in transaction mode): a
transaction-level advisory lock lets one process at a time analyze (the others skip that
round), and `lock_timeout` keeps it from queueing behind a VACUUM or a migration. ANALYZE reads
a bounded sample (30,000 rows at the default statistics target), and stops neither reads nor
writes. Tables the database user does not own (ANALYZE would skip them with a warning) are
left to autovacuum. Nothing runs on SQLite, or in a process that does not write.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from mentorapi.db.base import metadata

log = logging.getLogger("mentorapi")

# Autovacuum's defaults (autovacuum_analyze_threshold, autovacuum_analyze_scale_factor); the
# fraction applies to pages as well (growth counts as change before the counters show it).
CHANGED_ROWS = 50
CHANGED_FRACTION = 0.1
# Growth in pages (8 kB each) that counts as a change whatever the table's size.
GROWN_PAGES = 8
# While writes go on, a table analyzed within the last RECENT_SECONDS (autovacuum_naptime's
# default) is analyzed again only once it has changed or grown by BURST_FRACTION (doubled),
# not 10%: each ANALYZE invalidates every cached plan on the table in every backend (the
# prepared statements of every pool connection and the foreign keys' checks), which are all
# planned again on their next use. A burst of bookings into small tables (2,000 into 200)
# was analyzed every round, 2 s apart: the ANALYZEs (0.65 ms a booking) and the planning
# they caused (0.9 ms a booking, against 0.26 ms with this rule) were a third of PostgreSQL's
# CPU per booking (bench/README.md, "Bookings in PostgreSQL").
# Between doublings the planner still scales its row counts to the table's current size
# (pages); the round after the burst (the last look) applies the 10% rule again.
RECENT_SECONDS = 60.0
BURST_FRACTION = 1.0
# One key for every mentorapi process on the database: who analyzes this round.
LOCK_KEY = 0x6D656E746F72  # "mentor"
LOCK_TIMEOUT = "1s"
DELAY_SECONDS = 2.0
# After a burst of writes, the last look (beyond PostgreSQL's 10 s for an idle backend's counts).
SETTLE_SECONDS = 11.0

_WRITES = ("INSERT", "UPDATE", "DELETE", "COPY", "MERGE")

# One row per table of the application that is stale, with the figures that made it so.
_STALE = text(
    """
    SELECT c.relname AS name,
           c.reltuples::bigint AS rows_then,
           coalesce(s.n_mod_since_analyze, 0) AS changed,
           c.relpages AS pages_then,
           pg_relation_size(c.oid) / current_setting('block_size')::int AS pages_now
    FROM pg_class c
    LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
    -- The share of the table that must have changed (or grown): autovacuum's 10%, or during
    -- a burst, for a table analyzed less than a minute ago, all of it (see BURST_FRACTION).
    CROSS JOIN LATERAL (
      SELECT CASE
        WHEN CAST(:settled AS boolean) THEN CAST(:changed_fraction AS float8)
        WHEN greatest(s.last_analyze, s.last_autoanalyze)
             > now() - make_interval(secs => CAST(:recent_seconds AS float8))
          THEN CAST(:burst_fraction AS float8)
        ELSE CAST(:changed_fraction AS float8)
      END AS fraction
    ) f
    WHERE c.relnamespace = current_schema()::regnamespace
      AND c.relkind IN ('r', 'p')
      AND c.relname::text = ANY(CAST(:tables AS text[]))
      AND pg_has_role(c.relowner, 'USAGE')
      AND (
        coalesce(s.n_mod_since_analyze, 0)
          >= CAST(:changed_rows AS float8) + f.fraction * greatest(c.reltuples, 0)
        OR pg_relation_size(c.oid) / current_setting('block_size')::int
          >= c.relpages + greatest(CAST(:grown_pages AS float8), f.fraction * c.relpages)
      )
    ORDER BY c.relname
    """
)


@dataclass(frozen=True)
class Analyzed:
    """A table a round analyzed, and why: rows changed since the last ANALYZE (as counted so
    far), rows and pages it saw then, pages now."""

    table: str
    changed: int
    rows_then: int
    pages_then: int
    pages_now: int


def application_tables() -> list[str]:
    # Every table the migrations create (db/models.py imports them all into this metadata).
    import mentorapi.db.models  # noqa: F401

    return sorted(metadata.tables)


async def analyze_stale(
    engine: AsyncEngine, tables: Iterable[str] | None = None, *, settled: bool = True
) -> list[Analyzed] | None:
    """One round: ANALYZE the stale tables among `tables` (default: the application's). The
    tables analyzed, or None if another process held the round. `settled=False` (a round
    while writes go on) asks a table analyzed lately to have doubled (BURST_FRACTION)."""
    names = list(tables) if tables is not None else application_tables()
    async with engine.begin() as connection:
        await connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        lock = text("SELECT pg_try_advisory_xact_lock(CAST(:key AS bigint))")
        got = await connection.scalar(lock, {"key": LOCK_KEY})
        if not got:
            return None
        rows = (
            await connection.execute(
                _STALE,
                {
                    "tables": names,
                    "changed_rows": CHANGED_ROWS,
                    "changed_fraction": CHANGED_FRACTION,
                    "grown_pages": GROWN_PAGES,
                    "settled": settled,
                    "recent_seconds": RECENT_SECONDS,
                    "burst_fraction": BURST_FRACTION,
                },
            )
        ).all()
        stale = [
            Analyzed(r.name, r.changed, max(r.rows_then, 0), r.pages_then, r.pages_now)
            for r in rows
        ]
        if stale:
            # Names from pg_class, restricted to the application's own: quoted, never input.
            quoted = ", ".join('"' + s.table.replace('"', '""') + '"' for s in stale)
            await connection.execute(text(f"ANALYZE {quoted}"))
    return stale


class StatisticsKeeper:
    """Per process: notices this engine's writes, and after each burst (at most once every
    `delay` seconds while they go on, and once more `settle` seconds after) runs a round of
    `analyze_stale`."""

    def __init__(
        self, engine: AsyncEngine, delay: float = DELAY_SECONDS, settle: float = SETTLE_SECONDS
    ) -> None:
        self.engine = engine
        self.delay = delay
        self.settle = max(settle, delay)
        self.rounds = 0
        self.analyzed: list[Analyzed] = []  # the latest round's, for logs and tests
        self._wrote = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _notice(
        self, _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        # Called for every statement the engine runs (on the event loop's thread): a prefix
        # check and an Event.set, nothing that waits.
        if not self._wrote.is_set() and statement.lstrip()[:6].upper().startswith(_WRITES):
            self._wrote.set()

    def start(self) -> None:
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._notice)
        self._task = asyncio.create_task(self._run(), name="mentorapi-statistics")

    async def stop(self) -> None:
        if event.contains(self.engine.sync_engine, "before_cursor_execute", self._notice):
            event.remove(self.engine.sync_engine, "before_cursor_execute", self._notice)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wrote.wait()
            # A burst of writes, one round: what comes during the wait is in it, what comes
            # during the round wakes the next one.
            await asyncio.sleep(self.delay)
            self._wrote.clear()
            await self._round(settled=False)
            # Once the burst is over, one more look: the round may have run before the last
            # of it committed (other processes' writes too), and the counters of a commit
            # reach PostgreSQL's view up to 10 s later (an idle backend's, PGSTAT_IDLE_INTERVAL).
            try:
                await asyncio.wait_for(self._wrote.wait(), timeout=self.settle)
            except TimeoutError:
                await self._round(settled=True)

    async def _round(self, *, settled: bool) -> None:
        try:
            analyzed = await analyze_stale(self.engine, settled=settled)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lock timeout, the database away: the next look tries again
            log.warning("statistics: round failed (%s: %s)", type(exc).__name__, exc)
            return
        self.rounds += 1
        if analyzed:
            self.analyzed = analyzed
            log.info(
                "statistics: analyzed %s",
                ", ".join(
                    f"{a.table} ({a.changed} rows changed since {a.rows_then}, "
                    f"{a.pages_then} -> {a.pages_now} pages)"
                    for a in analyzed
                ),
            )


def create_keeper(engine: AsyncEngine, *, enabled: bool, delay: float) -> StatisticsKeeper | None:
    """A keeper for a PostgreSQL engine (started by the caller), or None."""
    if not enabled or engine.dialect.name != "postgresql":
        return None
    return StatisticsKeeper(engine, delay)
