"""A real HTTP/1.1 receiver on loopback (asyncio streams, keep-alive), scriptable per request."""

import asyncio
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0  # seconds before answering
    hang: bool = False  # never answer (until the connection is closed)


Responder = Callable[[Received], Reply | Awaitable[Reply]]

REASONS = {200: "OK", 302: "Found", 410: "Gone", 429: "Too Many Requests", 500: "Error"}


class Receiver:
    """Records every request under its own path prefix; anything else (a delivery left over
    from another test to a reused port) is answered 410, which disables that stray endpoint."""

    def __init__(
        self, respond: Responder | None = None, *, tls: ssl.SSLContext | None = None
    ) -> None:
        self.respond: Responder = respond or (lambda _r: Reply())
        self.tls = tls
        self.prefix = f"/hook-{uuid.uuid4().hex[:12]}"
        self.requests: list[Received] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Condition()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def url(self, name: str = "", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{self.prefix}{name}"

    async def __aenter__(self) -> "Receiver":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def wait_for(
        self, predicate: Callable[[list[Received]], bool], within: float = 15.0
    ) -> list[Received]:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: predicate(self.requests))
        return list(self.requests)

    async def wait_count(self, count: int, within: float = 15.0) -> list[Received]:
        return await self.wait_for(lambda r: len(r) >= count, within)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                _method, path, _version = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(path, headers, body, time.monotonic())
                if not path.startswith(self.prefix):
                    reply = Reply(status=410, body=b"gone")
                else:
                    async with self._changed:  # recorded on arrival, before any answer
                        self.requests.append(request)
                        self._changed.notify_all()
                    answer = self.respond(request)
                    reply = answer if isinstance(answer, Reply) else await answer
                if reply.hang:
                    await reader.read()  # until the client goes away
                    return
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                head = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}"]
                head += [f"{k}: {v}" for k, v in reply.headers.items()]
                head.append(f"content-length: {len(reply.body)}")
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
