"""A Local dial string reaches only an allowed dialplan context (issue 11)."""

from __future__ import annotations

import pytest

from cbdialer.domain.dialstrings import check_dial_string, dial_context
from cbdialer.domain.models import InvalidValue
from cbdialer.services import DEFAULT_DIAL_CONTEXTS
from cbdialer.settings import Settings


@pytest.mark.parametrize(("dial_string", "context"), [
    ("PJSIP/agent-1001", None),
    ("PJSIP/{number}@trunk", None),  # a PJSIP endpoint, not a context
    ("Local/{number}@cbdialer-sim-customers", "cbdialer-sim-customers"),
    ("local/1001@agents/n", "agents"),
])
def test_the_context_a_dial_string_reaches(dial_string: str, context: str | None) -> None:
    assert dial_context(dial_string) == context


def test_a_context_not_allowed_is_refused_by_name() -> None:
    check_dial_string("dial_string", "Local/1001@agents", frozenset({"agents"}))
    with pytest.raises(InvalidValue, match="'from-internal', which is not allowed") as refused:
        check_dial_string("dial_string", "Local/1001@from-internal", frozenset({"agents"}))
    assert refused.value.field == "dial_string"
    with pytest.raises(InvalidValue, match="must name its context"):
        check_dial_string("dial_string", "Local/1001", frozenset({"agents"}))


def test_the_operator_names_the_allowed_contexts() -> None:
    assert DEFAULT_DIAL_CONTEXTS == frozenset({"cbdialer-sim-customers"})
    assert Settings(dial_contexts="").allowed_dial_contexts is None
    assert Settings(dial_contexts=" from-trunk, cbdialer-agents ,").allowed_dial_contexts == frozenset(
        {"from-trunk", "cbdialer-agents"})


@pytest.mark.parametrize("dial_string", [
    "PJSIP/{number}@trunk&Local/100@from-internal",  # a second channel for Dial
    "Local/{number}@cbdialer-sim-customers/n&Local/100@from-internal",
    "PJSIP/{number}@trunk(",  # would swallow Dial's own arguments
    "PJSIP/{number} @trunk",
    "IAX2/127.0.0.1/{number}@from-internal",  # a technology that can run another context
    "Local/{number}@from-internal",
])
def test_no_dial_string_reaches_past_the_one_channel_allowed(dial_string: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        check_dial_string("customer_dial_string", dial_string, frozenset({"cbdialer-sim-customers"}))
    assert refused.value.field == "customer_dial_string"
