"""The capture filters (probescan/watch/filters.py): ICMP and ICMPv6 errors about a watched
flow pass a `--bpf` written for the flows, live and on a file; other ICMP does not."""

from __future__ import annotations

import ipaddress
import json
import struct
from pathlib import Path

import pytest

from probescan.cli.main import main
from probescan.protocols.encap import LINK_ETHERNET, LINK_LINUX_SLL, LINK_RAW
from probescan.watch.filters import file_keep, kernel_expression, live_keep, quoted
from tests.scans.frames import at, port_unreachable, tcp, udp, write_pcap

pytest.importorskip("scapy")

SCANNER, TARGET, OTHER = "127.0.81.1", "127.0.61.5", "127.0.81.9"
PROBES = "udp and src host 127.0.81.1"  # takes the probes, not the errors about them


def v6_unreachable(src: str, dst: str, sport: int, dport: int) -> bytes:
    """An Ethernet frame: the ICMPv6 port unreachable `dst` sends about a UDP datagram
    `src` -> `dst`."""
    s, d = ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed
    probe = struct.pack("!IHBB16s16s", 6 << 28, 8, 17, 64, s, d) + struct.pack(
        "!HHHH", sport, dport, 8, 0)
    body = struct.pack("!BBHI", 1, 4, 0, 0) + probe
    head = struct.pack("!IHBB16s16s", 6 << 28, len(body), 58, 64, d, s)
    return b"\x00" * 12 + b"\x86\xdd" + head + body


def echo_request(src: str, dst: str) -> bytes:
    body = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"ping"
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, 64, 1, 0,
                       ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return b"\x00" * 12 + b"\x08\x00" + head + body


def vlan(frame: bytes, vid: int = 7) -> bytes:
    return frame[:12] + struct.pack("!HH", 0x8100, vid) + frame[12:]


def test_the_kernel_expression_compiles() -> None:
    from scapy.arch.common import compile_filter

    for user in ("", PROBES, "vlan and udp", "port 53 or port 123"):
        compile_filter(kernel_expression(user), linktype=LINK_ETHERNET)


def test_quoted_packets() -> None:
    probe = udp(SCANNER, TARGET, 40000, 53)
    error = port_unreachable(probe)
    assert quoted(LINK_ETHERNET, error) == probe[14:14 + 28]
    assert quoted(LINK_ETHERNET, vlan(error)) == probe[14:14 + 28]
    assert quoted(LINK_RAW, error[14:]) == probe[14:14 + 28]
    sll = b"\x00" * 14 + b"\x08\x00" + error[14:]
    assert quoted(LINK_LINUX_SLL, sll) == probe[14:14 + 28]
    inner = quoted(LINK_ETHERNET, v6_unreachable("fd00::1", "fd00::2", 40000, 53))
    assert inner is not None and inner[6] == 17 and len(inner) == 48
    for not_an_error in (probe, echo_request(SCANNER, TARGET), error[:40], b"", b"\x00" * 13,
                         tcp(SCANNER, TARGET, 1, 2, 2)):
        assert quoted(LINK_ETHERNET, not_an_error) is None
    assert quoted(999, error) is None


def test_errors_about_a_watched_flow_pass() -> None:
    about_watched = port_unreachable(udp(SCANNER, TARGET, 40000, 53))
    about_other = port_unreachable(udp(OTHER, TARGET, 40000, 53))
    v6 = v6_unreachable("fd00::2", "fd00::1", 40000, 53)
    live, offline = live_keep(PROBES), file_keep(PROBES)
    assert live is not None
    for keep in (live, offline):
        assert keep(LINK_ETHERNET, about_watched)
        assert keep(LINK_ETHERNET, vlan(about_watched))
        assert not keep(LINK_ETHERNET, about_other)
        assert not keep(LINK_ETHERNET, v6)
    # what is not an ICMP error passed the user's expression in the kernel already
    assert live(LINK_ETHERNET, udp(OTHER, TARGET, 40000, 53))
    assert not offline(LINK_ETHERNET, udp(OTHER, TARGET, 40000, 53))
    assert not offline(LINK_ETHERNET, echo_request(SCANNER, TARGET))
    assert file_keep("udp and src host fd00::2")(LINK_ETHERNET, v6)
    assert live_keep("") is None


@pytest.mark.parametrize("user", ["icmp", "ether host 02:00:00:00:00:01"])
def test_an_expression_that_cannot_read_a_quoted_packet(user: str) -> None:
    """`icmp` takes no TCP or UDP packet, `ether host` cannot be asked of raw IP: the
    quoted test then matches nothing, and the frame test decides alone."""
    error = port_unreachable(udp(SCANNER, TARGET, 40000, 53))
    assert file_keep(user)(LINK_ETHERNET, error) == (user == "icmp")


def test_watch_r_with_a_bpf_counts_the_errors(tmp_path: Path) -> None:
    """`watch -r --bpf` filters a file as a live capture is: the port unreachables quoting
    the probes make the ports closed."""
    frames = []
    for port in range(1, 31):
        probe = udp(SCANNER, TARGET, 40000, port)
        frames += [probe, port_unreachable(probe)]
    pcap = write_pcap(tmp_path / "udp.pcap", at(1_700_000_000.0, frames))
    out = tmp_path / "w.jsonl"
    assert main(["watch", "-r", str(pcap), "--no-probe", "-q", "--workers", "0",
                 "--bpf", PROBES, "-o", str(out)]) == 0
    [scan] = [r for r in map(json.loads, out.read_text().splitlines()) if r["kind"] == "scan"]
    assert scan["type"] == "udp" and scan["replies"]["closed"] == 30
