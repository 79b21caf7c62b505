"""AMI over TLS against the sandbox PBX (issue 15): `cbdialer run` with CBDIALER_AMI_TLS=1 and the sandbox's CA
connects to Asterisk's TLS manager port (deploy/sandbox: CBDIALER_SANDBOX_AMI_TLS_PORT) and carries a real
callback to the end, its admin API served over HTTPS too; with no CA (the system's, which never signed the
sandbox's certificate) or another CA, the link never comes up and the log says why; a CA file that is not there
stops the daemon at startup, naming it."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import pytest

from cbdialer.domain.lifecycle import TERMINAL_STATES
from cbdialer.domain.models import CompletionStatus
from tests.e2e.conftest import Book
from tests.support.daemon import Daemon
from tests.support.tls import make_pki

CUSTOMER = "+442079460082"  # answers after a second, hangs up after two (asterisk/sandbox)


def over_tls(pbx: dict[str, str], **settings: str) -> dict[str, str]:
    return {"CBDIALER_AMI_PORT": pbx["CBDIALER_SANDBOX_AMI_TLS_PORT"], "CBDIALER_AMI_TLS": "1", **settings}


async def test_the_daemon_carries_a_callback_over_ami_tls(pbx: dict[str, str], database_url: str,
                                                          crash_book: Book, tmp_path: Path) -> None:
    assert pbx["CBDIALER_SANDBOX_AMI_TLS_PORT"] != pbx["CBDIALER_AMI_PORT"]
    queue = await crash_book.queue("sales", ["1001"], attempts_before_failure=1)
    https = make_pki(tmp_path, name="api")
    daemon = await Daemon.start(pbx, database_url, **over_tls(
        pbx, CBDIALER_AMI_TLS_CA_FILE=pbx["CBDIALER_SANDBOX_AMI_TLS_CA_FILE"],
        CBDIALER_HTTP_TLS_CERT_FILE=str(https.cert), CBDIALER_HTTP_TLS_KEY_FILE=str(https.key)))
    try:
        up = await daemon.wait_for_log(lambda line: line.get("event") == "ami_link_up", timeout=20)
        assert up["tls"] is True and up["port"] == int(pbx["CBDIALER_SANDBOX_AMI_TLS_PORT"])
        listening = await daemon.wait_for_log(lambda line: line.get("event") == "admin_api_listening", timeout=20)
        assert listening["scheme"] == "https"
        callback = await crash_book.callback(queue, CUSTOMER)
        done = await crash_book.wait_until(callback.id, lambda c: c.state in TERMINAL_STATES, timeout=60)
        assert done.completion_status is CompletionStatus.HANDLED
        [attempt] = await crash_book.store.attempts(callback.id)
        assert attempt.completion_status is CompletionStatus.HANDLED
        # The admin API over HTTPS, verified with its CA, says the (TLS) AMI link is up.
        async with aiohttp.ClientSession() as http, http.get(
                f"https://127.0.0.1:{listening['port']}/healthz",
                ssl=ssl.create_default_context(cafile=str(https.ca))) as response:
            assert response.status == 200 and (await response.json())["status"] == "ok"
    finally:
        assert await daemon.stop() == 0
    assert not any(line.get("level") in ("error", "critical") for line in daemon.lines), daemon.tail()
    assert not any(line.get("event") == "ami_connect_failed" for line in daemon.lines), daemon.tail()
    assert all(pbx["CBDIALER_AMI_SECRET"] not in raw for raw in daemon.raw)


@pytest.mark.parametrize("ca", ["system", "another"])
async def test_an_untrusted_certificate_keeps_the_link_down_and_the_log_says_why(
        pbx: dict[str, str], database_url: str, tmp_path: Path, ca: str) -> None:
    settings = {} if ca == "system" else {"CBDIALER_AMI_TLS_CA_FILE": str(make_pki(tmp_path, name="other").ca)}
    daemon = await Daemon.start(pbx, database_url, **over_tls(pbx, **settings))
    try:
        failed = await daemon.wait_for_log(lambda line: line.get("event") == "ami_connect_failed", timeout=20)
        assert failed["tls"] is True and failed["port"] == int(pbx["CBDIALER_SANDBOX_AMI_TLS_PORT"])
        assert "CERTIFICATE_VERIFY_FAILED" in failed["error"], failed
        assert "ami_link_up" not in daemon.events()
    finally:
        assert await daemon.stop() == 0
    assert "ami_link_up" not in daemon.events()
    assert all(pbx["CBDIALER_AMI_SECRET"] not in raw for raw in daemon.raw)


async def test_a_ca_file_that_is_not_there_stops_the_daemon_at_startup_naming_it(
        pbx: dict[str, str], database_url: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    daemon = await Daemon.start(pbx, database_url, **over_tls(pbx, CBDIALER_AMI_TLS_CA_FILE=str(missing)))
    assert await asyncio.wait_for(daemon.process.wait(), 30) == 1  # it stops of itself, before any link
    await daemon.stop()  # the rest of its log
    assert any(str(missing) in raw and "CBDIALER_AMI_TLS_CA_FILE" in raw for raw in daemon.raw), daemon.tail()
    assert "ami_link_up" not in daemon.events()
