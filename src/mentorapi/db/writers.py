"""Writers take turns: at most MENTORAPI_DB_WRITE_CONCURRENCY write transactions of requests open
at once in one process; the rest wait here, in order, before they open one.

Why (bench/README.md, "Bookings: write transactions take turns"): a process is one event loop,
so of its open write transactions one runs Python at a time and the others sit idle in
transaction, holding their locks (a booking holds its mentor's row `FOR UPDATE` from its first
check to its commit) and their snapshots. With 100 clients on a pool of 20 per process, about
31 of the 40 transactions of two processes were idle at any moment and about 3 waited on a row
lock held by an idle one: every lock was held for as long as the process took to come back to
its holder, and lock waits chained. With 8 turns a process, lock waits all but went (about 0.2
backends), PostgreSQL's CPU per booking fell, and the closed loop's p99 fell to about a third.
Too few turns cost throughput instead: each transaction's round trips wait for PostgreSQL and
for the scheduler (more so on a busy machine), and a process needs enough transactions open to
hide that wait behind another's Python (4 turns a process booked slower than 8, and in most
pairs slower than no turns). The rest wait here holding nothing: no connection, no lock, no
snapshot.

What takes a turn: a request's write unit of work, however it is opened (db/uow.py's session
of a POST, PUT, PATCH or DELETE; `writable()`'s short write from a read; the Idempotency-Key
middleware's unit of work, kit/idempotency.py), before its session is opened. A unit of work
opened inside one already holding a turn (the route's session inside the middleware's) goes on
with it: a request never holds a turn while waiting for a second, which would deadlock as
N such requests on N turns. Reads (GET, and POSTs that only read) take none: they run
without a transaction on PostgreSQL and hold no lock. Nor do background workers, whose
concurrency has settings of its own, nor GraphQL's sessions over a WebSocket, which the
socket keeps for its life. A GraphQL operation over HTTP that writes (a mutation) takes one
when its session opens and gives it back when its unit of work ends (`take`; one sent with
an Idempotency-Key has the middleware's).

Waiting ends as waiting for a pooled connection does (db/busy.py): after
MENTORAPI_DB_POOL_TIMEOUT_SECONDS the request is answered 503 `database-busy` with
Retry-After, nothing written; and a request that finds MENTORAPI_DB_WRITE_QUEUE already
waiting gets that answer at once, rather than a place in a queue it would not leave in time.
A waiter that is cancelled or times out leaves the queue; a turn is given back however its
unit of work ends (commit, error, cancellation), and handed to the longest waiter.

Per process, by nature (an event loop's count): N processes hold up to N times as many write
transactions, each with its own queue, so size PostgreSQL (and PgBouncer's pool) for
processes x turns, as for the pool. The database's own rules (row locks, the exclusion
constraint) still decide every conflict between processes; turns only order the writes of
one process, and nothing depends on them for correctness.
"""

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar


class WritersBusy(Exception):
    """No turn for this request: the queue was full, or its wait ran past the deadline.
    Nothing of the request was written; answered as a busy database (db/busy.py)."""


class _Turn:
    """One turn, held by a request's task (and the tasks it starts) until given back."""

    __slots__ = ("held", "owner")

    def __init__(self, owner: "Writers") -> None:
        self.owner = owner
        self.held = True


# The turn the current task holds, if any: a unit of work opened inside it takes no second.
_holding: ContextVar[_Turn | None] = ContextVar("mentorapi_write_turn", default=None)


class Writers:
    def __init__(self, concurrency: int, queue: int, timeout: float) -> None:
        if concurrency < 1 or queue < 0 or timeout <= 0:
            raise ValueError("writers: concurrency >= 1, queue >= 0, timeout > 0")
        self.concurrency = concurrency
        self.queue = queue
        self.timeout = timeout
        self.running = 0  # turns held
        # Futures of the waiters, oldest first; a turn given back goes to the first one not
        # done (the running count stays: the turn changes hands).
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold a turn for the block (or go on with the one this task already holds).
        Raises WritersBusy on entry when none comes in time, or the queue is full."""
        held = _holding.get()
        if held is not None and held.held and held.owner is self:
            yield
            return
        await self._acquire()
        turn = _Turn(self)
        token = _holding.set(turn)
        try:
            yield
        finally:
            turn.held = False
            _holding.reset(token)
            self._release()

    async def take(self) -> Callable[[], None]:
        """A turn held beyond the block that takes it; returns the call that gives it back
        (once, however often called). For GraphQL over HTTP (graphql/context.py), whose
        mutation opens its session in a resolver's task and ends its unit of work in the
        request's, so no context manager spans both. Not re-entrant: only for a unit of work
        in which nothing takes a second turn (a mutation's session is writable, so
        `writable()` takes none inside it)."""
        await self._acquire()
        given = False

        def give_back() -> None:
            nonlocal given
            if not given:
                given = True
                self._release()

        return give_back

    async def _acquire(self) -> None:
        if self.running < self.concurrency and not self._waiters:
            self.running += 1
            return
        if self.waiting >= self.queue:
            raise WritersBusy("too many write transactions waiting in this process")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed a turn just as it was cancelled or timed out: pass it on.
                self._release()
            elif waiter in self._waiters:  # not yet passed over by a `_release`
                self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise WritersBusy("no write turn within the deadline") from None
            raise

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.running -= 1
