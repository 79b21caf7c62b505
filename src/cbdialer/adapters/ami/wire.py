"""AMI on the wire: framing bytes into messages and writing actions. Rule: framing works on bytes, so a
multi-byte character split across reads is never damaged, and a header value can never carry a line break
(which would forge another header or action)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import unquote

from panoramisk.message import Message

FRAME_END = b"\r\n\r\n"
BANNER = b"Asterisk Call Manager/"
# A frame this large without an end is not AMI: drop the link rather than grow without bound.
MAX_FRAME = 1 << 20


class Receiver(Protocol):
    """What a session hands its messages to (the AmiLink)."""

    _log: Any

    def _on_message(self, headers: dict[str, str]) -> None: ...


def headers_of(message: Message) -> dict[str, str]:
    """A message's headers as a plain dict with lower-case keys; repeated headers joined by commas."""
    out: dict[str, str] = {}
    for key, value in message.items():
        if key == "content":
            continue
        out[key.lower()] = ",".join(value) if isinstance(value, list) else str(value)
    return out


_WITH_BODY = ("Response: Follows", "Response: Fail")


def parse_frame(text: str) -> dict[str, str] | None:
    """One frame's headers, as `headers_of(Message.from_line(text))` gives them (None: neither an event nor a
    response), read without panoramisk's case-insensitive mapping, which cost more than the rest of an event's
    handling: every call is 20-odd events. The rare response with a body is still panoramisk's to read."""
    if text.startswith(_WITH_BODY):
        message = Message.from_line(text)
        return headers_of(message) if message is not None else None
    out: dict[str, str] = {}
    seen_event = seen_response = False
    for line in text.split("\r\n"):
        name, sep, value = line.partition(": ")
        if not sep:
            continue
        seen_event = seen_event or name == "Event"
        seen_response = seen_response or name == "Response"
        key = name.lower()
        if key == "content":
            continue
        if key == "result":  # panoramisk's one quoted key
            value = unquote(value, errors="replace").strip()
        out[key] = f"{out[key]},{value}" if key in out else value
    return out if seen_event or seen_response else None


def check_value(name: str, value: str) -> str:
    # A CR or LF would end the header and let the rest be read as another header or action.
    if "\r" in value or "\n" in value:
        raise ValueError(f"AMI header {name!r}: line breaks are not allowed")
    return value


def serialise(headers: Mapping[str, str | Sequence[str]]) -> bytes:
    lines = []
    for name, value in headers.items():
        values = [value] if isinstance(value, str) else list(value)
        lines.extend(f"{name}: {check_value(name, v)}" for v in values)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class Session(asyncio.Protocol):
    """One TCP session: frames bytes into messages. Framing works on bytes, so a multi-byte character
    split across reads is never damaged."""

    def __init__(self, link: Receiver) -> None:
        self._link = link
        self._buffer = bytearray()
        self._banner_seen = False
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._banner_seen:
            end = self._buffer.find(b"\r\n")
            if end < 0:
                return
            if self._buffer.startswith(BANNER):
                del self._buffer[: end + 2]
            self._banner_seen = True
        while (end := self._buffer.find(FRAME_END)) >= 0:
            frame = bytes(self._buffer[:end])
            del self._buffer[: end + len(FRAME_END)]
            headers = parse_frame(frame.decode("utf-8", "replace").strip())
            if headers is not None:
                self._link._on_message(headers)
        if len(self._buffer) > MAX_FRAME:
            self._link._log.error("ami_frame_too_large", size=len(self._buffer))
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(str(exc) if exc else "closed by Asterisk")
