"""Refuse oversized request bodies before anything reads them."""

from starlette.types import ASGIApp, Receive, Scope, Send

from mentorapi.kit.problems import problem_response

MAX_BODY_BYTES = 1_000_000


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and (
                    not value.isdigit() or int(value) > self.max_bytes
                ):
                    response = problem_response(
                        413,
                        "Request too large",
                        f"request bodies are limited to {self.max_bytes} bytes",
                        "too-large",
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
