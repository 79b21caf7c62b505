"""The AMI link against recorded Asterisk transcripts: one test per trap of docs/design.md section 9."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from cbdialer.adapters.ami import (
    AmiActionFailed,
    AmiConfig,
    AmiDisconnected,
    AmiLink,
    AmiLoginError,
    AmiTimeout,
    AmiUnavailable,
    AttemptReport,
    DeviceStateChange,
    DialBegin,
    DialEnd,
    Hangup,
    InboundCall,
    LinkDown,
    LinkUp,
    Newchannel,
    OriginateRequest,
    OriginateResponse,
    OtherEvent,
)
from cbdialer.adapters.ami.wire import Session as _Session
from cbdialer.ports.telephony import WaitingCaller
from tests.support.fake_ami import SECRET, Connection, FakeAmi, transcript

ATTEMPT = "6f1c2a4e-0000-4000-8000-00000000abcd"


@pytest.fixture
async def ami() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.stop()


class Running:
    """A link running as a task against the fake server, stopped at the end of the test."""

    def __init__(self, link: AmiLink) -> None:
        self.link = link
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(link.run(self.stop), name="ami-link")

    async def next_event(self, kind: type, timeout: float = 5.0) -> object:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.link.events.get()
                if isinstance(event, kind):
                    return event

    async def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 5)


@pytest.fixture
async def start(ami: FakeAmi) -> AsyncIterator[Callable[..., Running]]:
    started: list[Running] = []

    def _start(secret: str = SECRET, **overrides: float) -> Running:
        settings = {"ping_interval": 0.2, "ping_timeout": 0.5, "action_timeout": 1.0,
                    "backoff_initial": 0.05, "backoff_max": 0.2, **overrides}
        link = AmiLink(AmiConfig(host="127.0.0.1", port=ami.port, username="cbdialer", secret=secret, **settings))
        running = Running(link)
        started.append(running)
        return running

    yield _start
    for running in started:
        await running.close()


def originate_request(**variables: str) -> OriginateRequest:
    return OriginateRequest(
        channel="PJSIP/agent-1001",
        channel_id=ATTEMPT,
        context="cbdialer-callback",
        timeout_ms=10_000,
        variables={"CBDIALER_ATTEMPT": ATTEMPT, "CBDIALER_TIMEOUT": "5", **variables},
    )


async def test_logs_in_and_reports_link_up(ami: FakeAmi, start: Callable[..., Running]) -> None:
    running = start()
    up = await running.next_event(LinkUp)
    assert up == LinkUp(reconnect=False)
    assert running.link.connected
    await running.link.ping()
    login = next(dict(h) for h in ami.received if dict(h).get("Action") == "Login")
    assert login["Username"] == "cbdialer" and login["Events"] == "on"


async def test_queue_status_lists_the_callers_waiting(ami: FakeAmi, start: Callable[..., Running]) -> None:
    running = start()
    await running.next_event(LinkUp)
    assert await running.link.queue_callers() == [
        WaitingCaller(asterisk_queue="cbdialer-sandbox", uniqueid="1796190538.3", waited_seconds=0, position=1)]


async def test_refused_login_is_a_configuration_error(ami: FakeAmi, start: Callable[..., Running]) -> None:
    running = start(secret="wrong")
    with pytest.raises(AmiLoginError, match="refused: Authentication failed"):
        await asyncio.wait_for(running.task, 5)
    assert not running.link.connected
    assert ami.count("Login") == 1  # no retry loop hammering Asterisk with a wrong secret


async def test_originate_is_always_async_with_our_action_id_and_channel_id(
    ami: FakeAmi, start: Callable[..., Running]
) -> None:
    running = start()
    await running.link.wait_connected(5)
    action_id = await running.link.originate(originate_request(CBDIALER_AMD="on"))

    sent = next(h for h in ami.received if dict(h).get("Action") == "Originate")
    headers = dict(sent)
    assert headers["Async"] == "true"
    assert headers["ChannelId"] == ATTEMPT
    assert headers["ActionID"] == action_id == f"cbd-originate-{ATTEMPT}"
    assert headers["Channel"] == "PJSIP/agent-1001" and headers["Timeout"] == "10000"
    # One Variable header per variable: AMI splits a single header on commas.
    assert [v for k, v in sent if k == "Variable"] == [
        f"CBDIALER_ATTEMPT={ATTEMPT}", "CBDIALER_TIMEOUT=5", "CBDIALER_AMD=on"]


async def test_originate_returns_once_queued_without_waiting_for_the_ring(
    ami: FakeAmi, start: Callable[..., Running]
) -> None:
    ring = asyncio.Event()

    async def queued_then_ring_later(connection: Connection, action: dict[str, str]) -> None:
        connection.write(transcript("originate_queued", action["ActionID"]))
        await ring.wait()
        connection.write(transcript("originate_call_events", action["ActionID"]))

    ami.on("Originate", queued_then_ring_later)
    running = start()
    await running.link.wait_connected(5)
    # Returns although no OriginateResponse has been sent yet.
    await asyncio.wait_for(running.link.originate(originate_request()), 2)
    ring.set()
    response = await running.next_event(OriginateResponse)
    assert response == OriginateResponse(action_id=f"cbd-originate-{ATTEMPT}", success=True, reason=4,
                                          channel="PJSIP/agent-1001-0000000d", uniqueid=ATTEMPT)


async def test_events_reach_the_single_consumer_in_wire_order(ami: FakeAmi, start: Callable[..., Running]) -> None:
    running = start()
    await running.link.wait_connected(5)
    await running.link.originate(originate_request())
    seen = []
    async with asyncio.timeout(5):
        while not (seen and isinstance(seen[-1], AttemptReport) and seen[-1].kind == "Result"):
            event = await running.link.events.get()
            if not isinstance(event, LinkUp):
                seen.append(event)
    kinds = [type(e).__name__ if not isinstance(e, AttemptReport) else e.kind for e in seen]
    assert kinds == [
        "Newchannel", "DialBegin", "DeviceStateChange", "OriginateResponse", "DialEnd", "DeviceStateChange",
        "AgentAnswered", "Dialing", "Newchannel", "Newchannel", "DialBegin", "DeviceStateChange",
        "CustomerAnswered", "DeviceStateChange", "DeviceStateChange", "Amd", "DialEnd", "Hangup",
        "DeviceStateChange", "Hangup", "DeviceStateChange", "Result",
    ]
    result = seen[-1]
    assert result == AttemptReport(kind="Result", attempt_id=ATTEMPT, dial_status="ANSWER", hangup_cause=16,
                                   amd_status="HUMAN", amd_cause="HUMAN-800-800")
    customer_leg = next(e for e in seen if isinstance(e, DialBegin) and e.uniqueid == ATTEMPT)
    assert customer_leg.dest_channel.startswith("Local/+442079460012@cbdialer-sim-customers")
    assert all(e.linkedid == ATTEMPT for e in seen if isinstance(e, (Newchannel, DialEnd, Hangup)) and e.linkedid)
    assert DeviceStateChange(device="PJSIP/agent-1001", state="RINGING") in seen


async def test_link_drop_fails_the_pending_originate_and_never_resends_it(
    ami: FakeAmi, start: Callable[..., Running]
) -> None:
    def drop_without_answer(connection: Connection, action: dict[str, str]) -> None:
        connection.close()

    ami.on("Originate", drop_without_answer)
    running = start()
    await running.link.wait_connected(5)
    with pytest.raises(AmiDisconnected, match="outcome unknown"):
        await running.link.originate(originate_request())
    assert await running.next_event(LinkDown)
    assert await running.next_event(LinkUp) == LinkUp(reconnect=True)
    # Give the new session time to replay anything it kept (panoramisk does so after login).
    pings_before = ami.count("Ping")
    await ami.wait_for("Ping", pings_before + 2)
    assert ami.count("Originate") == 1
    assert running.link.actions_sent["Originate"] == 1
    assert ami.count("Login") == 2


async def test_ping_watchdog_drops_a_silent_link_and_reconnects(ami: FakeAmi, start: Callable[..., Running]) -> None:
    silent = {"on": True}

    def ping(connection: Connection, action: dict[str, str]) -> None:
        if not silent["on"]:
            connection.write(transcript("ping", action["ActionID"]))

    ami.on("Ping", ping)
    running = start(ping_interval=0.2, ping_timeout=0.3)
    await running.link.wait_connected(5)
    down = await running.next_event(LinkDown, timeout=3)
    assert isinstance(down, LinkDown) and "ping failed" in down.reason
    silent["on"] = False
    assert await running.next_event(LinkUp, timeout=3) == LinkUp(reconnect=True)
    await running.link.ping()


async def test_an_action_without_answer_times_out_and_its_late_answer_is_ignored(
    ami: FakeAmi, start: Callable[..., Running]
) -> None:
    late: list[tuple[Connection, str]] = []

    def remember(connection: Connection, action: dict[str, str]) -> None:
        late.append((connection, action["ActionID"]))

    ami.on("Hangup", remember)
    running = start(action_timeout=0.3, ping_interval=5)
    await running.link.wait_connected(5)
    with pytest.raises(AmiTimeout):
        await running.link.hangup("PJSIP/agent-1001-00000001")
    connection, action_id = late[0]
    connection.write(transcript("hangup_no_such_channel", action_id))
    await running.link.ping()  # the link is still fine
    assert running.link.connected


async def test_garbage_and_unknown_events_do_not_drop_the_link(ami: FakeAmi, start: Callable[..., Running]) -> None:
    running = start(ping_interval=5)
    await running.link.wait_connected(5)
    connection = ami.connections[-1]
    connection.write(b"this is not AMI\r\n\r\n")
    connection.write(b"Event: SomethingNew\r\nPrivilege: call,all\r\nColour: blue\r\n\r\n")
    connection.write(b"Event: UserEvent\r\nUserEvent: CbdialerInbound\r\nCallerNumber: \xff\xfe\r\n\r\n")
    other = await running.next_event(OtherEvent)
    assert isinstance(other, OtherEvent) and other.name == "SomethingNew" and other.headers["colour"] == "blue"
    assert isinstance(await running.next_event(InboundCall), InboundCall)
    await running.link.ping()
    assert running.link.connected


async def test_framing_keeps_a_character_split_across_reads() -> None:
    link = AmiLink(AmiConfig(host="127.0.0.1", port=1, username="u", secret="s"))
    session = _Session(link)
    frame = "Event: UserEvent\r\nUserEvent: CbdialerInbound\r\nCallerNumber: +442079460012\r\nName: Ren\u00e9e\r\n\r\n"
    data = transcript("banner") + frame.encode()
    split = data.index("\u00e9".encode()) + 1  # in the middle of the two-byte character
    session.data_received(data[:split])
    assert link.events.empty()
    session.data_received(data[split:])
    event = link.events.get_nowait()
    assert event == InboundCall(caller_number="+442079460012", withheld=False, channel="")


async def test_lists_come_back_typed(ami: FakeAmi, start: Callable[..., Running]) -> None:
    running = start(ping_interval=5)
    await running.link.wait_connected(5)
    states = await running.link.device_states()
    assert states["PJSIP/agent-1001"] == "NOT_INUSE"
    assert states["PJSIP/agent-1007"] == "UNAVAILABLE"
    channels = await running.link.core_show_channels()
    agent = next(c for c in channels if c.uniqueid == ATTEMPT)
    assert agent.channel == "PJSIP/agent-1001-0000000d" and agent.linkedid == ATTEMPT
    assert all(c.linkedid == ATTEMPT for c in channels) and len(channels) == 3


async def test_an_error_answer_raises_action_failed(ami: FakeAmi, start: Callable[..., Running]) -> None:
    running = start(ping_interval=5)
    await running.link.wait_connected(5)
    with pytest.raises(AmiActionFailed, match="No such channel"):
        await running.link.hangup("PJSIP/nobody-00000000")


@pytest.mark.parametrize(
    ("variables", "message"),
    [({"CBDIALER_CUSTOMER": "Local/1@x\r\nAction: Hangup"}, "line breaks"),
     ({"CBDIALER_CUSTOMER": "a,b"}, "commas"),
     ({"BAD NAME": "1"}, "not a dialplan variable name")],
)
async def test_unsafe_originate_values_are_refused_before_sending(
    ami: FakeAmi, start: Callable[..., Running], variables: dict[str, str], message: str
) -> None:
    running = start(ping_interval=5)
    await running.link.wait_connected(5)
    with pytest.raises(ValueError, match=message):
        await running.link.originate(originate_request(**variables))
    assert ami.count("Originate") == 0
    await running.link.ping()


async def test_actions_while_down_are_refused_not_queued(ami: FakeAmi) -> None:
    link = AmiLink(AmiConfig(host="127.0.0.1", port=ami.port, username="cbdialer", secret=SECRET))
    with pytest.raises(AmiUnavailable):
        await link.originate(originate_request())
    assert link.actions_sent["Originate"] == 0


async def test_retries_an_unanswering_asterisk_with_backoff_and_stops_promptly(
    start: Callable[..., Running], ami: FakeAmi
) -> None:
    await ami.stop()
    accepted = asyncio.Queue[None]()

    async def hang_up_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait(None)
        writer.close()

    closer = await asyncio.start_server(hang_up_at_once, "127.0.0.1", ami.port)
    async with closer:
        running = start(backoff_initial=0.05, backoff_max=0.1)
        for _ in range(3):  # three connects, each refused by a closed socket, the loop retrying
            await asyncio.wait_for(accepted.get(), 2)
        assert not running.link.connected and not running.task.done()
        running.stop.set()
        await asyncio.wait_for(running.task, 1)
