"""The database is busy: a request waited too long for its turn. Never a 500.

Two waits end this way, both before anything of the request was written:

- The pool (PostgreSQL, and SQLite's file database, which SQLAlchemy pools too: 5 connections
  and 10 overflow): every connection was in use for `MENTORAPI_DB_POOL_TIMEOUT_SECONDS`, and
  SQLAlchemy raised `sqlalchemy.exc.TimeoutError` ("QueuePool limit ... connection timed
  out"). That is not a DBAPIError: no statement ran, and the wait took nothing from the pool
  (no connection, no overflow slot), so it keeps its size.
- SQLite's single write lock: "database is locked" after busy_timeout.
- A write's turn (db/writers.py, `WritersBusy`): no turn within the pool timeout, or the
  process's queue of writers already full (answered at once).

Both answer 503 problem+json `database-busy` with Retry-After (`kit/problems.py`), or GraphQL's
SERVICE_UNAVAILABLE with `retryAfter` and no data (`graphql/errors.py`): the same code as a
dropped connection, since the client does the same thing (waits and retries), with its own
message. A busy read is never run again by `RetryDroppedReads`: the pool that was full a
moment ago still is, and a second wait would double the client's.
"""

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mentorapi.db.writers import WritersBusy

__all__ = ["PoolTimeout", "WritersBusy", "is_busy"]


def is_busy(exc: BaseException) -> bool:
    """True when `exc` says the database was too busy to serve the request in time."""
    if isinstance(exc, (PoolTimeout, WritersBusy)):
        return True
    if isinstance(exc, DBAPIError):
        return "database is locked" in str(exc.orig)
    cause = exc.__cause__
    return cause is not None and cause is not exc and is_busy(cause)
