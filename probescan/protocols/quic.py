"""QUIC long-header packets: client Initials decrypted down to the TLS ClientHello.

Header layout (RFC 8999 invariants, RFC 9000 §17.2): first byte with the long-form bit,
a 32-bit version, destination and source connection ids of at most 20 bytes (one length
byte each), then per type: Initial = token (varint length) + Length (varint) + packet
number + payload; 0-RTT and Handshake = Length + packet number + payload; Retry = token +
16-byte integrity tag. Version 0 is a Version Negotiation packet listing versions.

Initial protection (RFC 9001 §5): keys derived by HKDF-SHA256 from the version's salt and
the client's first destination connection id, header protection with AES-128-ECB over a
16-byte sample, payload with AES-128-GCM. The versions and salts: RFC 9001 (v1, also the
drafts 33 and 34), RFC 9369 (v2: its own salt, labels "quicv2 ..." and packet type codes),
draft-ietf-quic-tls-22 (21-22), -23 (23-28) and -29 (29-32); Facebook's mvfst versions
reuse the draft salts (0xfaceb001: draft 22, 0xfaceb002 and 0xfaceb00e: draft 23);
Google's Q050, T050 and T051 have their own salts (Chromium's quiche, crypto_utils.cc).

An Initial carries only PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE frames (RFC 9000
§12.4); the CRYPTO frames, possibly spread over several packets and out of order, form the
TLS handshake stream whose first message is the ClientHello (RFC 9001 §4).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from probescan.protocols.errors import NeedMore, ParseError
from probescan.protocols.tls import parse_client_hello
from probescan.protocols.tls_messages import ClientHello

MAX_CID = 20  # RFC 9000 §17.2 (version 1); the invariants allow 255
MIN_INITIAL_DATAGRAM = 1200  # RFC 9000 §14.1: a client's Initial datagram is padded to this
V1 = 0x00000001
V2 = 0x6B3343CF

_SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
_SALT_V2 = bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9")
_SALT_D22 = bytes.fromhex("7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a")
_SALT_D23 = bytes.fromhex("c3eef712c72ebb5a11a7d2432bb46365bef9f502")
_SALT_D29 = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")
_SALT_Q050 = bytes.fromhex("504574efd066fe2f9d945cfcdbd3a7f0d3b56b45")
_SALT_T050 = bytes.fromhex("7ff579e5acd072915580304c43a2367c60488310")
_SALT_T051 = bytes.fromhex("7a4edef4e7ccee5fa4506c19124fc8ccda6e033d")

# Long-header packet types in the version 1 encoding (RFC 9000 §17.2); v2 permutes them.
INITIAL, ZERO_RTT, HANDSHAKE, RETRY = 0, 1, 2, 3
_V2_TYPES = {1: INITIAL, 2: ZERO_RTT, 3: HANDSHAKE, 0: RETRY}  # RFC 9369 §3.2
TYPE_NAMES = {INITIAL: "initial", ZERO_RTT: "0rtt", HANDSHAKE: "handshake", RETRY: "retry"}


def _salt(version: int) -> bytes | None:
    if version in (V1, 0xFF000021, 0xFF000022):
        return _SALT_V1
    if version == V2:
        return _SALT_V2
    if 0xFF00001D <= version <= 0xFF000020:
        return _SALT_D29
    if 0xFF000017 <= version <= 0xFF00001C or version in (0xFACEB002, 0xFACEB00E):
        return _SALT_D23
    if version in (0xFF000015, 0xFF000016, 0xFACEB001):
        return _SALT_D22
    return {0x51303530: _SALT_Q050, 0x54303530: _SALT_T050, 0x54303531: _SALT_T051}.get(version)


def version_name(version: int) -> str:
    """"1", "2", "draft-29", "mvfst-2", "Q050", "T051", or the hex value."""
    if version == V1:
        return "1"
    if version == V2:
        return "2"
    if 0xFF000000 < version <= 0xFF0000FF:
        return f"draft-{version & 0xFF}"
    if 0xFACEB000 <= version <= 0xFACEB00F:
        return f"mvfst-{version & 0xF}"
    raw = version.to_bytes(4, "big")
    if raw[:1] in (b"Q", b"T") and raw[1:].isdigit():
        return raw.decode("ascii")
    if version & 0x0F0F0F0F == 0x0A0A0A0A:
        return "reserved"  # RFC 9000 §15: forces version negotiation
    return f"0x{version:08x}"


def known_family(version: int) -> bool:
    """A version some specification or deployed implementation names (the IANA registry's
    ranges): IETF v1/v2 and drafts, reserved 0x?a?a?a?a, Google Q/T, mvfst, quic-go,
    picoquic, MsQuic, ngtcp2."""
    if _salt(version) is not None or version & 0x0F0F0F0F == 0x0A0A0A0A:
        return True
    if 0xFF000000 < version <= 0xFF0000FF or 0xFACEB000 <= version <= 0xFACEB00F:
        return True
    raw = version.to_bytes(4, "big")
    if raw[:1] in (b"Q", b"T") and raw[1:].isdigit():
        return True
    return (version >> 8 in (0x51474F, 0x91C170) or version == 0x50435130
            or 0xABCD0000 <= version <= 0xABCD000F or version == 0x709A50C4)


# --- varints and headers ---------------------------------------------------------------------


def varint(data: bytes, pos: int, short: type[Exception] = ParseError) -> tuple[int, int]:
    """RFC 9000 §16 variable-length integer at `pos`: (value, position after it)."""
    if pos >= len(data):
        raise short("varint runs past the end")
    size = 1 << (data[pos] >> 6)
    if pos + size > len(data):
        raise short("varint runs past the end")
    value = int.from_bytes(data[pos : pos + size], "big") & ((1 << (8 * size - 2)) - 1)
    return value, pos + size


@dataclass(frozen=True, slots=True)
class LongHeader:
    first: int  # first byte, still under header protection
    version: int
    dcid: bytes
    scid: bytes
    type: int  # INITIAL, ZERO_RTT, HANDSHAKE or RETRY (version 1 numbering); -1 for version 0
    token: bytes
    start: int  # offset of the first byte in the datagram
    pn_offset: int  # where the (protected) packet number starts; Retry / VN: the end
    end: int  # offset after the packet (Length counted from pn_offset)


def parse_long_header(data: bytes, pos: int = 0) -> LongHeader:
    """The long header at `pos`. Lengths must stay within the datagram (a datagram is
    whole: running out is a ParseError, a caller cuts nothing)."""
    if len(data) - pos < 7:
        raise ParseError("long header: too short")
    first = data[pos]
    if not first & 0x80:
        raise ParseError("not a long header")
    version = int.from_bytes(data[pos + 1 : pos + 5], "big")
    at = pos + 5
    dcid_len = data[at]
    if version and dcid_len > MAX_CID:
        raise ParseError(f"destination connection id of {dcid_len} bytes")
    dcid = data[at + 1 : at + 1 + dcid_len]
    at += 1 + dcid_len
    if at >= len(data):
        raise ParseError("long header: cut in the connection ids")
    scid_len = data[at]
    if version and scid_len > MAX_CID:
        raise ParseError(f"source connection id of {scid_len} bytes")
    scid = data[at + 1 : at + 1 + scid_len]
    at += 1 + scid_len
    if at > len(data):
        raise ParseError("long header: cut in the connection ids")
    if version == 0:
        return LongHeader(first, 0, dcid, scid, -1, b"", pos, len(data), len(data))
    if not first & 0x40:
        raise ParseError("long header without the fixed bit")
    ptype = (first >> 4) & 3
    if version == V2:
        ptype = _V2_TYPES[ptype]
    token = b""
    if ptype == RETRY:
        if len(data) - at < 16:
            raise ParseError("Retry without its integrity tag")
        return LongHeader(first, version, dcid, scid, ptype, data[at:-16], pos, len(data),
                          len(data))
    if ptype == INITIAL:
        token_len, at = varint(data, at)
        if at + token_len > len(data):
            raise ParseError("Initial token runs past the datagram")
        token = data[at : at + token_len]
        at += token_len
    length, at = varint(data, at)
    if length < 20 or at + length > len(data):  # packet number + 16-byte sample at least
        raise ParseError(f"packet Length {length} does not fit the datagram")
    return LongHeader(first, version, dcid, scid, ptype, token, pos, at, at + length)


def packets(data: bytes) -> list[LongHeader]:
    """The coalesced long-header packets of a datagram (RFC 9000 §12.2), all of one version.
    What follows the last one is a short-header packet or padding (see `fills`)."""
    out: list[LongHeader] = []
    pos = 0
    while pos < len(data) and data[pos] & 0x80:
        header = parse_long_header(data, pos)
        if out and header.version != out[0].version:
            raise ParseError("coalesced packets of different versions")
        out.append(header)
        pos = header.end
    if not out:
        raise ParseError("not a long header")
    return out


def fills(data: bytes, found: Sequence[LongHeader]) -> bool:
    """The packets' Length fields add up to the datagram: nothing after the last packet
    but zero padding."""
    return not data[found[-1].end :].strip(b"\x00")


# --- Initial protection ----------------------------------------------------------------------


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return hmac.new(secret, info + b"\x01", hashlib.sha256).digest()[:length]


@dataclass(frozen=True, slots=True)
class InitialKeys:
    key: bytes
    iv: bytes
    hp: bytes


def initial_keys(version: int, dcid: bytes, server: bool = False) -> InitialKeys | None:
    """The client's (or server's) Initial keys for a connection whose client chose `dcid`;
    None for a version without a known salt."""
    salt = _salt(version)
    if salt is None:
        return None
    initial = hmac.new(salt, dcid, hashlib.sha256).digest()
    secret = _expand_label(initial, b"server in" if server else b"client in", 32)
    prefix = b"quicv2 " if version == V2 else b"quic "
    return InitialKeys(_expand_label(secret, prefix + b"key", 16),
                       _expand_label(secret, prefix + b"iv", 12),
                       _expand_label(secret, prefix + b"hp", 16))


def open_packet(data: bytes, header: LongHeader, keys: InitialKeys) -> tuple[int, bytes]:
    """Remove header protection and decrypt: (packet number, plaintext payload).
    A wrong key or altered bytes fail the AEAD tag: ParseError."""
    pn_at = header.pn_offset
    sample = data[pn_at + 4 : pn_at + 20]
    if len(sample) < 16 or header.end - pn_at < 20:
        raise ParseError("packet too short for the header protection sample")
    mask = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor().update(sample)
    first = data[header.start] ^ (mask[0] & 0x0F)
    pn_len = (first & 3) + 1
    pn_bytes = bytes(b ^ m for b, m in zip(data[pn_at : pn_at + pn_len], mask[1:], strict=False))
    pn = int.from_bytes(pn_bytes, "big")
    aad = bytes([first]) + data[header.start + 1 : pn_at] + pn_bytes
    nonce = bytes(a ^ b for a, b in zip(keys.iv, pn.to_bytes(12, "big"), strict=True))
    try:
        plain = AESGCM(keys.key).decrypt(nonce, data[pn_at + pn_len : header.end], aad)
    except InvalidTag:
        raise ParseError("AEAD tag does not verify (not this version's Initial)") from None
    return pn, plain


def crypto_frames(payload: bytes, crypto_type: int = 0x06) -> list[tuple[int, bytes]]:
    """(offset, data) of the CRYPTO frames of a decrypted Initial payload. Google's Q050
    and T05x number their CRYPTO frame 0x08 (`crypto_type`). A frame no Initial carries
    ends the walk (what was read stays)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    try:
        while pos < len(payload):
            ftype, pos = varint(payload, pos)
            if ftype in (0x00, 0x01):  # PADDING, PING
                continue
            if ftype == crypto_type:
                offset, pos = varint(payload, pos)
                length, pos = varint(payload, pos)
                if pos + length > len(payload):
                    break
                out.append((offset, payload[pos : pos + length]))
                pos += length
            elif ftype in (0x02, 0x03) and crypto_type == 0x06:  # ACK (with ECN counts)
                _, pos = varint(payload, pos)
                _, pos = varint(payload, pos)
                count, pos = varint(payload, pos)
                _, pos = varint(payload, pos)
                for _ in range(2 * count + (3 if ftype == 0x03 else 0)):
                    _, pos = varint(payload, pos)
            else:  # CONNECTION_CLOSE or a frame no Initial carries: nothing more to read
                break
    except ParseError:
        pass
    return out


def assemble(frames: Iterable[tuple[int, bytes]], limit: int = 1 << 16) -> bytes:
    """The contiguous stream from offset 0 that the (possibly overlapping) frames cover."""
    stream = bytearray()
    pending = sorted(frames)
    progress = True
    while progress:
        progress = False
        for offset, data in pending:
            if offset <= len(stream) < offset + len(data) and offset + len(data) <= limit:
                stream += data[len(stream) - offset :]
                progress = True
    return bytes(stream)


def client_hello(stream: bytes) -> ClientHello:
    """The ClientHello at the start of a CRYPTO stream (handshake messages without TLS
    records): NeedMore while it is incomplete. Wrapped in records for the TLS parser."""
    if stream[:1] and stream[0] != 1:
        raise ParseError(f"CRYPTO stream starts with handshake type {stream[0]}")
    if len(stream) < 4:
        raise NeedMore
    end = 4 + int.from_bytes(stream[1:4], "big")
    if len(stream) < end:
        raise NeedMore
    records = b"".join(b"\x16\x03\x01" + len(chunk).to_bytes(2, "big") + chunk
                       for chunk in (stream[i : i + 16384] for i in range(0, end, 16384)))
    return parse_client_hello(records)


# --- a client's first datagrams ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientInitial:
    version: int
    dcid: bytes  # the client's first destination connection id (keys derive from it)
    scid: bytes
    decrypted: bool  # the AEAD verified with the version's Initial keys
    hello: ClientHello | None  # None while the CRYPTO stream holds no whole TLS ClientHello
    crypto: bytes  # the contiguous CRYPTO stream from offset 0 (Q050: a QUIC crypto CHLO)


def _is_google(version: int) -> bool:
    return version >> 24 in (0x51, 0x54)  # "Q" or "T"


def parse_client_initials(datagrams: Sequence[bytes]) -> ClientInitial:
    """A client's datagrams, the first holding an Initial: decrypt every Initial of the
    same connection and read the ClientHello from their CRYPTO frames.

    The first packet must be an Initial of a known version family whose client chose a
    destination connection id of 8 bytes or more (RFC 9000 §7.2). With the version's
    keys its AEAD tag must verify; without them (or when it fails) the packets' Length
    fields must fill the datagram exactly, itself at least 1200 bytes (RFC 9000 §14.1),
    and `decrypted` is False. Anything else is a ParseError."""
    first = packets(datagrams[0])
    head = first[0]
    if head.type != INITIAL or len(head.dcid) < 8 or not known_family(head.version):
        raise ParseError("first packet is not a client Initial")
    keys = initial_keys(head.version, head.dcid)
    frames: list[tuple[int, bytes]] = []
    try:
        if keys is None:
            raise ParseError("no Initial keys for this version")
        frames += crypto_frames(open_packet(datagrams[0], head, keys)[1],
                                0x08 if _is_google(head.version) else 0x06)
    except ParseError:
        if len(datagrams[0]) < MIN_INITIAL_DATAGRAM or not fills(datagrams[0], first):
            raise
        return ClientInitial(head.version, head.dcid, head.scid, False, None, b"")
    for datagram in datagrams[1:]:
        try:
            found = packets(datagram)
        except ParseError:
            continue
        for header in found:
            if header.type == INITIAL and header.version == head.version:
                try:
                    frames += crypto_frames(open_packet(datagram, header, keys)[1],
                                            0x08 if _is_google(head.version) else 0x06)
                except ParseError:
                    continue
    stream = assemble(frames)
    hello: ClientHello | None = None
    if stream[:1] == b"\x01":
        with contextlib.suppress(NeedMore, ParseError):
            hello = client_hello(stream)
    return ClientInitial(head.version, head.dcid, head.scid, True, hello, stream)


@dataclass(frozen=True, slots=True)
class VersionNegotiation:
    dcid: bytes
    scid: bytes
    versions: tuple[int, ...]


def parse_version_negotiation(data: bytes) -> VersionNegotiation:
    """A Version Negotiation packet (RFC 9000 §17.2.1): version 0, then a whole number of
    versions, none of them 0, at least one."""
    header = parse_long_header(data)
    if header.version != 0:
        raise ParseError("not a Version Negotiation packet")
    at = header.start + 7 + len(header.dcid) + len(header.scid)
    rest = data[at:]
    if not rest or len(rest) % 4 or len(header.dcid) > 255:
        raise ParseError("Version Negotiation: not a list of versions")
    versions = tuple(int.from_bytes(rest[i : i + 4], "big") for i in range(0, len(rest), 4))
    if 0 in versions:
        raise ParseError("Version Negotiation lists version 0")
    return VersionNegotiation(header.dcid, header.scid, versions)
