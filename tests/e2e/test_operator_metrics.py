"""The operator's metrics from a running daemon (issue 15; README "Operating cbdialer"): `cbdialer run` against
the sandbox makes three calls with three outcomes (handled, busy, wrong destination); /metrics, parsed with
prometheus-client's own parser, counts exactly those calls: the Originates and their lateness, the attempts
by completion status, the call's phases (every agent answered, one customer did, and talked about ten
seconds), and says the links are up."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from cbdialer.domain.lifecycle import TERMINAL_STATES
from cbdialer.domain.models import CompletionStatus
from tests.e2e.conftest import Book
from tests.support.daemon import Daemon

CUSTOMERS = {"+442079460012": CompletionStatus.HANDLED, "+442079460042": CompletionStatus.BUSY,
             "+442079460052": CompletionStatus.WRONG_DESTINATION}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def labelled(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


async def test_the_scrape_counts_the_calls_made(pbx: dict[str, str], database_url: str, crash_book: Book) -> None:
    queue = await crash_book.queue("sales", ["1001", "1002", "1003"], attempts_before_failure=1)
    daemon = await Daemon.start(pbx, database_url)
    try:
        listening = await daemon.wait_for_log(lambda line: line.get("event") == "admin_api_listening", timeout=20)
        await daemon.wait_for_log(lambda line: line.get("event") == "ami_link_up", timeout=20)
        made = [await crash_book.callback(queue, number) for number in CUSTOMERS]
        ended = [await crash_book.wait_until(c.id, lambda c: c.state in TERMINAL_STATES, timeout=60) for c in made]
        assert {c.destination: c.completion_status for c in ended} == CUSTOMERS
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{listening['port']}/metrics") as response:
            assert response.status == 200 and response.content_type == "text/plain"
            samples = parse(await response.text())
    finally:
        assert await daemon.stop() == 0
    sales = labelled(queue="sales")
    assert samples[("cbdialer_originates_total", labelled(queue="sales", outcome="sent"))] == 3
    assert samples[("cbdialer_offer_lateness_seconds_count", sales)] == 3
    assert samples[("cbdialer_offer_lateness_seconds_bucket", labelled(queue="sales", le="+Inf"))] == 3
    # Measured from when each fell due (not from the claim's lease, which lies ahead): late by a little.
    assert 0 < samples[("cbdialer_offer_lateness_seconds_sum", sales)] < 3 * 20
    for status in CUSTOMERS.values():
        assert samples[("cbdialer_attempts_total", labelled(queue="sales", status=status.value))] == 1
    assert sum(v for (name, _), v in samples.items() if name == "cbdialer_attempts_total") == 3
    phases = {phase: samples.get(("cbdialer_call_phase_seconds_count", labelled(queue="sales", phase=phase)), 0)
              for phase in ("offer_to_answer", "dial_to_answer", "talk")}
    assert phases == {"offer_to_answer": 3, "dial_to_answer": 1, "talk": 1}
    talk = samples[("cbdialer_call_phase_seconds_sum", labelled(queue="sales", phase="talk"))]
    assert 8 <= talk <= 30  # the simulated customer stays on the line about ten seconds
    assert samples[("cbdialer_claimed_total", ())] >= 3
    assert samples[("cbdialer_ami_up", ())] == 1 and samples[("cbdialer_database_up", ())] == 1
    assert samples[("cbdialer_live_attempts", ())] == 0
    assert samples[("cbdialer_event_loop_lag_seconds_count", ())] > 0
    assert ("cbdialer_book_read_timestamp_seconds", ()) in samples
    assert samples[("process_resident_memory_bytes", ())] > 0
