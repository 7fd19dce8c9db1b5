"""create_app(): the ASGI application with its lifespan, routers, error handlers and docs."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from mentorapi import __version__, housekeeping
from mentorapi.apps.cors import CorsMiddleware
from mentorapi.apps.keycache import create_key_cache
from mentorapi.apps.rest import router as app_router
from mentorapi.availability.rest import lean_routes as availability_lean_routes
from mentorapi.availability.rest import router as availability_router
from mentorapi.cohorts.rest import cohorts as cohorts_router
from mentorapi.cohorts.rest import match_runs as match_runs_router
from mentorapi.cohorts.rest import matches as matches_router
from mentorapi.config import Settings, get_settings
from mentorapi.db.debug import SqlStatementCount
from mentorapi.db.dropped import RetryDroppedReads
from mentorapi.db.engine import create_database
from mentorapi.db.statistics import create_keeper
from mentorapi.drain import Drain
from mentorapi.feedback.rest import router as feedback_router
from mentorapi.goals.rest import router as goals_router
from mentorapi.graphql.router import install_graphql
from mentorapi.group_sessions.rest import router as group_sessions_router
from mentorapi.health import router as health_router
from mentorapi.jobs.runner import JobRunner
from mentorapi.kit import lean, openapi
from mentorapi.kit.idempotency import IdempotencyMiddleware
from mentorapi.kit.problems import install_problem_handlers
from mentorapi.kit.ratelimit import RateLimitHeaders, create_rate_limiter
from mentorapi.kit.text import refuse_unstorable_text
from mentorapi.limits import BodySizeLimit
from mentorapi.matching.rest import lean_routes as matching_lean_routes
from mentorapi.matching.rest import router as matching_router
from mentorapi.mentees.rest import router as mentees_router
from mentorapi.mentoring_events.live import StreamSlots
from mentorapi.mentoring_events.rest import router as mentoring_events_router
from mentorapi.mentors.rest import lean_routes as mentors_lean_routes
from mentorapi.mentors.rest import router as mentors_router
from mentorapi.metrics import Metrics, MetricsMiddleware
from mentorapi.reminders.rest import router as reminders_router
from mentorapi.reminders.worker import Scheduler
from mentorapi.retention import Retention
from mentorapi.sessions.rest import lean_routes as sessions_lean_routes
from mentorapi.sessions.rest import router as sessions_router
from mentorapi.sessions.rest import series_router
from mentorapi.skills.rest import router as skills_router
from mentorapi.webhooks.docs import router as webhook_docs
from mentorapi.webhooks.rest import router as webhooks_router
from mentorapi.webhooks.worker import Worker

DESCRIPTION = """
The back end for micro-mentoring apps: mentors and the skills they teach, mentees and what they
want to learn, short focused sessions, feedback on what the advice changed, and webhooks.

Authenticate with `Authorization: Bearer <api key>` (the app's servers) or
`Authorization: Bearer <member token>` (one member, from a phone or a browser).
Errors are `application/problem+json` (RFC 9457); each status documents its members.
Every POST takes an `Idempotency-Key`; objects that change carry a `version`, sent as `ETag` and
checked against `If-Match`.
Lists take `limit` (1-100) and `cursor` and answer `{"data": [...], "next_cursor": ...}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = create_database(settings)
        app.state.key_cache = (
            create_key_cache(settings.session_database_url) if settings.key_cache else None
        )
        if app.state.key_cache is not None:
            app.state.key_cache.watch(app.state.db.engine)
            await app.state.key_cache.start()
        app.state.rate_limiter = create_rate_limiter(settings, app.state.db)
        app.state.statistics = create_keeper(
            app.state.db.engine,
            enabled=settings.auto_analyze,
            delay=settings.auto_analyze_delay_seconds,
        )
        if app.state.statistics is not None:
            app.state.statistics.start()
        app.state.housekeeping = (
            housekeeping.start(
                app.state.db,
                settings.housekeeping_interval_seconds,
                Retention.from_settings(settings),
            )
            if settings.housekeeping_enabled
            else None
        )
        # Everything alive after startup (modules, models, routes: ~100k objects) lives as
        # long as the process. Frozen, the collector stops re-walking it: full collections
        # go from ~100 ms pauses under load (a p99 spike for every request in flight) to <1 ms.
        gc.collect()
        gc.freeze()
        # A request nets a few thousand container objects, nearly all freed by refcount when it
        # ends: at the default threshold (700) the young generation is collected about once per
        # request for nothing. Under load the count also carries every in-flight request's live
        # objects: at 10,000 a GraphQL mentors page (32 connections) collected once per 18
        # requests, each pass walking and promoting the in-flight ones (0.4 ms CPU a request,
        # 10% of it); at 50,000 once per ~350 (0.1 ms), gen1 passes all but gone (bench/README.md,
        # "GraphQL under uvicorn"). Cycles still go; a young pass is ~30 ms at that load.
        gc.set_threshold(50_000, 10, 10)
        worker = Worker(app.state.db, settings) if settings.webhook_worker_enabled else None
        # Time-driven events feed the same outbox: their worker runs with the delivery worker.
        scheduler = Scheduler(app.state.db, settings) if settings.webhook_worker_enabled else None
        app.state.scheduler = scheduler
        jobs = JobRunner(app.state.db, settings) if settings.webhook_worker_enabled else None
        app.state.jobs = jobs
        if worker is not None:
            await worker.start()
        if scheduler is not None:
            await scheduler.start()
        if jobs is not None:
            await jobs.start()
        # Under `mentorapi serve`: SIGTERM drains before uvicorn stops accepting (drain.py).
        app.state.drain.install(settings.shutdown_drain_seconds)
        try:
            yield
        finally:
            app.state.drain.uninstall()
            if jobs is not None:
                await jobs.stop()
            if scheduler is not None:
                await scheduler.stop()
            if worker is not None:
                await worker.stop()
            if app.state.housekeeping is not None:
                await housekeeping.stop(app.state.housekeeping)
            if app.state.statistics is not None:
                await app.state.statistics.stop()
            if app.state.key_cache is not None:
                await app.state.key_cache.stop()
            await app.state.db.dispose()
            app.state.metrics.close()

    # Swagger UI and ReDoc with their assets served by us: the docs work offline.
    app = FastAPIOffline(
        title="mentorapi",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        favicon_url="data:,",
        # Swagger UI would otherwise load a validator badge from an outside host.
        swagger_ui_parameters={"validatorUrl": None},
        # `listMentors`, not `list_mentors_v1_mentors_get`: the names generated clients show.
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.settings = settings
    app.state.drain = Drain()
    app.state.live_streams = StreamSlots(settings.live_streams_per_caller)
    install_problem_handlers(app)
    # Every REST route refuses text the database cannot store (kit/text.py); GraphQL checks
    # its arguments and variables itself (graphql/text.py), to answer in its own error shape.
    admitted = [Depends(refuse_unstorable_text)]
    # First: routing walks the included routers in order, and /graphql found after every REST
    # router cost a GraphQL request 1.2M instructions (a third of `{ __typename }`); REST's
    # routes do not notice the two routes before them.
    graphql_lean = install_graphql(app, settings)
    for router in (
        health_router,
        app_router,
        reminders_router,
        skills_router,
        mentors_router,
        mentees_router,
        availability_router,
        sessions_router,
        series_router,
        group_sessions_router,
        goals_router,
        feedback_router,
        matching_router,
        cohorts_router,
        match_runs_router,
        matches_router,
        mentoring_events_router,
    ):
        app.include_router(router, dependencies=admitted)
    app.include_router(webhooks_router, dependencies=admitted)
    app.webhooks.include_router(webhook_docs)
    openapi.install(app)
    if settings.lean_routes:
        lean.install(
            app.router.routes,
            [
                graphql_lean,  # first, as the GraphQL router is (above)
                *availability_lean_routes,
                *mentors_lean_routes,
                *matching_lean_routes,
                *sessions_lean_routes,
            ],
        )

    metrics = app.state.metrics = Metrics()
    app.add_route("/metrics", metrics.endpoint, include_in_schema=False)
    # Innermost: a read retried after a dropped connection is one request to all the others.
    app.add_middleware(RetryDroppedReads)
    # Inside the metrics: a replayed response is still a request served.
    app.add_middleware(IdempotencyMiddleware, database=lambda: app.state.db)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(BodySizeLimit, timeout_seconds=settings.request_body_timeout_seconds)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(CorsMiddleware, global_origins=settings.cors_origin_list)
    if settings.debug_sql_count:
        app.add_middleware(SqlStatementCount)
    return app
