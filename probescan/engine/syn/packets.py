"""SYN probes and their replies as bytes (pure: no sockets, no clock).

* `Cookie` - the keyed sequence number of a probe: a keyed hash (SipHash) of both addresses
  and ports, so a reply proves which probe it answers without any state (as masscan does);
  a SYN/ACK or RST acknowledges cookie + 1, an ICMP error quotes the cookie itself.
* `SynTemplate` - the probes from one source to one target: an IPv4 or IPv6 header and a
  TCP SYN with an MSS option, built once; `packet(dport, seq)` fills in the port, the
  sequence number and the TCP checksum (incrementally, RFC 1624).
* `parse_reply` - a packet from the wire (network layer first) -> `Reply`: who answered,
  on which of our ports, what it means (open, closed, filtered) and the number to check
  against the cookie; None for anything else.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Literal, NamedTuple

TCP = 6
ICMP = 1
ICMPV6 = 58
SYN, RST, ACK = 0x02, 0x04, 0x10
WINDOW = 1024
MSS = 1460
TTL = 64
TCP_LEN = 24  # 20-byte header + the MSS option

# ICMP "destination unreachable" codes that mean a filter (nmap's reading): host or network
# prohibited, communication administratively prohibited, port unreachable on a router...
ICMP_FILTERED = frozenset({1, 2, 3, 9, 10, 13})
ICMPV6_FILTERED = frozenset({1, 3, 4})  # administratively prohibited, address, port

State = Literal["open", "closed", "filtered"]


_SYN4 = struct.Struct("!20sHHIIBBHHH4s")  # IPv4 header, TCP header, MSS option
_SYN6 = struct.Struct("!40sHHIIBBHHH4s")


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


class Cookie:
    """Keyed sequence numbers: `seq(src, dst, sport, dport)`, addresses as packed bytes.

    The hash is SipHash (Python's hash of bytes, keyed by the interpreter's random secret)
    over a 16-byte random key of our own, the addresses and the ports - masscan's
    construction. Our key keeps it unpredictable even where PYTHONHASHSEED fixes the
    interpreter's secret. `prefix` + `seq_for` split the work for many ports of one host."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or os.urandom(16)

    def prefix(self, src: bytes, dst: bytes, sport: int) -> bytes:
        return self._key + src + dst + sport.to_bytes(2, "big")

    @staticmethod
    def seq_for(prefix: bytes, dport: int) -> int:
        return hash(prefix + dport.to_bytes(2, "big")) & 0xFFFFFFFF

    def seq(self, src: bytes, dst: bytes, sport: int, dport: int) -> int:
        return self.seq_for(self.prefix(src, dst, sport), dport)


class SynTemplate:
    """SYNs from `src`:`sport` to `dst` (packed 4- or 16-byte addresses)."""

    __slots__ = ("_ip", "_opts", "_pack", "_sum", "dst", "sport", "src")

    def __init__(self, src: bytes, dst: bytes, sport: int, ip_id: int = 0) -> None:
        if len(src) != len(dst) or len(src) not in (4, 16):
            raise ValueError("addresses must both be IPv4 (4 bytes) or IPv6 (16 bytes)")
        self.src, self.dst, self.sport = src, dst, sport
        if len(src) == 4:
            head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + TCP_LEN, ip_id, 0, TTL, TCP, 0,
                               src, dst)
            self._ip = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
            pseudo = src + dst + struct.pack("!BBH", 0, TCP, TCP_LEN)
            self._pack = _SYN4.pack
        else:
            self._ip = struct.pack("!IHBB16s16s", 6 << 28, TCP_LEN, TCP, TTL, src, dst)
            pseudo = src + dst + struct.pack("!IxxxB", TCP_LEN, TCP)
            self._pack = _SYN6.pack
        self._opts = struct.pack("!BBH", 2, 4, MSS)
        # Everything the checksum covers except the destination port and the sequence number.
        fixed = pseudo + struct.pack("!HHIIBBHHH", sport, 0, 0, 0, (TCP_LEN // 4) << 4, SYN,
                                     WINDOW, 0, 0) + self._opts
        self._sum = _fold(sum(struct.unpack(f"!{len(fixed) // 2}H", fixed)))

    def packet(self, dport: int, seq: int) -> bytes:
        """The whole IP packet of one SYN."""
        # four 16-bit terms: two folds bring the sum back to 16 bits (_fold, inline)
        total = self._sum + dport + (seq >> 16) + (seq & 0xFFFF)
        total = (total & 0xFFFF) + (total >> 16)
        total = (total & 0xFFFF) + (total >> 16)
        return self._pack(self._ip, self.sport, dport, seq, 0, (TCP_LEN // 4) << 4, SYN,
                          WINDOW, ~total & 0xFFFF, 0, self._opts)


def build_syn(src: str, dst: str, sport: int, dport: int, seq: int) -> bytes:
    """One SYN from text addresses (the tests' and a reader's entry point)."""
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    return SynTemplate(socket.inet_pton(family, src), socket.inet_pton(family, dst),
                       sport).packet(dport, seq)


class Reply(NamedTuple):
    """What one packet says about one probe. `target`/`ours` are packed addresses; `echo` is
    the number that must equal the probe's cookie."""

    target: bytes
    ours: bytes
    sport: int  # our port
    dport: int  # the target's port
    state: State
    echo: int


def _tcp(target: bytes, ours: bytes, seg: bytes) -> Reply | None:
    if len(seg) < 14:
        return None
    tport, oport, _seq, ack, _off, flags = struct.unpack_from("!HHIIBB", seg)
    if flags & RST:
        state: State = "closed"
    elif flags & (SYN | ACK) == SYN | ACK:
        state = "open"
    else:
        return None
    return Reply(target, ours, oport, tport, state, (ack - 1) & 0xFFFFFFFF)


def _quoted(inner: bytes, v6: bool) -> Reply | None:
    """The probe an ICMP error quotes: (our address, target, ports, our sequence number)."""
    if v6:
        if len(inner) < 48 or inner[6] != TCP:
            return None
        ours, target, seg = inner[8:24], inner[24:40], inner[40:48]
    else:
        if len(inner) < 20 or inner[9] != TCP:
            return None
        ihl = (inner[0] & 0x0F) * 4
        if len(inner) < ihl + 8:
            return None
        ours, target, seg = inner[12:16], inner[16:20], inner[ihl:ihl + 8]
    oport, tport, seq = struct.unpack_from("!HHI", seg)
    return Reply(target, ours, oport, tport, "filtered", seq)


_V4_TCP = struct.Struct("!B5xHxB2x4s4sHHIIxB")  # a 20-byte IPv4 header and TCP up to flags
ReplyTuple = tuple[bytes, bytes, int, int, State, int]


def reply_fields(pkt: bytes) -> ReplyTuple | None:
    """`parse_reply` as a plain tuple (the sweep's fast path: no object per reply)."""
    if len(pkt) >= 34 and pkt[0] == 0x45 and pkt[9] == TCP:  # the usual case, at once
        _, frag, _, src, dst, tport, oport, _, ack, flags = _V4_TCP.unpack_from(pkt)
        if frag & 0x1FFF:
            return None
        if flags & RST:
            return src, dst, oport, tport, "closed", (ack - 1) & 0xFFFFFFFF
        if flags & (SYN | ACK) == SYN | ACK:
            return src, dst, oport, tport, "open", (ack - 1) & 0xFFFFFFFF
        return None
    reply = _other(pkt)
    return None if reply is None else tuple(reply)  # type: ignore[return-value]


def parse_reply(pkt: bytes) -> Reply | None:
    """A packet (starting at its IPv4 or IPv6 header) -> the Reply it carries, if any."""
    fields = reply_fields(pkt)
    return None if fields is None else Reply(*fields)


def _other(pkt: bytes) -> Reply | None:
    """IPv4 with options or ICMP, IPv6."""
    if len(pkt) < 20:
        return None
    version = pkt[0] >> 4
    if version == 4:
        ihl = (pkt[0] & 0x0F) * 4
        if ihl < 20 or len(pkt) < ihl + 8 or struct.unpack_from("!H", pkt, 6)[0] & 0x1FFF:
            return None  # a later fragment has no header to read
        proto, src, dst, body = pkt[9], pkt[12:16], pkt[16:20], pkt[ihl:]
        if proto == TCP:
            return _tcp(src, dst, body)
        if proto == ICMP and body[0] == 3 and body[1] in ICMP_FILTERED:
            return _quoted(body[8:], False)
        return None
    if version == 6 and len(pkt) >= 48:
        proto, src, dst, body = pkt[6], pkt[8:24], pkt[24:40], pkt[40:]
        if proto == TCP:
            return _tcp(src, dst, body)
        if proto == ICMPV6 and body[0] == 1 and body[1] in ICMPV6_FILTERED:
            return _quoted(body[8:], True)
    return None
