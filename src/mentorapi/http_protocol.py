"""uvicorn's HTTP protocol with a deadline for a request's headers.

uvicorn times out nothing before a request reaches the application: a connection that sends a
header line now and then (or nothing at all) is kept open for as long as its client likes, and a
few thousand of them use up a process's file descriptors (slowloris). A body is the
application's (limits.py: `request_body_timeout_seconds`); the headers are the server's, so
`serve` runs uvicorn with this protocol: a request's headers, from its connection opening or
from its first byte on a kept-alive connection, must be complete within
`request_header_timeout_seconds`, or the connection is closed (there is no request to answer).
"""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mentorapi.config import get_settings


class HeaderDeadlineProtocol(HttpToolsProtocol):
    _header_timer: asyncio.TimerHandle | None = None

    def header_timeout_seconds(self) -> float:
        # Read here, not passed in: `serve --workers N` starts each worker from the settings.
        return get_settings().request_header_timeout_seconds

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # a request after another on the same connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_seconds(), self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        self.transport.close()
