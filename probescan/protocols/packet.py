"""Link, network and transport headers from captured frames: bytes -> Packet (pure).

Handles Ethernet (with any number of 802.1Q/802.1ad VLAN tags, PPPoE sessions and MPLS label
stacks), Linux cooked capture v1 and v2, BSD loopback (DLT_NULL / DLT_LOOP), Cisco HDLC, PPI
(the per-packet information header before another link type) and raw IP; IPv4 (options,
fragments: only the first fragment carries ports) and IPv6 (skipping hop-by-hop, routing,
destination-options and fragment headers); TCP and UDP. Anything else -> ParseError. A frame
cut short by the capture (snaplen) still yields what its headers allow; the payload is
whatever bytes are present, and `size` is the payload's length on the wire, read from the IP
and UDP length fields (so a headers-only capture still tells every packet's size).
"""

from __future__ import annotations

import socket
import struct
from functools import lru_cache
from typing import NamedTuple

from probescan.protocols.errors import ParseError

# pcap link types (LINKTYPE_*)
LINK_NULL = 0
LINK_ETHERNET = 1
LINK_C_HDLC = 104  # Cisco HDLC: address, control, a 2-byte ethertype
LINK_RAW = 101
LINK_LOOP = 108
LINK_LINUX_SLL = 113
LINK_PPI = 192  # Per-Packet Information: a little-endian header naming the inner link type
LINK_IPV4 = 228
LINK_IPV6 = 229
LINK_LINUX_SLL2 = 276

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = frozenset({0x8100, 0x88A8, 0x9100})
ETH_PPPOE_SESSION = 0x8864
ETH_MPLS = frozenset({0x8847, 0x8848})  # MPLS unicast, multicast (RFC 3032, RFC 5332)
ETH_PPP = 0x880B  # PPP, as GRE version 1 (PPTP) carries it
_PPP_IP = {0x0021: ETH_IPV4, 0x0057: ETH_IPV6}  # PPP protocol numbers of IPv4 and IPv6

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


def _ip_payload(data: bytes, link: int) -> tuple[int, bytes, int | None]:
    """(ethertype, network-layer bytes, vlan id) from a frame of the given link type."""
    if link == LINK_ETHERNET:
        if len(data) < 14:
            raise ParseError("short Ethernet header")
        etype = struct.unpack_from("!H", data, 12)[0]
        off, vlan = 14, None
        while etype in ETH_VLAN:
            if len(data) < off + 4:
                raise ParseError("short VLAN tag")
            tci, etype = struct.unpack_from("!HH", data, off)
            vlan = tci & 0x0FFF if vlan is None else vlan
            off += 4
        return etype, data[off:], vlan
    if link in (LINK_NULL, LINK_LOOP):
        if len(data) < 4:
            raise ParseError("short loopback header")
        fam_le = struct.unpack_from("<I", data)[0]
        fam_be = struct.unpack_from(">I", data)[0]
        fam = fam_le if fam_le < 256 else fam_be
        if fam == 2:
            return ETH_IPV4, data[4:], None
        if fam in (10, 24, 28, 30):  # AF_INET6 on Linux, BSDs, macOS
            return ETH_IPV6, data[4:], None
        raise ParseError(f"loopback family {fam}")
    if link == LINK_LINUX_SLL:
        if len(data) < 16:
            raise ParseError("short SLL header")
        return struct.unpack_from("!H", data, 14)[0], data[16:], None
    if link == LINK_LINUX_SLL2:
        if len(data) < 20:
            raise ParseError("short SLL2 header")
        return struct.unpack_from("!H", data, 0)[0], data[20:], None
    if link == LINK_C_HDLC:
        if len(data) < 4:
            raise ParseError("short Cisco HDLC header")
        return struct.unpack_from("!H", data, 2)[0], data[4:], None
    if link in (LINK_RAW, LINK_IPV4, LINK_IPV6):
        if not data:
            raise ParseError("empty raw IP frame")
        version = data[0] >> 4
        return (ETH_IPV4 if version == 4 else ETH_IPV6), data, None
    if link == LINK_PPI:  # version 0, flags, header length (LE), inner link type (LE)
        if len(data) < 8 or data[0] != 0:
            raise ParseError("short or bad PPI header")
        hlen, inner = struct.unpack_from("<HI", data, 2)
        if hlen < 8 or hlen > len(data) or inner == LINK_PPI:
            raise ParseError("bad PPI header length or link type")
        return _ip_payload(data[hlen:], inner)
    raise ParseError(f"unsupported link type {link}")


def _mpls(data: bytes) -> tuple[int, bytes]:
    """(ethertype, payload) under an MPLS label stack (RFC 3032: 4-byte entries, the last
    with the bottom-of-stack bit). The stack does not say what it carries: an IP packet is
    known by its version nibble; a first nibble 0 is a pseudowire control word (RFC 4385)
    before an Ethernet frame (RFC 4448)."""
    off = 0
    while True:
        if len(data) < off + 4:
            raise ParseError("short MPLS label stack")
        bottom = data[off + 2] & 0x01
        off += 4
        if bottom:
            break
        if off >= 4 * 16:
            raise ParseError("MPLS label stack too deep")
    inner = data[off:]
    version = inner[0] >> 4 if inner else -1
    if version == 4:
        return ETH_IPV4, inner
    if version == 6:
        return ETH_IPV6, inner
    if version == 0 and len(inner) >= 4:
        etype, ip, _vlan = _ip_payload(inner[4:], LINK_ETHERNET)
        return etype, ip
    raise ParseError("MPLS payload is not IP")


def _pppoe_session(data: bytes) -> tuple[int, bytes]:
    """A PPPoE session frame (RFC 2516): 6-byte PPPoE header, then the 2-byte PPP protocol."""
    if len(data) < 8:
        raise ParseError("short PPPoE session header")
    if data[0] != 0x11 or data[1] != 0:
        raise ParseError(f"PPPoE version/type 0x{data[0]:02x}, code 0x{data[1]:02x}: not "
                         f"session data")
    proto = struct.unpack_from("!H", data, 6)[0]
    if proto not in _PPP_IP:
        raise ParseError(f"PPP protocol 0x{proto:04x} is not IP")
    length = struct.unpack_from("!H", data, 4)[0]  # PPP protocol field + payload
    end = 6 + length if 2 <= length <= len(data) - 6 else len(data)
    return _PPP_IP[proto], data[8:end]


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
    etype, ip, vlan = _ip_payload(data, link)
    if etype == ETH_PPPOE_SESSION:
        etype, ip = _pppoe_session(ip)
    src, dst, proto, seg, wire = _network(etype, ip)
    sport, dport, flags, seq, payload, size = _transport(proto, seg, wire)
    for _ in range(MAX_TUNNELS):  # a UDP tunnel (VXLAN, GTP-U): the flow is the inner one
        if proto != UDP or not (sport in UDP_TUNNELS or dport in UDP_TUNNELS):
            break
        inner = _udp_tunnel(sport, dport, payload)
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


VXLAN_PORT, GTP_U_PORT = 4789, 2152
UDP_TUNNELS = frozenset({VXLAN_PORT, GTP_U_PORT})


def _udp_tunnel(sport: int, dport: int, data: bytes) -> tuple[int, bytes] | None:
    """(ethertype, inner IP packet) of a VXLAN (RFC 7348; VXLAN-GPE's next-protocol byte
    too) or GTP-U G-PDU (3GPP TS 29.281 §5) datagram, or None when it is not one."""
    if VXLAN_PORT in (sport, dport) and len(data) >= 8 + 20 and data[0] & 0x08:
        inner = data[8:]
        if data[0] & 0x04 and data[3] in (1, 2):  # VXLAN-GPE carrying IPv4 / IPv6 directly
            return (ETH_IPV4 if data[3] == 1 else ETH_IPV6), inner
        if data[0] & 0x04 and data[3] != 3:  # GPE: 3 is Ethernet, the rest is not IP
            return None
        try:
            etype, ip, _vlan = _ip_payload(inner, LINK_ETHERNET)
        except ParseError:
            return None
        return (etype, ip) if etype in (ETH_IPV4, ETH_IPV6) else None
    if GTP_U_PORT in (sport, dport) and len(data) >= 8 and data[0] >> 4 == 0x3 and (
            data[1] == 0xFF):  # version 1, protocol type GTP, G-PDU
        pos = 8
        if data[0] & 0x07:  # sequence number, N-PDU number, next extension header type
            if len(data) < 12:
                return None
            pos, ext = 12, data[11]
            while ext:  # extension headers: a length in 4-byte units, the next type last
                if pos >= len(data) or data[pos] == 0:
                    return None
                end = pos + 4 * data[pos]
                if end > len(data):
                    return None
                ext, pos = data[end - 1], end
        inner = data[pos:]
        version = inner[0] >> 4 if inner else 0
        if version in (4, 6):
            return (ETH_IPV4 if version == 4 else ETH_IPV6), inner
    return None


_IPIP, _IPV6_IN_IP, _GRE = 4, 41, 47
MAX_TUNNELS = 3  # tunnels inside tunnels unwrapped at most


def _network(etype: int, ip: bytes, depth: int = 0) -> tuple[str, str, int, bytes, int]:
    """(source, destination, transport protocol, transport segment, the segment's length on
    the wire) of an IP packet; an
    IP-in-IP (4in4, 6in4, 4in6, 6in6: RFC 2003, RFC 4213) or GRE (RFC 2784, RFC 2890) packet
    is unwrapped and its inner packet read instead, as the flow is the inner one; so is an
    MPLS label stack."""
    if etype in ETH_MPLS and depth < MAX_TUNNELS:
        etype, ip = _mpls(ip)
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
            etype, seg = _gre(seg)
        else:
            etype = ETH_IPV4 if proto == _IPIP else ETH_IPV6
        return _network(etype, seg, depth + 1)
    return src, dst, proto, seg, wire


def _gre(data: bytes) -> tuple[int, bytes]:
    """(ethertype, payload) of a GRE packet: version 0 (RFC 2784, RFC 2890: optional checksum,
    key, sequence) or version 1, PPTP's enhanced GRE (RFC 2637 §4.1: key always, optional
    sequence and acknowledgement) carrying a PPP frame."""
    if len(data) < 4:
        raise ParseError("short GRE header")
    flags, etype = struct.unpack_from("!HH", data)
    version = flags & 0x0007
    if version == 1:
        if etype != ETH_PPP or not flags & 0x2000:
            raise ParseError("GRE version 1 that is not PPTP")
        off = 8 + 4 * bool(flags & 0x1000) + 4 * bool(flags & 0x0080)
        if len(data) < off:
            raise ParseError("short GRE header")
        return _ppp(data[off:])
    if version or flags & 0x4000:  # version 0 without a routing field only
        raise ParseError("GRE version or routing not supported")
    off = 4 + 4 * bool(flags & 0x8000) + 4 * bool(flags & 0x2000) + 4 * bool(flags & 0x1000)
    if len(data) < off:
        raise ParseError("short GRE header")
    return etype, data[off:]


def _ppp(data: bytes) -> tuple[int, bytes]:
    """(ethertype, payload) of a PPP frame in HDLC-like framing without flags and FCS (RFC
    1662): the address and control bytes 0xff 0x03 may be left out (RFC 1661 §6.6), and the
    protocol field compressed to one byte (an odd first byte, §6.5)."""
    if data[:2] == b"\xff\x03":
        data = data[2:]
    if not data:
        raise ParseError("short PPP frame")
    if data[0] & 1:
        proto, off = data[0], 1
    elif len(data) >= 2:
        proto, off = (data[0] << 8) | data[1], 2
    else:
        raise ParseError("short PPP frame")
    if proto not in _PPP_IP:
        raise ParseError(f"PPP protocol 0x{proto:04x} is not IP")
    return _PPP_IP[proto], data[off:]
