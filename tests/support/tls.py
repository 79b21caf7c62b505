"""TLS material for tests, made with the host's /usr/bin/openssl: a CA of the test's own and a server certificate
it signed for 127.0.0.1 and localhost (what deploy/sandbox makes for Asterisk, in a directory of the test's)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = "/usr/bin/openssl"


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA certificate (PEM): what a client verifies with
    cert: Path  # the server's certificate (PEM)
    key: Path  # its private key (PEM)


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run([OPENSSL, *args], cwd=directory, check=True, capture_output=True, timeout=60)


def make_pki(directory: Path, name: str = "test", names: str = "IP:127.0.0.1,DNS:localhost") -> Pki:
    """`names`: the server certificate's subjectAltName."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(directory, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
             "-subj", f"/CN=cbdialer {name} CA", "-keyout", f"{name}-ca.key", "-out", f"{name}-ca.pem",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash")
    _openssl(directory, "req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", "/CN=localhost",
             "-keyout", f"{name}-server.key", "-out", f"{name}-server.csr")
    (directory / f"{name}-server.ext").write_text(
        f"subjectAltName={names}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    _openssl(directory, "x509", "-req", "-in", f"{name}-server.csr", "-CA", f"{name}-ca.pem",
             "-CAkey", f"{name}-ca.key", "-CAcreateserial", "-sha256", "-days", "2",
             "-extfile", f"{name}-server.ext", "-out", f"{name}-server.pem")
    return Pki(ca=directory / f"{name}-ca.pem", cert=directory / f"{name}-server.pem",
               key=directory / f"{name}-server.key")
