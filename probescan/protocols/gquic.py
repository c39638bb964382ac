"""Google QUIC (gQUIC, versions Q0xx up to Q046): unencrypted handshake packets.

Sources: Google's "QUIC Wire Layout Specification" and "QUIC Crypto" design documents,
and Chromium's quiche (quic_packet_creator, null_encrypter, crypto_framer).

Until the handshake keys are in place every packet is "null encrypted": its payload is
preceded by a 12-byte FNV-1a-128 hash of the header (associated data) and the plaintext,
serialised little-endian (low 64 bits, then the next 32). From Q036 on the hash also covers
the sender's perspective, "Client" or "Server". A hash that verifies (96 bits) proves the
packet. Headers:

* public header (up to Q043): flags (0x01 version present, 0x08 8-byte connection id;
  before Q033 the bits 0x0c gave the connection id length, 0x0c = 8 bytes; 0x04 in a
  server packet a 32-byte diversification nonce; 0x30 the packet number length 1/2/4/6),
  connection id, version (client, until negotiated), packet number;
* Q046: an IETF-like long header (0x80 | 0x40 | type << 4 | packet number length - 1), the
  version, one byte of connection id lengths (two nibbles, each 0 or length - 3), the ids
  and the packet number.

The handshake messages (CHLO, REJ, SHLO) are QUIC crypto messages: a 4-byte tag, a
little-endian 16-bit entry count, 2 bytes of padding, then per entry a tag and the
little-endian 32-bit end offset of its value, the values following the table; the tags
are in increasing order (as little-endian integers).
"""

from __future__ import annotations

from dataclasses import dataclass

from probescan.protocols.errors import ParseError

_FNV_PRIME = 309485009821345068724781371
_FNV_BASIS = 144066263297769815596495629667062367629
_MASK128 = (1 << 128) - 1
HASH_LEN = 12
MESSAGE_TAGS = (b"CHLO", b"REJ\x00", b"SHLO", b"SREJ")
MAX_ENTRIES = 128


def fnv1a_128(*parts: bytes) -> int:
    h = _FNV_BASIS
    for part in parts:
        for byte in part:
            h = ((h ^ byte) * _FNV_PRIME) & _MASK128
    return h


def _hash12(value: int) -> bytes:
    return (value & ((1 << 64) - 1)).to_bytes(8, "little") + (
        (value >> 64) & 0xFFFFFFFF).to_bytes(4, "little")


@dataclass(frozen=True, slots=True)
class GQuicPacket:
    version: str | None  # "Q043" when the header carries it
    cid: bytes
    sender: str  # "client" or "server" (the perspective the hash proved), "" before Q036
    payload: bytes  # the frames after the hash


def _verify(data: bytes, header_len: int) -> str | None:
    """The perspective under which the null-encryption hash at `header_len` verifies."""
    if len(data) < header_len + HASH_LEN + 1:
        return None
    header, tag = data[:header_len], data[header_len : header_len + HASH_LEN]
    body = data[header_len + HASH_LEN :]
    for sender, extra in (("client", b"Client"), ("server", b"Server"), ("", b"")):
        if _hash12(fnv1a_128(header, body, extra)) == tag:
            return sender
    return None


_PN_LEN = {0x00: 1, 0x10: 2, 0x20: 4, 0x30: 6}


def _public_layouts(data: bytes) -> list[tuple[int, bytes, str | None]]:
    """(header length, connection id, version) for each reading of a public header."""
    flags = data[0]
    if flags & 0x80 or flags & 0x02:  # unused bit; public reset carries no hash
        return []
    out: list[tuple[int, bytes, str | None]] = []
    cid_len = {0x0C: 8, 0x08: 8, 0x04: 0, 0x00: 0}[flags & 0x0C]
    for nonce in (0, 32) if flags & 0x04 and not flags & 0x01 else (0,):
        length = 1 + cid_len
        version = None
        if flags & 0x01:
            raw = data[length : length + 4]
            if raw[:1] != b"Q" or not raw[1:].isdigit():
                return []
            version = raw.decode("ascii")
            length += 4
        length += nonce + _PN_LEN[flags & 0x30]
        out.append((length, data[1 : 1 + cid_len], version))
    return out


def _long_layout(data: bytes) -> list[tuple[int, bytes, str | None]]:
    raw = data[1:5]
    if len(data) < 6 or raw[:1] != b"Q" or not raw[1:].isdigit() or not data[0] & 0x40:
        return []
    dcil, scil = data[5] >> 4, data[5] & 0x0F
    dcid_len = dcil + 3 if dcil else 0
    scid_len = scil + 3 if scil else 0
    cid = data[6 : 6 + (dcid_len or scid_len)]
    return [(6 + dcid_len + scid_len + (data[0] & 3) + 1, cid, raw.decode("ascii"))]


def parse_packet(data: bytes) -> GQuicPacket:
    """A null-encrypted gQUIC packet whose hash verifies; ParseError otherwise."""
    if len(data) < 2 + HASH_LEN:
        raise ParseError("gQUIC: too short")
    layouts = _long_layout(data) if data[0] & 0x80 else _public_layouts(data)
    for header_len, cid, version in layouts:
        sender = _verify(data, header_len)
        if sender is not None:
            return GQuicPacket(version, cid, sender, data[header_len + HASH_LEN :])
    raise ParseError("gQUIC: no null-encrypted packet (hash does not verify)")


@dataclass(frozen=True, slots=True)
class CryptoMessage:
    tag: str  # "CHLO", "REJ", "SHLO"
    values: dict[str, bytes]


def _tag_name(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("latin-1")


def parse_message(data: bytes) -> CryptoMessage:
    """A QUIC crypto handshake message at the start of `data` (its values may run past
    the end of what is here: those are left out)."""
    if data[:4] not in MESSAGE_TAGS or len(data) < 8:
        raise ParseError("not a QUIC crypto handshake message")
    count = int.from_bytes(data[4:6], "little")
    if count > MAX_ENTRIES or data[6:8] != b"\x00\x00":
        raise ParseError(f"QUIC crypto message: {count} entries")
    table_end = 8 + 8 * count
    if len(data) < table_end:
        raise ParseError("QUIC crypto message: entry table cut short")
    values: dict[str, bytes] = {}
    previous_tag, previous_end = -1, 0
    for i in range(count):
        entry = data[8 + 8 * i : 16 + 8 * i]
        tag = int.from_bytes(entry[:4], "little")
        end = int.from_bytes(entry[4:], "little")
        if tag <= previous_tag or end < previous_end:
            raise ParseError("QUIC crypto message: tags or offsets out of order")
        if table_end + end <= len(data):
            values[_tag_name(entry[:4])] = data[table_end + previous_end : table_end + end]
        previous_tag, previous_end = tag, end
    return CryptoMessage(_tag_name(data[:4]), values)


def find_message(payload: bytes) -> CryptoMessage | None:
    """The handshake message a packet's first frames carry (a STREAM frame of stream 1,
    maybe behind a private-flags byte, padding or an ACK), or None."""
    for tag in MESSAGE_TAGS:
        at = payload.find(tag, 0, 64)
        if at >= 0:
            try:
                return parse_message(payload[at:])
            except ParseError:
                return None
    return None
