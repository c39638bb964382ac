"""Network and transport headers from captured frames: bytes -> Packet (pure).

The link layer and what a frame may be wrapped in (VLAN tags, PPPoE, MPLS, GRE, VXLAN,
GTP-U) are probescan.protocols.encap's; here: IPv4 (options, fragments: only the first
fragment carries ports) and IPv6 (skipping hop-by-hop, routing, destination-options and
fragment headers), IP-in-IP, TCP and UDP. Anything else -> ParseError. A frame
cut short by the capture (snaplen) still yields what its headers allow; the payload is
whatever bytes are present, and `size` is the payload's length on the wire, read from the IP
and UDP length fields (so a headers-only capture still tells every packet's size). The
common frame (untagged Ethernet, IPv4 without options, TCP or UDP) takes a fast path of one
struct call.
"""

from __future__ import annotations

import socket
import struct
from functools import lru_cache
from typing import NamedTuple

from probescan.protocols.encap import (
    ETH_IPV4,
    ETH_IPV6,
    ETH_MPLS,
    ETH_PPPOE_SESSION,
    LINK_ETHERNET,
    UDP_TUNNELS,
    gre,
    ip_payload,
    mpls,
    pppoe_session,
    udp_tunnel,
)
from probescan.protocols.errors import ParseError

TCP = 6
UDP = 17

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

_IPV6_EXT = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options
_IPV6_FRAG = 44


class Packet(NamedTuple):  # a tuple: built once per packet, so it must be cheap
    ts: float
    src: str
    dst: str
    proto: int  # 6 TCP, 17 UDP
    sport: int
    dport: int
    flags: int  # TCP flags (0 for UDP)
    seq: int  # TCP sequence number (0 for UDP)
    payload: bytes
    vlan: int | None = None
    size: int = 0  # payload bytes on the wire (IP/UDP lengths): >= len(payload)


@lru_cache(maxsize=65536)
def _v4(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, raw)


@lru_cache(maxsize=65536)
def _v6(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, raw)


def _transport(proto: int, seg: bytes, wire: int) -> tuple[int, int, int, int, bytes, int]:
    """(ports, flags, sequence number, payload, payload size on the wire) of a segment whose
    length on the wire is `wire` (from the IP header; the capture may hold less)."""
    if proto == TCP:
        if len(seg) < 20:
            raise ParseError("short TCP header")
        sport, dport, seq, _ack, off_flags = struct.unpack_from("!HHIIH", seg)
        hlen = (off_flags >> 12) * 4
        if hlen < 20:
            raise ParseError("bad TCP header length")
        payload = seg[hlen:]
        return sport, dport, off_flags & 0x3F, seq, payload, max(wire - hlen, len(payload))
    if proto == UDP:
        if len(seg) < 8:
            raise ParseError("short UDP header")
        sport, dport, length = struct.unpack_from("!HHH", seg)
        end = length if 8 <= length <= len(seg) else len(seg)
        payload = seg[8:end]
        return sport, dport, 0, 0, payload, max((length or wire) - 8, len(payload))
    raise ParseError(f"IP protocol {proto} is not TCP or UDP")


_make = tuple.__new__  # Packet(...) runs a Python-level __new__; this is twice as fast

# Ethernet, an option-less IPv4 header and the first 14 bytes of TCP (the first 8 of UDP:
# its length is the top half of what would be TCP's sequence number), in one call
_FAST_V4 = struct.Struct("!12xHBxH2xHxB2x8sHHI4xH")
_PAIRS: dict[bytes, tuple[str, str]] = {}  # raw source and destination -> their text
MAX_PAIRS = 16384  # then forgotten all at once (a flow's packets come close together)


def _v4_pair(raw: bytes) -> tuple[str, str]:
    if len(_PAIRS) >= MAX_PAIRS:
        _PAIRS.clear()
    pair = _PAIRS[raw] = (_v4(raw[:4]), _v4(raw[4:]))
    return pair


def _fast_ethernet_ipv4(data: bytes, ts: float) -> Packet | None:
    """The common case (untagged Ethernet, IPv4 without options, unfragmented TCP/UDP) in a
    few struct calls; None sends everything else down the general path."""
    if len(data) < 54:
        return None
    etype, vihl, total, frag, proto, addrs, sport, dport, seq, off_flags = (
        _FAST_V4.unpack_from(data))
    if etype != ETH_IPV4 or vihl != 0x45 or frag & 0x1FFF:
        return None
    end = 14 + total if 20 <= total <= len(data) - 14 else len(data)
    if total < 20:  # no length on the wire (a segmentation offload's frame): what was captured
        total = len(data) - 14
    if proto == TCP:
        hlen = (off_flags >> 12) * 4
        if hlen < 20:
            return None
        payload = data[34 + hlen:end]
        size = total - 20 - hlen  # >= len(payload): the payload ends at the IP length or before
        src, dst = _PAIRS.get(addrs) or _v4_pair(addrs)
        return _make(Packet, (ts, src, dst, TCP, sport, dport, off_flags & 0x3F, seq,
                              payload, None, size if size > 0 else 0))
    if proto == UDP:
        if sport in UDP_TUNNELS or dport in UDP_TUNNELS:
            return None  # maybe a tunnel: the general path unwraps it
        length = seq >> 16
        uend = 34 + length if 8 <= length <= end - 34 else end
        payload = data[42:uend]
        size = (length or total - 20) - 8  # >= len(payload) but for a bad UDP length (1..7)
        src, dst = _PAIRS.get(addrs) or _v4_pair(addrs)
        return _make(Packet, (ts, src, dst, UDP, sport, dport, 0, 0, payload, None,
                              size if size >= 0 else len(payload)))
    return None


def parse_frame(data: bytes, link: int, ts: float = 0.0) -> Packet:
    if link == LINK_ETHERNET:
        fast = _fast_ethernet_ipv4(data, ts)
        if fast is not None:
            return fast
    etype, ip, vlan = ip_payload(data, link)
    if etype == ETH_PPPOE_SESSION:
        etype, ip = pppoe_session(ip)
    src, dst, proto, seg, wire = _network(etype, ip)
    sport, dport, flags, seq, payload, size = _transport(proto, seg, wire)
    for _ in range(MAX_TUNNELS):  # a UDP tunnel (VXLAN, GTP-U): the flow is the inner one
        if proto != UDP or not (sport in UDP_TUNNELS or dport in UDP_TUNNELS):
            break
        inner = udp_tunnel(sport, dport, payload)
        if inner is None:
            break
        try:
            i_src, i_dst, i_proto, i_seg, i_wire = _network(*inner)
            i_transport = _transport(i_proto, i_seg, i_wire)
        except ParseError:
            break  # not a tunnelled IP packet after all: the outer packet stands
        src, dst, proto = i_src, i_dst, i_proto
        sport, dport, flags, seq, payload, size = i_transport
    return Packet(ts, src, dst, proto, sport, dport, flags, seq, bytes(payload), vlan, size)


_IPIP, _IPV6_IN_IP, _GRE = 4, 41, 47
MAX_TUNNELS = 3  # tunnels inside tunnels unwrapped at most


def _network(etype: int, ip: bytes, depth: int = 0) -> tuple[str, str, int, bytes, int]:
    """(source, destination, transport protocol, transport segment, the segment's length on
    the wire) of an IP packet; an
    IP-in-IP (4in4, 6in4, 4in6, 6in6: RFC 2003, RFC 4213) or GRE (RFC 2784, RFC 2890) packet
    is unwrapped and its inner packet read instead, as the flow is the inner one; so is an
    MPLS label stack."""
    if etype in ETH_MPLS and depth < MAX_TUNNELS:
        etype, ip = mpls(ip)
        depth += 1
    if etype == ETH_IPV4:
        if len(ip) < 20 or ip[0] >> 4 != 4:
            raise ParseError("short or bad IPv4 header")
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        frag = struct.unpack_from("!H", ip, 6)[0] & 0x1FFF
        if ihl < 20 or len(ip) < ihl:
            raise ParseError("bad IPv4 header length")
        if frag:
            raise ParseError("non-first IPv4 fragment")
        proto = ip[9]
        src = _v4(ip[12:16])
        dst = _v4(ip[16:20])
        seg = ip[ihl:total] if ihl <= total <= len(ip) else ip[ihl:]
        wire = total - ihl if total >= ihl else len(seg)
    elif etype == ETH_IPV6:
        if len(ip) < 40 or ip[0] >> 4 != 6:
            raise ParseError("short or bad IPv6 header")
        plen = struct.unpack_from("!H", ip, 4)[0]
        proto = ip[6]
        src = _v6(ip[8:24])
        dst = _v6(ip[24:40])
        seg = ip[40:40 + plen] if plen and 40 + plen <= len(ip) else ip[40:]
        wire = plen or len(seg)
        for _ in range(8):
            if proto in _IPV6_EXT:
                if len(seg) < 8:
                    raise ParseError("short IPv6 extension header")
                skip = (seg[1] + 1) * 8
                proto, seg, wire = seg[0], seg[skip:], wire - skip
            elif proto == _IPV6_FRAG:
                if len(seg) < 8:
                    raise ParseError("short IPv6 fragment header")
                if struct.unpack_from("!H", seg, 2)[0] & 0xFFF8:
                    raise ParseError("non-first IPv6 fragment")
                proto, seg, wire = seg[0], seg[8:], wire - 8
            else:
                break
    else:
        raise ParseError(f"ethertype 0x{etype:04x} is not IP")
    if proto in (_IPIP, _IPV6_IN_IP, _GRE) and depth < MAX_TUNNELS:
        if proto == _GRE:
            etype, seg = gre(seg)
        else:
            etype = ETH_IPV4 if proto == _IPIP else ETH_IPV6
        return _network(etype, seg, depth + 1)
    return src, dst, proto, seg, wire

