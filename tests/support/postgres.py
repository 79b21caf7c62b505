"""A PostgreSQL server of one test's own, for tests that stop or restart the database under cbdialer. The
shared server on 127.0.0.1:5432 is never touched: other test runs use it at the same time.

initdb into a fresh directory, pg_ctl start on a free loopback port (as the `postgres` user when the tests
run as root, since PostgreSQL refuses to run as root), and pg_ctl stop at the end (kill of the postmaster by
its pid if that fails), then the directory is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cbdialer.adapters.db import Database


def _bindir() -> Path:
    explicit = os.environ.get("CBDIALER_TEST_PG_BINDIR")
    if explicit:
        return Path(explicit)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    assert found, "no PostgreSQL server binaries (initdb, pg_ctl): install postgresql, or set CBDIALER_TEST_PG_BINDIR"
    return Path(found).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    """One PostgreSQL server in a directory of its own, on a port of its own, trusting loopback."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="cbdialer-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{args[0]} failed: {result.stdout}{result.stderr}{self.log_tail()}"

    def _pg_ctl(self, *args: str) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60", *args)

    def initdb(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")

    def start(self) -> None:
        # fsync off for speed; synchronous_commit stays on, so that a crash of the server alone (an immediate
        # stop) loses no commit.
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
                   "-c fsync=off -c full_page_writes=off")
        self._pg_ctl("-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "stop")

    def restart(self, mode: str = "fast") -> None:
        """Stop (every connection is cut, with a FATAL admin_shutdown) and start again; returns once the
        server accepts connections."""
        self._pg_ctl("-m", mode, "restart")

    @property
    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n" + "\n".join(self.logfile.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def destroy(self) -> None:
        """Stop the server if it runs (pg_ctl, else SIGKILL to its postmaster by pid) and remove its files."""
        try:
            if self.pid is not None:
                try:
                    self.stop("immediate")
                except (AssertionError, subprocess.TimeoutExpired):
                    pid = self.pid
                    if pid is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_server() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.initdb()
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running PostgreSQL server of this test's own, to stop or restart at will."""
    with private_server() as server:
        yield server


async def migrated_database(server: PrivatePostgres, name: str = "cbdialer") -> str:
    """Create database `name` on `server` with cbdialer's schema; its URL."""
    url = server.url(name)
    await Database.create_database_if_missing(url)
    db = await Database.connect(url, max_size=1)
    try:
        await db.migrate()
    finally:
        await db.close()
    return url


@pytest.fixture
async def private_database_url(private_postgres: PrivatePostgres) -> AsyncIterator[str]:
    """A migrated cbdialer database on this test's own server (the server is `private_postgres`)."""
    yield await migrated_database(private_postgres)


async def restart(server: PrivatePostgres, mode: str = "fast") -> None:
    await asyncio.to_thread(server.restart, mode)
