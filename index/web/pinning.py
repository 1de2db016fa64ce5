"""Connections go to the address that was checked: each host name is resolved once per
fetcher, every address it has is checked, and the connection is pinned to the first.

Without this httpx resolves the name again when it connects, and a name that gave the
guard a public address can give httpx 127.0.0.1 (DNS rebinding). The URL keeps its host
name, so the Host header and TLS SNI (and the certificate check) are the name's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore
import httpx

from ..errors import FetchError, HostRefusedError
from .guard import Resolve, check_addresses, resolve, system_resolve


@dataclass(frozen=True)
class Target:
    """Where a URL's request goes: ``host`` as httpcore names it, the ``ip`` pinned for it."""

    host: str
    ip: str


class Pins:
    """Host name -> the checked address connections to it use, for one fetcher's life."""

    def __init__(
        self, *, allow_private: bool, timeout: float, resolver: Resolve | None = None
    ) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.resolver = resolver or system_resolve
        self._ips: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def get(self, host: str) -> str | None:
        return self._ips.get(host)

    async def pin(self, url: str) -> Target:
        """Resolve and check ``url``'s host the first time it is asked; FetchError if the
        URL has no usable host, HostRefusedError if it cannot be resolved or is refused."""
        host, port = _host_port(url)
        async with self._locks.setdefault(host, asyncio.Lock()):
            if host not in self._ips:  # once per host, however many ask at once
                self._ips[host] = await self._lookup(url, host, port)
        return Target(host, self._ips[host])

    async def _lookup(self, url: str, host: str, port: int) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                addresses = await resolve(url, host, port, self.resolver)
        except TimeoutError:
            raise HostRefusedError(url, f"cannot resolve host {host} (timed out)") from None
        if not self.allow_private:
            check_addresses(url, addresses)
        return addresses[0]


def _host_port(url: str) -> tuple[str, int]:
    """The host as httpcore will name it to the network backend (IDNA-encoded,
    lowercased, IPv6 without brackets), and the port."""
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise FetchError(url, f"not a valid URL ({exc})") from None
    if not host:
        raise FetchError(url, "the URL has no host")
    return host, parsed.port or (443 if parsed.scheme == "https" else 80)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting to the pinned address, never to a name."""

    def __init__(self, pins: Pins) -> None:
        self._pins = pins
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        ip = self._pins.get(host)
        if ip is None:  # nothing checked for this name: no connection at all
            raise httpcore.ConnectError(f"no checked address for host {host}")
        return await self._backend.connect_tcp(
            ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not used")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (its request and error mapping) over a pool that connects by
    ``pins``: httpx has no public seam for a network backend."""

    def __init__(self, pins: Pins, max_connections: int) -> None:
        # No super().__init__(): it would build a pool only to throw it away.
        self._pool = httpcore.AsyncConnectionPool(
            # The certificates httpx itself uses (certifi), none from the environment.
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            keepalive_expiry=5.0,  # httpx's default
            http1=True,
            http2=False,
            network_backend=_PinnedBackend(pins),
        )


def pinned_transport(pins: Pins, max_connections: int) -> httpx.AsyncBaseTransport:
    """An HTTP/1.1 transport, no proxies, whose connections go where ``pins`` say."""
    return _PinnedTransport(pins, max_connections)
