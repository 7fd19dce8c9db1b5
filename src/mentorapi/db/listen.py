"""LISTEN on a PostgreSQL channel, on a connection of its own, until the task is cancelled.

A pooled connection would be handed to others, so each listener opens its own with asyncpg,
named (`application_name`) so that it shows in `pg_stat_activity`. When it is lost (or a ping
goes unanswered) it says so and connects again; what a listener does meanwhile (poll, keep
nothing) is its own business: `on_up` runs once LISTEN is in place, `on_down` when it is not.
Used by the webhook worker (wake up), the key cache (forget) and the subscription fan-out (read
the events named in the payloads: `on_payload`), with `Settings.session_database_url`: behind
PgBouncer in transaction mode a LISTEN would be left on a server connection that PgBouncer
hands to others, and no notice would reach us.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # between a lost or failed connection and the next try
PING_TIMEOUT = 5.0


def asyncpg_dsn(database_url: str) -> str:
    """The libpq DSN of a SQLAlchemy URL (`postgresql+asyncpg://…`), for asyncpg itself."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _connect(dsn: str, name: str) -> asyncpg.Connection:
    attempt = asyncio.ensure_future(
        asyncpg.connect(dsn, timeout=10, server_settings={"application_name": name})
    )
    try:
        return await asyncio.shield(attempt)
    except asyncio.CancelledError:
        # Cancelled in the middle of its TLS negotiation, asyncpg leaves a future whose error
        # nobody reads, logged as "Future exception was never retrieved" whenever it is
        # collected (in a later test, say). Let the attempt end instead, and close what it made.
        with contextlib.suppress(Exception):
            connection = await asyncio.wait_for(attempt, PING_TIMEOUT)
            await connection.close(timeout=2)
        raise


async def listen(
    database_url: str,
    channel: str,
    on_notice: Callable[[], None],
    *,
    name: str,
    on_up: Callable[[], None] = lambda: None,
    on_down: Callable[[], None] = lambda: None,
    ping_every: float | None = None,
    on_payload: Callable[[str], None] | None = None,
) -> None:
    """Call `on_notice` (or `on_payload` with its payload) for every NOTIFY on `channel`, for as
    long as this runs."""
    dsn = asyncpg_dsn(database_url)
    while True:
        closed = asyncio.Event()
        connection: asyncpg.Connection | None = None
        try:
            connection = await _connect(dsn, name)
            connection.add_termination_listener(lambda _c, ev=closed: ev.set())
            if on_payload is not None:
                await connection.add_listener(channel, lambda *args: on_payload(args[-1]))
            else:
                await connection.add_listener(channel, lambda *_args: on_notice())
            on_up()
            while not closed.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), ping_every)
                if ping_every is not None and not closed.is_set():
                    await connection.fetchval("SELECT 1", timeout=PING_TIMEOUT)
            log.warning("%s: LISTEN connection closed; reconnecting", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: LISTEN failed; trying again", name)
        finally:
            on_down()
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close(timeout=2))
        await asyncio.sleep(RETRY_SECONDS)
