"""The simulated agents' SIPp phones: answer, reject, never answer, absent (asterisk/sandbox/agents.list)."""

from __future__ import annotations

import uuid

from cbdialer.adapters.ami import (
    AttemptReport,
    DeviceStateChange,
    DialBegin,
    Hangup,
    OriginateRequest,
    OriginateResponse,
)
from tests.e2e.conftest import Events

# A customer who rings forever: the agent leg's fate alone decides these tests.
RINGING_CUSTOMER = "Local/+442079460030@cbdialer-sim-customers"


async def offer(ami: Events, agent: str, timeout_ms: int = 10_000, dial_timeout: int = 2) -> tuple[str, OriginateResponse]:
    attempt = str(uuid.uuid4())
    await ami.link.originate(OriginateRequest(
        channel=f"PJSIP/{agent}", channel_id=attempt, context="cbdialer-callback", timeout_ms=timeout_ms,
        variables={"CBDIALER_ATTEMPT": attempt, "CBDIALER_TIMEOUT": str(dial_timeout),
                   "CBDIALER_CUSTOMER": RINGING_CUSTOMER}))
    response = await ami.wait_for(lambda e: isinstance(e, OriginateResponse) and e.uniqueid == attempt)
    assert isinstance(response, OriginateResponse)
    return attempt, response


async def test_device_states_show_who_is_logged_in(ami: Events) -> None:
    states = await ami.link.device_states()
    assert states["PJSIP/agent-1007"] == "UNAVAILABLE"
    assert all(states[f"PJSIP/agent-{n}"] == "NOT_INUSE" for n in (1001, 1002, 1003, 1004, 1005, 1006, 1008))


async def test_an_answering_agent_rings_then_talks(ami: Events) -> None:
    attempt, response = await offer(ami, "agent-1003")
    assert response.success and response.reason == 4
    await ami.wait_for(lambda e: e == DeviceStateChange(device="PJSIP/agent-1003", state="RINGING"))
    result = await ami.wait_for(lambda e: isinstance(e, AttemptReport) and e.kind == "Result"
                                and e.attempt_id == attempt)
    assert isinstance(result, AttemptReport) and result.dial_status == "NOANSWER"


async def test_a_rejecting_agent_declines_the_offer(ami: Events) -> None:
    attempt, response = await offer(ami, "agent-1005")
    assert not response.success
    hangup = await ami.wait_for(lambda e: isinstance(e, Hangup) and e.uniqueid == attempt)
    assert isinstance(hangup, Hangup) and hangup.cause == 21  # call rejected
    assert not any(isinstance(e, AttemptReport) and e.attempt_id == attempt for e in ami.seen)


async def test_a_silent_agent_lets_the_offer_time_out(ami: Events) -> None:
    attempt, response = await offer(ami, "agent-1006", timeout_ms=2_000)
    assert not response.success and response.reason == 3  # no answer
    assert not any(isinstance(e, AttemptReport) and e.attempt_id == attempt for e in ami.seen)


async def test_an_absent_agent_cannot_be_offered(ami: Events) -> None:
    attempt, response = await offer(ami, "agent-1007")
    assert not response.success
    assert not any(isinstance(e, AttemptReport) and e.attempt_id == attempt for e in ami.seen)


async def test_an_agent_who_hangs_up_first_is_reported_as_cancel(ami: Events) -> None:
    attempt, response = await offer(ami, "agent-1008", dial_timeout=30)
    assert response.success
    result = await ami.wait_for(lambda e: isinstance(e, AttemptReport) and e.kind == "Result"
                                and e.attempt_id == attempt)
    assert isinstance(result, AttemptReport) and result.dial_status == "CANCEL"
    kinds = [e.kind for e in ami.seen if isinstance(e, AttemptReport) and e.attempt_id == attempt]
    assert kinds == ["AgentAnswered", "Dialing", "Result"]


async def test_live_channels_are_listed_and_can_be_hung_up(ami: Events) -> None:
    attempt, response = await offer(ami, "agent-1002", dial_timeout=60)
    assert response.success
    # The dialplan's Dialing report comes just before Dial() creates the customer's leg; DialBegin just after.
    await ami.wait_for(lambda e: isinstance(e, DialBegin) and e.uniqueid == attempt)
    channels = [c for c in await ami.link.core_show_channels() if c.linkedid == attempt]
    agent_leg = next(c for c in channels if c.uniqueid == attempt)
    assert agent_leg.channel.startswith("PJSIP/agent-1002-") and agent_leg.application == "Dial"
    assert any(c.channel.startswith("Local/+442079460030@cbdialer-sim-customers") for c in channels)
    # What cbdialer's no-answer watchdog does: hang the attempt's agent leg up over AMI.
    await ami.link.hangup(agent_leg.channel)
    result = await ami.wait_for(lambda e: isinstance(e, AttemptReport) and e.kind == "Result"
                                and e.attempt_id == attempt)
    assert isinstance(result, AttemptReport) and result.dial_status == "CANCEL"
    for channel in channels:  # every leg of the attempt ends
        await ami.wait_for(lambda e, c=channel: isinstance(e, Hangup) and e.uniqueid == c.uniqueid)
