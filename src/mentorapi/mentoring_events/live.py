"""The live feed of an event: where the room is now, pushed on every change of phase.

The server's clock is the event's clock. Phases follow from the clock alone (models.Timeline),
so every process computes them for its own subscribers: a feed sleeps until the next change
and then sends it, whoever else is listening wherever. A change of the schedule (published, or
solved again after a no-show or a late arrival) is a committed event row, which reaches the
feeds of every process the way session changes reach GraphQL subscriptions (on PostgreSQL a
trigger's NOTIFY read by graphql/fanout.py in each process, on SQLite graphql/feed.py after
the commit); a feed then reads the member's assignments again. A gap marker (the process lost
its LISTEN connection for a while) is read as a change too: the feed reads again, loses
nothing.

One generator serves both faces: `GET /v1/mentoring-events/{id}/live` (Server-Sent Events,
rest.py) and the GraphQL subscription `eventLive` (gql.py). Before each message it asks
`check` whether the caller may still hear it (the credential still holds); the HTTP face also
asks for `KeepAlive`s while nothing happens. A feed holds no database session or transaction
while it waits.
"""

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from mentorapi.db.engine import Database, write_intent
from mentorapi.graphql.feed import mentoring_event_topic
from mentorapi.graphql.pubsub import PubSub
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


async def read(database: Database, app_id: str, event_id: str, viewer: Viewer) -> Snapshot | None:
    """The event now (None: it is gone), in a short read of its own."""
    token = write_intent.set(False)  # SQLite: a reader's BEGIN, never queued behind writers
    try:
        async with database.read_sessionmaker() as db_session:
            state = await service.live_state(db_session, app_id, event_id, viewer)
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
    # Subscribed before the first read: a change committed in between is heard, not lost.
    async with pubsub.subscribe(mentoring_event_topic(app_id, event_id)) as messages:
        snapshot = await read(database, app_id, event_id, viewer)
        if snapshot is None:
            return
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
                    heard.result()  # a schedule notice, or a gap marker: read again either way
                    heard = asyncio.ensure_future(anext(messages))
                    found = await read(database, app_id, event_id, viewer)
                    if found is None:
                        return
                    snapshot, cause = found, Cause.schedule
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
