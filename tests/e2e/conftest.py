"""The sandbox PBX for end-to-end tests: `deploy/sandbox up` once per run (it is idempotent), and AMI
links to it."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from cbdialer.adapters.ami import AmiConfig, AmiEvent, AmiLink, LinkUp

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = str(ROOT / "deploy" / "sandbox")


def sandbox(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SANDBOX, *args], capture_output=True, text=True, timeout=timeout)


def sandbox_env() -> dict[str, str]:
    result = sandbox("env")
    assert result.returncode == 0, result.stderr
    env = {}
    for line in result.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    return env


@pytest.fixture(scope="session")
def pbx() -> dict[str, str]:
    result = sandbox("up")
    assert result.returncode == 0, result.stderr
    return sandbox_env()


def ami_config(env: dict[str, str], **overrides: float) -> AmiConfig:
    return AmiConfig(host=env["CBDIALER_AMI_HOST"], port=int(env["CBDIALER_AMI_PORT"]),
                     username=env["CBDIALER_AMI_USERNAME"], secret=env["CBDIALER_AMI_SECRET"], **overrides)


class Events:
    """What one AMI link sees, kept so that tests can wait for an event matching a condition."""

    def __init__(self, link: AmiLink) -> None:
        self.link = link
        self.seen: list[AmiEvent] = []
        self._changed = asyncio.Condition()

    async def pump(self) -> None:
        while True:
            event = await self.link.events.get()
            async with self._changed:
                self.seen.append(event)
                self._changed.notify_all()

    async def wait_for(self, match: Callable[[AmiEvent], bool], timeout: float = 30) -> AmiEvent:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: any(match(e) for e in self.seen))
            return next(e for e in self.seen if match(e))


@pytest.fixture
async def ami(pbx: dict[str, str]) -> AsyncIterator[Events]:
    link = AmiLink(ami_config(pbx, ping_interval=1.0, ping_timeout=2.0))
    stop = asyncio.Event()
    runner = asyncio.create_task(link.run(stop), name="ami-link")
    events = Events(link)
    pump = asyncio.create_task(events.pump(), name="ami-events")
    await events.wait_for(lambda e: isinstance(e, LinkUp), timeout=10)
    yield events
    stop.set()
    pump.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pump
    await asyncio.wait_for(runner, 10)
