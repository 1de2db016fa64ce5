"""robots.txt (RFC 9309): what one origin's rules allow, and how long they are reused.

No network: the fetcher asks for robots.txt and hands the answer (or the failure) here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from ..errors import FetchError, RobotsDisallowedError
from ..types import RobotsRules

ROBOT = "articlebot"  # the product token that robots.txt groups are matched against
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 2.5: parse at least the first 500 KiB

#: How long robots.txt rules are reused, across runs too: RFC 9309 2.4 says no longer
#: than 24 hours. Reusing them is what lets a re-sync of an unchanged feed cost one
#: request, not two.
ROBOTS_TTL = 24 * 3600.0


@dataclass(frozen=True)
class Robots:
    """One origin's robots.txt as the fetcher obeys it."""

    parser: Protego | None = None  # None: everything is allowed
    refusal: str | None = None  # robots.txt unreachable: nothing is, and this is why
    rules: RobotsRules | None = None  # what to remember for the next run (not refusals)

    def check(self, url: str) -> None:
        """Raise RobotsDisallowedError if these rules disallow ``url`` for articlebot,
        FetchError if robots.txt could not be read at all."""
        if self.refusal is not None:
            raise FetchError(url, self.refusal)
        if self.parser is not None and not self.parser.can_fetch(url, ROBOT):
            raise RobotsDisallowedError(url, "disallowed by robots.txt")


def parse_robots(rules: RobotsRules) -> Robots:
    """Protego, not urllib.robotparser: RFC 9309's ``*`` and ``$`` patterns and
    longest-match precedence between Allow and Disallow."""
    if rules.text is None:
        return Robots(rules=rules)
    # A BOM would glue itself to the first line's field name and hide that line.
    text = rules.text.removeprefix("\ufeff")
    return Robots(Protego.parse(text), rules=rules)


def fresh_robots(saved: dict[str, RobotsRules]) -> dict[str, Robots]:
    """The rules an earlier run fetched, by origin, that are still young enough to obey."""
    now = time.time()
    return {
        site: parse_robots(rules)
        for site, rules in saved.items()
        if 0 <= now - rules.fetched_at < ROBOTS_TTL
    }


def robots_from_body(body: bytes) -> Robots:
    """A robots.txt that was served (2xx)."""
    text = body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
    return parse_robots(RobotsRules(time.time(), text))


def robots_from_error(exc: FetchError) -> Robots:
    """RFC 9309 2.3.1: 4xx means no rules; 5xx or no answer at all means nothing may be
    fetched."""
    if exc.status is None:  # no HTTP answer: timeout, connection refused, too big...
        why = f"robots.txt unreachable, so not fetched (RFC 9309): {exc.reason}"
    elif exc.status < 500:
        return Robots(rules=RobotsRules(time.time(), None))
    else:
        why = f"robots.txt unreachable (HTTP {exc.status}): not fetched, per RFC 9309"
    return Robots(refusal=why)


def origin(url: str) -> str:
    """scheme://host[:port], the scope of one robots.txt."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"
