"""NetBIOS over TCP/IP (RFC 1001, RFC 1002): name, datagram and session services.

Names travel "first-level encoded" (RFC 1001 §14.1): the 16-byte NetBIOS name (15 characters
padded with spaces, then a suffix byte) becomes 32 letters 'A'-'P', one per half-byte, written
as a DNS label of length 32 followed by the scope's labels and a zero byte.

* Name service (UDP 137, RFC 1002 §4.2): a DNS-like header (transaction id, flags with an
  opcode of 0 query, 5 registration, 6 release, 7 WACK, 8/9 refresh, four counts), questions
  (encoded name, type NB 0x20 or NBSTAT 0x21, class IN) and resource records.
* Datagram service (UDP 138, §4.4): message type 0x10-0x16, flags, datagram id, source address
  and port; direct/broadcast datagrams then give a length that covers the source and
  destination names and the user data.
* Session service (TCP 139, §4.3): a 4-byte header (type, flags, 17-bit length); a session
  request carries the called and the calling name.
"""

from __future__ import annotations

from dataclasses import dataclass

from probescan.protocols.errors import NeedMore, ParseError

NS_OPCODES = frozenset({0, 5, 6, 7, 8, 9})
NS_TYPES = {0x0001: "A", 0x0002: "NS", 0x000A: "NULL", 0x0020: "NB", 0x0021: "NBSTAT"}
DGM_TYPES = {0x10: "DIRECT_UNIQUE", 0x11: "DIRECT_GROUP", 0x12: "BROADCAST", 0x13: "ERROR",
             0x14: "QUERY_REQUEST", 0x15: "POSITIVE_QUERY_RESPONSE",
             0x16: "NEGATIVE_QUERY_RESPONSE"}
DGM_ERRORS = frozenset({0x82, 0x83, 0x84})
SSN_TYPES = {0x00: "SESSION_MESSAGE", 0x81: "SESSION_REQUEST", 0x82: "POSITIVE_RESPONSE",
             0x83: "NEGATIVE_RESPONSE", 0x84: "RETARGET_RESPONSE", 0x85: "KEEP_ALIVE"}
SSN_ERRORS = frozenset({0x80, 0x81, 0x82, 0x83, 0x8F})
ENCODED_LEN = 32
MAX_NAME = 255


@dataclass(frozen=True, slots=True)
class NetbiosName:
    name: str  # the 15 characters, trailing spaces removed ("*" for the wildcard)
    suffix: int  # the 16th byte: 0x00 workstation, 0x20 file server, 0x1d master browser...
    scope: str  # dotted scope id, "" when none

    def __str__(self) -> str:
        return f"{self.name}<{self.suffix:02x}>"


def decode_name(data: bytes, pos: int) -> tuple[NetbiosName, int]:
    """The encoded name at `pos` and the offset after it (no compression pointers)."""
    if pos >= len(data):
        raise NeedMore("NetBIOS name missing")
    if data[pos] != ENCODED_LEN:
        raise ParseError("NetBIOS name is not a 32-letter encoded label")
    raw = data[pos + 1 : pos + 1 + ENCODED_LEN]
    if any(not 0x41 <= b <= 0x50 for b in raw):
        raise ParseError("NetBIOS encoded name has letters outside A-P")
    if len(raw) < ENCODED_LEN:
        raise NeedMore("NetBIOS name incomplete")
    plain = bytes(((raw[i] - 0x41) << 4) | (raw[i + 1] - 0x41) for i in range(0, 32, 2))
    pos += 1 + ENCODED_LEN
    labels: list[str] = []
    total = 1 + ENCODED_LEN
    while True:
        if pos >= len(data):
            raise NeedMore("NetBIOS scope incomplete")
        size = data[pos]
        if size == 0:
            break
        if size > 63:
            raise ParseError("NetBIOS scope label too long")
        total += size + 1
        if total > MAX_NAME or pos + 1 + size > len(data):
            raise (ParseError if total > MAX_NAME else NeedMore)("NetBIOS scope too long")
        labels.append(data[pos + 1 : pos + 1 + size].decode("ascii", "replace"))
        pos += 1 + size
    text = plain[:15]
    if text[:1] == b"*" and not any(text[1:]):
        name = "*"
    else:  # any byte may stand in a name (__MSBROWSE__ is wrapped in 0x01 0x02)
        name = "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in text).rstrip(" ")
    return NetbiosName(name, plain[15], ".".join(labels)), pos + 1


def _ns_name(data: bytes, pos: int) -> tuple[NetbiosName | None, int]:
    """An encoded name or a compression pointer back to one (records only)."""
    if pos < len(data) and data[pos] & 0xC0 == 0xC0:
        if pos + 2 > len(data):
            raise NeedMore("NetBIOS name pointer incomplete")
        target = int.from_bytes(data[pos : pos + 2], "big") & 0x3FFF
        if target >= pos:
            raise ParseError("NetBIOS name pointer does not point back")
        return decode_name(data, target)[0], pos + 2
    return decode_name(data, pos)


@dataclass(frozen=True, slots=True)
class NsMessage:
    id: int
    response: bool
    opcode: int
    broadcast: bool
    rcode: int
    questions: tuple[tuple[NetbiosName, int], ...]  # (name, type)
    records: tuple[tuple[NetbiosName | None, int], ...]  # (name, type), all three sections


def parse_ns(data: bytes) -> NsMessage:
    """A name service packet (the whole UDP datagram)."""
    if len(data) >= 3 and (data[2] >> 3) & 0xF not in NS_OPCODES:
        raise ParseError("not NBNS: opcode")
    if len(data) >= 4 and data[3] & 0x60:
        raise ParseError("not NBNS: reserved flag bits set")
    if len(data) < 12:
        raise NeedMore("NBNS header incomplete")
    qd, an, ns, ar = (int.from_bytes(data[i : i + 2], "big") for i in range(4, 12, 2))
    if qd > 1 or an > 1 or ns > 1 or ar > 1 or not qd + an:
        raise ParseError("not NBNS: section counts")  # RFC 1002 packets carry 0 or 1 each
    pos = 12
    questions: list[tuple[NetbiosName, int]] = []
    for _ in range(qd):
        name, pos = decode_name(data, pos)
        if pos + 4 > len(data):
            raise NeedMore("NBNS question incomplete")
        qtype, qclass = int.from_bytes(data[pos : pos + 2], "big"), data[pos + 2 : pos + 4]
        if qtype not in (0x20, 0x21) or qclass != b"\x00\x01":
            raise ParseError("not NBNS: question type or class")
        questions.append((name, qtype))
        pos += 4
    records: list[tuple[NetbiosName | None, int]] = []
    for _ in range(an + ns + ar):
        rname, pos = _ns_name(data, pos)
        if pos + 10 > len(data):
            raise NeedMore("NBNS record incomplete")
        rtype = int.from_bytes(data[pos : pos + 2], "big")
        if rtype not in NS_TYPES or data[pos + 2 : pos + 4] != b"\x00\x01":
            raise ParseError("not NBNS: record type or class")
        rdlength = int.from_bytes(data[pos + 8 : pos + 10], "big")
        pos += 10 + rdlength
        if pos > len(data):
            raise NeedMore("NBNS record data incomplete")
        records.append((rname, rtype))
    return NsMessage(
        id=int.from_bytes(data[:2], "big"),
        response=bool(data[2] & 0x80),
        opcode=(data[2] >> 3) & 0xF,
        broadcast=bool(data[3] & 0x10),
        rcode=data[3] & 0xF,
        questions=tuple(questions),
        records=tuple(records),
    )


@dataclass(frozen=True, slots=True)
class DgmMessage:
    type: int
    source_ip: str
    source_port: int
    source: NetbiosName | None
    destination: NetbiosName | None

    @property
    def type_name(self) -> str:
        return DGM_TYPES[self.type]


def parse_dgm(data: bytes) -> DgmMessage:
    """A datagram service packet (the whole UDP datagram)."""
    if not data:
        raise NeedMore("empty")
    if data[0] not in DGM_TYPES:
        raise ParseError("not NBDS: message type")
    if len(data) >= 2 and data[1] & 0xF0:
        raise ParseError("not NBDS: reserved flag bits set")
    if len(data) < 10:
        raise NeedMore("NBDS header incomplete")
    ip = ".".join(str(b) for b in data[4:8])
    port = int.from_bytes(data[8:10], "big")
    source: NetbiosName | None = None
    dest: NetbiosName | None = None
    kind = data[0]
    if kind == 0x13:
        if len(data) < 11:
            raise NeedMore("NBDS error code missing")
        if data[10] not in DGM_ERRORS or len(data) != 11:
            raise ParseError("not NBDS: error code")
    elif kind >= 0x14:
        dest, end = decode_name(data, 10)
        if end != len(data):
            raise ParseError("not NBDS: bytes after the query's name")
    else:
        if len(data) < 14:
            raise NeedMore("NBDS datagram header incomplete")
        dgm_length = int.from_bytes(data[10:12], "big")
        if dgm_length < 2 * (2 + ENCODED_LEN):
            raise ParseError("not NBDS: datagram length shorter than two names")
        source, pos = decode_name(data, 14)
        dest, pos = decode_name(data, pos)
        if len(data) - 14 < dgm_length:
            raise NeedMore("NBDS datagram shorter than its length")
        if len(data) - 14 > dgm_length:
            raise ParseError("not NBDS: datagram longer than its length")
    return DgmMessage(kind, ip, port, source, dest)


@dataclass(frozen=True, slots=True)
class SsnPacket:
    type: int
    length: int  # of the trailer
    called: NetbiosName | None  # session request only
    calling: NetbiosName | None
    error: int | None  # negative response only

    @property
    def type_name(self) -> str:
        return SSN_TYPES[self.type]


def parse_ssn(data: bytes) -> SsnPacket:
    """A session service packet's header, and a request's names or a refusal's code."""
    if not data:
        raise NeedMore("empty")
    kind = data[0]
    if kind not in SSN_TYPES:
        raise ParseError("not NBSS: packet type")
    if len(data) >= 2 and data[1] & 0xFE:
        raise ParseError("not NBSS: reserved flag bits set")
    if len(data) < 4:
        raise NeedMore("NBSS header incomplete")
    length = ((data[1] & 1) << 16) | int.from_bytes(data[2:4], "big")
    fixed = {0x82: 0, 0x83: 1, 0x84: 6, 0x85: 0}.get(kind)
    if fixed is not None and length != fixed:
        raise ParseError("not NBSS: trailer length")
    called = calling = None
    error: int | None = None
    if kind == 0x81:
        called, pos = decode_name(data, 4)
        calling, pos = decode_name(data, pos)
        if pos - 4 != length:
            raise ParseError("not NBSS: session request length")
    elif kind == 0x83:
        if len(data) < 5:
            raise NeedMore("NBSS error code missing")
        if data[4] not in SSN_ERRORS:
            raise ParseError("not NBSS: error code")
        error = data[4]
    return SsnPacket(kind, length, called, calling, error)
