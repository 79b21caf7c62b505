"""Typing AMI events: total (never raises on wire input) and true to what Asterisk 22 sends."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cbdialer.adapters.ami import (
    AmiConfig,
    AmiEvent,
    AmiLink,
    AttemptReport,
    InboundCall,
    OriginateResponse,
    OtherEvent,
    QueueCallAnswered,
    QueueCallEnded,
    QueueCallerJoined,
    QueueCallerLeft,
    caller_withheld,
    parse_event,
)
from cbdialer.adapters.ami.wire import Session
from tests.support.fake_ami import transcript


async def heard(name: str) -> list[AmiEvent]:
    """What the link makes of a recorded transcript (tests/support/transcripts), in order (a session needs a
    running loop)."""
    link = AmiLink(AmiConfig(host="127.0.0.1", port=1, username="u", secret="s"))
    Session(link).data_received(transcript("banner") + transcript(name))
    events = []
    while not link.events.empty():
        events.append(link.events.get_nowait())
    return events


def test_result_user_event() -> None:
    event = parse_event({"event": "UserEvent", "userevent": "CbdialerResult", "attemptid": "a-1",
                         "dialstatus": "CHANUNAVAIL", "hangupcause": "1", "amdstatus": "", "amdcause": ""})
    assert event == AttemptReport(kind="Result", attempt_id="a-1", dial_status="CHANUNAVAIL", hangup_cause=1)


def test_recording_played_user_event_carries_playbacks_status() -> None:
    event = parse_event({"event": "UserEvent", "userevent": "CbdialerRecordingPlayed", "attemptid": "a-1",
                         "status": "FAILED"})
    assert event == AttemptReport(kind="RecordingPlayed", attempt_id="a-1", status="FAILED")


def test_originate_failure_keeps_the_reason() -> None:
    event = parse_event({"event": "OriginateResponse", "actionid": "cbd-originate-x", "response": "Failure",
                         "reason": "3", "channel": "PJSIP/agent-1006", "uniqueid": "x"})
    assert event == OriginateResponse(action_id="cbd-originate-x", success=False, reason=3,
                                      channel="PJSIP/agent-1006", uniqueid="x")


def test_withheld_callers() -> None:
    def inbound(number: str, presentation: str) -> InboundCall:
        event = parse_event({"event": "UserEvent", "userevent": "CbdialerInbound", "callernumber": number,
                             "callerpresentation": presentation})
        assert isinstance(event, InboundCall)
        return event

    assert not inbound("+442079460012", "allowed").withheld
    assert inbound("", "allowed").withheld
    assert inbound("+442079460012", "prohib").withheld
    assert inbound("anonymous", "allowed").withheld


async def test_a_queue_call_answered_then_ended_as_asterisk_22_sends_it() -> None:
    """deploy/sandbox call-in +441632960123 --queue, as the cbdialer AMI user heard it: the hook, AgentConnect
    when agent-1001 answered, AgentComplete when the caller hung up 10 s later, all naming one caller channel."""
    inbound, answered, ended = await heard("queue_call_events")
    assert inbound == InboundCall(caller_number="+441632960123", withheld=False,
                                  channel="Local/queue@cbdialer-sandbox-inbound-00000001;2", uniqueid="1796185773.3")
    assert answered == QueueCallAnswered(
        asterisk_queue="cbdialer-sandbox", member="PJSIP/agent-1001", caller_number="+441632960123",
        caller_name="Customer", withheld=False, caller_uniqueid="1796185773.3", member_uniqueid="1796185773.4",
        caller_channel="Local/queue@cbdialer-sandbox-inbound-00000001;2")
    assert ended == QueueCallEnded(
        asterisk_queue="cbdialer-sandbox", member="PJSIP/agent-1001", caller_number="+441632960123",
        caller_name="Customer", withheld=False, caller_uniqueid="1796185773.3", member_uniqueid="1796185773.4",
        talk_seconds=10, reason="caller")


async def test_a_withheld_queue_caller_shows_no_number() -> None:
    """call-in withheld --queue --hang-up-after 3: Asterisk shows the number as <unknown>; the hook says prohib.
    The caller's channel was gone (its absolute timeout) before AgentComplete was raised: Asterisk 22 sent that
    event without any caller field, so only the member's channel names the call."""
    inbound, answered, ended = await heard("queue_call_withheld")
    assert isinstance(inbound, InboundCall) and inbound.withheld and inbound.caller_number == ""
    assert isinstance(answered, QueueCallAnswered) and isinstance(ended, QueueCallEnded)
    assert answered.caller_uniqueid == inbound.uniqueid == "1796185804.8"
    assert answered.withheld and answered.caller_number == "" and answered.caller_name == ""
    assert ended == QueueCallEnded(asterisk_queue="cbdialer-sandbox", member="PJSIP/agent-1002", caller_number="",
                                   caller_name="", withheld=False, caller_uniqueid="",
                                   member_uniqueid=answered.member_uniqueid, talk_seconds=3, reason="caller")


def test_the_withheld_rule_is_one_rule() -> None:
    assert caller_withheld("<unknown>") and caller_withheld(" ") and caller_withheld("Anonymous")
    assert caller_withheld("+442079460012", "prohib_passed_screen")
    assert not caller_withheld("+442079460012", "allowed_not_screened") and not caller_withheld("02079460012")


def test_a_user_event_of_someone_else_stays_other() -> None:
    event = parse_event({"event": "UserEvent", "userevent": "Billing", "attemptid": "z"})
    assert isinstance(event, OtherEvent) and event.name == "UserEvent"


@given(st.dictionaries(st.sampled_from(["event", "userevent", "attemptid", "reason", "hangupcause", "cause",
                                        "callernumber", "response", "calleridnum", "talktime", "queue", "x"]),
                       st.text(max_size=20)))
def test_parsing_is_total(headers: dict[str, str]) -> None:
    parse_event(headers)


async def test_app_queue_callers_joining_and_leaving() -> None:
    joined, left = await heard("queue_callers")  # recorded: call-in +442079460123 --queue, answered at once
    assert joined == QueueCallerJoined(asterisk_queue="cbdialer-sandbox", uniqueid="1796190538.3", position=1)
    assert left == QueueCallerLeft(asterisk_queue="cbdialer-sandbox", uniqueid="1796190538.3", abandoned=False)
    abandon = parse_event({"event": "QueueCallerAbandon", "queue": "cbdialer-sandbox", "uniqueid": "9.1",
                           "position": "2", "originalposition": "3", "holdtime": "40"})
    assert abandon == QueueCallerLeft(asterisk_queue="cbdialer-sandbox", uniqueid="9.1", abandoned=True)
