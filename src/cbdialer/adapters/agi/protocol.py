"""FastAGI, the protocol Asterisk's AGI(agi://host:port/script) speaks (docs/design.md section 14): `agi_*: value`
header lines and a blank line, then one command line at a time, each answered `200 result=... [(data)]
[endpos=N]`. Rule: this module is the only one that reads or writes AGI lines; a hang-up (the `HANGUP` line that
AGISIGHUP sends, `511` on a dead channel, result -1 of a media command, or the socket closing) is CallerHungUp,
any other refusal IvrError, and every read has a timeout, so that a silent Asterisk cannot hold a call forever.

panoramisk.fast_agi is not used (checked on 1.4): its header reader loops forever on a socket closed before the
blank line, it catches BaseException (so a cancelled handler never stops), its parser drops the result of
`200 result=-1` and of `200 result= (timeout)`, and its Application asks asyncio.get_event_loop()."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from cbdialer.ports.ivr import CallerHungUp, IvrError, IvrRequest, Prompt, Recorded, SayDatetime, SayDigits

ALL_KEYS = "0123456789*#"
MAX_LINE = 8192
_REPLY = re.compile(r"^(?P<code>\d{3})[ -](?:result=(?P<result>\S*))?\s*(?:\((?P<data>[^)]*)\))?\s*(?P<rest>.*)$")
_ENDPOS = re.compile(r"endpos=(-?\d+)")


@dataclass(frozen=True)
class Reply:
    code: int
    result: str
    data: str
    rest: str

    @property
    def end_position(self) -> int:
        found = _ENDPOS.search(self.rest)
        return int(found.group(1)) if found else 0


def quote(argument: str) -> str:
    """One command argument: quoted, with the quotes and backslashes inside it escaped (res_agi's parser)."""
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def read_headers(reader: asyncio.StreamReader, *, timeout: float) -> dict[str, str]:
    """The request's `agi_*` headers (without the prefix), up to the blank line."""
    headers: dict[str, str] = {}
    async with asyncio.timeout(timeout):
        while True:
            line = await reader.readline()
            if not line:
                raise CallerHungUp("the channel went away before the AGI request was read")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                return headers
            key, sep, value = text.partition(":")
            if sep and key.startswith("agi_"):
                headers[key[4:]] = value.strip()


def request_of(headers: dict[str, str]) -> IvrRequest:
    return IvrRequest(uniqueid=headers.get("uniqueid", ""), caller_number=headers.get("callerid", ""),
                      caller_name=headers.get("calleridname", ""), presentation=headers.get("callingpres", ""),
                      script=headers.get("network_script", "").strip("/"), channel=headers.get("channel", ""),
                      extra=headers)


class AgiCall:
    """One FastAGI connection: the port cbdialer.ports.ivr.IvrCall over Asterisk's socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: IvrRequest, *,
                 reply_timeout: float = 120.0) -> None:
        self._reader = reader
        self._writer = writer
        self.request = request
        self.reply_timeout = reply_timeout
        self.hung_up = False

    async def command(self, *words: str) -> Reply:
        """Send one command and read its reply (skipping `100 Trying`, reading a 520 usage text through)."""
        if self.hung_up:
            raise CallerHungUp("the caller hung up")
        line = " ".join(words)
        self._writer.write(line.encode() + b"\n")
        try:
            await self._writer.drain()
            async with asyncio.timeout(self.reply_timeout):
                while True:
                    raw = await self._reader.readline()
                    if not raw:
                        self.hung_up = True
                        raise CallerHungUp("the AGI socket closed")
                    text = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if text == "HANGUP":  # AGISIGHUP: the reply to the command follows
                        self.hung_up = True
                        continue
                    match = _REPLY.match(text)
                    if match is None:
                        raise IvrError(f"unreadable AGI reply {text[:80]!r}")
                    code = int(match["code"])
                    if code == 100:
                        continue
                    if code == 520 and text.startswith("520-"):
                        while (more := await self._reader.readline()) and not more.startswith(b"520 "):
                            pass
                        raise IvrError(f"AGI usage error for {words[0]}")
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            self.hung_up = True
            raise CallerHungUp("the AGI socket broke") from None
        reply = Reply(code, match["result"] or "", match["data"] or "", match["rest"] or "")
        if code == 511:
            self.hung_up = True
            raise CallerHungUp("the channel is dead")
        if code != 200:
            raise IvrError(f"{words[0]} refused: {text[:120]}")
        return reply

    async def _media(self, *words: str) -> Reply:
        reply = await self.command(*words)
        if reply.data == "hangup":
            self.hung_up = True
            raise CallerHungUp("the caller hung up")
        if reply.result == "-1":
            # -1 is a hang-up, or a failure on a live channel (a sound file missing): the channel's status tells.
            status = await self.command("CHANNEL", "STATUS")
            if status.result == "-1":
                self.hung_up = True
                raise CallerHungUp("the caller hung up")
            raise IvrError(f"{' '.join(words[:2])} failed on a live channel (a sound file missing?): {' '.join(words[2:3])}")
        return reply

    async def variable(self, name: str) -> str | None:
        reply = await self.command("GET", "VARIABLE", quote(name))
        return reply.data if reply.result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command("SET", "VARIABLE", quote(name), quote(value))

    async def _play(self, prompt: Prompt, escape: str) -> str:
        match prompt:
            case SayDigits(digits=digits):
                reply = await self._media("SAY", "DIGITS", digits, quote(escape))
            case SayDatetime(epoch=epoch, timezone=zone, format=fmt):
                reply = await self._media("SAY", "DATETIME", str(epoch), quote(escape), quote(fmt), quote(zone))
            case str():
                reply = await self._media("STREAM", "FILE", quote(prompt), quote(escape))
        code = int(reply.result or 0)
        return chr(code) if code > 0 else ""

    async def stream_file(self, prompt: str, *, escape: str = "") -> str:
        return await self._play(prompt, escape)

    async def get_digits(self, prompts: list[Prompt], *, timeout: float, max_digits: int) -> str:
        *first, last = prompts
        if not isinstance(last, str):
            raise ValueError("the last prompt of get_digits must be a sound file")
        for prompt in first:
            key = await self._play(prompt, ALL_KEYS)
            if key:
                if key == "#" or max_digits == 1:
                    return "" if key == "#" else key
                # Keys after this one are read by GET DATA; any pressed between the two commands are lost.
                rest = await self._media("GET", "DATA", "silence/1", str(int(timeout * 1000)), str(max_digits - 1))
                return key + rest.result
        reply = await self._media("GET", "DATA", quote(last), str(int(timeout * 1000)), str(max_digits))
        return reply.result

    async def record_file(self, path: str, *, escape: str = "#", timeout: float = 20.0, beep: bool = True,
                          silence: float = 3.0) -> Recorded:
        words = ["RECORD", "FILE", quote(path), "wav", quote(escape), str(int(timeout * 1000))]
        if beep:
            words.append("BEEP")
        words.append(f"s={max(1, round(silence))}")
        reply = await self._media(*words)
        code = int(reply.result or 0)
        return Recorded(dtmf=chr(code) if reply.data == "dtmf" and code > 0 else "", end_position=reply.end_position)

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except ConnectionError:
            pass
