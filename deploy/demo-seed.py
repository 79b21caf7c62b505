"""Seed the demo: a queue open around the clock, the sandbox's answering agents, and one callback per row
of the simulated-customer table, due within seconds. Safe to run twice: a new callback overwrites the older
active one of the same contact and queue, as the book's rule says."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, time, timedelta

from cbdialer.adapters.db import Database
from cbdialer.domain.book import overwritten_by
from cbdialer.domain.lifecycle import CallbackState, Reason, transition
from cbdialer.domain.models import Agent, Callback, CallbackType, CallingWindow, Queue, QueueSettings, Schedule

QUEUE = Queue(id="demo", name="Demo callbacks", settings=QueueSettings(
    duration_for_no_answer=10, attempts_before_failure=3, recall_intervals=(20, 40), retry_interval=10,
    network_failure_delay=15, max_network_failures=2, agent_offer_timeout=10, wrap_up_time=3, amd=True,
    calling_window=CallingWindow(time(0, 0), time.max), schedule=Schedule(), max_concurrent_calls=4,
    calls_per_second=2, caller_id="+442079460000"))
AGENTS = [Agent(id=n, dial_string=f"PJSIP/agent-{n}", queues=frozenset({"demo"})) for n in ("1001", "1002", "1003", "1004")]
CUSTOMERS = [  # number, what the sandbox customer does, seconds from now
    ("+442079460012", "answers and talks", 2),
    ("+442079460024", "voicemail greeting", 3),
    ("+442079460033", "never answers", 4),
    ("+442079460045", "busy", 5),
    ("+442079460051", "unallocated number", 6),
    ("+442079460066", "network congestion", 7),
    ("+442079460077", "answers after 8 s", 8),
    ("+442079460088", "answers, hangs up after 2 s", 9),
    ("+442079460019", "calls in first: try deploy/sandbox call-in +442079460019", 600),
]


async def main() -> None:
    db = await Database.connect(os.environ["CBDIALER_DATABASE_URL"])
    store = db.store()
    try:
        await store.save_queue(QUEUE)
        for agent in AGENTS:
            await store.upsert_agent(agent)
        now = datetime.now(UTC)
        for number, what, delay in CUSTOMERS:
            start = now + timedelta(seconds=delay)
            new = Callback(id=uuid.uuid4(), queue_id=QUEUE.id, destination=number, type=CallbackType.STANDARD,
                           state=CallbackState.SCHEDULED, due_at=start, start_at=start,
                           end_at=start + timedelta(hours=1), created_at=now, remark=what, created_by="demo")
            for old in overwritten_by(new, await store.active_for_contact(number, QUEUE.id)):
                await store.transition(old.id, expected=old.state, to=transition(old.state, Reason.OVERWRITTEN),
                                       reason=Reason.OVERWRITTEN, now=now, actor="demo")
            await store.add_callback(new, actor="demo")
            print(f"  callback {str(new.id)[:8]}  {number}  {what}")
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
