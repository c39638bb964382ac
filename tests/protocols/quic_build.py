"""Builds protected QUIC long-header packets (RFC 9001 §5) for the tests and samples.

The inverse of probescan.protocols.quic.open_packet: encrypt the payload with AES-128-GCM
under the Initial keys, then apply header protection. RFC 9001 Appendix A.2 and RFC 9369
Appendix A.1 use exactly this to print their client Initials.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from probescan.protocols.gquic import fnv1a_128
from probescan.protocols.quic import V2, initial_keys

# RFC 9001 Appendix A.2: the client's CRYPTO frame (a ClientHello for example.com, ALPN
# "alpn", QUIC transport parameters), and its connection id.
RFC9001_DCID = bytes.fromhex("8394c8f03e515708")
RFC9001_CRYPTO = bytes.fromhex(
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74b748002b000302030400"
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
    "75300901100f088394c8f03e51570806048000ffff")


def varint(value: int) -> bytes:
    for size, prefix in ((1, 0), (2, 0x40), (4, 0x80), (8, 0xC0)):
        if value < 1 << (8 * size - 2):
            raw = bytearray(value.to_bytes(size, "big"))
            raw[0] |= prefix
            return bytes(raw)
    raise ValueError(value)


def crypto_frame(offset: int, data: bytes, frame_type: int = 0x06) -> bytes:
    return bytes([frame_type]) + varint(offset) + varint(len(data)) + data


def seal(version: int, dcid: bytes, scid: bytes, frames: bytes, *, pn: int = 0,
         pn_len: int = 4, packet_type: int = 0, token: bytes | None = b"",
         keys_dcid: bytes | None = None, pad_to: int = 1200, server: bool = False) -> bytes:
    """A protected long-header packet (version 1 type numbering: 0 Initial, 1 0-RTT,
    2 Handshake), PADDING frames added so that the packet is `pad_to` bytes long."""
    keys = initial_keys(version, keys_dcid or dcid, server)
    assert keys is not None
    wire_type = {0: 1, 1: 2, 2: 3}[packet_type] if version == V2 else packet_type
    first = 0xC0 | wire_type << 4 | (pn_len - 1)
    head = bytes([first]) + version.to_bytes(4, "big") + bytes([len(dcid)]) + dcid
    head += bytes([len(scid)]) + scid
    if packet_type == 0:
        head += varint(len(token or b"")) + (token or b"")
    fixed = len(head) + 2 + pn_len + 16
    payload = frames + bytes(max(0, pad_to - fixed - len(frames)))
    length = pn_len + len(payload) + 16
    head += bytes([0x40 | length >> 8, length & 0xFF])
    pn_bytes = pn.to_bytes(pn_len, "big")
    nonce = bytes(a ^ b for a, b in zip(keys.iv, pn.to_bytes(12, "big"), strict=True))
    sealed = AESGCM(keys.key).encrypt(nonce, payload, head + pn_bytes)
    sample = sealed[4 - pn_len : 20 - pn_len]
    mask = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor().update(sample)
    out = bytearray(head + pn_bytes + sealed)
    out[0] ^= mask[0] & 0x0F
    for i in range(pn_len):
        out[len(head) + i] ^= mask[1 + i]
    return bytes(out)


# --- Google QUIC (null encryption) ----------------------------------------------------------


def crypto_message(tag: bytes, entries: dict[bytes, bytes]) -> bytes:
    """A QUIC crypto handshake message: tags sorted as little-endian integers."""
    ordered = sorted(entries.items(), key=lambda kv: int.from_bytes(kv[0], "little"))
    table = b""
    values = b""
    for name, value in ordered:
        values += value
        table += name + len(values).to_bytes(4, "little")
    return tag + len(ordered).to_bytes(2, "little") + b"\x00\x00" + table + values


def stream_frame(data: bytes, big_endian: bool) -> bytes:
    """A gQUIC STREAM frame on stream 1, offset 0, with a 2-byte data length."""
    return b"\xa0\x01" + len(data).to_bytes(2, "big" if big_endian else "little") + data


def null_encrypted(header: bytes, frames: bytes, perspective: bytes) -> bytes:
    """header + the 12-byte FNV-1a-128 hash + frames (perspective b"" before Q036)."""
    h = fnv1a_128(header, frames, perspective)
    tag = (h & ((1 << 64) - 1)).to_bytes(8, "little") + ((h >> 64) & 0xFFFFFFFF).to_bytes(
        4, "little")
    return header + tag + frames
