"""JARM as pure functions (probescan/protocols/jarm.py): the ten ClientHellos, the reading of
a ServerHello with the reference's quirks, the hash. The `pyjarm` package (a test
dependency) is a second implementation to compare with."""

from __future__ import annotations

import itertools
import random
import struct

import pytest

from probescan.protocols import jarm
from probescan.protocols.jarm import (
    NONE,
    PROBES,
    TIMEOUT,
    ZERO,
    client_hello,
    fingerprint,
    jarm_hash,
    read_server_hello,
    reorder,
)

pyjarm_scanner = pytest.importorskip("jarm.scanner.scanner")
pyjarm_hashing = pytest.importorskip("jarm.hashing.hashing")
HOST = "127.0.70.40"


def _ours(probe: jarm.JarmProbe) -> bytes:
    """Our hello with its random parts fixed: zero randoms, GREASE 0x0a0a."""
    return client_hello(probe, HOST, randbytes=bytes, grease=lambda: 0x0A0A)


def _like_ours(theirs: bytes, ours: bytes) -> bytes:
    """pyjarm's hello with the random parts ours has fixed set the same: client random,
    session id, key share, and GREASE values where ours has 0x0a0a."""
    b = bytearray(theirs)
    b[11:43] = bytes(32)
    b[44:76] = bytes(32)
    at = ours.find(b"\x00\x1d\x00\x20", 76)
    b[at + 4:at + 36] = bytes(32)
    for i in range(76, len(ours) - 1):
        if ours[i:i + 2] == b"\x0a\x0a" and int.from_bytes(b[i:i + 2], "big") in jarm.GREASE:
            b[i:i + 2] = b"\x0a\x0a"
    return bytes(b)


def _alpn(record: bytes) -> tuple[int, int, list[bytes]]:
    """Where the ALPN protocol list of a ClientHello record is, and its names."""
    at = 44 + record[43]  # after the session id
    at += 2 + struct.unpack_from(">H", record, at)[0] + 2 + 2  # ciphers, compression, length
    while struct.unpack_from(">H", record, at)[0] != 0x0010:
        at += 4 + struct.unpack_from(">H", record, at + 2)[0]
    start, end = at + 6, at + 4 + struct.unpack_from(">H", record, at + 2)[0]
    names, i = [], start
    while i < end:
        names.append(record[i + 1:i + 1 + record[i]])
        i += 1 + record[i]
    return start, end, names


def test_the_ten_hellos_are_the_reference_ones() -> None:
    theirs = pyjarm_scanner.Scanner._generate_packets(HOST, 443)
    assert len(theirs) == len(PROBES) == 10
    for (name, other), probe in zip(theirs, PROBES, strict=True):
        ours = _ours(probe)
        assert name.lower().replace("_", "") == probe.name.replace("_", "")
        assert len(ours) == len(other)
        a0, a1, our_alpn = _alpn(ours)
        _, _, their_alpn = _alpn(other)
        if probe.ext_order == "reverse":
            # The reference reverses the ALPN list; pyjarm orders it otherwise (its own
            # deviation): same protocols, and ours is the plain reverse.
            assert sorted(our_alpn) == sorted(their_alpn)
            base = jarm.RARE_ALPN if probe.rare_alpn else jarm.ALPN
            assert our_alpn == list(base[::-1])
            other = other[:a0] + ours[a0:a1] + other[a1:]
        assert ours == _like_ours(other, ours), probe.name


def test_a_hello_names_the_host_even_an_address() -> None:
    hello = client_hello(PROBES[0], "127.0.70.40")
    assert b"\x00\x00\x00\x10\x00\x0e\x00\x00\x0b127.0.70.40" in hello


def test_record_and_hello_versions() -> None:
    versions = {p.name: client_hello(p, "x")[1:3] + client_hello(p, "x")[9:11] for p in PROBES}
    assert versions["tls1_1_middle_out"] == b"\x03\x02\x03\x02"
    assert versions["tls1_2_forward"] == b"\x03\x03\x03\x03"
    assert versions["tls1_3_forward"] == b"\x03\x01\x03\x03"  # TLS 1.3 as the method sends it


def test_reorderings() -> None:
    five = [bytes([i]) for i in range(5)]
    six = [bytes([i]) for i in range(6)]
    assert reorder(five, "reverse") == five[::-1]
    assert reorder(five, "bottom_half") == five[3:]
    assert reorder(six, "bottom_half") == six[3:]
    assert reorder(five, "top_half") == [five[2], five[1], five[0]]
    assert reorder(five, "middle_out") == [five[i] for i in (2, 3, 1, 4, 0)]
    assert reorder(six, "middle_out") == [six[i] for i in (3, 2, 4, 1, 5, 0)]
    with pytest.raises(ValueError):
        reorder(five, "sideways")


# ---- reading a ServerHello ----------------------------------------------------------------


def server_hello(cipher: int = 0xC02F, version: int = 0x0303,
                 exts: list[tuple[int, bytes]] | None = None, session: bytes = b"\x01" * 32,
                 same_record: bytes = b"", after: bytes = b"") -> bytes:
    body = struct.pack(">H", version) + bytes(32) + bytes([len(session)]) + session
    body += struct.pack(">HB", cipher, 0)
    if exts is not None:
        block = b"".join(struct.pack(">HH", t, len(v)) + v for t, v in exts)
        body += struct.pack(">H", len(block)) + block
    hs = b"\x02" + len(body).to_bytes(3, "big") + body + same_record
    return b"\x16\x03\x03" + struct.pack(">H", len(hs)) + hs + after


CERT = b"\x0b\x00\x00\x0b" + bytes(11)  # a Certificate handshake message
HELLOS = {
    "tls12 with alpn": server_hello(exts=[(0xFF01, b"\x00"), (0x0010, b"\x00\x03\x02h2"),
                                          (0x0017, b"")]),
    "tls13": server_hello(0x1302, 0x0303, [(0x002B, b"\x03\x04"), (0x0033, bytes(36))]),
    "no session id": server_hello(exts=[(0x0017, b"")], session=b""),
    "empty alpn": server_hello(exts=[(0x0010, b"")]),
    "alpn not utf-8": server_hello(exts=[(0x0010, b"\x00\x03\x02\xff\xfe")]),
    "alpn with separators": server_hello(exts=[(0x0010, b"\x00\x04\x03a|b")]),
    "unknown cipher": server_hello(0x0003, exts=[(0xFF01, b"\x00")]),
    "tls10": server_hello(0x0035, 0x0301, exts=[]),
    "alert": b"\x15\x03\x03\x00\x02\x02\x28",
    "not tls": b"HTTP/1.1 400 Bad Request\r\n\r\n",
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(HELLOS))
def test_reading_a_reply_as_the_reference_does(name: str) -> None:
    data = HELLOS[name]
    theirs = pyjarm_scanner.Scanner._parse_server_hello(bytearray(data), (name, b""))
    assert read_server_hello(data) == theirs


@pytest.mark.parametrize("cut", [6, 20, 43, 44, 60, 80, 100])
def test_a_reply_cut_short_reads_as_the_reference_does(cut: int) -> None:
    data = HELLOS["tls12 with alpn"][:cut]
    theirs = pyjarm_scanner.Scanner._parse_server_hello(bytearray(data), ("cut", b""))
    assert read_server_hello(data) == theirs


def test_where_pyjarm_departs_from_the_reference() -> None:
    # An extension header cut short by the read: the reference parses an empty hex string,
    # fails, and the probe answers "|||" (pyjarm lists an empty extension type instead).
    data = HELLOS["tls12 with alpn"]
    assert read_server_hello(data[:90]) == read_server_hello(data[:95]) == NONE
    # A hello without extensions ending its record, a Certificate in the next record: the
    # reference's length check (session id length + 42 >= the record's length) reads no
    # extensions (pyjarm reads the next record as extensions).
    alone = server_hello(exts=None, after=b"\x16\x03\x03\x00\x0f" + CERT)
    assert read_server_hello(alone) == "c02f|0303||"
    # The same hello with the Certificate right after it in the same record: the byte at
    # the extensions' length is the Certificate's type (11), which the reference reads as
    # "no extensions" (pyjarm answers "|||" for the extension part).
    assert read_server_hello(server_hello(exts=None, same_record=CERT)) == "c02f|0303||"


def test_some_readings_spelled_out() -> None:
    assert read_server_hello(HELLOS["tls12 with alpn"]) == "c02f|0303|h2|ff01-0010-0017"
    assert read_server_hello(HELLOS["alpn not utf-8"]) == NONE
    assert read_server_hello(None) == read_server_hello(HELLOS["alert"]) == NONE


def test_the_hash_equals_the_reference_one() -> None:
    rng = random.Random(3)
    answers = [read_server_hello(h) for h in HELLOS.values()] + [NONE]
    for _ in range(200):
        raw = ",".join(rng.choice(answers) for _ in PROBES)
        assert jarm_hash(raw) == pyjarm_hashing.Hasher.jarm(raw), raw


def test_every_cipher_of_the_method_has_its_own_code() -> None:
    codes = {jarm_hash(",".join([f"{c:04x}|0303||"] * 10))[:2] for c in jarm.ALL_CIPHERS}
    assert len(codes) == len(jarm.ALL_CIPHERS)
    for c in itertools.islice(jarm.ALL_CIPHERS, 0, None, 7):
        raw = ",".join([f"{c:04x}|0302|h2|0010"] * 10)
        assert jarm_hash(raw) == pyjarm_hashing.Hasher.jarm(raw)


def test_fingerprints_of_failures() -> None:
    assert fingerprint([None] * 10) == ZERO
    assert fingerprint([HELLOS["tls13"]] * 9 + [TIMEOUT]) == ZERO  # any timeout: all zeros
    one = fingerprint([HELLOS["tls13"]] + [None] * 9)
    assert one != ZERO and len(one) == 62 and one[3:30] == "0" * 27
