"""Link layers and encapsulations read through parse_frame: VLAN tags, PPPoE, SLL, loopback,
raw IP, Cisco HDLC, PPI, MPLS and the tunnels (IP-in-IP, GRE, PPTP, VXLAN, GTP-U)."""

from __future__ import annotations

import pytest
from scapy.contrib.gtp import GTP_U_Header
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE, GRE_PPTP, CookedLinux, Dot1Q, Ether, Loopback
from scapy.layers.ppi import PPI, PPI_Hdr
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from probescan.protocols.encap import (
    LINK_C_HDLC,
    LINK_ETHERNET,
    LINK_LINUX_SLL,
    LINK_NULL,
    LINK_PPI,
    LINK_RAW,
)
from probescan.protocols.errors import ParseError
from probescan.protocols.packet import Packet, parse_frame


def test_double_vlan_tag_is_skipped_and_the_outer_id_kept() -> None:
    frame = bytes(Ether() / Dot1Q(vlan=100) / Dot1Q(vlan=7) / IP(src="1.1.1.1", dst="2.2.2.2")
                  / UDP(sport=5353, dport=53) / Raw(b"q"))
    p = parse_frame(frame, LINK_ETHERNET)
    assert p.vlan == 100 and p.proto == 17 and p.payload == b"q"


PPPOE4 = bytes(Ether() / Dot1Q(vlan=35) / PPPoE(sessionid=7) / PPP(proto=0x0021)
               / IP(src="100.64.0.9", dst="192.0.2.53") / UDP(sport=40000, dport=53)
               / Raw(b"query"))


def test_pppoe_session_carries_ipv4_and_ipv6_to_the_transport() -> None:
    p = parse_frame(PPPOE4, LINK_ETHERNET)
    assert (p.src, p.dst, p.sport, p.dport, p.payload, p.vlan) == (
        "100.64.0.9", "192.0.2.53", 40000, 53, b"query", 35)
    v6 = bytes(Ether() / PPPoE(sessionid=1) / PPP(proto=0x0057) / IPv6(src="::1", dst="::2")
               / TCP(sport=1, dport=2) / Raw(b"x"))
    assert parse_frame(v6, LINK_ETHERNET).payload == b"x"


def test_pppoe_carrying_something_other_than_ip_is_a_parse_error() -> None:
    lcp = bytes(Ether() / PPPoE(sessionid=1) / PPP(proto=0xC021) / Raw(b"\x01\x01\x00\x04"))
    with pytest.raises(ParseError, match="PPP protocol 0xc021"):
        parse_frame(lcp, LINK_ETHERNET)


@pytest.mark.parametrize("cut", range(14, len(PPPOE4)))
def test_every_truncated_pppoe_prefix_parses_or_is_refused_cleanly(cut: int) -> None:
    try:
        p = parse_frame(PPPOE4[:cut], LINK_ETHERNET)
    except ParseError:
        return
    assert b"query".startswith(p.payload)


def test_linux_cooked_and_loopback_and_raw_links() -> None:
    inner = IP(src="127.0.0.1", dst="127.0.0.2") / TCP(sport=1, dport=2) / Raw(b"hi")
    for frame, link in [
        (bytes(CookedLinux(proto=0x0800) / inner), LINK_LINUX_SLL),
        (bytes(Loopback(type=2) / inner), LINK_NULL),
        (bytes(inner), LINK_RAW),
    ]:
        p = parse_frame(frame, link)
        assert isinstance(p, Packet) and p.payload == b"hi" and p.dst == "127.0.0.2"


OUTER4 = IP(src="198.51.100.1", dst="198.51.100.2")
INNER4 = IP(src="10.1.0.1", dst="10.1.0.2")
TUNNELS = {
    "4in4": Ether() / OUTER4 / INNER4,
    "6in4": Ether() / OUTER4 / IPv6(src="fd00::1", dst="fd00::2"),
    "4in6": Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / INNER4,
    "gre": Ether() / OUTER4 / GRE(key_present=1, key=9) / INNER4,
    "vxlan": Ether() / OUTER4 / UDP(sport=50000, dport=4789) / VXLAN(vni=5) / Ether() / INNER4,
    "gtp-u": Ether() / OUTER4 / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=7) / INNER4,
    "gtp-u+seq": Ether() / OUTER4 / UDP(sport=2152, dport=2152)
                 / GTP_U_Header(teid=7, S=1, seq=3) / INNER4,
    "mpls": Ether() / MPLS(label=18, s=1, ttl=254) / INNER4,
    "mpls-stack": Ether() / Dot1Q(vlan=3) / MPLS(label=16, s=0, ttl=9)
                  / MPLS(label=17, s=1, ttl=9) / INNER4,
    "mpls-pw": Ether() / MPLS(label=16, s=1, ttl=9) / Raw(b"\x00\x00\x00\x01")
               / Ether() / INNER4,
    "gre-mpls": Ether() / OUTER4 / GRE(proto=0x8847) / MPLS(label=20, s=1, ttl=9) / INNER4,
    "pptp": Ether() / OUTER4 / GRE_PPTP(call_id=3, seqnum_present=1, sequence_number=5,
                                        acknum_present=1, ack_number=4)
            / PPP(proto=0x0021) / INNER4,
    "pptp-compressed": Ether() / OUTER4 / GRE_PPTP(call_id=3, seqnum_present=1,
                                                   sequence_number=5)
                       / Raw(b"\x21") / INNER4,
}
TUNNELED = {name: bytes(outer / TCP(sport=40000, dport=443, flags="PA") / Raw(b"inner"))
            for name, outer in TUNNELS.items()}


@pytest.mark.parametrize("name", sorted(TUNNELED))
def test_tunnelled_packets_are_read_as_their_inner_packet(name: str) -> None:
    p = parse_frame(TUNNELED[name], LINK_ETHERNET)
    inner = ("fd00::1", "fd00::2") if name == "6in4" else ("10.1.0.1", "10.1.0.2")
    assert (p.src, p.dst, p.sport, p.dport, p.payload) == (*inner, 40000, 443, b"inner")


@pytest.mark.parametrize("name", sorted(TUNNELED))
def test_every_truncated_tunnel_prefix_parses_or_is_refused_cleanly(name: str) -> None:
    frame = TUNNELED[name]
    for cut in range(14, len(frame)):
        try:
            p = parse_frame(frame[:cut], LINK_ETHERNET)
        except ParseError:
            continue
        if p.dport in (4789, 2152):  # the tunnel header itself cut: the outer datagram
            assert p.src == "198.51.100.1"
            continue
        assert b"inner".startswith(p.payload)


def test_cisco_hdlc_frames_carry_ip() -> None:
    inner = bytes(INNER4 / TCP(sport=179, dport=40000, flags="PA") / Raw(b"bgp"))
    p = parse_frame(b"\x0f\x00\x08\x00" + inner, LINK_C_HDLC)
    assert (p.src, p.dst, p.sport, p.dport, p.payload) == ("10.1.0.1", "10.1.0.2", 179, 40000,
                                                          b"bgp")


def test_a_udp_datagram_on_a_tunnel_port_that_is_not_a_tunnel_stays_itself() -> None:
    frame = bytes(Ether() / OUTER4 / UDP(sport=40000, dport=4789) / Raw(b"not vxlan at all"))
    p = parse_frame(frame, LINK_ETHERNET)
    assert (p.dst, p.dport, p.payload) == ("198.51.100.2", 4789, b"not vxlan at all")


def test_ppi_header_is_skipped_to_the_link_type_it_names() -> None:
    frame = bytes(PPI(headers=[PPI_Hdr(pfh_type=8) / Raw(b"\x00" * 4)]) / Ether() / INNER4
                  / UDP(sport=30490, dport=30490) / Raw(b"someip"))
    assert frame[:4] == b"\x00\x00\x10\x00"  # version, flags, 16 bytes of header (LE)
    p = parse_frame(frame, LINK_PPI)
    assert (p.src, p.dst, p.sport, p.payload) == ("10.1.0.1", "10.1.0.2", 30490, b"someip")
    for cut in range(len(frame)):
        try:
            q = parse_frame(frame[:cut], LINK_PPI)
        except ParseError:
            continue
        assert b"someip".startswith(q.payload)
    with pytest.raises(ParseError, match="PPI"):
        parse_frame(b"\x00\x00\x08\x00\xc0\x00\x00\x00" + frame, LINK_PPI)  # PPI in PPI


def test_mpls_carrying_neither_ip_nor_a_pseudowire_is_a_parse_error() -> None:
    frame = bytes(Ether() / MPLS(label=16, s=1, ttl=9) / Raw(b"\x81" + b"\x00" * 40))
    with pytest.raises(ParseError, match="MPLS"):
        parse_frame(frame, LINK_ETHERNET)
    endless = bytes(Ether(type=0x8847)) + bytes(MPLS(label=16, s=0, ttl=9)) * 40
    with pytest.raises(ParseError, match="MPLS"):
        parse_frame(endless, LINK_ETHERNET)


def test_pptp_gre_carrying_ppp_control_is_a_parse_error() -> None:
    frame = bytes(Ether() / OUTER4 / GRE_PPTP(call_id=3) / PPP(proto=0xC021)
                  / Raw(b"\x01\x01\x00\x04"))
    with pytest.raises(ParseError, match="PPP protocol 0xc021"):
        parse_frame(frame, LINK_ETHERNET)
