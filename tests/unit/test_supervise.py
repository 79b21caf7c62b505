"""The daemon's supervision of its named tasks (cbdialer.app.supervise): at a stop, the tasks named last (the AMI
link) end only after the others, so that those can still tidy up over them (the pause keeper lifts its pauses)."""

from __future__ import annotations

import asyncio

from cbdialer.app import supervise


async def test_tasks_named_last_outlive_the_others_at_a_stop() -> None:
    events: list[str] = []
    started = {name: asyncio.Event() for name in ("ami-link", "turn-keeper")}

    async def link() -> None:
        started["ami-link"].set()
        try:
            await asyncio.Event().wait()
        finally:
            events.append("link closed")

    async def keeper() -> None:
        started["turn-keeper"].set()
        try:
            await asyncio.Event().wait()
        finally:
            answer = asyncio.get_running_loop().create_future()  # an action over the link, answered a turn later
            asyncio.get_running_loop().call_soon(answer.set_result, None)
            await answer
            events.append("pauses lifted")

    stop = asyncio.Event()
    daemon = asyncio.create_task(supervise({"ami-link": link, "turn-keeper": keeper}, stop, last=("ami-link",)))
    for event in started.values():
        await asyncio.wait_for(event.wait(), 5)
    stop.set()
    await asyncio.wait_for(daemon, 5)
    assert events == ["pauses lifted", "link closed"]
