"""Certificate facts from DER bytes (pure; uses the `cryptography` parser).

A server chooses the certificate it sends, so every fact is read on its own: a field the
parser refuses (an invalid version, a malformed name, a duplicated extension, a bad date)
reads UNPARSED and the others are still given; the SHA-256 of the bytes is always given.
Only bytes without a certificate's outline (cut short, or not the three elements of
RFC 5280 §4.1) raise ParseError.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from probescan.protocols.errors import ParseError

UNPARSED = "(unparsed)"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CertFacts:
    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: str
    not_after: str
    serial: str
    sha256: str
    self_signed: bool | None


def _read(fn: Callable[[], T], otherwise: T) -> T:
    try:
        return fn()
    except Exception:  # whatever the parser raises on a hostile field, that field only
        return otherwise


def _sans(cert: Any) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return ()
    return tuple(str(getattr(name, "value", name)) for name in ext.value)


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at `pos`."""
    if pos + 2 > len(data):
        raise ParseError("not a DER certificate: cut short")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data):
            raise ParseError("not a DER certificate: bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ParseError("not a DER certificate: cut short")
    return tag, pos, pos + length


def _check_outline(der: bytes) -> None:
    """A certificate's outline (RFC 5280 §4.1): one SEQUENCE filling the bytes, holding the
    to-be-signed SEQUENCE, the algorithm SEQUENCE and the signature BIT STRING."""
    tag, start, end = _tlv(der, 0)
    if tag != 0x30 or end != len(der):
        raise ParseError("not a DER certificate: not one SEQUENCE")
    pos = start
    for want in (0x30, 0x30, 0x03):
        tag, _, pos = _tlv(der, pos)
        if tag != want:
            raise ParseError("not a DER certificate: unexpected element")
    if pos != end:
        raise ParseError("not a DER certificate: trailing elements")


def parse_certificate(der: bytes) -> CertFacts:
    _check_outline(der)
    sha256 = hashlib.sha256(der).hexdigest()
    try:
        cert: Any = x509.load_der_x509_certificate(der)
    except Exception:  # e.g. InvalidVersion: the structure is there, its facts unreadable
        return CertFacts(UNPARSED, UNPARSED, (), UNPARSED, UNPARSED, UNPARSED, sha256, None)
    subject = _read(lambda: str(cert.subject.rfc4514_string()), UNPARSED)
    issuer = _read(lambda: str(cert.issuer.rfc4514_string()), UNPARSED)
    return CertFacts(
        subject=subject,
        issuer=issuer,
        sans=_read(lambda: _sans(cert), ()),
        not_before=_read(lambda: str(cert.not_valid_before_utc.isoformat()), UNPARSED),
        not_after=_read(lambda: str(cert.not_valid_after_utc.isoformat()), UNPARSED),
        serial=_read(lambda: format(cert.serial_number, "x"), UNPARSED),
        sha256=sha256,
        self_signed=None if UNPARSED in (subject, issuer) else _read(
            lambda: bool(cert.subject == cert.issuer), None),
    )
