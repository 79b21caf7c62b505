"""One caller in cbdialer's IVR (docs/design.md section 14): what the flow in services/caller_requests.py asks of
the telephony, whatever carries it (the FastAGI adapter, or a test's fake). Rule: every method is one step on
the line and raises CallerHungUp once the caller has gone, so the flow never talks to an empty channel; a
prompt is a sound file's name as Asterisk knows it (no extension, e.g. "queue-callback")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class CallerHungUp(Exception):
    """The caller hung up: the flow stops where it is (a request already stored stays)."""


class IvrError(Exception):
    """The telephony refused or failed a step (not a hang-up): the flow apologises and sends the caller back."""


@dataclass(frozen=True)
class IvrRequest:
    """What Asterisk says of the call when it reaches the IVR: the channel's Uniqueid, its caller ID as the line
    gave it, the presentation (CALLERPRES, e.g. allowed_not_screened, prohib) and the IVR's name (the script)."""

    uniqueid: str
    caller_number: str
    caller_name: str = ""
    presentation: str = ""
    script: str = ""
    channel: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # the other agi_* headers, without the prefix


@dataclass(frozen=True)
class Recorded:
    """What RECORD FILE did: `dtmf` the key that ended it ("" at silence or the time limit) and `end_position`
    the samples written (0: nothing)."""

    dtmf: str
    end_position: int


@dataclass(frozen=True)
class SayDigits:
    """A prompt that reads digits out (SAY DIGITS)."""

    digits: str


@dataclass(frozen=True)
class SayDatetime:
    """A prompt that reads an instant out in a zone (SAY DATETIME)."""

    epoch: int
    timezone: str
    format: str = "ABdY 'digits/at' IMp"


# A prompt: a sound file's name, or something read out.
Prompt = str | SayDigits | SayDatetime


class IvrCall(Protocol):
    request: IvrRequest

    async def variable(self, name: str) -> str | None:
        """A channel variable (GET VARIABLE), or None when unset."""
        ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def get_digits(self, prompts: list[Prompt], *, timeout: float, max_digits: int) -> str:
        """Play the prompts one after the other (a key cuts them short) and collect up to `max_digits` keys, ended
        by # (not returned), the count reached, or `timeout` seconds without a key; "" when nothing was pressed.
        The last prompt must be a sound file: the keys are collected while it plays and after (GET DATA)."""
        ...

    async def stream_file(self, prompt: str, *, escape: str = "") -> str:
        """Play one sound file; the key in `escape` that cut it short, or ""."""
        ...

    async def record_file(self, path: str, *, escape: str = "#", timeout: float = 20.0, beep: bool = True,
                          silence: float = 3.0) -> Recorded:
        """Record the caller into `path` (an Asterisk-side path without extension) as wav."""
        ...
