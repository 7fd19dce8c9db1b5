"""Refuse oversized or slow request bodies and WebSocket messages, counted as they stream.

`Content-Length` is only a claim: a chunked body has none, and a client may send more than it
announced. So every `http.request` chunk is counted as it arrives, for every route, before
anything authenticates or parses it; the first byte past the limit ends the request with a 413
(or, if a response had somehow started already, with the connection dropped). WebSocket
messages are limited the same way and a larger one closes the socket with 1009 (message too
big), whatever the server in front of us allows.

A body must also have arrived within `timeout_seconds` of the request reaching us: uvicorn
waits for a body as long as its client keeps the connection open, so a client sending a byte
now and then, or stopping halfway, would hold its request (and whatever it holds) for ever.
Past the deadline the request ends with a 408. Nothing here holds a database connection while
it waits (the idempotency middleware reads the body before it opens a session; FastAPI reads
it before a route's dependencies run; GraphQL's session is opened by its first query), and
the deadline bounds the wait anyway.
"""

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mentorapi.kit.problems import problem_response

MAX_BODY_BYTES = 1_000_000
BODY_TIMEOUT_SECONDS = 60.0
WS_MESSAGE_TOO_BIG = 1009  # RFC 6455


class BodyTooLarge(HTTPException):
    """Raised from `receive` when the body passes the limit. An HTTPException, so that a route
    reading the body (FastAPI turns other errors in body parsing into a 400) answers 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request bodies are limited to {max_bytes} bytes")


class BodyTimeout(HTTPException):
    """Raised from `receive` when the body has not arrived by the deadline (an HTTPException,
    as `BodyTooLarge`)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request body must arrive within {seconds:g} seconds")


def too_slow(seconds: float) -> ASGIApp:
    return problem_response(
        408,
        "Request timeout",
        f"the request body must arrive within {seconds:g} seconds",
        "request-timeout",
    )


def too_large(max_bytes: int) -> ASGIApp:
    return problem_response(
        413,
        "Request too large",
        f"request bodies are limited to {max_bytes} bytes",
        "too-large",
    )


def _declared_length(scope: Scope) -> int | None:
    """The Content-Length, or -1 when it is there but not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) < 19 else -1
    return None


class BodySizeLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_BODY_BYTES,
        timeout_seconds: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.app(scope, self._counted_ws(receive, send), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and not 0 <= declared <= self.max_bytes:
            await too_large(self.max_bytes)(scope, receive, send)
            return
        started = False

        async def counted_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, self._counted(receive), counted_send)
        except (BodyTooLarge, BodyTimeout) as exc:
            if started:
                raise  # too late for a 413 or 408: the server drops the connection
            if isinstance(exc, BodyTimeout):
                await too_slow(self.timeout_seconds)(scope, receive, send)
            else:
                await too_large(self.max_bytes)(scope, receive, send)

    def _counted(self, receive: Receive) -> Receive:
        seen = 0
        complete = False
        deadline = asyncio.get_running_loop().time() + self.timeout_seconds

        async def counted() -> Message:
            nonlocal seen, complete
            if complete:  # past the body, `receive` waits for a disconnect: never timed
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.timeout_seconds) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return counted

    def _counted_ws(self, receive: Receive, send: Send) -> Receive:
        async def counted() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                text = message.get("text") or ""
                # Bytes, as on the wire: a character of text may be up to four of them.
                size = len(message.get("bytes") or b"") + (
                    len(text) if text.isascii() else len(text.encode(errors="surrogatepass"))
                )
                if size > self.max_bytes:
                    await send(
                        {
                            "type": "websocket.close",
                            "code": WS_MESSAGE_TOO_BIG,
                            "reason": f"messages are limited to {self.max_bytes} bytes",
                        }
                    )
                    # The application sees the socket as gone, as it is.
                    return {"type": "websocket.disconnect", "code": WS_MESSAGE_TOO_BIG}
            return message

        return counted
