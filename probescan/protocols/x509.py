"""Certificate facts from DER bytes (pure; uses the `cryptography` parser)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from probescan.protocols.errors import ParseError


@dataclass(frozen=True, slots=True)
class CertFacts:
    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: str
    not_after: str
    serial: str
    sha256: str
    self_signed: bool


def parse_certificate(der: bytes) -> CertFacts:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as e:
        raise ParseError(f"not a DER certificate: {e}") from e
    sans: list[str] = []
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        for name in ext.value:  # type: ignore[attr-defined]
            sans.append(str(getattr(name, "value", name)))
    except (x509.ExtensionNotFound, ValueError):
        pass
    subject = cert.subject.rfc4514_string()
    issuer = cert.issuer.rfc4514_string()
    return CertFacts(
        subject=subject,
        issuer=issuer,
        sans=tuple(sans),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        serial=format(cert.serial_number, "x"),
        sha256=hashlib.sha256(der).hexdigest(),
        self_signed=cert.subject == cert.issuer,
    )
