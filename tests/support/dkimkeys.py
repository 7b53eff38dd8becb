"""DKIM keys for tests: an RSA key made with openssl, and a DNS lookup that answers with
its public half, so dkimpy verifies signatures without the network."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path

SELECTOR = "r2p"
DOMAIN = "r2p.example.org"


def make_key(directory: Path, bits: int = 2048) -> tuple[Path, Callable[..., bytes]]:
    """A private key file in ``directory`` and the DNS function dkim.verify wants."""
    key = directory / f"dkim-{bits}.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(key), str(bits)], check=True, capture_output=True
    )
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode(), name
        return record

    return key, dns
