"""The dialer's agent directory: presence from Asterisk's device states, Local-channel agents included."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cbdialer.dialer import Dialer
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import Agent, Callback, CallbackType, Queue
from cbdialer.ports import AgentRecord

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def record(agent_id: str, dial_string: str) -> AgentRecord:
    return AgentRecord(agent=Agent(id=agent_id, dial_string=dial_string, queues=frozenset({"q"})), ready=True,
                       wrap_up_until=None, reserved_until=None, idle_since=None, waiting=())


class Agents:
    async def agents_of_queue(self, queue_id: str) -> list[AgentRecord]:
        return [record("1", "PJSIP/agent-1001"), record("2", "PJSIP/agent-1002"),
                record("3", "Local/90001@bench-agents"), record("4", "Local/90002@bench-agents")]


async def test_presence_of_sip_and_local_agents() -> None:
    dialer = Dialer(Agents(), None, owner=uuid.uuid4(), clock=lambda: NOW)  # type: ignore[arg-type]
    dialer.device_states = {"PJSIP/agent-1001": "NOT_INUSE", "Local/90002@bench-agents": "INUSE"}
    callback = Callback(id=uuid.uuid4(), queue_id="q", destination="+442079460012", type=CallbackType.STANDARD,
                        state=CallbackState.QUEUED, due_at=NOW, start_at=NOW, end_at=NOW + timedelta(hours=1),
                        created_at=NOW)
    views = {v.id: v for v in await dialer.agents_for(Queue(id="q", name="q"), callback)}
    assert (views["1"].logged_in, views["1"].busy) == (True, False)
    assert views["2"].logged_in is False  # a SIP endpoint Asterisk does not list is not there
    assert (views["3"].logged_in, views["3"].busy) == (True, False)  # Local: unknowable until used, so idle
    assert (views["4"].logged_in, views["4"].busy) == (True, True)  # once Asterisk reports it, it counts
