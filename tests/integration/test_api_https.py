"""The admin API served over HTTPS directly (issue 15; CBDIALER_HTTP_TLS_CERT_FILE and CBDIALER_HTTP_TLS_KEY_FILE):
`serve` with a certificate of a CA made for the test answers a client that verifies with that CA, the pages'
login cookie is Secure there, plain HTTP gets nothing, and a certificate that cannot be loaded is an error
before anything listens. The settings take both files or neither."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError

from cbdialer.adapters.db import Database
from cbdialer.adapters.http import make_app, serve
from cbdialer.domain.access import Role
from cbdialer.services import Admin
from cbdialer.settings import Settings
from tests.support.tls import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("https"))


@contextlib.asynccontextmanager
async def served(db: Database, pki: Pki) -> AsyncIterator[tuple[int, Admin]]:
    admin = Admin(db.store(), lambda: datetime.now(UTC))
    stop = asyncio.Event()
    ports: asyncio.Queue[int] = asyncio.Queue()
    task = asyncio.create_task(serve(make_app(admin), "127.0.0.1", 0, stop, ports.put_nowait,
                                     tls_cert_file=pki.cert, tls_key_file=pki.key), name="https-api")
    try:
        yield await asyncio.wait_for(ports.get(), 10), admin
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_the_api_answers_over_https_verified_with_the_ca(db: Database, pki: Pki) -> None:
    verify = ssl.create_default_context(cafile=str(pki.ca))
    async with served(db, pki) as (port, admin):
        token = await admin.tokens.issue_token(Role.ADMIN)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"https://127.0.0.1:{port}/healthz", ssl=verify) as response:
                assert response.status == 200
            async with http.get(f"https://localhost:{port}/api/v1/queues", ssl=verify,
                                headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status == 200 and await response.json() is not None
            # The pages' session cookie is Secure under HTTPS (no proxy header needed).
            async with http.post(f"https://127.0.0.1:{port}/login", data={"token": token}, ssl=verify,
                                 allow_redirects=False) as response:
                assert response.status == 303
                cookie = response.headers["Set-Cookie"]
                assert "Secure" in cookie and "HttpOnly" in cookie


async def test_a_client_that_does_not_trust_the_ca_is_refused_and_plain_http_gets_nothing(
        db: Database, pki: Pki, tmp_path: Path) -> None:
    other = make_pki(tmp_path, name="other")
    async with served(db, pki) as (port, _), aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with http.get(f"https://127.0.0.1:{port}/healthz",
                                ssl=ssl.create_default_context(cafile=str(other.ca))):
                pass
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                await response.read()


async def test_a_certificate_that_cannot_be_loaded_stops_serve_naming_the_files(db: Database, pki: Pki,
                                                                                tmp_path: Path) -> None:
    admin = Admin(db.store(), lambda: datetime.now(UTC))
    missing = tmp_path / "missing.key"
    with pytest.raises(ValueError, match=r"cannot load the certificate .*CBDIALER_HTTP_TLS_CERT_FILE.*missing\.key"):
        await serve(make_app(admin), "127.0.0.1", 0, asyncio.Event(), tls_cert_file=pki.cert, tls_key_file=missing)
    with pytest.raises(ValueError, match="both a certificate file and a key file"):
        await serve(make_app(admin), "127.0.0.1", 0, asyncio.Event(), tls_cert_file=pki.cert)


def test_the_settings_take_both_files_or_neither(pki: Pki) -> None:
    with pytest.raises(ValidationError, match="CBDIALER_HTTP_TLS_CERT_FILE is set but CBDIALER_HTTP_TLS_KEY_FILE"):
        Settings(http_tls_cert_file=pki.cert)
    with pytest.raises(ValidationError, match="CBDIALER_HTTP_TLS_KEY_FILE is set but CBDIALER_HTTP_TLS_CERT_FILE"):
        Settings(http_tls_key_file=pki.key)
    both = Settings(http_tls_cert_file=pki.cert, http_tls_key_file=pki.key)
    assert (both.http_tls_cert_file, both.http_tls_key_file) == (pki.cert, pki.key)
    assert Settings().http_tls_cert_file is None and Settings().http_tls_key_file is None
