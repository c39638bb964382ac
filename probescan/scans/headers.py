"""Frames -> the header fields the scan detector reads (pure, header-only, cheap).

A frame becomes one tuple `(proto, src, dst, sport, dport, flags, seq, ipid, ttl, win, opts,
plen)`, or None when it is neither TCP, UDP nor an ICMP error about one:

* addresses are integers (IPv4: 0..2**32-1; IPv6: the 128-bit value plus V6, so the two
  never collide); `address()` turns one back into text;
* TCP: flags, sequence number, IP ID (IPv4; -1 on IPv6), TTL / hop limit, window, `opts`
  (what the options look like, OPT_*) and the payload length;
* UDP: flags, seq, win and opts are 0;
* an ICMP or ICMPv6 destination-unreachable message is reported as proto ICMP with the
  addresses and ports of the datagram or segment it quotes (the prober's own view:
  src is the prober) and `flags` ICMP_CLOSED (port unreachable) or ICMP_FILTERED (any other
  unreachable code); `seq` is the quoted protocol.

The common case (Ethernet, IPv4 without options, a whole TCP/UDP header) is one struct call;
anything else takes the general path (the link layers of probescan.protocols.packet).
"""

from __future__ import annotations

import ipaddress
import struct
from functools import lru_cache

from probescan.protocols.encap import (
    ETH_IPV4,
    ETH_IPV6,
    ETH_PPPOE_SESSION,
    LINK_ETHERNET,
    ip_payload,
    pppoe_session,
)
from probescan.protocols.errors import ParseError

TCP, UDP, ICMP = 6, 17, 1
ICMP_CLOSED, ICMP_FILTERED = 1, 2
V6 = 1 << 128

# what a TCP header's options look like
OPT_NONE = 0  # no option
OPT_MSS = 1  # one option: MSS (nmap's raw SYN)
OPT_OS = 2  # 12 bytes or more with SACK-permitted or timestamps: an operating system's SYN
OPT_OTHER = 3
_NOP_NOP_TIMESTAMP = b"\x01\x01\x08\x0a"  # the options of most segments after a handshake

Header = tuple[int, int, int, int, int, int, int, int, int, int, int, int]

# Ethernet + option-less IPv4 + the first 16 bytes of TCP (or 8 of UDP / ICMP)
_FAST = struct.Struct("!12xHBxHHHBB2xIIHHIxxxxBBH")
_FAST_SHORT = struct.Struct("!12xHBxHHHBB2xIIHH")  # a UDP datagram of less than 8 bytes
_FAST_LEN = _FAST.size  # 50
FAST, FAST_LEN = _FAST, _FAST_LEN  # for the detector's own fast path (AttemptTracker.frame)
_FAST_SHORT_LEN = _FAST_SHORT.size  # 38
_ICMP_V4 = struct.Struct("!BB6xB8xB2xII")  # type, code, quoted IHL, proto, src, dst


def read(data: bytes, link: int) -> Header | None:
    """The detector's fields of one frame, or None (not TCP, UDP or an ICMP error)."""
    n = len(data)
    if link == LINK_ETHERNET and n >= _FAST_SHORT_LEN:
        if n >= _FAST_LEN:
            (etype, vihl, total, ipid, frag, ttl, proto, src, dst, sport, dport, seq, off,
             flags, win) = _FAST.unpack_from(data)
        else:
            etype, vihl, total, ipid, frag, ttl, proto, src, dst, sport, dport = (
                _FAST_SHORT.unpack_from(data))
            seq = off = flags = win = 0
        if etype == ETH_IPV4 and vihl == 0x45 and not frag & 0x1FFF:
            if proto == TCP and n >= _FAST_LEN:
                hlen = (off >> 4) * 4
                opts = OPT_NONE if hlen == 20 else _options(data, 34, hlen)
                return (TCP, src, dst, sport, dport, flags & 0x3F, seq, ipid, ttl, win, opts,
                        total - 20 - hlen)
            if proto == UDP:
                return (UDP, src, dst, sport, dport, 0, 0, ipid, ttl, 0, 0, total - 28)
            if proto == ICMP:
                return _icmp_v4(memoryview(data)[34:14 + total] if total >= 28 else b"")
            if proto != TCP:
                return None
    try:
        return _general(data, link)
    except (ParseError, struct.error, IndexError):
        return None


def _options(seg: bytes | memoryview, at: int, hlen: int) -> int:
    """OPT_* of the TCP header at `at` with header length `hlen`."""
    if hlen == 32 and seg[at + 20:at + 24] == _NOP_NOP_TIMESTAMP:
        return OPT_OS  # most segments of a connection: the walk below would say the same
    if hlen == 24 and len(seg) > at + 20 and seg[at + 20] == 2:
        return OPT_MSS
    if hlen >= 32:
        kinds = set()
        i, end = at + 20, min(at + hlen, len(seg))
        while i < end:
            kind = seg[i]
            if kind == 0:
                break
            if kind == 1:
                i += 1
                continue
            kinds.add(kind)
            if i + 1 >= end or seg[i + 1] < 2:
                break
            i += seg[i + 1]
        if 4 in kinds or 8 in kinds:
            return OPT_OS
    return OPT_OTHER if hlen > 20 else OPT_NONE


tcp_options = _options


def _icmp_v4(msg: bytes | memoryview) -> Header | None:
    """An ICMP destination unreachable (type 3) quoting a TCP or UDP header."""
    if len(msg) < 36 or msg[0] != 3:
        return None
    _type, code, vihl, proto, src, dst = _ICMP_V4.unpack_from(msg)
    at = 8 + (vihl & 0x0F) * 4
    if proto not in (TCP, UDP) or len(msg) < at + 4:
        return None
    sport, dport = struct.unpack_from("!HH", msg, at)
    state = ICMP_CLOSED if code == 3 else ICMP_FILTERED
    return (ICMP, src, dst, sport, dport, state, proto, -1, 0, 0, 0, 0)


def _general(data: bytes, link: int) -> Header | None:
    etype, ip, _vlan = ip_payload(data, link)
    if etype == ETH_PPPOE_SESSION:
        etype, ip = pppoe_session(ip)
    if etype == ETH_IPV4:
        if len(ip) < 20 or ip[0] >> 4 != 4:
            return None
        ihl = (ip[0] & 0x0F) * 4
        total, ipid, frag = struct.unpack_from("!HHH", ip, 2)
        if frag & 0x1FFF or ihl < 20:
            return None
        ttl, proto = ip[8], ip[9]
        src, dst = struct.unpack_from("!II", ip, 12)
        seg = ip[ihl:total] if ihl <= total <= len(ip) else ip[ihl:]
        if proto == ICMP:
            return _icmp_v4(seg)
    elif etype == ETH_IPV6:
        if len(ip) < 40 or ip[0] >> 4 != 6:
            return None
        plen = struct.unpack_from("!H", ip, 4)[0]
        proto, ttl, ipid = ip[6], ip[7], -1
        src = int.from_bytes(ip[8:24], "big") | V6
        dst = int.from_bytes(ip[24:40], "big") | V6
        seg = ip[40:40 + plen] if plen and 40 + plen <= len(ip) else ip[40:]
        for _ in range(8):
            if proto in (0, 43, 60) and len(seg) >= 8:
                proto, seg = seg[0], seg[(seg[1] + 1) * 8:]
            elif proto == 44 and len(seg) >= 8:
                if struct.unpack_from("!H", seg, 2)[0] & 0xFFF8:
                    return None
                proto, seg = seg[0], seg[8:]
            else:
                break
        if proto == 58:
            return _icmp_v6(seg)
    else:
        return None
    return _transport(proto, src, dst, ipid, ttl, seg)


def _transport(proto: int, src: int, dst: int, ipid: int, ttl: int, seg: bytes
               ) -> Header | None:
    if proto == TCP and len(seg) >= 20:
        sport, dport, seq, _ack, off, flags, win = struct.unpack_from("!HHIIBBH", seg)
        hlen = (off >> 4) * 4
        if hlen < 20:
            return None
        opts = OPT_NONE if hlen == 20 else _options(seg, 0, hlen)
        return (TCP, src, dst, sport, dport, flags & 0x3F, seq, ipid, ttl, win, opts,
                max(0, len(seg) - hlen))
    if proto == UDP and len(seg) >= 8:
        sport, dport, length = struct.unpack_from("!HHH", seg)
        return (UDP, src, dst, sport, dport, 0, 0, ipid, ttl, 0, 0,
                max(0, (length if 8 <= length <= len(seg) else len(seg)) - 8))
    return None


def _icmp_v6(msg: bytes) -> Header | None:
    """An ICMPv6 destination unreachable (type 1) quoting a TCP or UDP header."""
    if len(msg) < 8 + 40 + 4 or msg[0] != 1:
        return None
    inner = msg[8:]
    proto = inner[6]
    if proto not in (TCP, UDP):
        return None
    src = int.from_bytes(inner[8:24], "big") | V6
    dst = int.from_bytes(inner[24:40], "big") | V6
    sport, dport = struct.unpack_from("!HH", inner, 40)
    state = ICMP_CLOSED if msg[1] == 4 else ICMP_FILTERED
    return (ICMP, src, dst, sport, dport, state, proto, -1, 0, 0, 0, 0)


@lru_cache(maxsize=65536)
def address(value: int) -> str:
    """An address integer of `read` as text."""
    if value >= V6:
        return str(ipaddress.IPv6Address(value - V6))
    return str(ipaddress.IPv4Address(value))


def prefix(value: int, v4_bits: int, v6_bits: int) -> int:
    """The address's network of the given size, as an address integer (V6 kept)."""
    if value >= V6:
        return ((value - V6) >> (128 - v6_bits) << (128 - v6_bits)) | V6
    return value >> (32 - v4_bits) << (32 - v4_bits)


def network(value: int, v4_bits: int, v6_bits: int) -> str:
    """The network of `prefix` as text: `198.51.100.0/24`."""
    bits = v6_bits if value >= V6 else v4_bits
    return f"{address(prefix(value, v4_bits, v6_bits))}/{bits}"
