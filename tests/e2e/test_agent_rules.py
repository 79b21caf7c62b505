"""The agent's rules of seeds 003 and 004 end to end, against the sandbox PBX with SIPp agents: a busy named
agent's callback goes to another agent after the queue's agent_wait_time (issue 11 item 2), an agent's Call
Now rings that agent's phone (item 5), and the offer's caller name carries the remark (item 9)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from cbdialer.adapters.ami import Newchannel
from cbdialer.domain.access import Principal, Role
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import CallbackType, CompletionStatus
from cbdialer.services import Admin
from tests.e2e.conftest import Book, Events


async def test_a_busy_named_agents_callback_goes_to_another_agent_after_the_agent_wait_time(book: Book) -> None:
    """Seed 004: "Contact continues trying to call the agent for a configurable time ... if the agent has
    remained on a call ... for too long, the call is treated as though no agent was specified"."""
    queue = await book.queue("q-named-wait", ["1001", "1002"], agent_wait_time=3)
    # 1001 is on a call: this customer answers after about 1 s and stays 10 s.
    talking = await book.callback(queue, "+442079460102", type=CallbackType.AGENT, agent_id="1001")
    first = await book.wait_for_attempt(talking.id, lambda a: a.agent_id is not None)
    assert first.agent_id == "1001"
    named = await book.callback(queue, "+442079460103", type=CallbackType.AGENT, agent_id="1001")
    attempt = await book.wait_for_attempt(named.id, lambda a: a.agent_id is not None, timeout=30)
    assert attempt.agent_id == "1002"
    # It waited for 1001 first (its own callback queue), for the wait time, while 1001 was still talking.
    assert attempt.started_at - named.created_at >= timedelta(seconds=3)
    [busy] = await book.store.attempts(talking.id)
    assert busy.ended_at is None or busy.ended_at > attempt.started_at
    assert ("queued", "queued", "dial_slot_unavailable") in await book.trail(named.id)
    done = await book.wait_until(named.id, lambda c: c.state is CallbackState.COMPLETED)
    assert done.completion_status is CompletionStatus.HANDLED


async def test_an_agents_call_now_rings_that_agents_phone(book: Book, watcher: Events) -> None:
    """Seed 003: Call Now "provides the ability to manually call the contact without needing to wait"."""
    queue = await book.queue("q-call-now", ["1001", "1002"])
    conn = await asyncpg.connect(book.url)
    try:  # the queue's own choice would be 1001, idle far longer
        await conn.execute("UPDATE agents SET idle_since = now() - interval '1 day' WHERE id = '1001'")
        await conn.execute("UPDATE agents SET idle_since = now() WHERE id = '1002'")
    finally:
        await conn.close()
    now = datetime.now(UTC)
    later = await book.callback(queue, "+442079460104", due_at=now + timedelta(hours=1),
                                start_at=now + timedelta(hours=1), end_at=now + timedelta(hours=3))
    agent = Principal(token_id=uuid.uuid4(), role=Role.AGENT, agent_id="1002", queues=frozenset({queue.id}))
    pressed = await Admin(book.store, lambda: datetime.now(UTC)).callbacks.call_now(agent, later.id)
    assert pressed.call_now_agent == "1002"
    attempt = await book.wait_for_attempt(later.id, lambda a: a.agent_id is not None)
    assert attempt.agent_id == "1002"
    rang = await watcher.wait_for(lambda e: isinstance(e, Newchannel) and e.channel.startswith("PJSIP/agent-1002-"))
    assert rang.channel.startswith("PJSIP/agent-1002-")
    done = await book.wait_until(later.id, lambda c: c.state is CallbackState.COMPLETED)
    # "If an immediate call is successful, the pending callback entry is removed" (seed 004).
    assert (done.completion_status, done.call_now_agent) == (CompletionStatus.HANDLED, None)


async def test_the_offer_shows_the_remark_as_the_caller_name_on_the_agents_phone(book: Book, ami: Events,
                                                                               watcher: Events) -> None:
    """Issue 11 item 9: "CB" and a short form of the remark, as the agent's phone shows the caller."""
    queue = await book.queue("q-remark", ["1003"])
    called = await book.callback(queue, "+442079460105", remark="Asked for the manager, re: invoice")
    leg = await watcher.wait_for(lambda e: isinstance(e, Newchannel) and e.channel.startswith("PJSIP/agent-1003-"))
    await book.wait_for_attempt(called.id, lambda a: a.agent_id == "1003")
    names = {c.caller_name for c in await ami.link.core_show_channels() if c.channel == leg.channel}
    assert names == {"CB Asked for the manager re: invoice"}  # the comma is AMI's: a space
    await book.wait_until(called.id, lambda c: c.state is CallbackState.COMPLETED)
