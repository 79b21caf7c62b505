"""`deploy/sandbox` as a newcomer uses it, and the AMI link living through an Asterisk that dies and
comes back (stopped by pid, with a call in flight)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from cbdialer.adapters.ami import InboundCall, LinkDown, LinkUp, Newchannel, OriginateRequest, OriginateResponse
from tests.e2e.conftest import Events, sandbox, sandbox_env


def processes_under(root: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                exe_root = os.readlink(entry / "root")
            except OSError:
                continue
            if root in cmdline or exe_root == root:
                found.append(int(entry.name))
    return found


async def run(*args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(sandbox, *args)
    return result.returncode, result.stdout, result.stderr


async def test_up_is_idempotent_and_status_and_env_tell_the_truth(ami: Events) -> None:
    code, _, err = await run("up")
    assert code == 0 and "already up" in err
    code, out, _ = await run("status")
    assert code == 0 and out.startswith("running: pid ")
    assert "agent-1001" in out and "agent-1007" not in out  # the absent agent has no contact
    env = sandbox_env()
    assert set(env) == {"CBDIALER_AMI_HOST", "CBDIALER_AMI_PORT", "CBDIALER_AMI_USERNAME", "CBDIALER_AMI_SECRET",
                        "CBDIALER_AGI_HOST", "CBDIALER_AGI_PORT", "CBDIALER_ASTERISK_RECORDINGS_DIR",
                        "CBDIALER_RECORDINGS_DIR"}
    assert len(env["CBDIALER_AMI_SECRET"]) >= 16


async def test_call_in_reports_the_caller_and_withheld_callers(ami: Events) -> None:
    code, _, err = await run("call-in", "+442079460012")
    assert code == 0, err
    inbound = await ami.wait_for(lambda e: isinstance(e, InboundCall), timeout=10)
    assert isinstance(inbound, InboundCall)
    assert (inbound.caller_number, inbound.withheld) == ("+442079460012", False)
    assert inbound.channel.startswith("Local/s@cbdialer-sandbox-inbound")
    code, _, err = await run("call-in", "withheld")
    assert code == 0, err
    hidden = await ami.wait_for(lambda e: isinstance(e, InboundCall) and e.withheld, timeout=10)
    assert isinstance(hidden, InboundCall) and hidden.caller_number == ""
    code, _, err = await run("call-in", "12; rm -rf /")
    assert code != 0 and "NUMBER must be digits" in err


async def test_link_survives_asterisk_stopped_by_pid_and_sends_nothing_twice(ami: Events) -> None:
    # A call in flight: the agent rings and never answers.
    attempt = str(uuid.uuid4())
    await ami.link.originate(OriginateRequest(
        channel="PJSIP/agent-1006", channel_id=attempt, context="cbdialer-callback", timeout_ms=60_000,
        variables={"CBDIALER_ATTEMPT": attempt, "CBDIALER_CUSTOMER": "Local/+442079460030@cbdialer-sim-customers"}))
    await ami.wait_for(lambda e: isinstance(e, Newchannel) and e.uniqueid == attempt)
    sent_before = dict(ami.link.actions_sent)

    root = (await run("root"))[1].strip()
    code, _, err = await run("down")
    assert code == 0, err
    down = await ami.wait_for(lambda e: isinstance(e, LinkDown), timeout=10)
    assert isinstance(down, LinkDown)
    assert processes_under(root) == []
    code, out, _ = await run("status")
    assert code == 3 and out.startswith("stopped")

    seen_before_restart = len(ami.seen)
    code, _, err = await run("up")
    assert code == 0, err
    assert await ami.wait_for(lambda e: e == LinkUp(reconnect=True), timeout=30)
    for _ in range(3):
        await ami.link.ping()
    after = ami.seen[seen_before_restart:]
    # Nothing was replayed: no second ring of the attempt, and only pings, a login and the presence
    # list were sent since.
    assert not any(isinstance(e, (Newchannel, OriginateResponse)) and getattr(e, "uniqueid", "") == attempt
                   for e in after)
    assert ami.link.actions_sent["Originate"] == sent_before.get("Originate", 0) == 1
    assert set(ami.link.actions_sent) - set(sent_before) <= {"Ping"}
    # One Login per connection: an Asterisk still booting may take the connection and leave the Login
    # unanswered, and the next connection logs in again (seen on CI: ami_connect_failed "Login got no answer in
    # time"). Logging in again changes nothing; what must never repeat is an action that does something.
    assert ami.link.actions_sent["Login"] >= 2
