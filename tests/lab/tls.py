"""Certificates for the lab's TLS servers (self-signed, made with openssl at start).

No pytest dependency here.
"""

from __future__ import annotations

from pathlib import Path

from tests.lab.process import _run


def _self_signed(d: Path, cn: str, log: Path) -> tuple[Path, Path]:
    cert, key = d / "cert.pem", d / "key.pem"
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
          "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(cert)], log)
    return cert, key
