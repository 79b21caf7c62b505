"""`cbdialer run` as a process of its own, for the end-to-end tests that kill, stop or starve daemons."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

CBDIALER = str(Path(sys.executable).with_name("cbdialer"))


class Daemon:
    """`cbdialer run` as a process of its own, its JSON log lines read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read(), name="daemon-log")

    @classmethod
    async def start(cls, pbx: dict[str, str], url: str, level: str = "info", **settings: str) -> Daemon:
        """`settings`: more CBDIALER_* variables, e.g. CBDIALER_LEASE_SECONDS="3"."""
        env = {**os.environ, **pbx, "CBDIALER_DATABASE_URL": url, "CBDIALER_LOG_FORMAT": "json",
               "CBDIALER_LOG_LEVEL": level, "CBDIALER_HTTP_PORT": "0", **settings}
        return cls(await asyncio.create_subprocess_exec(CBDIALER, "run", env=env, stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.PIPE))

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            text = raw.decode(errors="replace").rstrip("\n")
            async with self._changed:
                self.raw.append(text)
                with contextlib.suppress(ValueError):
                    self.lines.append(json.loads(text))
                self._changed.notify_all()

    def events(self) -> list[str]:
        return [line.get("event", "") for line in self.lines]

    def tail(self) -> str:
        return "\n".join(self.raw[-40:])

    async def wait_for_log(self, match: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """The first line that matches, once logged; a timeout names what the daemon said last."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: any(match(line) for line in self.lines))
                return next(line for line in self.lines if match(line))
        except TimeoutError:
            raise AssertionError(f"no such log line within {timeout} s; the daemon's last lines:\n{self.tail()}") \
                from None

    def kill(self) -> None:
        """kill -9: no clean stop, leases and live calls left behind."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), 15)
        await asyncio.wait_for(self._reader, 5)
        return code
