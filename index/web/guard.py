"""Which URLs articlebot may fetch: the SSRF guard.

Only http(s) URLs with a host; a host that is, or resolves to, a private, loopback or
link-local address is refused (a URL typed in Discord must not reach the bot's own
network), and so is a connection that ends up at one anyway (DNS rebinding).

Standard library only: the bot and the indexer check URLs on paths that must not load
an HTTP client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import TypeAlias
from urllib.parse import urlsplit, urlunsplit

from ..errors import FetchError, HostRefusedError

_PRIVATE_POLICY = (
    "private, loopback and link-local addresses are refused "
    "(ARTICLEBOT_ALLOW_PRIVATE_URLS=true allows them)"
)

_IP: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_url(url: str) -> str:
    """Raise FetchError unless ``url`` is an http(s) URL with a host; return it normalised
    (scheme lowercased, fragment dropped, empty path made "/"). No network."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        raise FetchError(url, f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        what = f"{scheme}:// URLs are" if scheme else "a URL without http:// or https:// is"
        raise FetchError(url, f"{what} not fetched: write it as https://host/path")
    if not parts.hostname:
        raise FetchError(url, "the URL has no host: write it as https://host/path")
    return urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))


async def check_public(url: str) -> None:
    """Raise FetchError if the URL's host is, or resolves to, any address that is not
    public (private, loopback, link-local, multicast, reserved, unspecified)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = _parse_ip(host)
    if literal is not None:
        addresses = [literal]
    else:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await _resolve(url, host, port)
    for address in addresses:
        kind = _non_public(address)
        if kind is not None:
            raise HostRefusedError(url, f"{address} is {_a(kind)} address; {_PRIVATE_POLICY}")


def check_peer(url: str, peer: tuple[object, ...] | None) -> None:
    """Refuse a connection that reached a non-public address (``peer``: the socket's
    server address, or None when the transport does not tell)."""
    if not peer:  # not every transport tells; the check before connecting still stands
        return
    address = _parse_ip(str(peer[0]))
    kind = _non_public(address) if address is not None else None
    if kind is not None:
        raise HostRefusedError(
            url, f"connected to {address}, {_a(kind)} address; {_PRIVATE_POLICY}"
        )


async def _resolve(url: str, host: str, port: int) -> list[_IP]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise HostRefusedError(
            url, f"cannot resolve host {host} (check the name and the network)"
        ) from None
    found = (_parse_ip(str(info[4][0])) for info in infos)
    return [address for address in found if address is not None]


def _parse_ip(text: str) -> _IP | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _non_public(address: _IP) -> str | None:
    """What kind of non-public address this is, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 connects to 127.0.0.1, but Python 3.11 does not see through it.
        address = address.ipv4_mapped
    kinds = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),  # e.g. 100.64.0.0/10, carrier-grade NAT
    )
    return next((kind for kind, match in kinds if match), None)


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"
