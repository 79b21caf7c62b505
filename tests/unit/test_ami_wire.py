"""The AMI frame parser (adapters/ami/wire.py parse_frame) reads every frame as panoramisk's does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from panoramisk.message import Message

from cbdialer.adapters.ami.wire import headers_of, parse_frame

NAMES = st.sampled_from(["Event", "Response", "ActionID", "Channel", "Variable", "Result", "Content", "Message",
                         "Uniqueid", "DialStatus", "Output"])
VALUES = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12) \
    | st.sampled_from(["Success", "Follows", "Fail", "a%20b", "%zz", " spaced ", "x: y", ""])
LINES = st.one_of(st.tuples(NAMES, VALUES).map(lambda kv: f"{kv[0]}: {kv[1]}"),
                  st.sampled_from(["no separator", "Response: Follows", "Response: Fail", "--END COMMAND--", ""]))


@settings(max_examples=500)
@given(st.lists(LINES, max_size=8))
def test_property_a_frame_reads_as_panoramisk_reads_it(lines: list[str]) -> None:
    text = "\r\n".join(lines).strip()
    message = Message.from_line(text)
    assert parse_frame(text) == (headers_of(message) if message is not None else None)


def test_repeated_headers_are_joined_and_names_lower_cased() -> None:
    frame = "Event: UserEvent\r\nVariable: A=1\r\nVariable: B=2\r\nResult: a%20b"
    assert parse_frame(frame) == {"event": "UserEvent", "variable": "A=1,B=2", "result": "a b"}
    assert parse_frame("Channel: x") is None
