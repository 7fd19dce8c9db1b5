"""Refuse oversized request bodies and WebSocket messages, counted as they stream.

`Content-Length` is only a claim: a chunked body has none, and a client may send more than it
announced. So every `http.request` chunk is counted as it arrives, for every route, before
anything authenticates or parses it; the first byte past the limit ends the request with a 413
(or, if a response had somehow started already, with the connection dropped). WebSocket
messages are limited the same way and a larger one closes the socket with 1009 (message too
big), whatever the server in front of us allows.
"""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mentorapi.kit.problems import problem_response

MAX_BODY_BYTES = 1_000_000
WS_MESSAGE_TOO_BIG = 1009  # RFC 6455


class BodyTooLarge(HTTPException):
    """Raised from `receive` when the body passes the limit. An HTTPException, so that a route
    reading the body (FastAPI turns other errors in body parsing into a 400) answers 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request bodies are limited to {max_bytes} bytes")


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
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

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
        except BodyTooLarge:
            if started:
                raise  # too late for a 413: the server drops the connection
            await too_large(self.max_bytes)(scope, receive, send)

    def _counted(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
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
