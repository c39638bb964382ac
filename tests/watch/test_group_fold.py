"""A scanning source's unanswered datagrams are folded into its scan record, but not those
it sends to a multicast or broadcast address (SSDP, NetBIOS name queries): no attempt at one
host, they keep their flow records."""

from __future__ import annotations

import json
import struct
from collections import Counter
from pathlib import Path

import pytest

from probescan.cli.main import main
from probescan.watch.watcher import to_group
from tests.scans.frames import at, udp, write_pcap

T0 = 1_700_000_000.0
HOST, TARGET, BROADCAST = "127.0.130.5", "127.0.130.1", "127.0.130.255"

# UPnP Device Architecture 2.0 §1.3.2: a multicast M-SEARCH
M_SEARCH = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
            b'MAN: "ssdp:discover"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n')


def nb_name_query(name: str) -> bytes:
    """RFC 1002 §4.2.12: a broadcast NAME QUERY REQUEST (opcode 0, RD and B set) for the
    first-level encoded (§4.1) 16-byte name, type NB, class IN."""
    raw = name.upper().ljust(15).encode() + b"\x00"
    encoded = bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 0x0F)))
    return (struct.pack("!HHHHHH", 0x1234, 0x0110, 1, 0, 0, 0) + b"\x20" + encoded + b"\x00"
            + struct.pack("!HH", 0x0020, 0x0001))


def capture(tmp_path: Path) -> Path:
    frames = [udp(HOST, TARGET, 40000, p, b"") for p in range(1000, 1040)]  # nobody answers
    frames.append(udp(HOST, "239.255.255.250", 50000, 1900, M_SEARCH))
    frames.append(udp(HOST, BROADCAST, 137, 137, nb_name_query("workgroup")))
    frames.append(udp(HOST, TARGET, 40001, 5000, b"unanswered"))  # unicast: folded
    return write_pcap(tmp_path / "udp-scan.pcap", at(T0, frames))


def test_datagrams_to_a_group_keep_their_records_when_the_sender_scans(tmp_path: Path) -> None:
    out = tmp_path / "w.jsonl"
    assert main(["watch", "-r", str(capture(tmp_path)), "--no-probe", "-q", "--workers", "0",
                 "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert Counter(r["kind"] for r in records) == {"flow": 2, "scan": 1}
    flows = {r["server"]["ip"]: r["service"] for r in records if r["kind"] == "flow"}
    assert flows == {"239.255.255.250": "ssdp", BROADCAST: "netbios-ns"}


@pytest.mark.parametrize(("ip", "group"), [
    ("239.255.255.250", True), ("224.0.0.251", True), ("255.255.255.255", True),
    ("10.0.2.255", True), ("ff02::fb", True), ("FF05::1:3", True),
    ("10.0.2.15", False), ("223.255.255.1", False), ("240.0.0.1", False),
    ("2001:db8::ff", False), ("fe80::1", False),
])
def test_group_addresses(ip: str, group: bool) -> None:
    assert to_group(ip) is group
