"""Typing AMI events: total (never raises on wire input) and true to what Asterisk 22 sends."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cbdialer.adapters.ami import AttemptReport, InboundCall, OriginateResponse, OtherEvent, parse_event


def test_result_user_event() -> None:
    event = parse_event({"event": "UserEvent", "userevent": "CbdialerResult", "attemptid": "a-1",
                         "dialstatus": "CHANUNAVAIL", "hangupcause": "1", "amdstatus": "", "amdcause": ""})
    assert event == AttemptReport(kind="Result", attempt_id="a-1", dial_status="CHANUNAVAIL", hangup_cause=1)


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


def test_a_user_event_of_someone_else_stays_other() -> None:
    event = parse_event({"event": "UserEvent", "userevent": "Billing", "attemptid": "z"})
    assert isinstance(event, OtherEvent) and event.name == "UserEvent"


@given(st.dictionaries(st.sampled_from(["event", "userevent", "attemptid", "reason", "hangupcause", "cause",
                                        "callernumber", "response", "x"]), st.text(max_size=20)))
def test_parsing_is_total(headers: dict[str, str]) -> None:
    parse_event(headers)
