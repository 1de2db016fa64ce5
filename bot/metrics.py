"""The bot's Prometheus metrics. Each bot owns its own registry (not prometheus-client's
global one), so several bots in one process (the tests) never share counts.

Counters move where things happen (``bot/ask.py``, the bot's sync hook, the vote
buttons); gauges of the running bot are read at scrape time, and the per-scope counts
come from a cache that ``bot/endpoints.py`` refreshes off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

OUTCOMES = ("answered", "declined", "error")
TRIGGERS = ("schedule", "command")
VOTES = ("up", "down")
# Seconds: answers take from tens of milliseconds (a warm index) to tens of seconds (a
# queue behind a slow model).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ScopeCounts:
    """A collector of articles and passages per scope, from the last value it was given."""

    def __init__(self) -> None:
        self.counts: Mapping[str, tuple[int, int]] = {}
        self.updated: float | None = None  # monotonic time of the last update

    def update(self, counts: Mapping[str, tuple[int, int]], now: float) -> None:
        self.counts, self.updated = dict(counts), now

    def describe(self) -> list[Any]:
        return []  # the families are known only at collect time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        articles = GaugeMetricFamily(
            "articlebot_articles", "Articles in the index, per scope.", labels=["scope"]
        )
        passages = GaugeMetricFamily(
            "articlebot_passages", "Passages in the index, per scope.", labels=["scope"]
        )
        for scope, (n_articles, n_passages) in sorted(self.counts.items()):
            articles.add_metric([scope], n_articles)
            passages.add_metric([scope], n_passages)
        yield articles
        yield passages


class BotMetrics:
    """The metrics of one bot, in its own ``registry``."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = registry = CollectorRegistry()
        self.questions = Counter(
            "articlebot_questions",
            "Questions answered, by outcome (declined: the articles do not cover it).",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "articlebot_answer_latency_seconds",
            "Seconds from a question to its answer, time in the queue included.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "articlebot_queue_wait_seconds",
            "Seconds a question waited for a free slot (ARTICLEBOT_MAX_CONCURRENT).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.refused = Counter(
            "articlebot_questions_refused",
            "Questions turned away because the bot is stopping.",
            registry=registry,
        )
        self.votes = Counter(
            "articlebot_feedback_votes", "Feedback votes on answers.", ["vote"], registry=registry
        )
        self.syncs = Counter(
            "articlebot_syncs", "Syncs of the sources, by trigger.", ["trigger"], registry=registry
        )
        self.sync_failures = Counter(
            "articlebot_sync_failures",
            "Syncs that failed, by trigger.",
            ["trigger"],
            registry=registry,
        )
        self._zero_labels()
        self.scopes = ScopeCounts()
        registry.register(self.scopes)

    def _zero_labels(self) -> None:
        """Every known series from the start: a rate over a series born late misses its
        first increase."""
        for outcome in OUTCOMES:
            self.questions.labels(outcome=outcome)
        for vote in VOTES:
            self.votes.labels(vote=vote)
        for trigger in TRIGGERS:
            self.syncs.labels(trigger=trigger)
            self.sync_failures.labels(trigger=trigger)

    def watch(
        self,
        *,
        gateway_latency: Callable[[], float],
        in_flight: Callable[[], float],
        waiting: Callable[[], float],
    ) -> None:
        """Gauges read from the running bot at each scrape."""
        from prometheus_client import Gauge

        for name, doc, read in (
            ("articlebot_gateway_latency_seconds", "Discord gateway heartbeat latency.",
             gateway_latency),
            ("articlebot_questions_in_flight", "Questions being answered now.", in_flight),
            ("articlebot_questions_queued", "Questions waiting for a free slot.", waiting),
        ):  # fmt: skip
            Gauge(name, doc, registry=self.registry).set_function(read)

    def sync_finished(self, trigger: str, ok: bool) -> None:
        self.syncs.labels(trigger=trigger).inc()
        if not ok:
            self.sync_failures.labels(trigger=trigger).inc()

    def render(self) -> tuple[bytes, str]:
        """The text exposition and its content type (call it in a worker thread)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


__all__ = ["OUTCOMES", "BotMetrics", "ScopeCounts"]
