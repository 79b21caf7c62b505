"""The operator's metrics kept in the process (issue 15): the call's phases as a live attempt hears its states,
and the Prometheus adapter's scrape, parsed by prometheus-client's own parser."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from cbdialer.adapters.prometheus import PrometheusMetrics, Readings
from cbdialer.dialer.live import LiveAttempt
from cbdialer.domain.models import InteractionState as S
from cbdialer.operating import measure_loop_lag, read_book_figures
from cbdialer.ports.metrics import NO_METRICS, Metrics

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def live() -> LiveAttempt:
    return LiveAttempt(call=SimpleNamespace(), queue=SimpleNamespace(id="sales"), agent=SimpleNamespace(id="1001"),  # type: ignore[arg-type]
                       started_at=T0, contact_zone="UTC")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_phases_of_a_call_that_reached_the_customer() -> None:
    attempt = live()
    assert attempt.phases(S.PREVIEW, at(2)) == [("offer_to_answer", 2.0)]
    assert attempt.phases(S.DIALING, at(5)) == []  # the agent had answered already (in preview)
    assert attempt.phases(S.HANDLING, at(9)) == [("dial_to_answer", 4.0)]
    assert attempt.phases(S.HANDLING, at(10)) == []  # heard again: once only
    assert attempt.phases(S.WRAP_UP, at(40)) == [("talk", 31.0)]
    assert attempt.phases(S.ENDED, at(50)) == []  # the talk ended at the wrap-up


def test_the_phases_of_a_call_nobody_answered() -> None:
    attempt = live()
    assert attempt.phases(S.DIALING, at(1)) == [("offer_to_answer", 1.0)]
    assert attempt.phases(S.ENDED, at(30)) == []  # no customer: no dial_to_answer, no talk
    assert live().phases(S.ENDED, at(20)) == []  # the agent never answered


def samples(metrics: PrometheusMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def test_the_scrape_carries_what_was_observed_and_read() -> None:
    metrics = PrometheusMetrics(node_id="n1", process=False, readings=Readings(
        live_attempts=lambda: 2, agents_by_presence=lambda: {"not_inuse": 3, "inuse": 1}, ami_up=lambda: False,
        database_up=lambda: True))
    port: Metrics = metrics
    port.offer_sent("sales", 0.3)
    port.offer_sent("sales", -1.0)  # a Call Now before its due time: not late at all
    port.originate_refused("sales")
    port.attempt_ended("sales", "handled")
    port.held("restricted_time")
    port.claimed(0.004, 7)
    for _ in range(3):
        port.ami_connected()  # the first connection, then two reconnects
    port.caller_requested("sales")
    port.http_request("GET", "/api/v1/callbacks", 200, 0.012)
    port.loop_lag(0.002)
    metrics.set_book([("sales", "scheduled", 5)], [("sales", 4)])
    got = samples(metrics)
    assert got[("cbdialer_offer_lateness_seconds_count", (("queue", "sales"),))] == 2
    assert got[("cbdialer_offer_lateness_seconds_sum", (("queue", "sales"),))] == 0.3
    assert got[("cbdialer_offer_lateness_seconds_bucket", (("le", "0.05"), ("queue", "sales")))] == 1
    assert got[("cbdialer_originates_total", (("outcome", "refused"), ("queue", "sales")))] == 1
    assert got[("cbdialer_originates_total", (("outcome", "sent"), ("queue", "sales")))] == 2
    assert got[("cbdialer_attempts_total", (("queue", "sales"), ("status", "handled")))] == 1
    assert got[("cbdialer_holds_total", (("reason", "restricted_time"),))] == 1
    assert got[("cbdialer_claimed_total", ())] == 7
    assert got[("cbdialer_ami_reconnects_total", ())] == 2
    assert got[("cbdialer_caller_requests_total", (("queue", "sales"),))] == 1
    assert got[("cbdialer_http_requests_total", (("method", "GET"), ("route", "/api/v1/callbacks"),
                                                 ("status", "200")))] == 1
    assert got[("cbdialer_live_attempts", ())] == 2
    assert got[("cbdialer_agents", (("presence", "not_inuse"),))] == 3
    assert (got[("cbdialer_ami_up", ())], got[("cbdialer_database_up", ())]) == (0, 1)
    assert got[("cbdialer_event_loop_lag_last_seconds", ())] == 0.002
    assert got[("cbdialer_callbacks", (("queue", "sales"), ("state", "scheduled")))] == 5
    assert got[("cbdialer_callbacks_due", (("queue", "sales"),))] == 4
    assert got[("cbdialer_node_info", (("node_id", "n1"),))] == 1
    assert not any(name.endswith("_created") for name, _ in got)
    assert {name for name, _ in got} <= metrics.names()


async def test_the_measuring_loops_report_and_stop() -> None:
    lags: list[float] = []
    published: list[Any] = []
    stop = asyncio.Event()
    recorder = SimpleNamespace(loop_lag=lags.append)

    async def read() -> dict[str, Any]:
        if len(published) == 2:
            stop.set()
        return {"callbacks": [("sales", "scheduled", len(published))], "due_now": []}

    await asyncio.wait_for(asyncio.gather(
        measure_loop_lag(recorder, stop, interval=0.01),  # type: ignore[arg-type]
        read_book_figures(read, lambda c, d: published.append((c, d)), stop, interval=0.01)), 5)
    assert len(published) == 3 and published[0] == ([("sales", "scheduled", 0)], [])
    assert lags and all(lag >= 0 for lag in lags)
    NO_METRICS.offer_sent("sales", 1.0)  # the null object takes every observation
