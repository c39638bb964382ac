"""TLS records and handshakes from recorded bytes (reassembly, truncation, other protocols,
certificates); JA3/JA4 against the published examples. The message bodies themselves:
test_tls_messages.py.
"""

from __future__ import annotations

import hashlib

import pytest

from probescan.protocols import ParseError
from probescan.protocols.tls import (
    looks_like_tls,
    parse_certificates,
    parse_client_hello,
    parse_server_hello,
)
from probescan.protocols.tls_fingerprints import ja3, ja4
from probescan.protocols.tls_messages import ClientHello
from probescan.protocols.x509 import parse_certificate
from tests.protocols.helpers import assert_every_prefix_needs_more
from tests.protocols.tls_build import (
    CURL_HELLO,
    HTTP_GET,
    OPENSSL_HELLO_2REC,
    SERVER_TLS12,
    SERVER_TLS12_FRAG,
    SERVER_TLS13,
    SSH_IDENT,
    alpn,
    client_hello_bytes,
    record,
    record_ends,
    server_hello_bytes,
    sni,
    u16s,
    vec,
)

# --- ClientHello --------------------------------------------------------------------------


def test_client_hello_spanning_two_records_is_reassembled() -> None:
    assert record_ends(OPENSSL_HELLO_2REC) == [517, 718]
    ch = parse_client_hello(OPENSSL_HELLO_2REC)
    assert ch.length == 718
    assert ch.sni == "lab.test"
    assert ch.alpn == ("h2", "http/1.1")
    assert len(ch.cipher_suites) == 87
    assert [e.type for e in ch.extensions][-1] == 41  # pre_shared_key comes last
    assert ch.supported_groups == (29, 23, 24, 25, 30, 256)


@pytest.mark.parametrize("data", [CURL_HELLO, OPENSSL_HELLO_2REC], ids=["curl", "openssl-2rec"])
def test_every_truncated_client_hello_prefix_needs_more(data: bytes) -> None:
    assert_every_prefix_needs_more(parse_client_hello, data, len(data))


def test_bytes_after_the_client_hello_are_left_alone() -> None:
    ch = parse_client_hello(CURL_HELLO + record(b"\x01", ctype=20) + b"\x17\x03")
    assert ch.length == len(CURL_HELLO)


@pytest.mark.parametrize(
    "data",
    [
        HTTP_GET,
        SSH_IDENT,
        b"\x00" * 16,
        b"\x80\x2e\x01\x00\x02",  # SSLv2-compatible hello: not supported
        b"\x15\x03\x03\x00\x02\x02\x28",  # an alert
        b"\x16\x02",  # SSL 2 record version
        b"\x16\x03\x09",  # no such TLS version
        b"\x16\x03\x01\xff\xff",  # record longer than 2^14 + 2048
        b"\x16\x03\x01\x00\x00",  # empty handshake record
        SERVER_TLS12,  # a ServerHello is not a ClientHello
    ],
    ids=["http", "ssh", "zeros", "sslv2", "alert", "ssl2-ver", "bad-ver", "long", "empty", "sh"],
)
def test_other_protocols_are_not_a_client_hello(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_client_hello(data)


def test_handshake_cut_short_by_another_record_is_a_parse_error() -> None:
    first = CURL_HELLO[:100]
    cut = record(first[5:], version=0x0301)  # a record holding only the start of the hello
    with pytest.raises(ParseError, match="cut short"):
        parse_client_hello(cut + record(b"\x01", ctype=20))


def test_looks_like_tls_on_hellos_and_alerts_only() -> None:
    assert looks_like_tls(CURL_HELLO)
    assert looks_like_tls(CURL_HELLO[:3])
    assert looks_like_tls(SERVER_TLS13)
    assert looks_like_tls(b"\x15\x03\x03\x00\x02\x02\x28")
    for other in (b"", b"\x16", HTTP_GET, SSH_IDENT, b"\x16\x03\x01\x00\x05\x17", b"\x17\x03\x03"):
        assert not looks_like_tls(other), other


# --- JA3 ----------------------------------------------------------------------------------


def test_ja3_matches_the_salesforce_published_examples() -> None:
    # github.com/salesforce/ja3 README: the string and its MD5 for two example hellos.
    with_ext = client_hello_bytes(
        769,
        [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4],
        [sni("example.com"), (10, vec(u16s([23, 24, 25]), 2)), (11, vec(b"\x00", 1))],
    )
    assert ja3(parse_client_hello(with_ext)) == (
        "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0",
        "ada70206e40642a3e4461f35503241d5",
    )
    no_ext = client_hello_bytes(769, [4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99], None)
    assert ja3(parse_client_hello(no_ext)) == (
        "769,4-5-10-9-100-98-3-6-19-18-99,,,",
        "de350869b8c85de67a350c8d186f11e6",
    )


def test_ja3_leaves_out_grease_ciphers_extensions_and_groups() -> None:
    greasy = client_hello_bytes(
        769,
        [0x0A0A, 47, 53],
        [(0x1A1A, b""), sni("x.test"), (10, vec(u16s([0x2A2A, 23]), 2)), (11, vec(b"\x00", 1))],
    )
    plain = client_hello_bytes(
        769, [47, 53], [sni("x.test"), (10, vec(u16s([23]), 2)), (11, vec(b"\x00", 1))]
    )
    assert ja3(parse_client_hello(greasy)) == ja3(parse_client_hello(plain))
    assert ja3(parse_client_hello(plain))[0] == "769,47-53,0-10-11,23,0"


def test_ja3_of_curl() -> None:
    text, digest = ja3(parse_client_hello(CURL_HELLO))
    assert text == (
        "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-"
        "49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,"
        "0-11-10-16-22-23-49-13-43-45-51-21,29-23-30-25-24-256-257-258-259-260,0-1-2"
    )
    assert digest == hashlib.md5(text.encode()).hexdigest()


# --- JA4 ----------------------------------------------------------------------------------

FOXIO_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8]
FOXIO_CIPHERS += [0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
FOXIO_EXT_ORDER = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005]
FOXIO_EXT_ORDER += [0x0023, 0x0012, 0x002B, 0xFF01, 0x000B, 0x000A, 0x0015]
FOXIO_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def foxio_example_hello(alpn_ext: tuple[int, bytes] | None = None, sigalgs: bool = True) -> bytes:
    """The hello of FoxIO's JA4 example (technical_details/JA4.md), with Chrome-style GREASE."""
    data = {
        0x0000: sni("example.com")[1],
        0x0010: (alpn_ext or alpn(b"h2", b"http/1.1"))[1],
        0x000D: vec(u16s(FOXIO_SIGALGS if sigalgs else []), 2),
        0x002B: vec(u16s([0x3A3A, 0x0304, 0x0303]), 1),
        0x000A: vec(u16s([0x4A4A, 29, 23, 24]), 2),
        0x000B: vec(b"\x00", 1),
    }
    exts = [(0x0A0A, b"")]
    exts += [(t, data.get(t, b"")) for t in FOXIO_EXT_ORDER]
    exts += [(0xFAFA, b"\x00")]
    return client_hello_bytes(0x0303, [0x5A5A, *FOXIO_CIPHERS], exts)


def test_ja4_matches_the_foxio_published_example() -> None:
    ch = parse_client_hello(foxio_example_hello())
    assert ja4(ch) == "t13d1516h2_8daaf6152771_e5627efa2ab1"


def test_ja4_without_signature_algorithms_hashes_the_sorted_extensions_alone() -> None:
    # JA4.md: "0005,000a,000b,000d,...,4469,ff01 = 6d807ffa2a79" when no algorithms are listed.
    ch = parse_client_hello(foxio_example_hello(sigalgs=False))
    assert ch.signature_algorithms == ()
    assert ja4(ch) == "t13d1516h2_8daaf6152771_6d807ffa2a79"


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (b"h2", "h2"),
        (b"http/1.1", "h1"),
        (b"h", "hh"),
        (b"\xab", "ab"),
        (b"\xab\xcd", "ad"),
        (b"\x30\xab", "3b"),
        (b"\x30\x31\xab\xcd", "3d"),
        (b"\x30\xab\xcd\x31", "01"),
        (b"", "00"),
    ],
)
def test_ja4_alpn_characters_follow_the_spec_examples(first: bytes, expected: str) -> None:
    ch = parse_client_hello(foxio_example_hello(alpn(first, b"http/1.1")))
    assert ja4(ch).split("_")[0][-2:] == expected


def test_ja4_of_a_hello_without_sni_alpn_or_extensions() -> None:
    ch = parse_client_hello(client_hello_bytes(0x0301, [0x002F], None))
    assert ja4(ch) == "t10i010000_" + hashlib.sha256(b"002f").hexdigest()[:12] + "_000000000000"


def test_ja4_of_curl_and_its_transport_letter() -> None:
    ch = parse_client_hello(CURL_HELLO)
    assert ja4(ch) == "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6"
    assert ja4(ch, transport="q").startswith("q13d3112h2_")
    with pytest.raises(ValueError):
        ja4(ch, transport="x")


def test_ja4_counts_stop_at_99() -> None:
    ch = parse_client_hello(client_hello_bytes(0x0303, range(1, 150), None))
    assert isinstance(ch, ClientHello)
    assert ja4(ch).startswith("t12i9900")


# --- ServerHello, certificates --------------------------------------------------------------


def test_tls12_certificate_is_visible_and_parses_as_x509() -> None:
    (der,) = parse_certificates(SERVER_TLS12)
    facts = parse_certificate(der)
    assert facts.subject == "CN=lab.test"
    assert facts.sans == ("lab.test", "www.lab.test")


def test_certificate_spanning_two_records_is_reassembled() -> None:
    assert record_ends(SERVER_TLS12_FRAG) == [70, 587, 950, 1255, 1264]
    (der,) = parse_certificates(SERVER_TLS12_FRAG)
    assert parse_certificate(der).subject == "CN=rsa.lab.test,O=probescan lab"


def test_tls13_certificates_are_encrypted_so_none_are_returned() -> None:
    assert parse_certificates(SERVER_TLS13) == ()
    assert parse_certificates(SERVER_TLS13[:127]) == ()


@pytest.mark.parametrize(
    "data", [SERVER_TLS12, SERVER_TLS12_FRAG, SERVER_TLS13], ids=["tls12", "tls12-frag", "tls13"]
)
def test_every_truncated_server_hello_prefix_needs_more(data: bytes) -> None:
    assert_every_prefix_needs_more(parse_server_hello, data, record_ends(data)[0])
    assert parse_server_hello(data[: record_ends(data)[0]]).length == record_ends(data)[0]


@pytest.mark.parametrize(
    ("data", "cert_end"),
    [(SERVER_TLS12, 545), (SERVER_TLS12_FRAG, 950), (SERVER_TLS13, 127)],
    ids=["tls12", "tls12-frag", "tls13"],
)
def test_certificates_need_more_until_the_certificate_record_is_complete(
    data: bytes, cert_end: int
) -> None:
    assert_every_prefix_needs_more(parse_certificates, data, cert_end)
    assert parse_certificates(data[:cert_end]) == parse_certificates(data)


def test_resumed_tls12_handshake_shows_no_certificate() -> None:
    hello = SERVER_TLS12[:113]
    assert parse_certificates(hello + record(b"\x01", ctype=20, version=0x0303)) == ()


@pytest.mark.parametrize(
    "data",
    [
        CURL_HELLO,
        HTTP_GET,
        SSH_IDENT,
        b"\x15\x03\x03\x00\x02\x02\x28",
        server_hello_bytes(bytes(32), 0x1301, [(43, b"\x03\x04\x03")]),
        server_hello_bytes(bytes(32), 0x1301, [alpn(b"h2", b"http/1.1")]),
    ],
    ids=["client-hello", "http", "ssh", "alert", "bad-supported-versions", "two-alpn"],
)
def test_other_bytes_are_not_a_server_hello(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_server_hello(data)
