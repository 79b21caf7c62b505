"""The callers waiting in the sandbox's app_queue queue, as the daemon follows them (docs/design.md section 14):
from QueueCallerJoin / QueueCallerAbandon, and read afresh with QueueStatus after the AMI link comes back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from cbdialer.adapters.ami import Newchannel
from cbdialer.app import build_daemon
from cbdialer.dialer.places import QueuePlaces
from cbdialer.domain.models import CallbackType
from cbdialer.settings import Settings
from tests.e2e.conftest import Book, Events, sandbox

AGENTS = ["1001", "1002", "1003", "1004"]  # the members of cbdialer-sandbox


async def until(places: QueuePlaces, done: Callable[[], bool], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not done():
            places.changed.clear()
            await places.changed.wait()


async def test_the_daemon_knows_who_waits_and_reads_it_again_after_a_reconnect(
        pbx: dict[str, str], database_url: str, crash_book: Book, watcher: Events) -> None:
    settings = Settings(database_url=database_url, ami_host=pbx["CBDIALER_AMI_HOST"],
                        ami_port=int(pbx["CBDIALER_AMI_PORT"]), ami_username=pbx["CBDIALER_AMI_USERNAME"],
                        ami_secret=pbx["CBDIALER_AMI_SECRET"], http_port=0)
    stop = asyncio.Event()
    async with build_daemon(settings, stop=stop, serve_api=False) as daemon:
        runner = asyncio.create_task(daemon.run(), name="daemon")
        try:
            places = daemon.dialer.places
            await until(places, lambda: places.known)
            # Every member busy on a callback (these customers answer and talk 10 s), so a caller waits.
            queue = await crash_book.queue("q-places", AGENTS)
            for n, agent in enumerate(AGENTS):
                await crash_book.callback(queue, f"+4420794601{10 + n}", type=CallbackType.AGENT, agent_id=agent)
            for agent in AGENTS:
                await watcher.wait_for(lambda e, a=agent: isinstance(e, Newchannel)
                                       and e.channel.startswith(f"PJSIP/agent-{a}-"))
            joined = datetime.now(UTC)
            result = await asyncio.to_thread(sandbox, "call-in", "+442079460124", "--queue", "--hang-up-after", "6")
            assert result.returncode == 0, result.stderr
            uniqueid = result.stdout.split()[-1]
            await until(places, lambda: uniqueid in places.waiting("cbdialer-sandbox"))
            assert places.waiting("cbdialer-sandbox")[uniqueid] >= joined
            # The link drops and comes back: QueueStatus says the caller still waits.
            heard_at = places.waiting("cbdialer-sandbox")[uniqueid]
            places.known = False
            daemon.link.drop("test: cut the link")
            await until(places, lambda: places.known)
            assert places.waiting("cbdialer-sandbox")[uniqueid] == heard_at  # kept: heard joining
            # The caller gives up before any member frees: QueueCallerAbandon.
            await until(places, lambda: uniqueid not in places.waiting("cbdialer-sandbox"))
        finally:
            stop.set()
            await asyncio.wait_for(runner, 20)
