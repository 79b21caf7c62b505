"""The FastAGI adapter (adapters/agi) against a local socket that speaks as Asterisk's res_agi does: the request's
headers, then each command answered from a transcript; hang-ups in each of the ways Asterisk reports them; and
the server handing each call to its flow, then stopping with calls in progress."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from cbdialer.adapters.agi import serve_agi
from cbdialer.ports.ivr import CallerHungUp, IvrCall, IvrError, IvrRequest, SayDatetime, SayDigits
from tests.support.fake_ivr import FakeIvrCall

HEADERS = (b"agi_network: yes\nagi_network_script: caller-callback\nagi_request: agi://127.0.0.1/caller-callback\n"
           b"agi_channel: Local/queue@cbdialer-sandbox-inbound-00000001;2\nagi_uniqueid: 1700000000.42\n"
           b"agi_callerid: +442079460012\nagi_calleridname: Customer\nagi_callingpres: 0\n\n")


class Asterisk:
    """Connects to the server as Asterisk would and answers each command line with the next scripted reply."""

    def __init__(self, replies: dict[str, list[str]] | list[str]) -> None:
        self.replies = replies
        self.commands: list[str] = []

    async def run(self, port: int, headers: bytes = HEADERS) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(headers)
        if not headers.endswith(b"\n\n"):
            writer.write_eof()  # the channel went away before the request was whole
        await writer.drain()
        replies = list(self.replies) if isinstance(self.replies, list) else None
        try:
            while line := await reader.readline():
                command = line.decode().rstrip("\n")
                self.commands.append(command)
                answer = replies.pop(0) if replies is not None else self._by_verb(command)
                if answer is None:
                    break
                writer.write(answer.encode())
                await writer.drain()
        finally:
            writer.close()

    def _by_verb(self, command: str) -> str | None:
        assert isinstance(self.replies, dict)
        for verb, answers in self.replies.items():
            if command.startswith(verb) and answers:
                return answers.pop(0)
        return "200 result=0\n"


@contextlib.asynccontextmanager
async def server(flow: Callable[[IvrCall], Awaitable[None]]) -> AsyncIterator[tuple[int, asyncio.Event]]:
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_agi({"caller-callback": flow}, "127.0.0.1", 0, stop, started=bound.set_result,
                                         reply_timeout=5))
    try:
        yield await asyncio.wait_for(bound, 5), stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_commands_and_their_replies() -> None:
    seen: dict[str, object] = {}
    finished = asyncio.Event()

    async def flow(call: IvrCall) -> None:
        seen["request"] = call.request
        seen["queue"] = await call.variable("CBDIALER_QUEUE")
        seen["unset"] = await call.variable("CBDIALER_JOINED")
        await call.set_variable("CBDIALER_RESULT", 'say "queue"')
        seen["digits"] = await call.get_digits(["vm-enter-num-to-call"], timeout=10, max_digits=20)
        seen["timeout"] = await call.get_digits(["vm-enter-num-to-call"], timeout=10, max_digits=20)
        seen["escaped"] = await call.get_digits(["to-call-this-number", SayDigits("442079460012"), "vm-calldiffnum"],
                                                timeout=6, max_digits=1)
        seen["slot"] = await call.get_digits([SayDatetime(1795000000, "Europe/London"), "silence/1"], timeout=6,
                                             max_digits=1)
        seen["record"] = await call.record_file("/var/spool/asterisk/cbdialer-recordings/x", silence=3.0)
        finished.set()

    asterisk = Asterisk(["200 result=1 (cbdialer-sandbox)\n", "200 result=0\n", "200 result=1\n",
                         "200 result=442079460013\n", "200 result= (timeout)\n",
                         "200 result=0 endpos=12000\n", "100 result=0 Trying...\n200 result=50 endpos=300\n",
                         "200 result=50 endpos=1\n", "200 result=35 (dtmf) endpos=24000\n"])
    async with server(flow) as (port, _):
        await asterisk.run(port)
        await asyncio.wait_for(finished.wait(), 5)
    request = seen["request"]
    assert request.uniqueid == "1700000000.42"  # type: ignore[attr-defined]
    assert (request.caller_number, request.script) == ("+442079460012", "caller-callback")  # type: ignore[attr-defined]
    assert seen["queue"] == "cbdialer-sandbox" and seen["unset"] is None
    assert seen["digits"] == "442079460013" and seen["timeout"] == ""
    assert seen["escaped"] == "2" and seen["slot"] == "2"
    assert seen["record"].dtmf == "#" and seen["record"].end_position == 24000  # type: ignore[attr-defined]
    assert asterisk.commands == [
        'GET VARIABLE "CBDIALER_QUEUE"', 'GET VARIABLE "CBDIALER_JOINED"',
        'SET VARIABLE "CBDIALER_RESULT" "say \\"queue\\""',
        'GET DATA "vm-enter-num-to-call" 10000 20', 'GET DATA "vm-enter-num-to-call" 10000 20',
        'STREAM FILE "to-call-this-number" "0123456789*#"', 'SAY DIGITS 442079460012 "0123456789*#"',
        'SAY DATETIME 1795000000 "0123456789*#" "ABdY \'digits/at\' IMp" "Europe/London"',
        'RECORD FILE "/var/spool/asterisk/cbdialer-recordings/x" wav "#" 20000 BEEP s=3',
    ]


@pytest.mark.parametrize("reply", ["HANGUP\n200 result=-1\n", "511 Command Not Permitted on a dead channel\n",
                                   "200 result=-1 (hangup) endpos=0\n", None])
async def test_a_hang_up_in_any_of_its_forms_is_caller_hung_up(reply: str | None) -> None:
    outcome = await one_prompt(Asterisk([reply] if reply is not None else [None]))  # type: ignore[list-item]
    assert isinstance(outcome, CallerHungUp)


async def one_prompt(asterisk: Asterisk) -> BaseException | None:
    """What playing one prompt (`vm-rec-name`, # to skip) ends in, against that Asterisk."""
    outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    async def flow(call: IvrCall) -> None:
        try:
            await call.stream_file("vm-rec-name", escape="#")
        except BaseException as exc:
            outcome.set_result(exc)
            raise
        outcome.set_result(None)

    async with server(flow) as (port, _):
        await asterisk.run(port)
        return await asyncio.wait_for(outcome, 5)


@pytest.mark.parametrize(("status", "expected"), [("200 result=-1\n", CallerHungUp), ("200 result=6\n", IvrError)])
async def test_a_failed_prompt_is_a_hang_up_only_if_the_channel_is_gone(status: str, expected: type) -> None:
    asterisk = Asterisk(["200 result=-1 endpos=0\n", status])  # a missing sound file answers -1 too
    assert type(await one_prompt(asterisk)) is expected
    assert asterisk.commands == ['STREAM FILE "vm-rec-name" "#"', "CHANNEL STATUS"]


async def test_a_refused_command_is_an_ivr_error_and_a_usage_text_is_read_through() -> None:
    outcome: list[BaseException] = []
    done = asyncio.Event()

    async def flow(call: IvrCall) -> None:
        for prompt in ("a", "b"):
            try:
                await call.stream_file(prompt)
            except IvrError as exc:
                outcome.append(exc)
        done.set()

    usage = "520-Invalid command syntax.  Proper usage follows:\nUsage: STREAM FILE\n520 End of proper usage.\n"
    asterisk = Asterisk(["510 Invalid or unknown command\n", usage])
    async with server(flow) as (port, _):
        await asterisk.run(port)
        await asyncio.wait_for(done.wait(), 5)
    assert len(outcome) == 2


async def test_an_unknown_script_or_a_failing_flow_closes_that_call_only() -> None:
    calls = 0

    async def flow(call: IvrCall) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("a bug")

    async with server(flow) as (port, _):
        await Asterisk([]).run(port, HEADERS.replace(b"caller-callback\n", b"other\n", 1))
        await Asterisk([]).run(port)
        await Asterisk([]).run(port)
        await Asterisk([]).run(port, b"agi_network: yes\n")  # closed before the blank line
    assert calls == 2


async def test_stop_cancels_the_calls_in_progress() -> None:
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    async def flow(call: IvrCall) -> None:
        entered.set()
        try:
            await call.stream_file("queue-periodic-announce")
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def silent_asterisk(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HEADERS)
        await reader.read()  # never answers; the server closes the socket when it stops
        writer.close()

    async with server(flow) as (port, stop):
        peer = asyncio.create_task(silent_asterisk(port))
        await asyncio.wait_for(entered.wait(), 5)
        stop.set()
    await asyncio.wait_for(cancelled.wait(), 5)
    await asyncio.wait_for(peer, 5)


async def test_the_fake_caller_keeps_the_adapters_rule_for_get_digits() -> None:
    """The conformance the fake shares with the adapter: keys are collected while a sound file plays."""
    raised: list[BaseException] = []
    done = asyncio.Event()

    async def flow(call: IvrCall) -> None:
        try:
            await call.get_digits([SayDigits("1")], timeout=1, max_digits=1)
        except ValueError as exc:
            raised.append(exc)
        done.set()

    async with server(flow) as (port, _):
        await Asterisk([]).run(port)
        await asyncio.wait_for(done.wait(), 5)
    fake = FakeIvrCall(IvrRequest(uniqueid="1", caller_number=""))
    with pytest.raises(ValueError, match="last prompt"):
        await fake.get_digits([SayDigits("1")], timeout=1, max_digits=1)
    assert raised and "last prompt" in str(raised[0])
