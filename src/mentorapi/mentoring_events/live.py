"""The live feed of an event: where the room is now, pushed on every change of phase.

The server's clock is the event's clock. Phases follow from the clock alone (models.Timeline),
so every process computes them for its own subscribers: a feed sleeps until the next change
and then sends it, whoever else is listening wherever. A change of the schedule (published, or
solved again after a no-show or a late arrival) is a committed event row, which reaches the
feeds of every process the way session changes reach GraphQL subscriptions (on PostgreSQL a
trigger's NOTIFY read by graphql/fanout.py in each process, on SQLite graphql/feed.py after
the commit); the feeds of the process then read the event again, once for all of them
(`SharedReads`: one read of every published assignment, each feed keeping its viewer's). A gap
marker (the process lost its LISTEN connection for a while) is read as a change too, and shared
the same way: every feed told of one interruption takes the one read made after it. The first
read of a feed is shared as well, with the feeds that open meanwhile (phones reconnecting at
once after a network blip): so N feeds of an event cost one read per process, not N.

One generator serves both faces: `GET /v1/mentoring-events/{id}/live` (Server-Sent Events,
rest.py) and the GraphQL subscription `eventLive` (gql.py). Before each message it asks
`check` whether the caller may still hear it (the credential still holds); the HTTP face also
asks for `KeepAlive`s while nothing happens. A feed holds no database session or transaction
while it waits.
"""

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from weakref import WeakKeyDictionary

from mentorapi.db.engine import Database, write_intent
from mentorapi.graphql.feed import ScheduleNotice, mentoring_event_topic
from mentorapi.graphql.pubsub import Gap, PubSub
from mentorapi.mentoring_events import clock, service
from mentorapi.mentoring_events.models import EventStatus, Moment, Phase, Timeline
from mentorapi.mentoring_events.schemas import AssignmentRead, LiveUpdate, assignment_read
from mentorapi.mentoring_events.service import Viewer


class Cause:
    connected = "connected"
    phase = "phase"
    schedule = "schedule"


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """Nothing happened for a while (the HTTP face writes a comment line)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The event as a feed last read it: plain values, no database session behind them."""

    event_id: str
    timeline: Timeline
    schedule_version: int
    published: bool
    expires: bool  # draft or open: it expires at its start unless published first
    mine: tuple[AssignmentRead, ...]  # the viewer's published assignments

    def moment(self, at: datetime) -> Moment:
        """Where the room is at `at`: the timeline's phase, or `expired` for an event that
        was never published by its start (its rounds will not run: nobody has a table)."""
        if self.expires and at >= self.timeline.starts_at:
            return Moment(Phase.expired, None, None, None, None)
        return self.timeline.moment(at)


async def read(database: Database, app_id: str, event_id: str) -> Snapshot | None:
    """The event now (None: it is gone) with every published assignment, in a short read of
    its own, for `SharedReads` to share out."""
    token = write_intent.set(False)  # SQLite: a reader's BEGIN, never queued behind writers
    try:
        async with database.read_sessionmaker() as db_session:
            state = await service.live_state_of_everyone(db_session, app_id, event_id)
            if state is None:
                return None
            event = state.event
            line = event.timeline
            return Snapshot(
                event_id=event.id,
                timeline=line,
                schedule_version=event.schedule_version,
                published=state.published,
                expires=EventStatus(event.status) in (EventStatus.draft, EventStatus.open),
                mine=tuple(assignment_read(a, line, event.timezone) for a in state.assignments),
            )
    finally:
        write_intent.reset(token)


class Everyone:
    """A shared read: the event with every published assignment, indexed by person once, so
    each of hundreds of feeds picks its viewer's in a look-up (not a scan of the schedule)."""

    __slots__ = ("by_mentee", "by_mentor", "snapshot")

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.by_mentor: dict[str, list[AssignmentRead]] = {}
        self.by_mentee: dict[str, list[AssignmentRead]] = {}
        for a in snapshot.mine:  # in the read's order: round, table, mentee
            self.by_mentor.setdefault(a.mentor_id, []).append(a)
            self.by_mentee.setdefault(a.mentee_id, []).append(a)

    def seen_by(self, viewer: Viewer) -> Snapshot:
        """As the viewer's schedule read (`service._assignments_of`) finds it: the API key
        alone sees phases only; a member (or `member_id`) their own, as mentor or as mentee."""
        if viewer.everyone:
            return replace(self.snapshot, mine=())
        as_mentor = self.by_mentor.get(viewer.mentor_id, []) if viewer.mentor_id else []
        as_mentee = self.by_mentee.get(viewer.mentee_id, []) if viewer.mentee_id else []
        if as_mentor and as_mentee:  # both sides: merged in the read's order
            both = {(a.round, a.table, a.mentee_id): a for a in (*as_mentor, *as_mentee)}
            return replace(self.snapshot, mine=tuple(both[k] for k in sorted(both)))
        return replace(self.snapshot, mine=tuple(as_mentor or as_mentee))


async def _read_everyone(database: Database, app_id: str, event_id: str) -> Everyone | None:
    snapshot = await read(database, app_id, event_id)
    return None if snapshot is None else Everyone(snapshot)


KEEP_PER_EVENT = 4  # shared reads kept per followed event: the last few notices' (see below)


class _Followed:
    __slots__ = ("reader", "reads", "streams", "waiting")

    def __init__(self) -> None:
        self.streams = 0
        self.reads: OrderedDict[str, asyncio.Future[Everyone | None]] = OrderedDict()
        # Fresh reads (`SharedReads.fresh`): the read the callers since the last one started
        # wait for, and the task that makes them one after the other.
        self.waiting: asyncio.Future[Everyone | None] | None = None
        self.reader: asyncio.Future[None] | None = None


class SharedReads:
    """One read per process per schedule change, whatever the number of feeds listening.

    Every feed of an event in this process hears the same notice (pub/sub hands them the same
    `ScheduleNotice`, with the id of its event row); the first to ask for the read after it
    starts it, the others await the same task. A read started after a notice was published
    shows at least that change (it follows the commit), so it serves every feed that heard that
    notice, early or late (a feed whose read would otherwise come after the others took theirs
    and left). Bounded by entries: one per event with a feed open in this process (dropped with
    its last feed), holding the reads of its last KEEP_PER_EVENT notices; a feed that hears an
    older notice starts a read again (correct, merely not shared). A failed read is not kept. A
    gap marker of an interruption (the LISTEN connection was lost) is shared the same way,
    keyed by the interruption's number: every subscriber told of it gets the same one, and a
    read started after the interruption shows whatever it may have lost.

    What has no shared identity (a feed's first read; a feed's own slow-subscriber gap) takes a
    `fresh` read: one started after it asked, shared with every feed that asks before that read
    starts. One such read at a time per event: those who ask while it runs share the next."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], _Followed] = {}

    def __len__(self) -> int:
        return len(self._events)

    @contextlib.contextmanager
    def following(self, app_id: str, event_id: str) -> Iterator[None]:
        key = (app_id, event_id)
        followed = self._events.setdefault(key, _Followed())
        followed.streams += 1
        try:
            yield
        finally:
            followed.streams -= 1
            if followed.streams == 0 and self._events.get(key) is followed:
                del self._events[key]
                for task in followed.reads.values():
                    task.cancel()  # nobody is left to await it
                if followed.reader is not None:
                    followed.reader.cancel()
                if followed.waiting is not None:
                    followed.waiting.cancel()

    async def after(
        self, database: Database, app_id: str, event_id: str, notice: str
    ) -> Everyone | None:
        """The event (every published assignment) as read after `notice`, shared. Only inside
        `following(app_id, event_id)`."""
        followed = self._events[(app_id, event_id)]
        task = followed.reads.get(notice)
        if task is None or (task.done() and task.exception() is not None):
            # None yet, or it failed: its waiters saw that; whoever asks now reads anew.
            followed.reads.pop(notice, None)
            task = asyncio.ensure_future(_read_everyone(database, app_id, event_id))
            task.add_done_callback(_retrieved)
            followed.reads[notice] = task
            while len(followed.reads) > KEEP_PER_EVENT:
                followed.reads.popitem(last=False)  # its waiters still hold the task
        # Shielded: a feed that leaves (cancelled) must not cancel the others' read.
        return await asyncio.shield(task)

    async def fresh(self, database: Database, app_id: str, event_id: str) -> Everyone | None:
        """The event (every published assignment) as read by a read that starts after this
        call, shared with every caller until it starts. Only inside `following(app_id,
        event_id)`."""
        followed = self._events[(app_id, event_id)]
        waiting = followed.waiting
        if waiting is None:
            waiting = followed.waiting = asyncio.get_running_loop().create_future()
            waiting.add_done_callback(_retrieved)
            if followed.reader is None or followed.reader.done():
                followed.reader = asyncio.ensure_future(
                    _read_in_turn(database, followed, app_id, event_id)
                )
        # Shielded: a feed that leaves (cancelled) must not cancel the others' read.
        return await asyncio.shield(waiting)


async def _read_in_turn(
    database: Database, followed: _Followed, app_id: str, event_id: str
) -> None:
    """Fresh reads one after the other while anyone waits for one: each serves every caller that
    asked before it started (`SharedReads.fresh`). Never more than one at a time per event."""
    while followed.waiting is not None:
        callers, followed.waiting = followed.waiting, None
        try:
            found = await _read_everyone(database, app_id, event_id)
        except asyncio.CancelledError:
            callers.cancel()  # the event's last feed left
            raise
        except Exception as error:  # its callers see it; whoever asks next reads anew
            callers.set_exception(error)
        else:
            callers.set_result(found)


def _retrieved(task: asyncio.Future[Everyone | None]) -> None:
    """Its waiters see a failure; this keeps asyncio from logging one nobody awaited."""
    if not task.cancelled():
        task.exception()


_shared: WeakKeyDictionary[PubSub, SharedReads] = WeakKeyDictionary()


def shared_reads(pubsub: PubSub) -> SharedReads:
    """The coordinator of the feeds that listen on this pub/sub (one per app in a process)."""
    found = _shared.get(pubsub)
    if found is None:
        found = _shared[pubsub] = SharedReads()
    return found


def update(snapshot: Snapshot, moment: Moment, cause: str, now: datetime) -> LiveUpdate:
    mine = None
    if moment.round is not None:
        mine = next((a for a in snapshot.mine if a.round == moment.round), None)
    return LiveUpdate(
        event_id=snapshot.event_id,
        server_time=now,
        cause=cause,
        phase=moment.phase.value,
        round=moment.round,
        round_starts_at=moment.round_starts_at,
        round_ends_at=moment.round_ends_at,
        next_change_at=moment.next_change_at,
        schedule_version=snapshot.schedule_version,
        my_assignment=mine,
    )


async def follow(
    *,
    database: Database,
    pubsub: PubSub,
    app_id: str,
    event_id: str,
    viewer: Viewer,
    check: Callable[[], Awaitable[None]],
    keepalive_seconds: float | None = None,
) -> AsyncGenerator[LiveUpdate | KeepAlive, None]:
    """The feed: a first message at once, then one on every change of phase or of the schedule
    (and a KeepAlive after `keepalive_seconds` of quiet, if given); it ends after the `ended`
    message (or `expired`, for an event never published by its start), or when the event is
    gone. `check` raises to end it (the credential lapsed)."""
    shared = shared_reads(pubsub)
    # Subscribed before the first read: a change committed in between is heard, not lost.
    async with (
        pubsub.subscribe(mentoring_event_topic(app_id, event_id)) as messages,
        contextlib.AsyncExitStack() as stack,
    ):
        stack.enter_context(shared.following(app_id, event_id))
        # Started after the subscription, shared with the feeds opening meanwhile.
        everyone = await shared.fresh(database, app_id, event_id)
        if everyone is None:
            return
        snapshot = everyone.seen_by(viewer)
        heard: asyncio.Future[object] = asyncio.ensure_future(anext(messages))
        try:
            cause = Cause.connected
            shown: tuple[Phase, int | None] | None = None
            while True:
                now = clock.now()
                moment = snapshot.moment(now)
                if cause != Cause.phase or (moment.phase, moment.round) != shown:
                    await check()
                    yield update(snapshot, moment, cause, now)
                    shown = (moment.phase, moment.round)
                if moment.phase in (Phase.ended, Phase.expired):
                    return
                assert moment.next_change_at is not None
                woken: asyncio.Future[object] = asyncio.ensure_future(
                    clock.current.sleep_until(moment.next_change_at)
                )
                try:
                    done, _ = await asyncio.wait(
                        {heard, woken},
                        timeout=keepalive_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    woken.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await woken
                if heard in done:
                    # A schedule notice or a gap marker: read again (shared) either way.
                    notice = heard.result()
                    heard = asyncio.ensure_future(anext(messages))
                    if isinstance(notice, ScheduleNotice):
                        everyone = await shared.after(database, app_id, event_id, notice.id)
                    elif isinstance(notice, Gap) and notice.interruption is not None:
                        key = f"interruption {notice.interruption}"  # never an event's id
                        everyone = await shared.after(database, app_id, event_id, key)
                    else:  # this subscriber's own gap (it fell behind)
                        everyone = await shared.fresh(database, app_id, event_id)
                    if everyone is None:
                        return
                    found = everyone.seen_by(viewer)
                    # A shared read may predate this feed's first read (the notice was heard
                    # late): never step back to an older schedule.
                    if found.schedule_version >= snapshot.schedule_version:
                        snapshot = found
                    cause = Cause.schedule
                elif woken in done:
                    cause = Cause.phase
                else:
                    await check()
                    yield KeepAlive()
                    cause = Cause.phase  # nothing to show unless the phase moved meanwhile
        finally:
            heard.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await heard


class StreamSlots:
    """How many live streams each caller holds open in this process, at most `limit` each.
    One entry per caller with a stream open (none left behind when they close), so it is
    bounded by the streams themselves."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def take(self, caller: str) -> bool:
        held = self._open.get(caller, 0)
        if held >= self.limit:
            return False
        self._open[caller] = held + 1
        return True

    def give_back(self, caller: str) -> None:
        held = self._open.get(caller, 0) - 1
        if held > 0:
            self._open[caller] = held
        else:
            self._open.pop(caller, None)

    def held(self, caller: str) -> int:
        return self._open.get(caller, 0)
