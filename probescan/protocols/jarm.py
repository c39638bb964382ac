"""JARM: an active TLS server fingerprint from ten ClientHellos (pure: bytes in, text out).

The published method (Salesforce's JARM): ten ClientHellos differing in version, cipher list
and order, GREASE, ALPN list, supported_versions list; from each ServerHello the chosen
cipher, the version and the extensions; the 62-character fingerprint is 30 characters of
"fuzzy hash" (two per cipher, one per version) and the first 32 hex digits of the SHA-256 of
the ALPNs and extension lists. This module builds and reads the messages the way the
reference implementation does, so the fingerprints are the same, quirks included:

* The "extension order" of a probe reorders only the ALPN list and the supported_versions
  list; the extensions themselves always go out in one order.
* SNI is sent even when the target is an address.
* Only the first read of at most 1484 bytes is looked at.
* The ServerHello is read at fixed offsets: the record's length stands for the hello's, the
  session id length is byte 43; an extension list whose first byte at the extensions'
  length is 11 (a Certificate right after a hello without extensions), or one of two magic
  byte strings, or a short record, gives an empty extension part; the walk over the
  extensions stops one byte early.
* An ALPN extension whose protocol does not decode as UTF-8 (or is empty), or an extension
  header cut short by the read, spoils that probe's whole answer ("|||").
* A probe that times out makes the whole fingerprint zeros (62 "0"); a probe whose
  connection fails answers "|||".
* A cipher outside the method's list counts as number 70 ("46").
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

READ_SIZE = 1484  # the reference reads once, at most this much
TIMEOUT: Final = "timeout"  # a probe's answer when the server stayed silent
ZERO = "0" * 62
NONE = "|||"

# The cipher suites of the method, in the order the "ALL" probes send them (IANA numbers).
ALL_CIPHERS = (
    0x0016, 0x0033, 0x0067, 0xC09E, 0xC0A2, 0x009E, 0x0039, 0x006B, 0xC09F, 0xC0A3, 0x009F,
    0x0045, 0x00BE, 0x0088, 0x00C4, 0x009A, 0xC008, 0xC009, 0xC023, 0xC0AC, 0xC0AE, 0xC02B,
    0xC00A, 0xC024, 0xC0AD, 0xC0AF, 0xC02C, 0xC072, 0xC073, 0xCCA9, 0x1302, 0x1301, 0xCC14,
    0xC007, 0xC012, 0xC013, 0xC027, 0xC02F, 0xC014, 0xC028, 0xC030, 0xC060, 0xC061, 0xC076,
    0xC077, 0xCCA8, 0x1305, 0x1304, 0x1303, 0xCC13, 0xC011, 0x000A, 0x002F, 0x003C, 0xC09C,
    0xC0A0, 0x009C, 0x0035, 0x003D, 0xC09D, 0xC0A1, 0x009D, 0x0041, 0x00BA, 0x0084, 0x00C0,
    0x0007, 0x0004, 0x0005,
)
NO_TLS13_CIPHERS = tuple(c for c in ALL_CIPHERS if c >> 8 != 0x13)
# The numbering of the fuzzy hash: a chosen cipher is written as its place here (1-based).
HASH_CIPHERS = (*sorted(NO_TLS13_CIPHERS), 0x1301, 0x1302, 0x1303, 0x1304, 0x1305)
GREASE = tuple(0x0A0A + 0x1010 * i for i in range(16))
ALPN = (b"http/0.9", b"http/1.0", b"http/1.1", b"spdy/1", b"spdy/2", b"spdy/3", b"h2", b"h2c",
        b"hq")
RARE_ALPN = (b"http/0.9", b"http/1.0", b"spdy/1", b"spdy/2", b"spdy/3", b"h2c", b"hq")
SIGNATURE_ALGORITHMS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0201)
GROUPS = (0x001D, 0x0017, 0x0018, 0x0019)  # x25519, secp256r1, secp384r1, secp521r1

Order = Literal["forward", "reverse", "top_half", "bottom_half", "middle_out"]


@dataclass(frozen=True, slots=True)
class JarmProbe:
    name: str
    version: int  # 0x0302 TLS 1.1, 0x0303 TLS 1.2, 0x0304 TLS 1.3
    tls13_ciphers: bool  # False: the cipher list without the TLS 1.3 suites
    order: Order  # of the cipher list
    grease: bool
    rare_alpn: bool
    supported_versions: Literal["1.2", "1.3", None]
    ext_order: Literal["forward", "reverse"]  # of the ALPN and supported_versions lists


PROBES = (
    JarmProbe("tls1_2_forward", 0x0303, True, "forward", False, False, "1.2", "reverse"),
    JarmProbe("tls1_2_reverse", 0x0303, True, "reverse", False, False, "1.2", "forward"),
    JarmProbe("tls1_2_top_half", 0x0303, True, "top_half", False, False, None, "forward"),
    JarmProbe("tls1_2_bottom_half", 0x0303, True, "bottom_half", False, True, None, "forward"),
    JarmProbe("tls1_2_middle_out", 0x0303, True, "middle_out", True, True, None, "reverse"),
    JarmProbe("tls1_1_middle_out", 0x0302, True, "forward", False, False, None, "forward"),
    JarmProbe("tls1_3_forward", 0x0304, True, "forward", False, False, "1.3", "reverse"),
    JarmProbe("tls1_3_reverse", 0x0304, True, "reverse", False, False, "1.3", "forward"),
    JarmProbe("tls1_3_invalid", 0x0304, False, "forward", False, False, "1.3", "forward"),
    JarmProbe("tls1_3_middle_out", 0x0304, True, "middle_out", True, False, "1.3", "reverse"),
)


def reorder(items: Sequence[bytes], order: str) -> list[bytes]:
    """The method's reorderings of a list (ciphers, ALPNs, versions)."""
    n, half = len(items), len(items) // 2
    if order == "forward":
        return list(items)
    if order == "reverse":
        return list(items[::-1])
    if order == "bottom_half":
        return list(items[half + 1:] if n % 2 else items[half:])
    if order == "top_half":  # the middle one (odd lengths), then the reversed list's bottom
        return ([items[half]] if n % 2 else []) + reorder(reorder(items, "reverse"),
                                                          "bottom_half")
    if order == "middle_out":
        out = [items[half]] if n % 2 else []
        for i in range(1, half + 1):
            out += [items[half + i], items[half - i]] if n % 2 else [items[half - 1 + i],
                                                                    items[half - i]]
        return out
    raise ValueError(f"unknown order {order!r}")


def _u16(value: int) -> bytes:
    return struct.pack(">H", value)


def _vec16(body: bytes) -> bytes:
    return _u16(len(body)) + body


def _ext(kind: int, body: bytes) -> bytes:
    return _u16(kind) + _vec16(body)


def client_hello(probe: JarmProbe, host: str,
                 randbytes: Callable[[int], bytes] = os.urandom,
                 grease: Callable[[], int] | None = None) -> bytes:
    """The TLS record carrying `probe`'s ClientHello for `host`."""
    pick = grease or (lambda: random.choice(GREASE))
    legacy = 0x0303 if probe.version == 0x0304 else probe.version
    ciphers = [_u16(c) for c in (ALL_CIPHERS if probe.tls13_ciphers else NO_TLS13_CIPHERS)]
    ciphers = reorder(ciphers, probe.order)
    g = _u16(pick()) if probe.grease else b""
    hello = (_u16(legacy) + randbytes(32) + b"\x20" + randbytes(32)
             + _vec16(g + b"".join(ciphers)) + b"\x01\x00" + _extensions(probe, host, randbytes,
                                                                        pick))
    body = b"\x01\x00" + _u16(len(hello)) + hello
    record_version = 0x0301 if probe.version == 0x0304 else probe.version
    return b"\x16" + _u16(record_version) + _vec16(body)


def _extensions(probe: JarmProbe, host: str, randbytes: Callable[[int], bytes],
                pick: Callable[[], int]) -> bytes:
    name = host.encode()
    alpns = reorder([bytes([len(a)]) + a for a in (RARE_ALPN if probe.rare_alpn else ALPN)],
                    probe.ext_order)
    share = (_u16(pick()) + b"\x00\x01\x00" if probe.grease else b"") + b"\x00\x1d\x00\x20" \
        + randbytes(32)
    exts = (_u16(pick()) + b"\x00\x00" if probe.grease else b"")
    exts += _ext(0x0000, _vec16(b"\x00" + _vec16(name)))  # server_name, even for an address
    exts += _ext(0x0017, b"")  # extended_master_secret
    exts += _ext(0x0001, b"\x01")  # max_fragment_length 2^9
    exts += _ext(0xFF01, b"\x00")  # renegotiation_info
    exts += _ext(0x000A, _vec16(b"".join(_u16(g) for g in GROUPS)))
    exts += _ext(0x000B, b"\x01\x00")  # ec_point_formats: uncompressed
    exts += _ext(0x0023, b"")  # session_ticket
    exts += _ext(0x0010, _vec16(b"".join(alpns)))
    exts += _ext(0x000D, _vec16(b"".join(_u16(s) for s in SIGNATURE_ALGORITHMS)))
    exts += _ext(0x0033, _vec16(share))  # key_share
    exts += _ext(0x002D, b"\x01\x01")  # psk_key_exchange_modes: psk_dhe_ke
    if probe.version == 0x0304 or probe.supported_versions == "1.2":
        versions = [b"\x03\x01", b"\x03\x02", b"\x03\x03"]
        if probe.supported_versions != "1.2":
            versions.append(b"\x03\x04")
        listed = (_u16(pick()) if probe.grease else b"") + b"".join(
            reorder(versions, probe.ext_order))
        exts += _ext(0x002B, bytes([len(listed)]) + listed)
    return _vec16(exts)


# ---- the server's answer --------------------------------------------------------------


class _Spoilt(Exception):
    """The reference's reading would fail here in a way that loses the whole answer."""


def _number(chunk: bytes) -> int:
    if not chunk:
        raise _Spoilt  # the reference parses an empty hex string
    return int.from_bytes(chunk, "big")


def _extensions_part(data: bytes, counter: int, record_length: int) -> str:
    """`alpn|type-type-...` as the reference reads it ("|" when it reads none)."""
    if counter + 47 >= len(data) or data[counter + 47] == 11:
        return "|"
    if data[counter + 50:counter + 53] == b"\x0e\xac\x0b" or data[82:85] == b"\x0f\xf0\x0b":
        return "|"
    if counter + 42 >= record_length:
        return "|"
    at = 49 + counter
    end = _number(data[counter + 47:counter + 49]) + at - 1
    types: list[bytes] = []
    values: list[bytes | None] = []
    while at < end:
        types.append(data[at:at + 2])
        size = _number(data[at + 2:at + 4])
        values.append(data[at + 4:at + 4 + size] if size else None)
        at += size + 4
    alpn = ""
    for kind, value in zip(types, values, strict=True):
        if kind == b"\x00\x10":
            if value is None:
                raise _Spoilt
            try:
                alpn = value[3:].decode()
            except UnicodeDecodeError:
                raise _Spoilt from None
            break
    return alpn + "|" + "-".join(t.hex() for t in types)


def read_server_hello(data: bytes | None) -> str:
    """One probe's answer: `cipher|version|alpn|extensions` from the first read of the
    server's reply (None: the connection failed), or "|||"."""
    if not data or data[0] != 22:  # nothing, an alert, or not a handshake
        return NONE
    if len(data) < 6 or data[5] != 2 or len(data) < 44:
        return NONE
    counter = data[43]
    cipher = data[counter + 44:counter + 46].hex()
    version = data[9:11].hex()
    try:
        return f"{cipher}|{version}|{_extensions_part(data, counter, _record_length(data))}"
    except _Spoilt:
        return NONE


def _record_length(data: bytes) -> int:
    return int.from_bytes(data[3:5], "big")


def _cipher_code(cipher: str) -> str:
    if not cipher:
        return "00"
    for i, c in enumerate(HASH_CIPHERS, start=1):
        if cipher == f"{c:04x}":
            return f"{i:02x}"
    return f"{len(HASH_CIPHERS) + 1:02x}"


def _version_code(version: str) -> str:
    if not version:
        return "0"
    digit = version[3:4]
    return "abcdef"[int(digit)] if digit.isdigit() and int(digit) < 6 else "0"


def jarm_hash(raw: str) -> str:
    """The fingerprint of the ten answers joined with ","."""
    if raw == ",".join([NONE] * len(PROBES)):
        return ZERO
    fuzzy = ""
    rest = ""
    for answer in raw.split(","):
        parts = answer.split("|")
        fuzzy += _cipher_code(parts[0]) + _version_code(parts[1])
        rest += parts[2] + parts[3]
    return fuzzy + hashlib.sha256(rest.encode()).hexdigest()[:32]


def fingerprint(replies: Sequence[bytes | Literal["timeout"] | None]) -> str:
    """The JARM of the first reads of the ten probes, in PROBES order (None: the
    connection failed; TIMEOUT: silence)."""
    if any(r == TIMEOUT for r in replies):
        return ZERO
    return jarm_hash(",".join(read_server_hello(r if isinstance(r, bytes) else None)
                              for r in replies))
