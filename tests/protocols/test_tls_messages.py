"""TLS handshake message bodies (probescan.protocols.tls_messages) read through the public
parsers: the hellos' fields and extensions, malformed bodies, GREASE, HelloRetryRequest."""

from __future__ import annotations

import hashlib

import pytest

from probescan.protocols import ParseError
from probescan.protocols.tls import parse_certificates, parse_client_hello, parse_server_hello
from probescan.protocols.tls_fingerprints import ja3s
from probescan.protocols.tls_messages import is_grease
from tests.protocols.tls_build import (
    CURL_HELLO,
    SERVER_TLS12,
    SERVER_TLS13,
    client_hello_bytes,
    handshake,
    record,
    record_ends,
    server_hello_bytes,
)


def test_curl_client_hello_yields_sni_alpn_versions_groups_and_signature_algorithms() -> None:
    ch = parse_client_hello(CURL_HELLO)
    assert ch.record_version == 0x0301
    assert ch.version == 0x0303
    assert ch.max_version == 0x0304
    assert len(ch.random) == 32
    assert len(ch.session_id) == 32  # TLS 1.3 middlebox compatibility mode
    assert len(ch.cipher_suites) == 31
    assert ch.cipher_suites[:3] == (0x1302, 0x1303, 0x1301)
    assert ch.cipher_suites[-1] == 0x00FF  # renegotiation SCSV
    assert ch.compression_methods == (0,)
    assert [e.type for e in ch.extensions] == [0, 11, 10, 16, 22, 23, 49, 13, 43, 45, 51, 21]
    assert ch.sni == "lab.test"
    assert ch.alpn == ("h2", "http/1.1")
    assert ch.supported_versions == (0x0304, 0x0303, 0x0302, 0x0301)
    assert ch.supported_groups == (29, 23, 30, 25, 24, 256, 257, 258, 259, 260)
    assert ch.ec_point_formats == (0, 1, 2)
    assert ch.signature_algorithms[:4] == (0x0403, 0x0503, 0x0603, 0x0807)
    assert len(ch.signature_algorithms) == 20
    assert ch.length == len(CURL_HELLO) == 517  # curl pads its hello to 512 bytes


def test_extensions_keep_their_raw_data_in_order() -> None:
    ch = parse_client_hello(CURL_HELLO)
    padding = ch.extensions[-1]
    assert padding.type == 21
    assert set(padding.data) == {0}
    ext_type, data = ch.extensions[0]  # extensions unpack as (type, data)
    assert (ext_type, data) == (0, b"\x00\x0b\x00\x00\x08lab.test")


@pytest.mark.parametrize(
    "hello",
    [
        record(handshake(1, b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x03\x13\x01\x13")),
        record(handshake(1, b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x00" + b"\x01\x00")),
        client_hello_bytes(0x0303, [0x1301], [(0x0000, b"\x00\x09\x00")]),
        client_hello_bytes(0x0303, [0x1301], [(0x000A, b"\x00\x03\x00\x1d\x00")]),
        record(handshake(1, b"\x03\x03" + bytes(32) + b"\x00\x00\x02\x13\x01\x01\x00\x00\x09")),
    ],
    ids=["odd-cipher-list", "no-ciphers", "sni-overflow", "groups-odd", "ext-block-overflow"],
)
def test_malformed_complete_hello_is_a_parse_error(hello: bytes) -> None:
    with pytest.raises(ParseError):
        parse_client_hello(hello)


def test_grease_values_are_the_sixteen_rfc8701_code_points() -> None:
    greases = [v for v in range(0x10000) if is_grease(v)]
    assert greases == [0x0A0A + 0x1010 * i for i in range(16)]


def test_tls12_server_hello_yields_cipher_alpn_and_ja3s() -> None:
    sh = parse_server_hello(SERVER_TLS12)
    assert (sh.record_version, sh.legacy_version, sh.version) == (0x0303, 0x0303, 0x0303)
    assert sh.cipher_suite == 0xC02C  # ECDHE-ECDSA-AES256-GCM-SHA384
    assert sh.compression_method == 0
    assert [e.type for e in sh.extensions] == [0xFF01, 11, 16, 23]
    assert sh.alpn == "http/1.1"
    assert not sh.hello_retry_request
    assert sh.length == record_ends(SERVER_TLS12)[0] == 113
    assert ja3s(sh) == (
        "771,49196,65281-11-16-23",
        hashlib.md5(b"771,49196,65281-11-16-23").hexdigest(),
    )


def test_tls13_server_hello_takes_its_version_from_supported_versions() -> None:
    sh = parse_server_hello(SERVER_TLS13)
    assert sh.legacy_version == 0x0303
    assert sh.version == 0x0304
    assert sh.cipher_suite == 0x1302  # TLS_AES_256_GCM_SHA384
    assert [e.type for e in sh.extensions] == [43, 51]
    assert sh.alpn is None  # ALPN travels in the encrypted EncryptedExtensions
    assert sh.length == 127
    assert ja3s(sh)[0] == "771,4866,43-51"


def test_hello_retry_request_is_flagged_and_has_no_certificates() -> None:
    hrr_random = hashlib.sha256(b"HelloRetryRequest").digest()
    data = server_hello_bytes(hrr_random, 0x1301, [(43, b"\x03\x04"), (51, b"\x00\x17")])
    sh = parse_server_hello(data)
    assert sh.hello_retry_request
    assert sh.version == 0x0304
    assert parse_certificates(data) == ()
