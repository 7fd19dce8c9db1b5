"""create_app(): the ASGI application with its lifespan, routers, error handlers and docs."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from mentorapi import __version__
from mentorapi.apps.rest import router as app_router
from mentorapi.config import Settings, get_settings
from mentorapi.db.engine import create_database
from mentorapi.health import router as health_router
from mentorapi.kit.problems import install_problem_handlers
from mentorapi.limits import BodySizeLimit
from mentorapi.mentees.rest import router as mentees_router
from mentorapi.mentors.rest import router as mentors_router
from mentorapi.metrics import Metrics, MetricsMiddleware
from mentorapi.skills.rest import router as skills_router
from mentorapi.webhooks.docs import router as webhook_docs
from mentorapi.webhooks.rest import router as webhooks_router
from mentorapi.webhooks.worker import Worker

DESCRIPTION = """
The back end for micro-mentoring apps: mentors and the skills they teach, mentees and what they
want to learn, short focused sessions, feedback on what the advice changed, and webhooks.

Authenticate with `Authorization: Bearer <api key>`. Errors are `application/problem+json`.
Lists take `limit` (1-100) and `cursor` and answer `{"data": [...], "next_cursor": ...}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = create_database(settings)
        worker = Worker(app.state.db, settings) if settings.webhook_worker_enabled else None
        if worker is not None:
            await worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            await app.state.db.dispose()

    # Swagger UI and ReDoc with their assets served by us: the docs work offline.
    app = FastAPIOffline(
        title="mentorapi",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        favicon_url="data:,",
    )
    app.state.settings = settings
    install_problem_handlers(app)
    for router in (health_router, app_router, skills_router, mentors_router, mentees_router):
        app.include_router(router)
    app.include_router(webhooks_router)
    app.webhooks.include_router(webhook_docs)

    metrics = Metrics()
    app.add_route("/metrics", metrics.endpoint, include_in_schema=False)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(BodySizeLimit)
    return app
