"""Certificate facts from DER bytes; every truncated prefix is refused cleanly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from probescan.protocols import ParseError
from probescan.protocols.tls import parse_certificates
from probescan.protocols.x509 import UNPARSED, parse_certificate


def make_cert(cn: str = "lab.test", sans: tuple[str, ...] = ("lab.test", "www.lab.test")) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234ABCD)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


DER = make_cert()


def test_self_signed_certificate_yields_subject_sans_validity_serial() -> None:
    facts = parse_certificate(DER)
    assert facts.subject == "CN=lab.test"
    assert facts.issuer == "CN=lab.test"
    assert facts.sans == ("lab.test", "www.lab.test")
    assert facts.not_before.startswith("2026-01-01")
    assert facts.not_after.startswith("2026-01-31")
    assert facts.serial == "1234abcd"
    assert facts.self_signed is True
    assert len(facts.sha256) == 64


@pytest.mark.parametrize("cut", range(len(DER)))
def test_every_truncated_prefix_is_a_parse_error(cut: int) -> None:
    with pytest.raises(ParseError):
        parse_certificate(DER[:cut])


def test_garbage_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_certificate(b"\x30\x82" + b"\xff" * 40)


FLIGHT = Path(__file__).resolve().parents[1] / "data" / "proto" / (
    "tls_server_flight_tls12_openssl.bin")
RECORDED = parse_certificates(FLIGHT.read_bytes())[0]
# (offset, byte there, what a hostile server puts instead, the fact that breaks)
MUTATIONS = [
    (12, 0x02, 0x01, "version"),  # an invalid X.509 version
    (60, 0x6C, 0xFF, "issuer"),  # a string of the issuer's name no longer valid
    (113, 0x6C, 0xFF, "subject"),
    (222, 0x0E, 0x13, "extensions"),  # a duplicated extension
]


@pytest.mark.parametrize(("offset", "was", "now", "what"), MUTATIONS,
                         ids=[m[3] for m in MUTATIONS])
def test_a_certificate_with_one_hostile_field_degrades_to_unparsed(
        offset: int, was: int, now: int, what: str) -> None:
    assert RECORDED[offset] == was
    der = bytearray(RECORDED)
    der[offset] = now
    facts = parse_certificate(bytes(der))  # never raises
    assert len(facts.sha256) == 64
    if what == "extensions":  # names and dates still read; the extensions are dropped
        assert facts.sans == () and UNPARSED not in (facts.subject, facts.issuer)
        return
    unparsed = [name for name in ("subject", "issuer", "not_before", "not_after", "serial")
                if getattr(facts, name) == UNPARSED]
    assert unparsed, f"{what}: every fact read as if nothing was wrong"
    if what in ("issuer", "subject"):
        assert getattr(facts, what) == UNPARSED and facts.self_signed is None


def test_the_recorded_certificate_itself_parses_whole() -> None:
    facts = parse_certificate(RECORDED)
    assert UNPARSED not in (facts.subject, facts.issuer, facts.not_before, facts.serial)
