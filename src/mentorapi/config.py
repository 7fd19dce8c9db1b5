"""Settings, read from MENTORAPI_* environment variables (each one is listed in the README)."""

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MENTORAPI_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./mentorapi.db"
    # PostgreSQL behind PgBouncer in transaction mode (README "PgBouncer"): what needs a session
    # of its own (LISTEN for the key cache and the webhook workers, migrations) connects here,
    # straight to PostgreSQL, since a pooled server connection is another client's after each
    # transaction. Empty: the main URL (right without PgBouncer, or with it in session mode).
    direct_database_url: str = ""
    # asyncpg's prepared statements, cached per connection: on without PgBouncer, and behind
    # PgBouncer >= 1.21 with `max_prepared_statements` set. Behind an older PgBouncer in
    # transaction mode turn it off: a statement prepared on one server connection is unknown
    # to the next ("prepared statement ... does not exist").
    database_statement_cache: bool = True
    # Connection pool per process; PostgreSQL only (SQLite keeps SQLAlchemy's own pool sizes).
    # Steady, with no overflow by default: SQLAlchemy closes an overflow connection as soon as
    # it is handed back while the pool is full, so under load that hovers above the pool size
    # a new PostgreSQL connection (a backend process, a handshake, type introspection) was
    # opened for a good share of requests: measured, a third of the list's throughput. Above
    # the pool size requests wait their turn for a connection instead.
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_max_overflow: int = Field(default=0, ge=0, le=200)
    # How long a request waits for a free pooled connection before it is answered 503
    # `database-busy` with Retry-After (GraphQL: SERVICE_UNAVAILABLE), nothing written. On
    # PostgreSQL and on SQLite (whose file database SQLAlchemy pools too: 5 connections and
    # 10 overflow, not sized by the two settings above). SQLAlchemy's own default is 30 s,
    # which under overload held each client 30 s for an answer it could have had at once.
    # 5 s: a connection is held for milliseconds per request, so a burst the pool can absorb
    # drains well within it, and a wait past it means the database is overloaded, when a
    # client is better served by a quick 503 and retrying than by a hang; and it stays under
    # the timeouts in front of us (clients' ~10 s, the balancer's header timeout of 10 s),
    # so the client gets our answer rather than its own timeout.
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    # Requests' write transactions open at once in one process (db/writers.py); more wait
    # their turn, in order, before opening theirs: holding no connection, lock or snapshot.
    # A process runs one transaction's Python at a time, so the others sit idle in
    # transaction holding their row locks (a booking's mentor's), and with many open, lock
    # waits chain. Enough must be open to keep the process busy while the others' statements
    # run: bookings at 100 clients (bench/README.md) ran faster, with a lower p99 and
    # for less CPU, at 8 than at 20 (the pool: no turns) or 4. Per process: N processes hold
    # up to N times as many. Reads take no turn. A wait past
    # MENTORAPI_DB_POOL_TIMEOUT_SECONDS is answered 503 `database-busy` with Retry-After,
    # nothing written, as a wait for a connection is.
    db_write_concurrency: int = Field(default=8, ge=1, le=200)
    # Requests waiting for a turn in one process; one more is answered that 503 at once,
    # rather than queued behind more than it could pass within the timeout.
    db_write_queue: int = Field(default=200, ge=0, le=10_000)
    db_echo: bool = False

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # A request's body must have arrived this long after the request reached the application
    # (limits.py): a client trickling it, or stalling, gets a 408 and its connection back.
    request_body_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    # And its headers within this long of the connection opening (or of their first byte, on a
    # kept-alive connection), or `serve` closes the connection (http_protocol.py).
    request_header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)

    # Stopping gracefully (README "Rolling restarts"). On SIGTERM `serve` first drains: /readyz
    # answers 503 while every other request is served as before, for this long, so that the
    # load balancer's health checks take the process out while it still accepts connections.
    # Keep it above the balancer's time to mark a server down (deploy/haproxy.cfg: under 2 s).
    # 0: stop accepting at once (one process, no balancer).
    shutdown_drain_seconds: float = Field(default=5.0, ge=0, le=300)
    # Then it stops accepting and waits this long at most for the requests in flight (uvicorn's
    # graceful shutdown timeout); `worker` (and the in-process worker) waits this long at most
    # for the deliveries in flight, and hands back the claims of those not finished.
    shutdown_timeout_seconds: int = Field(default=15, ge=1, le=600)

    # Where the demo's API key is remembered between `make run`s (the key itself is stored hashed).
    demo_key_file: str = ".mentorapi-demo-key"

    # Webhook delivery (see README "Receiving webhooks").
    webhook_allow_private_urls: bool = False
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,50400,72000,86400"
    webhook_worker_enabled: bool = True
    # Deliveries in flight at once in one worker process.
    webhook_worker_concurrency: int = Field(default=32, ge=1, le=1000)
    # One HTTP attempt may take this long in all (connect, send, wait, read).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # A claimed delivery is due again after this long if its worker died: keep it above the
    # timeout (at least once, never lost).
    webhook_lease_seconds: float = Field(default=60.0, gt=0, le=3600)

    # Reminders and the other time-driven events (src/mentorapi/reminders/): the worker runs
    # wherever webhooks are delivered. Rows claimed per transaction; a reminder later than the
    # grace (the worker was down) is dropped, never sent (other kinds are sent late, saying so).
    scheduler_batch_size: int = Field(default=500, ge=1, le=5000)
    reminder_grace_seconds: float = Field(default=300.0, ge=0, le=86400)

    # Jobs (src/mentorapi/jobs/: match runs, large schedules) run wherever webhooks are
    # delivered. A claimed job is due again after its lease if its worker died (renewed while
    # it runs); a job whose handler keeps failing fails after this many attempts.
    job_lease_seconds: float = Field(default=60.0, ge=1, le=3600)
    job_max_attempts: int = Field(default=3, ge=1, le=20)

    # The live feed of a speed-mentoring event (GET /v1/mentoring-events/{id}/live, Server-Sent
    # Events): a comment line this often keeps proxies from closing an idle stream; one caller
    # (an API key, a member) holds at most this many streams open in one process (each is a task
    # and a subscription), a 429 past it.
    live_keepalive_seconds: float = Field(default=15.0, gt=0, le=300)
    live_streams_per_caller: int = Field(default=4, ge=1, le=100)
    # GraphQL WebSockets one credential holds open at once in one process (graphql/sockets.py):
    # each is a task, a session and up to 20 operations. `connection_init` past it closes 4429.
    graphql_sockets_per_key: int = Field(default=50, ge=1, le=10_000)
    graphql_sockets_per_member: int = Field(default=5, ge=1, le=1_000)

    # Housekeeping in each `serve` and `worker` process (expire unanswered requests, forget
    # Idempotency-Keys older than 24 h, prune by retention), every interval. Safe in many
    # processes at once: each skips rows another process holds. Off in the test suite's
    # default settings.
    housekeeping_enabled: bool = True
    housekeeping_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Retention, pruned by housekeeping in short batches (src/mentorapi/retention.py): webhook
    # deliveries over (succeeded or gave up) for this many days, with their attempts, and events
    # older than that with no delivery left; the latest event of each object is kept whatever
    # its age, so its `sequence` goes on. Finished jobs older than their window go too, except
    # those a match run or a speed-mentoring event still names.
    webhook_retention_days: int = Field(default=30, ge=1, le=3650)
    job_retention_days: int = Field(default=30, ge=1, le=3650)

    # PostgreSQL: after a burst of writes (a bulk import), each API process asks PostgreSQL
    # which tables changed by more than autovacuum's threshold since their last ANALYZE and
    # analyzes them, at most once every delay seconds (src/mentorapi/db/statistics.py), so
    # plans do not wait a minute (or forever, with autovacuum off) for fresh statistics.
    auto_analyze: bool = True
    auto_analyze_delay_seconds: float = Field(default=2.0, gt=0, le=3600)

    # Rate limits (see docs/member-tokens.md "Rate limits"): a token bucket per API key and per
    # member token. Off in the test suite's default settings and for benchmarks.
    rate_limits_enabled: bool = True
    # memory: one bucket per process (right for a single process, and for SQLite);
    # postgres: buckets in a table, shared by every process and host on the same database;
    # auto: postgres on PostgreSQL, memory on SQLite. A PostgreSQL deployment is the one that
    # runs several processes or hosts, where buckets per process would each grant the whole
    # budget: a limit N times the documented one, by default and silently. Its cost is one
    # short statement per request; one process on PostgreSQL may save it with `memory`.
    rate_limit_backend: Literal["auto", "memory", "postgres"] = "auto"
    # postgres: the bucket statement's own pool, beside MENTORAPI_DB_POOL_SIZE's, per process
    # (db/engine.py says why it is not the requests' pool). Each statement holds a connection
    # for one round trip, so a few serve thousands of requests a second.
    rate_limit_pool_size: int = Field(default=2, ge=1, le=50)
    # The refill window: a bucket holds the budget below and refills it fully over this window.
    rate_limit_window_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Requests per window for each API key (server to server, so generous).
    rate_limit_per_window: int = Field(default=600, ge=1, le=1_000_000)
    # Requests per window for each member (one person on a phone or in a browser).
    rate_limit_member_per_window: int = Field(default=120, ge=1, le=1_000_000)

    # Origins (scheme://host[:port]) that browsers may call from for every app, comma-separated,
    # in addition to each app's own `cors_origins` (PATCH /v1/app).
    cors_origins: str = ""
    graphql_introspection: bool = True

    # PostgreSQL: each process remembers the apps of the API keys it has seen, and forgets them
    # when PostgreSQL notifies a change (src/mentorapi/apps/keycache.py); false reads every key.
    key_cache: bool = True

    # The hottest GETs (free slots, the mentor list) served by lean routes beside their FastAPI
    # routes: the same answers for less CPU (src/mentorapi/kit/lean.py); false leaves every
    # request to FastAPI.
    lean_routes: bool = True

    # Adds an `X-SQL-Statements` header (SQL statements run for the request) to every response:
    # for the query-count check of `make bench`, never for production (it costs a list per request).
    debug_sql_count: bool = False

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/").lower() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def rate_limit_store(self) -> Literal["memory", "postgres"]:
        """The backend `auto` stands for here."""
        if self.rate_limit_backend == "auto":
            return "memory" if self.is_sqlite else "postgres"
        return self.rate_limit_backend

    @property
    def session_database_url(self) -> str:
        """Where LISTEN and migrations connect: the direct URL, else the main one."""
        return self.direct_database_url or self.database_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
