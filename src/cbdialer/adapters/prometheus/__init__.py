"""The operator's metrics through prometheus-client (issue 15; README "Operating cbdialer"): the only module
that imports it. Rule: everything is kept in the process as it happens (histograms, counters) or read from the
process when scraped (gauges); a scrape reads nothing from PostgreSQL: the book's own figures (callbacks by
queue and state, due now) are what the `book-figures` task last read, with their age."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cbdialer.ports.metrics import CallPhase

LATENESS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)
QUICK = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
PHASES = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
LAG = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


@dataclass
class Readings:
    """What the process knows now, read at each scrape (cheap: no I/O)."""

    live_attempts: Callable[[], int] = lambda: 0
    agents_by_presence: Callable[[], Mapping[str, int]] = lambda: {}
    ami_up: Callable[[], bool | None] = lambda: None  # None: this process has no AMI link
    database_up: Callable[[], bool] = lambda: True


@dataclass
class BookFigures:
    callbacks: list[tuple[str, str, int]] = field(default_factory=list)  # (queue, state, count), active only
    due_now: list[tuple[str, int]] = field(default_factory=list)  # (queue, count) due and not yet offered
    read_at: float | None = None  # time.time() of the read


class _Now(Collector):
    def __init__(self, readings: Callable[[], Readings], book: Callable[[], BookFigures],
                 lag: Callable[[], float]) -> None:
        self.readings = readings
        self.book = book
        self.lag = lag

    def collect(self) -> Iterator[Any]:
        r = self.readings()  # the composition root sets them once the parts they read exist
        yield GaugeMetricFamily("cbdialer_live_attempts", "Attempts this process has on the line now.",
                                value=r.live_attempts())
        agents = GaugeMetricFamily("cbdialer_agents", "Agents by presence, as this process sees them.",
                                   labels=["presence"])
        for presence, n in sorted(r.agents_by_presence().items()):
            agents.add_metric([presence], n)
        yield agents
        up = r.ami_up()
        if up is not None:
            yield GaugeMetricFamily("cbdialer_ami_up", "1 while the AMI link is up.", value=1 if up else 0)
        yield GaugeMetricFamily("cbdialer_database_up", "1 while PostgreSQL answers this process.",
                                value=1 if r.database_up() else 0)
        yield GaugeMetricFamily("cbdialer_event_loop_lag_last_seconds",
                                "How late the event loop ran the last timer it was measured with.", value=self.lag())
        figures = self.book()
        callbacks = GaugeMetricFamily("cbdialer_callbacks", "Active callbacks by queue and state (as last read).",
                                      labels=["queue", "state"])
        for queue, state, n in figures.callbacks:
            callbacks.add_metric([queue, state], n)
        yield callbacks
        due = GaugeMetricFamily("cbdialer_callbacks_due", "Callbacks due now and not yet offered, by queue "
                                "(as last read).", labels=["queue"])
        for queue, n in figures.due_now:
            due.add_metric([queue], n)
        yield due
        if figures.read_at is not None:
            yield GaugeMetricFamily("cbdialer_book_read_timestamp_seconds",
                                    "When the book's figures (cbdialer_callbacks, cbdialer_callbacks_due) were read.",
                                    value=figures.read_at)


class PrometheusMetrics:
    """The Metrics port (cbdialer.ports.metrics) on a registry of its own (no global state)."""

    def __init__(self, *, node_id: str = "", readings: Readings | None = None, process: bool = True) -> None:
        disable_created_metrics()  # the *_created series: noise to a dashboard, twice the scrape
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.readings = readings or Readings()
        self.book = BookFigures()
        self._lag = 0.0
        self._ami_connects = 0
        if process:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
        Info("cbdialer_node", "This process: its dialer node id.", registry=registry).info({"node_id": node_id})
        self.lateness = Histogram("cbdialer_offer_lateness_seconds", "Due time to Originate sent, per queue.",
                                  ["queue"], buckets=LATENESS, registry=registry)
        self.claims = Histogram("cbdialer_claim_seconds", "Time to claim one batch of due callbacks.",
                                buckets=QUICK, registry=registry)
        self.claimed_total = Counter("cbdialer_claimed", "Due callbacks claimed.", registry=registry)
        self.phases = Histogram("cbdialer_call_phase_seconds", "The call's phases: offer_to_answer (the agent's "
                                "phone), dial_to_answer (the customer), talk.", ["queue", "phase"], buckets=PHASES,
                                registry=registry)
        self.http = Histogram("cbdialer_http_request_seconds", "Admin API and page requests, per route.",
                              ["method", "route"], buckets=QUICK, registry=registry)
        self.http_total = Counter("cbdialer_http_requests", "Admin API and page requests served by this process.",
                                  ["method", "route", "status"], registry=registry)
        self.lag = Histogram("cbdialer_event_loop_lag_seconds", "How late the event loop runs timers.",
                             buckets=LAG, registry=registry)
        self.attempts = Counter("cbdialer_attempts", "Ended attempts by queue and completion status.",
                                ["queue", "status"], registry=registry)
        self.holds = Counter("cbdialer_holds", "Due callbacks held back or skipped, by reason.", ["reason"],
                             registry=registry)
        self.originates = Counter("cbdialer_originates", "Originates by queue: sent, or refused (not sent, or "
                                  "refused by Asterisk).", ["queue", "outcome"], registry=registry)
        self.reconnects = Counter("cbdialer_ami_reconnects", "Times the AMI link came up again after a drop.",
                                  registry=registry)
        self.caller_requests = Counter("cbdialer_caller_requests", "Callbacks callers asked for from a queue.",
                                       ["queue"], registry=registry)
        registry.register(_Now(lambda: self.readings, lambda: self.book, lambda: self._lag))

    # -- the port ------------------------------------------------------------------------------------------

    def offer_sent(self, queue: str, lateness: float) -> None:
        self.lateness.labels(queue).observe(max(0.0, lateness))
        self.originates.labels(queue, "sent").inc()

    def originate_refused(self, queue: str) -> None:
        self.originates.labels(queue, "refused").inc()

    def call_phase(self, queue: str, phase: CallPhase, seconds: float) -> None:
        self.phases.labels(queue, phase).observe(max(0.0, seconds))

    def attempt_ended(self, queue: str, status: str) -> None:
        self.attempts.labels(queue, status).inc()

    def held(self, reason: str) -> None:
        self.holds.labels(reason).inc()

    def claimed(self, seconds: float, count: int) -> None:
        self.claims.observe(seconds)
        self.claimed_total.inc(count)

    def ami_connected(self) -> None:
        self._ami_connects += 1
        if self._ami_connects > 1:
            self.reconnects.inc()

    def caller_requested(self, queue: str) -> None:
        self.caller_requests.labels(queue).inc()

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http.labels(method, route).observe(seconds)
        self.http_total.labels(method, route, str(status)).inc()

    def loop_lag(self, seconds: float) -> None:
        self._lag = seconds
        self.lag.observe(seconds)

    # -- the composition root's side -----------------------------------------------------------------------

    def set_book(self, callbacks: list[tuple[str, str, int]], due_now: list[tuple[str, int]]) -> None:
        self.book = BookFigures(sorted(callbacks), sorted(due_now), time.time())
        for queue in {q for q, _, _ in callbacks} | {q for q, _ in due_now}:
            # Each queue's Originates exist from 0 on, so that "nothing dialled" is a 0, not a missing series
            # (the CbdialerNoAttemptsWhileDue alert's increase() needs the series before the first call).
            for outcome in ("sent", "refused"):
                self.originates.labels(queue, outcome)

    def exposition(self) -> tuple[bytes, str]:
        """The scrape's body and content type (Prometheus's text format)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def names(self) -> set[str]:
        """Every series name a scrape can carry (with _bucket, _count, _sum, _total, _info): for the checks of
        the dashboard and the alert rules against what is exported."""
        found: set[str] = set()
        for family in self.registry.collect():
            found.add(family.name)
            found.update(sample.name for sample in family.samples)
            if family.type == "histogram":
                found.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
            elif family.type == "counter":
                found.add(f"{family.name}_total")
        return found


__all__ = ["BookFigures", "PrometheusMetrics", "Readings"]
