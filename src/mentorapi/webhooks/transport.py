"""An httpx transport that refuses to connect to internal addresses (SSRF protection).

The check runs on the address actually connected to, after DNS resolution and at connection
time: the hostname is resolved once, every resolved address is checked, and the socket is opened
to a checked IP. TLS still uses the hostname (SNI and certificate checks) and the Host header is
the URL's, so a DNS answer that changes between a check and the connection (rebinding) cannot
sneak a private address in. Environment proxies are ignored on purpose: a proxy would connect
on our behalf, past the check.
"""

import asyncio
import ipaddress
import socket
import ssl
import typing
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(httpcore.ConnectError):
    """The destination resolves only to addresses we refuse to connect to."""


# IPv6 prefixes that carry an IPv4 address a gateway or tunnel will deliver to: a private
# IPv4 inside one is as internal as the IPv4 itself. 6to4 (sixtofour), Teredo (teredo) and
# IPv4-mapped (ipv4_mapped) are decoded by `ipaddress`; these two are not.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 is the last 32 bits
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated (RFC 4291), the same layout
# RFC 8215: for NAT64 inside one network, where the IPv4 sits depends on the operator's prefix
# length; never a public destination, so refused whatever it embeds.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for (none for a plain IPv6 address)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # the relay server and the (de-obfuscated) client
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
    return found


def blocked_reason(address: IPAddress) -> str | None:
    """Why a connection to this address is refused, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return f"{address} is a local-use NAT64 address"
        for inner in embedded_ipv4(address):
            reason = blocked_reason(inner)
            if reason is not None:
                return f"{address} embeds {inner}: {reason}"
        if address.ipv4_mapped is not None:
            return None  # the IPv4 it maps to is public (checked just above)
    for attribute in (
        "is_loopback",
        "is_private",
        "is_link_local",
        "is_multicast",
        "is_reserved",
        "is_unspecified",
    ):
        if getattr(address, attribute):
            return f"{address} is a {attribute.removeprefix('is_').replace('_', '-')} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The IP address a URL's host names literally (IPv6 in brackets or not), else None."""
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    seen: dict[str, IPAddress] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), ipaddress.ip_address(sockaddr[0]))
    return list(seen.values())


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve, check, then connect to the checked IP (never to the name again)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port)
        if not self.allow_private:
            refused = [reason for a in addresses if (reason := blocked_reason(a))]
            addresses = [a for a in addresses if blocked_reason(a) is None]
            if not addresses:
                raise BlockedAddress(f"refused to connect to {host}: {'; '.join(refused)}")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's errors as httpx's, so callers handle one family."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise httpx.TimeoutException(str(exc) or "timed out") from exc
    except httpcore.ConnectError as exc:
        raise httpx.ConnectError(str(exc) or "connection failed") from exc
    except httpcore.ProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc) or "protocol error") from exc
    except (httpcore.NetworkError, httpcore.UnsupportedProtocol) as exc:
        raise httpx.TransportError(str(exc) or "network error") from exc


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: typing.AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """http(s) only, through a connection pool whose every socket goes through GuardedBackend."""

    def __init__(
        self,
        *,
        allow_private: bool,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or ssl.create_default_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(allow_private),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"refused scheme {request.url.scheme!r}")
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        assert isinstance(response.stream, typing.AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
