"""What a benchmark runs of its own, so that it disturbs nobody else on the machine (bench/chaos): a
PostgreSQL 15 server (initdb into a temp dir, trust auth, loopback, a free port), a sandbox PBX instance
(deploy/sandbox with its instance variables and no SIPp agents), and `cbdialer run` subprocesses, a log file
per incarnation, restarted after an exit they did not expect as deploy/cbdialer.service would. Each is stopped
by its own pid."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from support.output import elapsed, log

REPO = Path(__file__).resolve().parents[2]
SANDBOX = str(REPO / "deploy" / "sandbox")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
CBDIALER = str(Path(sys.executable).parent / "cbdialer")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def command(*argv: str, env: dict | None = None, out: Path | None = None, timeout: float = 120) -> int:
    """Run a command to completion, its output appended to `out` (or dropped); its exit status."""
    with open(out or os.devnull, "ab") as f:
        proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=f, stderr=subprocess.STDOUT,
                                                    stdin=subprocess.DEVNULL)
        try:
            return await asyncio.wait_for(proc.wait(), timeout)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def tail(path: Path, n: int = 8) -> list[str]:
    """The last n JSON log lines and the last other line (a traceback's last line says what killed it)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    other = [line for line in lines if not line.startswith("{")][-1:]
    return [line[:300] for line in [line for line in lines if line.startswith("{")][-n:] + other]


class Postgres:
    """A PostgreSQL 15 server of the bench's own: initdb into the temp dir, trust auth, loopback, a free port."""

    def __init__(self, tmp: Path, database: str) -> None:
        self.dir, self.port, self.database = tmp / "pg", free_port(), database
        self.data, self.log = self.dir / "data", self.dir / "server.log"
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root

    def ctl(self, *args: str) -> list[str]:
        return [*self.as_pg, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args]

    async def start(self) -> None:
        self.dir.mkdir()
        if self.as_pg:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        out = self.dir.parent / "initdb.log"
        if await command(*self.as_pg, str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                         "-E", "UTF8", "--no-sync", out=out):
            raise RuntimeError(f"initdb failed: {out.read_text()[-500:]}")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                       "fsync = off\nfull_page_writes = off\nmax_connections = 80\nshared_buffers = 64MB\n")
        if await command(*self.ctl("start")):
            raise RuntimeError(f"PostgreSQL did not start: {self.log.read_text()[-500:]}")

    async def restart(self, mode: str) -> None:
        if await command(*self.ctl("-m", mode, "restart")):
            log(f"PostgreSQL restart failed: {self.log.read_text()[-300:]}")

    def stop(self) -> None:
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            subprocess.run(self.ctl("-m", "immediate", "stop"), capture_output=True)
        if pid_file.exists():  # pg_ctl could not: the postmaster we started, by its pid
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    async def fetch(self, sql: str, *params: Any) -> list | None:
        """A query on a fresh connection; None while PostgreSQL is away."""
        try:
            conn = await asyncpg.connect(self.url(), timeout=3)
        except Exception:  # noqa: BLE001 - refused, starting, shutting down: all mean "away"
            return None
        try:
            return await conn.fetch(sql, *params)
        except Exception:  # noqa: BLE001
            return None
        finally:
            conn.terminate()


class Sandbox:
    """A sandbox PBX instance of the bench's own (deploy/sandbox's instance variables; no SIPp agents)."""

    def __init__(self, tmp: Path, name: str) -> None:
        self.name, self.out, self.used = name, tmp / "sandbox.log", False
        self.env = {**os.environ, "CBDIALER_SANDBOX_INSTANCE": self.name, "CBDIALER_SANDBOX_STATE": str(tmp / "sandbox"),
                    "CBDIALER_SANDBOX_AMI_PORT": str(free_port()), "CBDIALER_SANDBOX_SIPP": "no",
                    "CBDIALER_SANDBOX_SIP_PORT": str(free_port(socket.SOCK_DGRAM))}

    async def up(self) -> None:
        self.used = True
        if await command(SANDBOX, "up", env=self.env, out=self.out, timeout=300):
            raise RuntimeError(f"deploy/sandbox up failed: {self.out.read_text()[-500:]}")

    async def restart(self) -> None:
        await command(SANDBOX, "down", env=self.env, out=self.out)
        await self.up()

    def ami(self) -> dict[str, str]:
        """The CBDIALER_AMI_* variables of `deploy/sandbox env` for this instance."""
        text = subprocess.run([SANDBOX, "env"], env=self.env, capture_output=True, text=True, check=True).stdout
        return dict(re.findall(r"export (CBDIALER_AMI_\w+)=(\S*)", text))

    def stop(self) -> None:
        if self.used:
            subprocess.run([SANDBOX, "down"], env=self.env, capture_output=True)
            root = subprocess.run([SANDBOX, "root"], env=self.env, capture_output=True, text=True).stdout.strip()
            if root:
                shutil.rmtree(Path(root) / "cbdialer-instances" / self.name, ignore_errors=True)
                with contextlib.suppress(OSError):  # only if no other instance is there
                    (Path(root) / "cbdialer-instances").rmdir()


def daemon_env(ami: dict[str, str], database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a `cbdialer run` subprocess: this one's without its CBDIALER_* variables, then the
    AMI's (`deploy/sandbox env`), the database, the admin API on a free port of 127.0.0.1, JSON logs, `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CBDIALER_")}
    env.update(ami, CBDIALER_DATABASE_URL=database_url, CBDIALER_HTTP_HOST="127.0.0.1", CBDIALER_HTTP_PORT="0",
               CBDIALER_LOG_FORMAT="json", **settings)
    return env


class Owner(Protocol):
    """What a DaemonProcess reports to: whether the run is stopping (no more starts), the restarts and the exits
    it did not expect (name, status, seconds into the run, log file name, the end of the log), and where its
    background tasks go."""

    stopping: bool
    restarts: int
    exits: list[tuple]

    def background(self, coro: Coroutine[Any, Any, None]) -> None: ...


class DaemonProcess:
    """One `cbdialer run` subprocess (a log file per incarnation in `logs`); an exit it did not expect is
    recorded and followed by a restart 3 s later (deploy/cbdialer.service's RestartSec)."""

    def __init__(self, name: str, env: dict[str, str], logs: Path, owner: Owner) -> None:
        self.name, self.env, self.logs, self.owner = name, env, logs, owner
        self.proc: asyncio.subprocess.Process | None = None
        self.incarnation, self.expected = 0, False
        self.log_path = logs / f"{name}-0.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        if self.alive() or self.owner.stopping:
            return
        self.incarnation += 1
        self.log_path = self.logs / f"{self.name}-{self.incarnation}.log"
        with open(self.log_path, "ab") as f:
            self.proc = await asyncio.create_subprocess_exec(CBDIALER, "run", env=self.env, stdout=f,
                                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                             start_new_session=True)
        self.expected = False
        self.owner.restarts += self.incarnation > 1
        self.owner.background(self.watch(self.proc, self.log_path))

    async def watch(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        rc = await proc.wait()
        if self.expected or proc is not self.proc:
            return
        self.owner.exits.append((f"{self.name} #{self.incarnation}", rc, elapsed(), log_path.name, tail(log_path)))
        log(f"daemon {self.name} (pid {proc.pid}) EXITED by itself with status {rc}: {tail(log_path, 1)[-1:]}")
        await asyncio.sleep(3)  # deploy/cbdialer.service's RestartSec
        await self.start()

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            assert self.proc is not None
            self.expected = True
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def kill_now(self) -> None:
        """SIGKILL by its pid, without waiting (the last clean-up)."""
        if self.alive():
            assert self.proc is not None
            self.expected = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)


async def wait_for_log(daemons: list[DaemonProcess], text: str, timeout: float) -> None:
    """Until every daemon's current log holds `text`; RuntimeError if one exits or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while not all(text in d.log_path.read_text(errors="replace") for d in daemons):
        if time.monotonic() > deadline or not all(d.alive() for d in daemons):
            raise RuntimeError(f"the daemons did not come up: {[tail(d.log_path, 3) for d in daemons]}")
        await asyncio.sleep(0.2)
