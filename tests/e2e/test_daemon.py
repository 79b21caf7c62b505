"""`cbdialer run` against the sandbox PBX and PostgreSQL: starts, sees the agents, serves the admin API,
hears inbound calls, stops cleanly on SIGTERM, and never logs its secret or a token."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import urllib.request
from pathlib import Path

import asyncpg

from tests.e2e.conftest import sandbox

CBDIALER = str(Path(sys.executable).with_name("cbdialer"))


class Daemon:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, object]] = []
        self.raw: list[str] = []

    async def wait_for(self, event: str, timeout: float = 20) -> dict[str, object]:
        assert self.process.stderr is not None
        async with asyncio.timeout(timeout):
            while True:
                line = (await self.process.stderr.readline()).decode()
                if not line:
                    raise AssertionError(f"daemon exited before {event!r}: {self.raw}")
                self.raw.append(line)
                record = json.loads(line)
                self.lines.append(record)
                if record["event"] == event:
                    return record


def http(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, object]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


async def test_run_until_sigterm(pbx: dict[str, str], database_url: str) -> None:
    env = {**os.environ, **pbx, "CBDIALER_DATABASE_URL": database_url, "CBDIALER_LOG_FORMAT": "json",
           "CBDIALER_HTTP_PORT": "0"}
    process = await asyncio.create_subprocess_exec(CBDIALER, "run", env=env, stderr=asyncio.subprocess.PIPE)
    daemon = Daemon(process)
    try:
        started = await daemon.wait_for("dialer_started")
        presence = await daemon.wait_for("agents_presence")
        # The 8 agent endpoints (1007 absent), and app_queue's own devices for the sandbox queue (its
        # Queue:cbdialer-sandbox_avail and a _pause_ device per member, 1001-1004).
        assert presence["devices"] == 13 and presence["available"] == 12
        # The admin API is served by the same daemon, and reports presence as this daemon hears it.
        listening = next((r for r in daemon.lines if r["event"] == "admin_api_listening"), None) \
            or await daemon.wait_for("admin_api_listening")
        api = f"http://127.0.0.1:{listening['port']}"
        token = await asyncio.create_subprocess_exec(CBDIALER, "token", "create", "--role", "admin", env=env,
                                                     stdout=asyncio.subprocess.PIPE)
        out, _ = await token.communicate()
        secret = out.decode().strip()
        assert token.returncode == 0 and len(secret) >= 40 and "\n" not in secret
        assert await asyncio.to_thread(http, "GET", f"{api}/healthz") == (200, {"status": "ok", "database": True})
        await asyncio.to_thread(http, "POST", f"{api}/api/v1/queues", secret, {"id": "sales"})
        status, agent = await asyncio.to_thread(http, "POST", f"{api}/api/v1/agents", secret,
                                                {"id": "1001", "dial_string": "PJSIP/agent-1001", "queues": ["sales"]})
        assert status == 201 and agent["presence"] == "NOT_INUSE"  # agent-1001's SIPp phone is registered
        result = await asyncio.to_thread(sandbox, "call-in", "+442079460012")
        assert result.returncode == 0, result.stderr
        inbound = await daemon.wait_for("inbound_call")
        assert inbound["caller_number"] == "+442079460012"
        process.send_signal(signal.SIGTERM)
        await daemon.wait_for("dialer_stopped")
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert not any(r["level"] in ("error", "critical") for r in daemon.lines)
    assert all(pbx["CBDIALER_AMI_SECRET"] not in line and secret not in line for line in daemon.raw)
    conn = await asyncpg.connect(database_url)
    try:
        stopped = await conn.fetchval("SELECT stopped_at FROM dialer_nodes WHERE id = $1::uuid", started["node_id"])
    finally:
        await conn.close()
    assert stopped is not None


async def test_a_wrong_secret_stops_the_daemon_with_a_clear_message(pbx: dict[str, str], database_url: str) -> None:
    env = {**os.environ, **pbx, "CBDIALER_DATABASE_URL": database_url, "CBDIALER_AMI_SECRET": "not-the-secret",
           "CBDIALER_HTTP_PORT": "0"}
    process = await asyncio.create_subprocess_exec(CBDIALER, "run", env=env, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert "AMI login as 'cbdialer' refused" in stderr.decode()
    assert "not-the-secret" not in stderr.decode()
