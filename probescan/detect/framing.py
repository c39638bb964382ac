"""Helpers shared by the binary-protocol detector families (no detectors here).

* `Hit`: what one side's bytes prove (facts, and which role sent them), turned into a
  `Detection` by `by_stream` / `by_datagram` (`by_transport`: the one that fits), which
  try the client side, then the server side, and set `swapped` when the bytes show the
  recorded client is the server;
* checksums the industrial protocols carry (CRC-16 variants), table-driven for speed;
* small readers: printable text, C strings, base-128 varints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from probescan.detect.base import NEED_MORE, Detection, Fact, Messages, NeedMoreType, Result

CLIENT, SERVER = "client", "server"


@dataclass(frozen=True, slots=True)
class Hit:
    """One side's bytes prove the protocol. `role`: the side that must have sent them
    (CLIENT for a request, SERVER for a reply), None when either could."""

    facts: dict[str, Fact] = field(default_factory=dict)
    role: str | None = None
    product: str | None = None
    version: str | None = None


SideResult = Hit | NeedMoreType | None
Check = Callable[[bytes], SideResult]


def _detection(service: str, hit: Hit, side: str) -> Detection:
    swapped = hit.role is not None and hit.role != side
    return Detection(service, hit.facts, hit.product, hit.version, swapped)


def by_stream(msgs: Messages, service: str, check: Check) -> Result:
    """`check` each side's byte stream (client first)."""
    waiting = False
    for side, data in ((CLIENT, msgs.client_stream), (SERVER, msgs.server_stream)):
        if not data:
            continue
        r = check(data)
        if isinstance(r, Hit):
            return _detection(service, r, side)
        waiting = waiting or r is NEED_MORE
    return NEED_MORE if waiting else None


def by_datagram(msgs: Messages, service: str, check: Check) -> Result:
    """`check` the first datagram of each side (client first)."""
    for side, msgs_ in ((CLIENT, msgs.client), (SERVER, msgs.server)):
        if msgs_ and msgs_[0]:
            r = check(msgs_[0])
            if isinstance(r, Hit):
                return _detection(service, r, side)
    return None


def by_transport(msgs: Messages, service: str, check: Check) -> Result:
    """`by_datagram` over UDP, `by_stream` over TCP."""
    if msgs.transport == "udp":
        return by_datagram(msgs, service, check)
    return by_stream(msgs, service, check)


def by_packets(msgs: Messages, service: str,
               check: Callable[[tuple[bytes, ...]], SideResult]) -> Result:
    """`check` all messages of each side together (client first)."""
    waiting = False
    for side, msgs_ in ((CLIENT, msgs.client), (SERVER, msgs.server)):
        if msgs_:
            r = check(msgs_)
            if isinstance(r, Hit):
                return _detection(service, r, side)
            waiting = waiting or r is NEED_MORE
    return NEED_MORE if waiting else None


# ---- checksums -------------------------------------------------------------------------

def _table(poly: int, reflected: bool) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        if reflected:
            crc = byte
            for _ in range(8):
                crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        else:
            crc = byte << 8
            for _ in range(8):
                crc = ((crc << 1) ^ poly) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


_DNP = _table(0xA6BC, True)  # 0x3D65 reflected
_X25 = _table(0x8408, True)  # 0x1021 reflected
_CCITT = _table(0x1021, False)


def crc16_dnp(data: bytes) -> int:
    """CRC-16/DNP (IEEE 1815): polynomial 0x3D65 reflected, init 0, complemented."""
    crc = 0
    for b in data:
        crc = (crc >> 8) ^ _DNP[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFF


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (HDLC FCS, ISO 13239): 0x1021 reflected, init and final xor 0xFFFF."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _X25[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFF


def crc16_ccitt(data: bytes, init: int = 0xFFFF) -> int:
    """CRC-16 with polynomial 0x1021, not reflected: init 0xFFFF is CRC-CCITT-FALSE
    (IEEE C37.118), init 0 is XMODEM."""
    crc = init
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CCITT[((crc >> 8) ^ b) & 0xFF]
    return crc


# ---- varints --------------------------------------------------------------------------

def varint(data: bytes, pos: int, most: int) -> tuple[int, int] | None:
    """(value, next position) of the base-128 varint at `pos`, least significant group
    first (protobuf, MQTT, Thrift compact), or None when it is cut or runs over `most`
    bytes."""
    value = 0
    for i in range(most):
        if pos + i >= len(data):
            return None
        b = data[pos + i]
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return value, pos + i + 1
    return None


# ---- text ------------------------------------------------------------------------------

_PRINTABLE = frozenset(range(0x20, 0x7F))


def printable(data: bytes, extra: bytes = b"") -> bool:
    """Every byte is printable ASCII (or one of `extra`)."""
    allowed = _PRINTABLE | frozenset(extra)
    return all(b in allowed for b in data)


def cstring(data: bytes, start: int, limit: int = 256) -> tuple[bytes, int] | None:
    """The NUL-terminated string at `start` and the offset after its NUL, or None when no
    NUL comes within `limit` bytes or the data ends first."""
    end = data.find(b"\x00", start, start + limit + 1)
    if end < 0:
        return None
    return data[start:end], end + 1
