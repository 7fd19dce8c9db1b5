"""uvicorn's HTTP protocol with a deadline for a request's headers.

uvicorn times out nothing before a request reaches the application: a connection that sends a
header line now and then (or nothing at all) is kept open for as long as its client likes, and a
few thousand of them use up a process's file descriptors (slowloris). A body is the
application's (limits.py: `request_body_timeout_seconds`); the headers are the server's, so
`serve` runs uvicorn with this protocol: a request's headers, from its connection opening or
from its first byte on a kept-alive connection, must be complete within
`request_header_timeout_seconds`, or the connection is closed (there is no request to answer).

"Its first byte" is any byte on a connection between requests, not only the one that begins a
request: uvicorn stops its keep-alive timer at any data, and the parser skips the empty lines
a client may send between requests without beginning one, so a kept-alive connection sent a
bare CRLF now and then was held by no timer at all.
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

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self._between_requests():
            self._arm()
        super().data_received(data)

    def _between_requests(self) -> bool:
        # No request in hand: none yet, or the last one answered (and none queued behind it).
        # While one is being answered, what arrives is its body (limits.py's deadline), or a
        # pipelined request, whose first byte arms the timer (on_message_begin).
        cycle = self.cycle
        return cycle is None or (cycle.response_complete and not self.pipeline)

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
