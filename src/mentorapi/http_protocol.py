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

Within the deadline a request's line and headers are also bounded in bytes: uvicorn and
httptools keep whatever arrives before the headers end (the URL and each header value grow by
concatenation), so one connection sending header lines or a URL as fast as it could held
hundreds of megabytes within the ten seconds, and a URL cost time quadratic in its length.
Past `MAX_HEADER_BYTES` the request is answered 431 and the connection closed.
"""

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mentorapi.config import get_settings
from mentorapi.kit.problems import PROBLEM_TYPE_BASE

# A request line and headers this long at most: far above any real request's (a member token
# is at most 4 KB; httptools refuses a URL past 64 KiB once it has read all of it).
MAX_HEADER_BYTES = 256 * 1024

_TOO_LARGE = json.dumps(
    {
        "type": PROBLEM_TYPE_BASE + "headers-too-large",
        "title": "Request header fields too large",
        "status": 431,
        "detail": f"a request's line and headers are limited to {MAX_HEADER_BYTES} bytes",
    }
).encode()
TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/problem+json\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TOO_LARGE), _TOO_LARGE)
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0  # received since the timer was armed, while it is
    _headers_completed = 0  # requests whose headers ended on this connection

    def header_timeout_seconds(self) -> float:
        # Read here, not passed in: `serve --workers N` starts each worker from the settings.
        return get_settings().request_header_timeout_seconds

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def header_max_bytes(self) -> int:
        return MAX_HEADER_BYTES

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self._between_requests():
            self._arm()
        while self._header_timer is not None and len(data) > (
            room := self.header_max_bytes() - self._header_bytes
        ):
            # The headers may end within what fits: feed that, and go on only if they did (the
            # rest is then a body, or a pipelined request counted afresh).
            head, data = data[:room], data[room:]
            completed = self._headers_completed
            self._header_bytes += len(head)
            super().data_received(head)
            if self._headers_completed == completed:
                self._too_large()
                return
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return  # refused, or upgraded to a WebSocket: uvicorn drops the rest too
        if self._header_timer is not None:
            self._header_bytes += len(data)
        super().data_received(data)

    def _too_large(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(TOO_LARGE_RESPONSE)
            self.transport.close()

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
        self._headers_completed += 1
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(self.header_timeout_seconds(), self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        self.transport.close()
