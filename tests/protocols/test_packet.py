"""Frame decoding: IPv4 and IPv6 (extension headers, fragments), TCP and UDP, the Ethernet fast
path, sizes on the wire, truncation and garbage (link layers and tunnels: test_encap.py)."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import GRE, Dot1Q, Ether
from scapy.packet import Raw

from probescan.protocols.encap import LINK_ETHERNET, LINK_RAW
from probescan.protocols.errors import ParseError
from probescan.protocols.packet import parse_frame

PAYLOAD = b"SSH-2.0-OpenSSH_9.2p1\r\n"
TCP4 = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") /
             TCP(sport=22, dport=40000, flags="PA", seq=1000) / Raw(PAYLOAD))


def test_ethernet_ipv4_tcp_yields_addresses_ports_flags_and_payload() -> None:
    p = parse_frame(TCP4, LINK_ETHERNET, 1.5)
    assert (p.src, p.dst, p.proto, p.sport, p.dport) == ("10.0.0.1", "10.0.0.2", 6, 22, 40000)
    assert p.flags == 0x18 and p.seq == 1000 and p.payload == PAYLOAD and p.ts == 1.5


def test_ipv6_extension_headers_are_walked_to_tcp() -> None:
    frame = bytes(Ether() / IPv6(src="::1", dst="::2") / IPv6ExtHdrHopByHop()
                  / IPv6ExtHdrDestOpt() / IPv6ExtHdrFragment(offset=0, m=0)
                  / TCP(sport=1234, dport=443, flags="S"))
    p = parse_frame(frame, LINK_ETHERNET)
    assert (p.src, p.dst, p.dport, p.flags) == ("::1", "::2", 443, 0x02)


def test_non_first_fragment_is_refused() -> None:
    frame = bytes(Ether() / IP(src="1.1.1.1", dst="2.2.2.2", frag=10, proto=6) / Raw(b"x" * 40))
    with pytest.raises(ParseError, match="fragment"):
        parse_frame(frame, LINK_ETHERNET)


def test_udp_length_field_bounds_the_payload_despite_ethernet_padding() -> None:
    frame = bytes(Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=1, dport=2)
                  / Raw(b"ab")) + b"\x00" * 20
    assert parse_frame(frame, LINK_ETHERNET).payload == b"ab"


@pytest.mark.parametrize("cut", range(len(TCP4)))
def test_every_truncated_prefix_parses_or_is_refused_cleanly(cut: int) -> None:
    try:
        p = parse_frame(TCP4[:cut], LINK_ETHERNET)
    except ParseError:
        return
    assert PAYLOAD.startswith(p.payload)  # a snaplen cut keeps what is there


@pytest.mark.parametrize("frame", [b"", b"\xff" * 60, bytes(Ether(type=0x0806) / Raw(b"arp"))])
def test_garbage_and_other_protocols_are_parse_errors(frame: bytes) -> None:
    with pytest.raises(ParseError):
        parse_frame(frame, LINK_ETHERNET)


def test_unknown_link_type_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="link type"):
        parse_frame(TCP4, 9999)


@pytest.mark.parametrize("l4", [TCP(sport=5, dport=6, flags="PA", seq=9,
                                    options=[("Timestamp", (1, 2))]), UDP(sport=7, dport=8)])
def test_ethernet_fast_path_agrees_with_the_general_decoder(l4: object) -> None:
    inner = IP(src="10.1.2.3", dst="10.3.2.1", ttl=57) / l4 / Raw(b"payload!")
    via_ethernet = parse_frame(bytes(Ether() / inner), LINK_ETHERNET, 2.0)
    via_raw_ip = parse_frame(bytes(inner), LINK_RAW, 2.0)
    assert via_ethernet == via_raw_ip
    assert via_ethernet.payload == b"payload!"


BULK = b"x" * 1000
SIZED = {
    "ipv4-tcp": Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2) / Raw(BULK),
    "ipv4-udp": Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) / Raw(BULK),
    "ipv6-ext-tcp": Ether() / IPv6(src="::1", dst="::2") / IPv6ExtHdrHopByHop()
    / IPv6ExtHdrDestOpt() / TCP(sport=1, dport=2) / Raw(BULK),
    "vlan-udp": Ether() / Dot1Q(vlan=3) / IP(src="1.1.1.1", dst="2.2.2.2")
    / UDP(sport=1, dport=2) / Raw(BULK),
    "gre-tcp": Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / GRE()
    / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2) / Raw(BULK),
}


@pytest.mark.parametrize("name", sorted(SIZED))
def test_size_on_the_wire_survives_a_headers_only_capture(name: str) -> None:
    frame = bytes(SIZED[name])
    whole = parse_frame(frame, LINK_ETHERNET)
    assert whole.payload == BULK and whole.size == len(BULK)
    headers_only = frame[:len(frame) - len(BULK)]  # what a short snap length keeps
    cut = parse_frame(headers_only, LINK_ETHERNET)
    assert cut.payload == b"" and cut.size == len(BULK)


def test_ethernet_padding_is_not_counted_in_the_size() -> None:
    frame = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2))
    p = parse_frame(frame + b"\x00" * 6, LINK_ETHERNET)
    assert p.payload == b"" and p.size == 0
