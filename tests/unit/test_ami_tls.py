"""AMI over TLS (issue 15): the client context that CBDIALER_AMI_TLS* build, and the link over a TLS server of
the test's own (the fake AMI behind a certificate of a CA made for the test): up with the right CA, refused,
and saying why, with the wrong one."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cbdialer.adapters.ami import AmiConfig, AmiLink, AmiLoginError, AmiTlsConfigError, LinkUp, tls_context
from cbdialer.app import ami_config
from cbdialer.settings import Settings
from tests.support.fake_ami import SECRET, FakeAmi
from tests.support.tls import Pki, make_pki


def config(**tls: Any) -> AmiConfig:
    return AmiConfig(host="127.0.0.1", port=5039, username="cbdialer", secret=SECRET, **tls)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("other-pki"), name="other")


def test_plain_tcp_has_no_context() -> None:
    assert tls_context(config()) is None
    assert tls_context(config(tls=False, tls_ca_file="/nowhere/ca.pem")) is None  # not read unless TLS is on


def test_without_a_ca_file_the_system_cas_verify_and_the_host_name_is_checked() -> None:
    context = tls_context(config(tls=True))
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_the_ca_file_is_what_verifies(pki: Pki) -> None:
    context = tls_context(config(tls=True, tls_ca_file=str(pki.ca)))
    assert context is not None
    assert [dict(item[0] for item in ca["subject"]) for ca in context.get_ca_certs()] == [
        {"commonName": "cbdialer test CA"}]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


def test_the_host_name_check_can_be_turned_off_but_never_the_verification(pki: Pki) -> None:
    context = tls_context(config(tls=True, tls_ca_file=str(pki.ca), tls_check_hostname=False))
    assert context is not None
    assert not context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED


def test_a_missing_ca_file_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(AmiTlsConfigError, match=r"no-such-ca\.pem.*CBDIALER_AMI_TLS_CA_FILE.*does not exist"):
        tls_context(config(tls=True, tls_ca_file=str(missing)))
    with pytest.raises(AmiLoginError):  # what `cbdialer run` reports as a configuration problem, at startup
        AmiLink(config(tls=True, tls_ca_file=str(missing)))


def test_a_ca_file_that_is_not_certificates_is_a_configuration_error(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(AmiTlsConfigError, match=r"ca\.pem.*cannot be read as PEM certificates"):
        tls_context(config(tls=True, tls_ca_file=str(garbage)))
    with pytest.raises(AmiTlsConfigError, match="cannot be read"):
        tls_context(config(tls=True, tls_ca_file=str(tmp_path)))  # a directory


def test_the_settings_reach_the_link_config(pki: Pki) -> None:
    settings = Settings(ami_tls=True, ami_tls_ca_file=pki.ca, ami_tls_check_hostname=False)
    built = ami_config(settings)
    assert (built.tls, built.tls_ca_file, built.tls_check_hostname) == (True, str(pki.ca), False)
    assert (ami_config(Settings()).tls, ami_config(Settings()).tls_ca_file) == (False, None)
    assert Settings().ami_tls_check_hostname


class TlsFakeAmi(FakeAmi):
    """The fake AMI, served over TLS with `pki`'s server certificate."""

    def __init__(self, pki: Pki) -> None:
        super().__init__()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(pki.cert, pki.key)

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", port, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port


class Recorder:
    """A structlog-like logger that keeps what was logged."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    def _log(self, level: str, event: str, **fields: Any) -> None:
        self.lines.append({"level": level, "event": event, **fields})
        self.changed.set()

    def info(self, event: str, **fields: Any) -> None:
        self._log("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log("error", event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._log("error", event, **fields)

    async def wait_for(self, event: str, timeout: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines:
                    if line["event"] == event:
                        return line
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def tls_ami(pki: Pki) -> AsyncIterator[TlsFakeAmi]:
    server = TlsFakeAmi(pki)
    await server.start()
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def running(link: AmiLink) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(link.run(stop), name="ami-link")
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_the_link_logs_in_over_tls_with_the_right_ca(tls_ami: TlsFakeAmi, pki: Pki) -> None:
    log = Recorder()
    link = AmiLink(AmiConfig(host="127.0.0.1", port=tls_ami.port, username="cbdialer", secret=SECRET,
                             ping_interval=0.2, tls=True, tls_ca_file=str(pki.ca)), log=log)
    async with running(link):
        assert await asyncio.wait_for(link.events.get(), 5) == LinkUp(reconnect=False)
        await link.ping()
        up = await log.wait_for("ami_link_up")
        assert up["tls"] is True and up["port"] == tls_ami.port
    assert tls_ami.count("Login") == 1


async def test_the_wrong_ca_keeps_the_link_down_and_the_log_says_why(tls_ami: TlsFakeAmi, other_pki: Pki) -> None:
    log = Recorder()
    link = AmiLink(AmiConfig(host="127.0.0.1", port=tls_ami.port, username="cbdialer", secret=SECRET,
                             backoff_initial=0.05, backoff_max=0.1, tls=True, tls_ca_file=str(other_pki.ca)), log=log)
    async with running(link):
        failed = await log.wait_for("ami_connect_failed")
        assert "CERTIFICATE_VERIFY_FAILED" in failed["error"] and failed["tls"] is True
        assert not link.connected
    assert tls_ami.count("Login") == 0  # the secret never went to a server that could not prove who it is
    assert all(SECRET not in str(line) for line in log.lines)


async def test_a_name_the_certificate_does_not_carry_is_refused_unless_the_check_is_off(
        tmp_path: Path) -> None:
    elsewhere = make_pki(tmp_path, name="elsewhere", names="DNS:asterisk.example")  # not 127.0.0.1
    server = TlsFakeAmi(elsewhere)
    await server.start()
    try:
        log = Recorder()
        link = AmiLink(AmiConfig(host="127.0.0.1", port=server.port, username="cbdialer", secret=SECRET,
                                 backoff_initial=0.05, backoff_max=0.1, tls=True, tls_ca_file=str(elsewhere.ca)),
                       log=log)
        async with running(link):
            failed = await log.wait_for("ami_connect_failed")
            assert "CERTIFICATE_VERIFY_FAILED" in failed["error"] and "127.0.0.1" in failed["error"]
        assert server.count("Login") == 0
        unchecked = AmiLink(AmiConfig(host="127.0.0.1", port=server.port, username="cbdialer", secret=SECRET,
                                      tls=True, tls_ca_file=str(elsewhere.ca), tls_check_hostname=False),
                            log=Recorder())
        async with running(unchecked):
            assert await asyncio.wait_for(unchecked.events.get(), 5) == LinkUp(reconnect=False)
    finally:
        await server.stop()
