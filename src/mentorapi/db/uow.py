"""The unit of work: one session per request, committed once at the end, rolled back on error."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.db.engine import WRITER, WRITERS, Database, write_intent
from mentorapi.db.writers import Writers
from mentorapi.kit import idempotency

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


# Set by `reads_only` in the request's scope.
READS_ONLY = "mentorapi.reads_only"


def reads_only(request: Request) -> None:
    """A route dependency for a POST that only reads (a question too large or too structured
    for a query string, as a recommendation's ask): its unit of work is the read-only one of a
    GET, so no BEGIN and COMMIT on PostgreSQL. A route's own dependencies are solved before
    its parameters', so the one session the route and its caller's authentication share is
    opened read-only. With an Idempotency-Key the middleware's unit of work is used all the
    same."""
    request.scope[READS_ONLY] = True


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    writes = request.method not in READ_METHODS and not request.scope.get(READS_ONLY)
    # Reset on the way out: a GET's read-only intent must not outlive its unit of work, even
    # when what follows runs in the same task (after `unit_of_work`, or a test's client that
    # runs the app in the test's own task).
    token = write_intent.set(writes)
    try:
        owned = idempotency.unit_of_work(request)
        if owned is not None:
            # A POST with an Idempotency-Key: the middleware opened this unit of work and
            # commits it together with the key (kit/idempotency.py); an error still rolls it
            # back here.
            try:
                yield owned
            except BaseException:
                await owned.rollback()
                raise
            return
        database = get_database(request)
        if not writes:
            # Nothing to commit: closing hands the connection back (and, on SQLite, ends the
            # read transaction); a commit would only walk SQLAlchemy's transaction state for
            # nothing.
            async with database.read_sessionmaker() as session:
                yield session
            return
        # Its turn first (db/writers.py): the session is opened once this process runs few
        # enough write transactions.
        async with database.writers.turn(), database.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
    finally:
        write_intent.reset(token)


# The same unit of work for code that runs outside FastAPI's dependencies (kit/lean.py).
unit_of_work = asynccontextmanager(_session)

# scope="function": the commit runs before the response is sent, so a failed commit is an error
# response, never a 2xx for a change that did not happen.
DbSession = Annotated[AsyncSession, Depends(_session, scope="function")]


@asynccontextmanager
async def writable(db_session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A session that may write: `db_session` itself, or, inside a read-only unit of work (a
    GET), a short write transaction of its own, committed on the way out. For reads that put
    right what time has changed (a request that expired unanswered): that repair stands on its
    own, whatever the read does next, and the read then sees it."""
    writer = db_session.info.get(WRITER)
    if writer is None:
        yield db_session
        return
    writers: Writers = db_session.info[WRITERS]
    # The read hands its connection back first (ending its transaction where there is one,
    # SQLite, so its next statement reads a snapshot that includes the write; on PostgreSQL,
    # autocommit, nothing else): holding it while the write waits for a second one from the
    # same pool, N such reads on a pool of N would each wait for the others until the pool
    # timeout (503). Nothing it loaded is expired (expire_on_commit=False).
    await db_session.commit()
    token = write_intent.set(True)  # SQLite: BEGIN IMMEDIATE, as for any writer
    try:
        # A write's turn, as for any request's write (db/writers.py); the read holds none.
        async with writers.turn(), writer() as session, session.begin():
            yield session
    finally:
        write_intent.reset(token)
