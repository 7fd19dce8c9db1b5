"""Mount GraphQL at /graphql, with an offline GraphiQL: every asset is served from here."""

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from mentorapi.config import Settings
from mentorapi.graphql.context import Context, get_context
from mentorapi.graphql.feed import install_feed
from mentorapi.graphql.pubsub import PubSub
from mentorapi.graphql.schema import build_schema
from mentorapi.kit.errors import Unauthenticated

PATH = "/graphql"
ASSETS_PATH = "/graphql/assets"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "graphiql"
PAGE = STATIC_DIR.parent / "graphiql.html"  # a template, so not among the served files

# Only our own origin: the page cannot load or send anything elsewhere even if a bundle tried.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@cache
def graphiql_html(assets: str) -> str:
    return PAGE.read_text().replace("{{ASSETS}}", assets)


class MentorapiGraphQLRouter(GraphQLRouter[Context, None]):
    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        assets = request.scope.get("root_path", "").rstrip("/") + ASSETS_PATH
        return HTMLResponse(
            graphiql_html(assets),
            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
        )

    def decode_json(self, data: str | bytes) -> object:
        # JSON nested deeper than the interpreter's stack (`[[[[...]]]]` in the variables) is
        # not JSON we can read: strawberry's 400 (over WebSocket, 4400), not a RecursionError.
        try:
            return json.loads(data)
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply", "", 0) from None

    async def on_ws_connect(self, context: Context) -> None:
        # Authenticate once per WebSocket, at connection_init: a bad key closes it with 4403.
        try:
            await context.app()
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"message": exc.detail}) from exc


def _with_feed(app: FastAPI) -> None:
    """Once the lifespan has made the database, feed committed session events to the pub/sub."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            install_feed(app.state.db, app.state.pubsub)
            yield state

    app.router.lifespan_context = lifespan


def install_graphql(app: FastAPI, settings: Settings) -> None:
    # Subscriptions read from here; graphql/feed.py publishes committed session events to it.
    app.state.pubsub = PubSub()
    _with_feed(app)
    router = MentorapiGraphQLRouter(
        build_schema(settings),
        path=PATH,
        # A yield dependency (FastAPI closes the session after the response); strawberry's
        # annotation only knows plain and awaitable getters.
        context_getter=cast(Callable[..., Context], get_context),
        include_in_schema=False,  # documented by openapi/schema.graphql, not the REST spec
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),  # the maintained protocol
    )
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="graphiql-assets")
