"""The benchmarks' own AMI sessions, the one AMI test client every benchmark uses: where the AMI is (from the
command line or `deploy/sandbox env`), Asterisk's banner, a raw asyncio socket that sends actions W at a time
and counts what comes back (bench/dialer's peer figure), and a watcher of customer legs over cbdialer's own
AmiLink, reconnecting (bench/chaos's counts)."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cbdialer.adapters.ami import AmiConfig, AmiLink, DialBegin, DialEnd, Hangup, LinkDown, LinkUp, Newchannel

from support.output import fmt_rate, log


@dataclass(frozen=True)
class AmiTarget:
    """An AMI to log in to."""

    host: str
    port: int
    username: str
    secret: str

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AmiTarget:
        return cls(args.ami_host, args.ami_port, args.ami_username, args.ami_secret)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AmiTarget:
        """From CBDIALER_AMI_* variables (the environment, or what `deploy/sandbox env` prints)."""
        return cls(env["CBDIALER_AMI_HOST"], int(env["CBDIALER_AMI_PORT"]), env["CBDIALER_AMI_USERNAME"],
                   env["CBDIALER_AMI_SECRET"])

    def config(self, **options: float) -> AmiConfig:
        """cbdialer's AmiConfig for this AMI (`options`: ping_interval, backoff_max, ...)."""
        return AmiConfig(host=self.host, port=self.port, username=self.username, secret=self.secret, **options)


def add_ami_arguments(p: argparse.ArgumentParser) -> None:
    """--ami-host, --ami-port, --ami-username, --ami-secret, defaulting to the CBDIALER_AMI_* variables."""
    env = os.environ
    p.add_argument("--ami-host", default=env.get("CBDIALER_AMI_HOST", "127.0.0.1"))
    p.add_argument("--ami-port", type=int, default=int(env.get("CBDIALER_AMI_PORT", "5038")))
    p.add_argument("--ami-username", default=env.get("CBDIALER_AMI_USERNAME", "cbdialer"))
    p.add_argument("--ami-secret", default=env.get("CBDIALER_AMI_SECRET", ""),
                   help="default: $CBDIALER_AMI_SECRET (deploy/sandbox env)")


async def banner(target: AmiTarget) -> str:
    """The first line Asterisk's AMI sends ("Asterisk Call Manager/9.0.0"), or "AMI ?"."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port), 5)
        line = (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
        writer.close()
        return line
    except Exception:  # noqa: BLE001
        return "AMI ?"


# -- a raw socket: actions out, W in flight, what came back counted ------------------------------------------

@dataclass
class Round:
    """N actions sent W at a time by one client: how many finished well or not, and when."""

    client: str
    n: int
    window: int
    ok: int = 0
    failed: int = 0
    errors: int = 0
    first_sent: float = math.nan
    last_queued: float = math.nan
    last_done: float = math.nan
    timed_out: int = 0

    @property
    def queued_rate(self) -> float:
        return (self.n - self.errors) / (self.last_queued - self.first_sent) if self.last_queued > self.first_sent else math.nan

    @property
    def done_rate(self) -> float:
        return self.ok / (self.last_done - self.first_sent) if self.last_done > self.first_sent else math.nan

    def text(self) -> str:
        extra = f", {self.failed} failed" if self.failed else ""
        extra += f", {self.errors} refused" if self.errors else ""
        extra += f", {self.timed_out} without response" if self.timed_out else ""
        return (f"{self.client}: {self.n:,} Originates, {self.window} in flight: queued {fmt_rate(self.queued_rate)}, "
                f"completed (OriginateResponse) {fmt_rate(self.done_rate)}{extra}")


class RawAmi:
    """A plain asyncio socket speaking AMI: bytes out, frames counted by prefix; no parsing beyond that."""

    def __init__(self, target: AmiTarget) -> None:
        self.target = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.buffer = b""

    @staticmethod
    def frame(headers: list[tuple[str, str]]) -> bytes:
        return ("".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode()

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.target.host, self.target.port), 5)
        await asyncio.wait_for(self.reader.readline(), 5)  # the banner
        self.writer.write(self.frame([("Action", "Login"), ("Username", self.target.username),
                                      ("Secret", self.target.secret), ("Events", "on"), ("ActionID", "raw-login")]))
        async with asyncio.timeout(5):
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError("AMI closed the raw session during login")
                self.buffer += chunk
                frames = self.buffer.split(b"\r\n\r\n")
                self.buffer = frames.pop()
                for f in frames:
                    if b"ActionID: raw-login" in f:
                        if not f.startswith(b"Response: Success"):
                            raise ConnectionError(f"raw AMI login refused: {f[:200]!r}")
                        self.buffer = b"\r\n\r\n".join(frames[frames.index(f) + 1:] + [self.buffer])
                        return

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 5)
            except Exception:  # noqa: BLE001
                pass

    async def run(self, name: str, n: int, window: int, action: Callable[[int], tuple[bytes, str]], *,
                  until_result: bool) -> Round:
        """Send n actions (`action(i)`: the frame and its attempt id; ActionIDs `rawo-...`), `window` in
        flight. One is finished by its OriginateResponse, or (until_result) by the dialplan's CbdialerResult
        UserEvent for its attempt (a failed OriginateResponse finishes it too)."""
        assert self.reader is not None and self.writer is not None
        result = Round(name, n, window)
        sem = asyncio.Semaphore(window)
        finished = 0
        all_done = asyncio.Event()
        attempts: set[str] = set()

        def finish(ok: bool) -> None:
            nonlocal finished
            finished += 1
            if ok:
                result.ok += 1
            else:
                result.failed += 1
            result.last_done = time.time()
            sem.release()
            if finished >= n:
                all_done.set()

        async def read() -> None:
            assert self.reader is not None
            buffer = self.buffer
            while True:
                chunk = await self.reader.read(1 << 16)
                if not chunk:
                    raise ConnectionError("AMI closed the raw session")
                buffer += chunk
                frames = buffer.split(b"\r\n\r\n")
                buffer = frames.pop()
                for f in frames:
                    # Events go to every AMI session: count only those of this session's actions and attempts.
                    if f.startswith(b"Event: OriginateResponse"):
                        if b"ActionID: rawo-" not in f:
                            continue
                        if b"Response: Success" not in f:
                            finish(False)
                        elif not until_result:
                            finish(True)
                    elif until_result and f.startswith(b"Event: UserEvent") and b"UserEvent: CbdialerResult" in f:
                        at = f.find(b"AttemptId: ")
                        attempt = f[at + 11:at + 47].decode() if at >= 0 else ""
                        if attempt in attempts:
                            attempts.discard(attempt)
                            finish(True)
                    elif f.startswith(b"Response:") and b"ActionID: rawo-" in f:
                        result.last_queued = time.time()
                        if not f.startswith(b"Response: Success"):
                            result.errors += 1
                            finish(False)

        reader = asyncio.create_task(read())
        try:
            for i in range(n):
                await sem.acquire()
                if i == 0:
                    result.first_sent = time.time()
                data, attempt = action(i)
                attempts.add(attempt)
                self.writer.write(data)
                if i % 32 == 0:
                    await self.writer.drain()
            await self.writer.drain()
            done, _ = await asyncio.wait({reader, asyncio.ensure_future(all_done.wait())}, timeout=60,
                                         return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                reader.result()  # raises what ended it
            result.timed_out = n - finished
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        return result


# -- customer legs, over cbdialer's AmiLink -------------------------------------------------------------------

@dataclass
class Leg:
    """One customer leg; times are this machine's clock when the event arrived."""

    number: str
    attempt: str
    begin: float
    end: float | None = None
    answered: float | None = None
    cut: bool = False  # its end is when the watcher's AMI link went down (an Asterisk restart)


class LegWatch:
    """An AMI session of the bench's own, reconnecting across an Asterisk restart: every channel whose name
    `pattern` matches (its group 1: the number) is a customer leg, begun at its Newchannel or DialBegin (the
    Linkedid is the attempt id: cbdialer originates the agent leg with ChannelId = the attempt id), answered at
    a DialEnd with ANSWER, ended at its Hangup; legs live when the link drops end then."""

    def __init__(self, target: AmiTarget, pattern: re.Pattern[str]) -> None:
        self.link = AmiLink(target.config(ping_interval=1.0, ping_timeout=2.0, backoff_max=0.5))
        self.pattern = pattern
        self.legs: dict[str, Leg] = {}

    async def consume(self) -> None:
        while True:
            event, now = await self.link.events.get(), time.time()
            match event:
                case Newchannel(channel=channel, uniqueid=uid, linkedid=linkedid) | \
                        DialBegin(dest_channel=channel, dest_uniqueid=uid, linkedid=linkedid):
                    if uid in self.legs:
                        self.legs[uid].attempt = self.legs[uid].attempt or linkedid
                    elif m := self.pattern.match(channel):
                        self.legs[uid] = Leg(m[1], linkedid, now)
                case DialEnd(dest_uniqueid=uid, dial_status="ANSWER") if uid in self.legs:
                    self.legs[uid].answered = now
                case Hangup(uniqueid=uid) if uid in self.legs and self.legs[uid].end is None:
                    self.legs[uid].end = now
                case LinkDown(reason=reason):
                    cut = [leg for leg in self.legs.values() if leg.end is None]
                    for leg in cut:
                        leg.end, leg.cut = now, True
                    log(f"bench AMI link down ({reason}): {len(cut)} live customer legs taken as ended now")
                case LinkUp(reconnect=True):
                    log("bench AMI link up again")

    def live(self) -> int:
        return sum(1 for leg in self.legs.values() if leg.end is None)
