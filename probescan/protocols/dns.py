"""DNS messages (RFC 1035 §4): header, questions and resource records of all sections.

Names may be compressed; a pointer must point backwards and chains are bounded, so a
crafted message cannot loop. Over UDP the message is the datagram, and running out of bytes
is NeedMore (a valid prefix); over TCP (tcp=True) a 2-byte length comes first and the
message inside it must be whole.

Record data is kept raw and, for A, AAAA, CNAME, NS, PTR and TXT, also decoded.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from probescan.protocols.errors import NeedMore, ParseError

HEADER_LEN = 12
MAX_NAME = 255  # octets in wire form (RFC 1035 §3.1)
MAX_POINTERS = 64  # compression pointers followed for one name
_OPCODES = frozenset({0, 1, 2, 4, 5, 6})  # QUERY IQUERY STATUS NOTIFY UPDATE DSO

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, OPT = 1, 2, 5, 6, 12, 15, 16, 28, 41
CLASS_IN, CLASS_CH = 1, 3
TYPE_NAMES = {
    A: "A", NS: "NS", CNAME: "CNAME", SOA: "SOA", PTR: "PTR", MX: "MX", TXT: "TXT",
    AAAA: "AAAA", 33: "SRV", OPT: "OPT", 43: "DS", 46: "RRSIG", 48: "DNSKEY", 65: "HTTPS",
    255: "ANY",
}  # fmt: skip


def type_name(rrtype: int) -> str:
    """Mnemonic of a record type ("A", "TXT", ...) or "TYPE<n>" (RFC 3597)."""
    return TYPE_NAMES.get(rrtype, f"TYPE{rrtype}")


@dataclass(frozen=True, slots=True)
class DnsQuestion:
    name: str  # dotted, no trailing dot; "." for the root
    type: int
    cls: int


@dataclass(frozen=True, slots=True)
class DnsRecord:
    name: str
    type: int
    cls: int  # for OPT: the requester's UDP payload size
    ttl: int  # for OPT: extended rcode, version and flags
    rdata: bytes
    value: str | None  # A/AAAA address, CNAME/NS/PTR name, TXT strings joined; else None
    texts: tuple[str, ...]  # TXT character-strings, one entry each


@dataclass(frozen=True, slots=True)
class DnsMessage:
    id: int
    qr: bool
    opcode: int
    aa: bool
    tc: bool
    rd: bool
    ra: bool
    ad: bool
    cd: bool
    rcode: int
    questions: tuple[DnsQuestion, ...]
    answers: tuple[DnsRecord, ...]
    authority: tuple[DnsRecord, ...]
    additional: tuple[DnsRecord, ...]
    length: int  # bytes of the input taken, TCP length prefix included


class _Reader:
    """Cursor over the message; running out raises `short` (NeedMore or ParseError)."""

    def __init__(self, msg: bytes, short: type[Exception]) -> None:
        self.msg = msg
        self.pos = 0
        self.short = short

    def need(self, at: int, n: int) -> None:
        if at + n > len(self.msg):
            raise self.short("DNS message ends inside a field")

    def take(self, n: int) -> bytes:
        self.need(self.pos, n)
        out = self.msg[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def name(self) -> str:
        name, self.pos = self.name_at(self.pos)
        return name

    def name_at(self, pos: int) -> tuple[str, int]:
        """The name at `pos` and the offset just after it where it was written."""
        labels: list[str] = []
        wire_len = 1
        after: int | None = None
        pointers = 0
        while True:
            self.need(pos, 1)
            size = self.msg[pos]
            kind = size & 0xC0
            if kind == 0xC0:
                self.need(pos, 2)
                target = int.from_bytes(self.msg[pos : pos + 2], "big") & 0x3FFF
                if target >= pos:
                    raise ParseError(f"DNS compression pointer at {pos} does not point back")
                pointers += 1
                if pointers > MAX_POINTERS:
                    raise ParseError("DNS compression pointers chain too long")
                if after is None:
                    after = pos + 2
                pos = target
                continue
            if kind:
                raise ParseError(f"DNS label type {kind:#x} not supported")
            if size == 0:
                break
            self.need(pos + 1, size)
            wire_len += size + 1
            if wire_len > MAX_NAME:
                raise ParseError("DNS name longer than 255 octets")
            labels.append(_label_text(self.msg[pos + 1 : pos + 1 + size]))
            pos += 1 + size
        return (".".join(labels) or "."), (pos + 1 if after is None else after)


def _label_text(label: bytes) -> str:
    """Printable label, with '.', '\\' and non-printable octets escaped as in zone files."""
    out = []
    for byte in label:
        if byte in (0x2E, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x21 <= byte <= 0x7E:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def _record(r: _Reader) -> DnsRecord:
    name = r.name()
    rrtype, cls, ttl, rdlength = r.uint(2), r.uint(2), r.uint(4), r.uint(2)
    start = r.pos
    rdata = r.take(rdlength)
    value: str | None = None
    texts: tuple[str, ...] = ()
    if not rdata or rrtype == OPT:  # OPT, or an UPDATE prerequisite/deletion without data
        pass
    elif rrtype == A:
        if rdlength != 4:
            raise ParseError(f"DNS A record of {rdlength} bytes")
        value = str(ipaddress.IPv4Address(rdata))
    elif rrtype == AAAA:
        if rdlength != 16:
            raise ParseError(f"DNS AAAA record of {rdlength} bytes")
        value = str(ipaddress.IPv6Address(rdata))
    elif rrtype in (CNAME, NS, PTR):
        value, end = r.name_at(start)
        if end != start + rdlength:
            raise ParseError(f"DNS {type_name(rrtype)} name does not fill its rdata")
    elif rrtype == TXT:
        texts = _character_strings(rdata)
        value = "".join(texts)
    return DnsRecord(name, rrtype, cls, ttl, rdata, value, texts)


def _character_strings(rdata: bytes) -> tuple[str, ...]:
    out: list[str] = []
    pos = 0
    while pos < len(rdata):
        end = pos + 1 + rdata[pos]
        if end > len(rdata):
            raise ParseError("DNS TXT string runs past its rdata")
        out.append(rdata[pos + 1 : end].decode("utf-8", "replace"))
        pos = end
    return tuple(out)


def _check_header(head: bytes) -> None:
    """Refuse a (partial) header that no DNS message has."""
    if len(head) >= 3:
        opcode = (head[2] >> 3) & 0xF
        if opcode not in _OPCODES:
            raise ParseError(f"not DNS: opcode {opcode}")
    if len(head) >= 4 and head[3] & 0x40:
        raise ParseError("not DNS: reserved Z flag set")
    if len(head) >= 6 and int.from_bytes(head[4:6], "big") > 255:
        raise ParseError("not DNS: implausible question count")
    if len(head) >= HEADER_LEN:
        qd, an, ns, ar = (int.from_bytes(head[i : i + 2], "big") for i in range(4, 12, 2))
        # A question takes at least 5 bytes and a record 11: more would not fit in 64 KiB.
        if qd * 5 + (an + ns + ar) * 11 > 0xFFFF - HEADER_LEN:
            raise ParseError("not DNS: more records than a message can hold")


MEMO_SIZE = 16  # parse_message's last answers remembered
_MEMO: dict[tuple[bytes, bool], DnsMessage | tuple[type[Exception], tuple[object, ...]]] = {}


def parse_message(data: bytes, tcp: bool = False) -> DnsMessage:
    """A DNS query or response; tcp=True expects the 2-byte length prefix of DNS over TCP.

    The last MEMO_SIZE answers (a message, or NeedMore / ParseError) are remembered: the
    watcher's parsers and several payload detectors (DNS, mDNS, LLMNR, DNSCrypt, Avast's
    DNS) read the same datagram of a flow in turn. The message is immutable."""
    key = (data, tcp)
    try:
        got = _MEMO.get(key)
    except TypeError:  # bytearray, memoryview: not remembered
        return _parse_message(data, tcp)
    if got is None:
        try:
            got = _parse_message(data, tcp)
        except (NeedMore, ParseError) as e:
            got = (type(e), e.args)
        if len(_MEMO) >= MEMO_SIZE:
            del _MEMO[next(iter(_MEMO))]
        _MEMO[key] = got
    if isinstance(got, tuple):
        raise got[0](*got[1])
    return got


def _parse_message(data: bytes, tcp: bool) -> DnsMessage:
    offset = 0
    short: type[Exception] = NeedMore
    msg = data
    if tcp:
        if len(data) >= 2 and int.from_bytes(data[:2], "big") < HEADER_LEN:
            raise ParseError("DNS over TCP: message shorter than a header")
        _check_header(data[2 : 2 + HEADER_LEN])
        if len(data) < 2:
            raise NeedMore
        size = int.from_bytes(data[:2], "big")
        if len(data) < 2 + size:
            raise NeedMore
        msg, offset, short = data[2 : 2 + size], 2, ParseError
    _check_header(msg[:HEADER_LEN])
    r = _Reader(msg, short)
    ident, flags = r.uint(2), r.uint(2)
    counts = [r.uint(2) for _ in range(4)]
    questions = tuple(DnsQuestion(r.name(), r.uint(2), r.uint(2)) for _ in range(counts[0]))
    sections = [tuple(_record(r) for _ in range(n)) for n in counts[1:]]
    return DnsMessage(
        id=ident,
        qr=bool(flags & 0x8000),
        opcode=(flags >> 11) & 0xF,
        aa=bool(flags & 0x0400),
        tc=bool(flags & 0x0200),
        rd=bool(flags & 0x0100),
        ra=bool(flags & 0x0080),
        ad=bool(flags & 0x0020),
        cd=bool(flags & 0x0010),
        rcode=flags & 0xF,
        questions=questions,
        answers=sections[0],
        authority=sections[1],
        additional=sections[2],
        length=offset + r.pos,
    )
