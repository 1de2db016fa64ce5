"""Which URLs articlebot may fetch: the SSRF guard.

Only http(s) URLs with a host; a host that is, or resolves to, a private, loopback or
link-local address is refused (a URL typed in Discord must not reach the bot's own
network). The fetcher resolves each host once, checks every address, and connects only
to the one it checked (``pinning``), so a name cannot answer differently on connect.

Standard library only: the bot and the indexer check URLs on paths that must not load
an HTTP client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias
from urllib.parse import urljoin, urlsplit, urlunsplit

from ..errors import FetchError, HostRefusedError

_PRIVATE_POLICY = (
    "private, loopback and link-local addresses are refused "
    "(ARTICLEBOT_ALLOW_PRIVATE_URLS=true allows them)"
)

_IP: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the host's addresses as text; raises OSError when it has none.
Resolve: TypeAlias = Callable[[str, int], Awaitable[Sequence[str]]]


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


def check_redirect(current: str, location: str) -> str:
    """The URL a redirect from ``current`` to ``location`` (its Location header) leads to,
    normalised; FetchError, saying what the redirect did, when it is not one to follow."""
    try:
        target = urljoin(current, location)
        parts = urlsplit(target)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:  # e.g. "http://[::1": an unclosed IPv6 address
        raise FetchError(current, f"redirected to an invalid URL {location!r} ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(target, "only http and https are followed")
    if not parts.hostname:
        raise FetchError(target, "the redirect's URL has no host")
    return check_url(target)


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives ``host``; OSError or UnicodeError if none."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve(url: str, host: str, port: int, resolver: Resolve = system_resolve) -> list[str]:
    """``host``'s addresses (an IP literal is its own); HostRefusedError when it has none."""
    literal = _parse_ip(host)
    if literal is not None:
        return [str(literal)]
    try:
        found = await resolver(host, port)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError; IDNA errors are Unicode
        found = []
    addresses = [str(a) for a in map(_parse_ip, found) if a is not None]
    if not addresses:
        raise HostRefusedError(url, f"cannot resolve host {host} (check the name and the network)")
    return addresses


def check_addresses(url: str, addresses: Sequence[str]) -> None:
    """Raise HostRefusedError if any address is not public (private, loopback,
    link-local, multicast, reserved, unspecified)."""
    for text in addresses:
        address = _parse_ip(text)
        kind = _non_public(address) if address is not None else "unreadable"
        if kind is not None:
            raise HostRefusedError(url, f"{text} is {_a(kind)} address; {_PRIVATE_POLICY}")


async def check_public(url: str) -> None:
    """Raise FetchError if the URL's host is, or resolves to, any address that is not
    public. The fetcher does this itself and connects to the address it checked."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    check_addresses(url, await resolve(url, parts.hostname or "", port))


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
