"""A callback from the call the agent is on (seeds 003 and 004), against the sandbox PBX: a customer calls in
and waits in the Asterisk queue cbdialer-sandbox (`deploy/sandbox call-in NUMBER --queue`), an agent answers,
`cbdialer run` shows it as that agent's current call, and the agent makes a callback from it with the number
and queue filled in; a withheld caller needs a number; a call whose end the daemon could not hear (its AMI link
was cut) is found ended at the reconnect. Everything waits for events (log lines, AMI events), never for time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from cbdialer.adapters.ami import Hangup
from cbdialer.adapters.db import Database
from cbdialer.domain.access import Role
from cbdialer.domain.models import Agent, Queue, QueueSettings
from cbdialer.services import Admin
from tests.e2e.conftest import Events, sandbox
from tests.support.daemon import Daemon
from tests.support.link_cutter import LinkCutter

AGENTS = ("1001", "1002", "1003", "1004")  # the sandbox queue's members
CALLER = "+442079460123"


@dataclass
class Centre:
    db: Database
    tokens: dict[str, str]


@pytest.fixture
async def centre(pbx: dict[str, str], database_url: str) -> AsyncIterator[Centre]:
    """The queue 'inbound' serving the sandbox's Asterisk queue, its four agents, and a token for each."""
    db = await Database.connect(database_url)
    store = db.store()
    await store.save_queue(Queue(id="inbound", name="Inbound",
                                 settings=QueueSettings(asterisk_queue="cbdialer-sandbox")))
    admin = Admin(store, lambda: datetime.now(UTC))
    tokens = {}
    for agent in AGENTS:
        await store.upsert_agent(Agent(id=agent, dial_string=f"PJSIP/agent-{agent}", queues=frozenset({"inbound"})))
        tokens[agent] = await admin.tokens.issue_token(Role.AGENT, agent)
    try:
        yield Centre(db, tokens)
    finally:
        await db.close()


async def api_of(daemon: Daemon) -> str:
    listening = await daemon.wait_for_log(lambda line: line.get("event") == "admin_api_listening", timeout=20)
    return f"http://127.0.0.1:{listening['port']}/api/v1"


async def http(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
            method, url, json=body, headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


async def call_in(*args: str) -> str:
    """The caller channel's Uniqueid, once the caller is in the queue."""
    result = await asyncio.to_thread(sandbox, "call-in", *args, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


async def answered(daemon: Daemon, uniqueid: str, event: str = "agent_call_answered",
                   timeout: float = 30) -> dict[str, Any]:
    return await daemon.wait_for_log(lambda line: line.get("event") == event
                                     and line.get("caller_uniqueid") == uniqueid, timeout=timeout)


async def test_an_agent_makes_a_callback_from_the_queue_call_it_answered(pbx: dict[str, str], database_url: str,
                                                                        centre: Centre) -> None:
    daemon = await Daemon.start(pbx, database_url)
    try:
        api = await api_of(daemon)
        await daemon.wait_for_log(lambda line: line.get("event") == "ami_link_up", timeout=20)
        uniqueid = await call_in(CALLER, "--queue")
        heard = await answered(daemon, uniqueid)
        agent, token = heard["agent"], centre.tokens[heard["agent"]]
        status, calls = await http("GET", f"{api}/agents/{agent}/calls", token)
        assert status == 200, calls
        current = calls["current"]
        assert current is not None and current["id"] == heard["call_id"]
        assert (current["number"], current["withheld"], current["asterisk_queue"], current["queue"]) == \
            (CALLER, False, "cbdialer-sandbox", "inbound")
        # Another agent cannot read it.
        other = next(a for a in AGENTS if a != agent)
        assert (await http("GET", f"{api}/agents/{agent}/calls", centre.tokens[other]))[0] == 403
        status, created = await http("POST", f"{api}/agents/{agent}/calls/{current['id']}/callback", token,
                                     {"start_in": 3600, "remark": "call back about the invoice"})
        assert status == 201, created
        assert (created["destination"], created["queue"], created["created_by"], created["state"]) == \
            (CALLER, "inbound", agent, "scheduled")
        # The caller hangs up 10 s after the answer: the call is history, and still a callback can come from it.
        await answered(daemon, uniqueid, "agent_call_ended", timeout=30)
        status, calls = await http("GET", f"{api}/agents/{agent}/calls", token)
        assert calls["current"] is None and calls["calls"][0]["id"] == current["id"]
        assert calls["calls"][0]["ended_at"] is not None
        status, again = await http("POST", f"{api}/agents/{agent}/calls/{current['id']}/callback", token,
                                   {"start_in": 7200})
        assert status == 201 and again["destination"] == CALLER
    finally:
        assert await daemon.stop() == 0
    assert not any(line.get("level") in ("error", "critical") for line in daemon.lines), daemon.tail()


async def test_a_withheld_caller_needs_a_number(pbx: dict[str, str], database_url: str, centre: Centre) -> None:
    daemon = await Daemon.start(pbx, database_url)
    try:
        api = await api_of(daemon)
        await daemon.wait_for_log(lambda line: line.get("event") == "ami_link_up", timeout=20)
        uniqueid = await call_in("withheld", "--queue", "--hang-up-after", "8")
        heard = await answered(daemon, uniqueid)
        agent, token = heard["agent"], centre.tokens[heard["agent"]]
        status, calls = await http("GET", f"{api}/agents/{agent}/calls", token)
        current = calls["current"]
        assert (current["withheld"], current["number"], current["queue"]) == (True, None, "inbound")
        path = f"{api}/agents/{agent}/calls/{current['id']}/callback"
        status, refused = await http("POST", path, token, {"start_in": 3600})
        assert (status, refused["field"]) == (422, "destination"), refused
        status, created = await http("POST", path, token, {"start_in": 3600, "destination": "+442079460012"})
        assert status == 201, created
        assert (created["destination"], created["queue"]) == ("+442079460012", "inbound")
        # Its AgentComplete comes without the caller's fields (the caller's channel is gone by then): it ends all
        # the same, by the agent's channel.
        await answered(daemon, uniqueid, "agent_call_ended", timeout=30)
    finally:
        assert await daemon.stop() == 0


async def test_a_call_that_ended_while_the_ami_link_was_down_is_ended_at_the_reconnect(
        pbx: dict[str, str], database_url: str, centre: Centre, watcher: Events) -> None:
    cutter = LinkCutter("127.0.0.1", int(pbx["CBDIALER_AMI_PORT"]))
    await cutter.start()
    daemon = await Daemon.start({**pbx, "CBDIALER_AMI_PORT": str(cutter.listen_port)}, database_url)
    try:
        api = await api_of(daemon)
        await daemon.wait_for_log(lambda line: line.get("event") == "ami_link_up", timeout=20)
        uniqueid = await call_in(CALLER, "--queue", "--hang-up-after", "4")
        heard = await answered(daemon, uniqueid)
        agent, token = heard["agent"], centre.tokens[heard["agent"]]
        cutter.cut()
        await daemon.wait_for_log(lambda line: line.get("event") == "ami_link_lost", timeout=15)
        # The caller hangs up while the daemon cannot hear: its AgentComplete is lost with the link.
        await watcher.wait_for(lambda e: isinstance(e, Hangup) and e.uniqueid == uniqueid, timeout=30)
        status, calls = await http("GET", f"{api}/agents/{agent}/calls", token)
        assert calls["current"] is not None and calls["current"]["id"] == heard["call_id"]  # as last heard
        cutter.restore()
        await daemon.wait_for_log(lambda line: line.get("event") == "agent_calls_ended_unheard", timeout=30)
        status, calls = await http("GET", f"{api}/agents/{agent}/calls", token)
        assert calls["current"] is None
        assert calls["calls"][0]["id"] == heard["call_id"] and calls["calls"][0]["ended_at"] is not None
        assert not any(line.get("event") == "agent_call_ended" and line.get("caller_uniqueid") == uniqueid
                       for line in daemon.lines)  # it was never heard to end
    finally:
        assert await daemon.stop() == 0
        await cutter.stop()
