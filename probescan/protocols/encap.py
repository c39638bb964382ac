"""Link layers and encapsulations: a frame, or a tunnel's payload -> (ethertype, the bytes it
carries) (pure).

Ethernet (with any number of 802.1Q/802.1ad VLAN tags), Linux cooked capture v1 and v2, BSD
loopback (DLT_NULL / DLT_LOOP), Cisco HDLC, PPI (the per-packet information header before
another link type) and raw IP; under them, PPPoE sessions, MPLS label stacks, GRE (PPTP's
too, carrying PPP) and the UDP tunnels VXLAN and GTP-U. Anything else -> ParseError.
probescan.protocols.packet reads the IP and transport headers they lead to.
"""

from __future__ import annotations

import struct

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

VXLAN_PORT, GTP_U_PORT = 4789, 2152
UDP_TUNNELS = frozenset({VXLAN_PORT, GTP_U_PORT})


def ip_payload(data: bytes, link: int) -> tuple[int, bytes, int | None]:
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
        return ip_payload(data[hlen:], inner)
    raise ParseError(f"unsupported link type {link}")


def mpls(data: bytes) -> tuple[int, bytes]:
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
        etype, ip, _vlan = ip_payload(inner[4:], LINK_ETHERNET)
        return etype, ip
    raise ParseError("MPLS payload is not IP")


def pppoe_session(data: bytes) -> tuple[int, bytes]:
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


def udp_tunnel(sport: int, dport: int, data: bytes) -> tuple[int, bytes] | None:
    """(ethertype, inner IP packet) of a VXLAN (RFC 7348; VXLAN-GPE's next-protocol byte
    too) or GTP-U G-PDU (3GPP TS 29.281 §5) datagram, or None when it is not one."""
    if VXLAN_PORT in (sport, dport) and len(data) >= 8 + 20 and data[0] & 0x08:
        inner = data[8:]
        if data[0] & 0x04 and data[3] in (1, 2):  # VXLAN-GPE carrying IPv4 / IPv6 directly
            return (ETH_IPV4 if data[3] == 1 else ETH_IPV6), inner
        if data[0] & 0x04 and data[3] != 3:  # GPE: 3 is Ethernet, the rest is not IP
            return None
        try:
            etype, ip, _vlan = ip_payload(inner, LINK_ETHERNET)
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


def gre(data: bytes) -> tuple[int, bytes]:
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
