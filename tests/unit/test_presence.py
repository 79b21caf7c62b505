"""Agent presence from device state, ready flag, wrap-up and reservation (docs/design.md section 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cbdialer.domain.models import Agent
from cbdialer.domain.presence import agent_view, device_of

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
AGENT = Agent(id="1001", dial_string="PJSIP/agent-1001", queues=frozenset({"sales"}))


def test_device_of_a_dial_string() -> None:
    assert device_of("PJSIP/agent-1001") == "PJSIP/agent-1001"
    assert device_of("PJSIP/agent-1001/sip:agent-1001@10.0.0.5:5060") == "PJSIP/agent-1001"
    assert device_of("Local/1001@agents") == "Local/1001@agents"


@pytest.mark.parametrize(("state", "logged_in", "busy"), [
    ("NOT_INUSE", True, False), ("UNAVAILABLE", False, False), ("INVALID", False, False),
    ("INUSE", True, True), ("RINGING", True, True), ("BUSY", True, True), ("ONHOLD", True, True),
    ("RINGINUSE", True, True), ("", False, False)])
def test_device_states(state: str, logged_in: bool, busy: bool) -> None:
    view = agent_view(AGENT, device_state=state, ready=True, now=NOW)
    assert (view.logged_in, view.busy) == (logged_in, busy)


def test_wrap_up_and_a_reserved_offer_make_an_idle_phone_busy() -> None:
    assert agent_view(AGENT, device_state="NOT_INUSE", ready=True, now=NOW,
                      wrap_up_until=NOW + timedelta(seconds=5)).busy
    assert not agent_view(AGENT, device_state="NOT_INUSE", ready=True, now=NOW, wrap_up_until=NOW).busy
    assert agent_view(AGENT, device_state="NOT_INUSE", ready=True, now=NOW,
                      reserved_until=NOW + timedelta(seconds=20)).busy
    view = agent_view(AGENT, device_state="NOT_INUSE", ready=False, now=NOW)
    assert not view.ready and view.queues == {"sales"}
