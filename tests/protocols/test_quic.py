"""QUIC Initials from the specifications' own vectors (RFC 9001 Appendix A, RFC 9369
Appendix A) and Google QUIC null-encrypted packets built from its documents."""

from __future__ import annotations

import pytest

from probescan.protocols import ParseError, gquic
from probescan.protocols import quic as q
from tests.protocols.quic_build import (
    RFC9001_CRYPTO,
    RFC9001_DCID,
    crypto_frame,
    crypto_message,
    null_encrypted,
    seal,
    stream_frame,
)

# RFC 9001 A.2: the protected client Initial starts with these bytes.
RFC9001_PROTECTED = bytes.fromhex(
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9b")
RFC9369_PROTECTED = bytes.fromhex("d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb42")
RFC_HELLO = RFC9001_CRYPTO[4:]  # the ClientHello inside the CRYPTO frame


def test_initial_keys_are_the_rfcs() -> None:
    k1 = q.initial_keys(q.V1, RFC9001_DCID)
    assert k1 is not None
    assert (k1.key.hex(), k1.iv.hex(), k1.hp.hex()) == (
        "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c",
        "9f50449e04a0e810283a1e9933adedd2")  # RFC 9001 A.1
    k2 = q.initial_keys(q.V2, RFC9001_DCID)
    assert k2 is not None
    assert (k2.key.hex(), k2.iv.hex(), k2.hp.hex()) == (
        "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f",
        "45b95e15235d6f45a6b19cbcb0294ba9")  # RFC 9369 A.1
    assert q.initial_keys(0x0A0A0A0A, RFC9001_DCID) is None


@pytest.mark.parametrize(("version", "protected"), [
    (q.V1, RFC9001_PROTECTED), (q.V2, RFC9369_PROTECTED)])
def test_rfc_client_initial_decrypts_to_its_client_hello(version: int, protected: bytes) -> None:
    packet = seal(version, RFC9001_DCID, b"", RFC9001_CRYPTO, pn=2)
    assert len(packet) == 1200 and packet.startswith(protected)
    ci = q.parse_client_initials([packet])
    assert ci.decrypted and ci.version == version and ci.dcid == RFC9001_DCID
    assert ci.crypto == RFC_HELLO
    assert ci.hello is not None
    assert (ci.hello.sni, ci.hello.alpn) == ("example.com", ("alpn",))


def test_crypto_frames_over_two_datagrams_out_of_order() -> None:
    scid = bytes.fromhex("c0ffee00")
    first = seal(q.V1, RFC9001_DCID, scid, crypto_frame(100, RFC_HELLO[100:]) + b"\x01", pn=0)
    second = seal(q.V1, RFC9001_DCID, scid, crypto_frame(0, RFC_HELLO[:100]), pn=1, pn_len=1)
    ci = q.parse_client_initials([first, second])
    assert ci.scid == scid and ci.hello is not None and ci.hello.sni == "example.com"
    only_first = q.parse_client_initials([first])
    assert only_first.decrypted and only_first.hello is None and only_first.crypto == b""


def test_draft_versions_decrypt_with_their_salts() -> None:
    for version, name in ((0xFF00001D, "draft-29"), (0xFF00001B, "draft-27"),
                          (0xFF000022, "draft-34"), (0xFACEB002, "mvfst-2")):
        ci = q.parse_client_initials([seal(version, RFC9001_DCID, b"", RFC9001_CRYPTO)])
        assert ci.decrypted and q.version_name(ci.version) == name
        assert ci.hello is not None and ci.hello.sni == "example.com"


def test_google_t051_carries_tls_and_q050_a_chlo_in_frame_8() -> None:
    t051 = seal(0x54303531, RFC9001_DCID, b"", crypto_frame(0, RFC_HELLO, 0x08))
    ci = q.parse_client_initials([t051])
    assert ci.hello is not None and ci.hello.sni == "example.com"
    chlo = crypto_message(b"CHLO", {b"SNI\x00": b"example.com", b"VER\x00": b"Q050"})
    q050 = seal(0x51303530, RFC9001_DCID, b"", crypto_frame(0, chlo, 0x08))
    ci = q.parse_client_initials([q050])
    assert ci.decrypted and ci.hello is None and ci.crypto == chlo
    assert gquic.parse_message(ci.crypto).values["SNI"] == b"example.com"


def test_altered_initial_falls_back_to_structure_or_fails() -> None:
    packet = bytearray(seal(q.V1, RFC9001_DCID, b"", RFC9001_CRYPTO, pn=2))
    packet[100] ^= 1
    ci = q.parse_client_initials([bytes(packet)])
    assert not ci.decrypted and ci.hello is None  # Length fields still fill 1200 bytes
    small = bytearray(seal(q.V1, RFC9001_DCID, b"", RFC9001_CRYPTO, pad_to=600))
    small[100] ^= 1
    with pytest.raises(ParseError):
        q.parse_client_initials([bytes(small)])


def test_reserved_version_is_read_from_its_structure() -> None:
    packet = seal(q.V1, RFC9001_DCID, b"", RFC9001_CRYPTO)
    reserved = packet[:1] + bytes.fromhex("1a2a3a4a") + packet[5:]
    ci = q.parse_client_initials([reserved])
    assert not ci.decrypted and q.version_name(ci.version) == "reserved"
    with pytest.raises(ParseError):
        q.parse_client_initials([reserved[:-1]])  # Length no longer fits


def test_every_prefix_of_an_initial_is_refused_cleanly() -> None:
    packet = seal(q.V1, RFC9001_DCID, b"", RFC9001_CRYPTO, pn=2)
    for cut in range(len(packet)):
        with pytest.raises(ParseError):
            q.parse_client_initials([packet[:cut]])


def test_coalesced_packets_and_padding() -> None:
    initial = seal(q.V1, RFC9001_DCID, b"\x01\x02", b"\x01", pad_to=300, server=True)
    handshake = seal(q.V1, RFC9001_DCID, b"\x01\x02", b"\x01", packet_type=2, pad_to=200)
    found = q.packets(initial + handshake)
    assert [p.type for p in found] == [q.INITIAL, q.HANDSHAKE]
    assert q.fills(initial + handshake, found)
    assert q.fills(initial + bytes(50), q.packets(initial + bytes(50)))
    assert not q.fills(initial + b"\x41junk", q.packets(initial + b"\x41junk"))


def test_version_negotiation() -> None:
    vn = bytes.fromhex("80 00000000 04 01020304 08 0102030405060708 00000001 ff00001d")
    parsed = q.parse_version_negotiation(vn)
    assert parsed.dcid == bytes.fromhex("01020304") and parsed.versions == (1, 0xFF00001D)
    for bad in (vn[:-1], vn[:-4] + bytes(4), vn[:20]):
        with pytest.raises(ParseError):
            q.parse_version_negotiation(bad)


def test_crypto_frames_skip_ack_and_padding() -> None:
    ack = bytes.fromhex("02 00 00 01 00 00 00")  # largest 0, delay 0, one more range
    frames = ack + b"\x00\x00\x01" + crypto_frame(0, b"abc") + b"\x1c\x00"
    assert q.crypto_frames(frames) == [(0, b"abc")]
    assert q.assemble([(3, b"def"), (0, b"abc"), (2, b"cd")]) == b"abcdef"
    assert q.assemble([(1, b"bc")]) == b""


def test_version_names() -> None:
    assert [q.version_name(v) for v in (1, q.V2, 0xFF00001D, 0xFACEB001, 0x51303530,
                                          0x3A4A5A6A, 0x12345678)] == [
        "1", "2", "draft-29", "mvfst-1", "Q050", "reserved", "0x12345678"]
    assert q.known_family(0x51474F01) and not q.known_family(0x12345678)


# --- Google QUIC ---------------------------------------------------------------------------

CID = bytes.fromhex("0123456789abcdef")
CHLO = crypto_message(b"CHLO", {b"SNI\x00": b"www.example.com", b"VER\x00": b"Q043",
                                b"UAID": b"Chrome/70.0 Linux x86_64", b"PAD\x00": bytes(40)})


def test_gquic_q043_client_hello_verifies() -> None:
    packet = null_encrypted(b"\x09" + CID + b"Q043" + b"\x01", stream_frame(CHLO, True),
                            b"Client")
    parsed = gquic.parse_packet(packet)
    assert (parsed.version, parsed.cid, parsed.sender) == ("Q043", CID, "client")
    msg = gquic.find_message(parsed.payload)
    assert msg is not None and msg.tag == "CHLO"
    assert msg.values["SNI"] == b"www.example.com" and msg.values["UAID"].startswith(b"Chr")
    with pytest.raises(ParseError):
        gquic.parse_packet(packet[:-1] + bytes([packet[-1] ^ 1]))
    for cut in range(len(packet)):
        with pytest.raises(ParseError):
            gquic.parse_packet(packet[:cut])


def test_gquic_old_and_long_headers() -> None:
    q025 = null_encrypted(b"\x0d" + CID + b"Q025" + b"\x01", b"\x01" + stream_frame(CHLO, False),
                          b"")  # private flags byte, little-endian lengths, no perspective
    assert gquic.parse_packet(q025).sender == ""
    q046 = null_encrypted(b"\xc3Q046\x50" + CID + b"\x00\x00\x00\x01",
                          stream_frame(CHLO, True), b"Client")
    assert gquic.parse_packet(q046).version == "Q046"
    rej = crypto_message(b"REJ\x00", {b"STK\x00": bytes(16)})
    server = null_encrypted(b"\x08" + CID + b"\x01", stream_frame(rej, True), b"Server")
    parsed = gquic.parse_packet(server)
    assert parsed.sender == "server" and parsed.version is None
    found = gquic.find_message(parsed.payload)
    assert found is not None and found.tag == "REJ"


def test_crypto_message_order_is_checked() -> None:
    good = crypto_message(b"CHLO", {b"SNI\x00": b"a", b"VER\x00": b"b"})
    assert gquic.parse_message(good).values == {"SNI": b"a", "VER": b"b"}
    swapped = good[:8] + good[16:24] + good[8:16] + good[24:]
    with pytest.raises(ParseError):
        gquic.parse_message(swapped)
