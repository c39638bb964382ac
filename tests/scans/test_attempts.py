"""Attempts on crafted packets: each technique's probes, the replies and silences that decide
them, and clients whose connections carry data, never counted as failures."""

from __future__ import annotations

import pytest

from tests.scans.detecting import SCANNER, T0, TARGET, closed_syn, run
from tests.scans.frames import (
    ACK,
    FIN,
    LINUX,
    MSS,
    PSH,
    RST,
    SYN,
    URG,
    at,
    port_unreachable,
    tcp,
    udp,
)


def test_half_open_syn_scan_vertical() -> None:
    frames = [f for p in range(1, 21) for f in closed_syn(SCANNER, TARGET, p)]
    # an open port: SYN, SYN/ACK, RST from the prober
    frames += [tcp(SCANNER, TARGET, 40000, 22, SYN, options=MSS, win=1024),
               tcp(TARGET, SCANNER, 22, 40000, SYN | ACK, seq=5, ack=1001),
               tcp(SCANNER, TARGET, 40000, 22, RST, seq=1001)]
    [r] = run(at(T0, frames))
    assert (r["type"], r["shape"], r["grouping"]) == ("syn", "vertical", "source")
    assert r["source"] == {"ip": SCANNER, "group": "127.0.61.0/24", "asn": None,
                           "as_name": None}
    assert r["members"] == [SCANNER]
    assert r["targets"]["count"] == 1 and r["ports"]["count"] == 21
    assert r["replies"]["open"] == 1 and r["replies"]["closed"] == 20
    assert r["attempts"] == 21 and r["packets"] == 22
    assert r["detected_by"] == "window"


def test_connect_scan_and_closed_kernel_syns() -> None:
    frames: list[bytes] = []
    for p in range(100, 120):
        sport = 50000 + p
        frames += [tcp(SCANNER, TARGET, sport, p, SYN, options=LINUX),
                   tcp(TARGET, SCANNER, p, sport, RST | ACK)]
    for p in (80, 443):  # open: handshake, then the prober resets without a byte
        sport = 60000 + p
        frames += [tcp(SCANNER, TARGET, sport, p, SYN, options=LINUX),
                   tcp(TARGET, SCANNER, p, sport, SYN | ACK, seq=9, ack=1001),
                   tcp(SCANNER, TARGET, sport, p, ACK, seq=1001, ack=10),
                   tcp(SCANNER, TARGET, sport, p, RST | ACK, seq=1001, ack=10)]
    [r] = run(at(T0, frames))
    assert r["type"] == "connect" and r["types"] == {"connect": 22}
    assert r["replies"]["open"] == 2 and r["replies"]["closed"] == 20
    assert r["tool"] == "unknown"


@pytest.mark.parametrize(("flags", "name"), [(FIN, "fin"), (0, "null"),
                                              (FIN | PSH | URG, "xmas"),
                                              (FIN | ACK, "maimon")])
def test_stealth_scans(flags: int, name: str) -> None:
    frames: list[bytes] = []
    for p in range(1, 31):
        frames.append(tcp(SCANNER, TARGET, 41000, p, flags, win=1024))
        if p % 3:  # closed ports reset; the others stay silent: open|filtered
            frames.append(tcp(TARGET, SCANNER, p, 41000, RST | ACK))
    [r] = run(at(T0, frames))
    assert r["type"] == name and r["types"] == {name: 30}
    assert r["replies"]["closed"] == 20 and r["replies"]["open|filtered"] == 10
    assert r["tool"] == "nmap"


def test_ack_scan() -> None:
    frames = [f for p in range(1, 21) for f in (
        tcp(SCANNER, TARGET, 41000, p, ACK, win=1024),
        tcp(TARGET, SCANNER, p, 41000, RST))]
    [r] = run(at(T0, frames))
    assert r["type"] == "ack" and r["replies"]["unfiltered"] == 20


def test_udp_scan_with_port_unreachable() -> None:
    frames: list[bytes] = []
    for p in range(1, 21):
        probe = udp(SCANNER, TARGET, 45000, p, ttl=37 + p % 20, ipid=p * 911)
        frames += [probe, port_unreachable(probe)]
    frames += [udp(SCANNER, TARGET, 45000, 53, b"\x00" * 12),  # answered: open
               udp(TARGET, SCANNER, 53, 45000, b"\x00" * 30),
               udp(SCANNER, TARGET, 45000, 99)]  # silent: open|filtered
    [r] = run(at(T0, frames))
    assert r["type"] == "udp" and r["shape"] == "vertical"
    assert r["replies"]["closed"] == 20 and r["replies"]["open"] == 1
    assert r["replies"]["open|filtered"] == 1
    assert r["ports"]["sample"][0] == "1/udp"


def test_busy_client_is_never_a_scanner() -> None:
    frames: list[bytes] = []
    for i in range(100):  # the same page, a hundred times
        sport = 30000 + i
        frames += [tcp(SCANNER, TARGET, sport, 80, SYN, options=LINUX),
                   tcp(TARGET, SCANNER, 80, sport, SYN | ACK, seq=1, ack=1001),
                   tcp(SCANNER, TARGET, sport, 80, ACK | PSH, seq=1001, ack=2,
                       payload=b"GET / HTTP/1.1\r\n\r\n"),
                   tcp(TARGET, SCANNER, 80, sport, ACK | PSH, seq=2, ack=1019,
                       payload=b"HTTP/1.1 200 OK\r\n\r\n"),
                   tcp(SCANNER, TARGET, sport, 80, FIN | ACK, seq=1019, ack=21)]
    for h in range(1, 60):  # and many servers, each answering with data
        sport = 20000 + h
        frames += [tcp(SCANNER, f"127.0.60.{h}", sport, 443, SYN, options=LINUX),
                   tcp(f"127.0.60.{h}", SCANNER, 443, sport, SYN | ACK, seq=1, ack=1001),
                   tcp(SCANNER, f"127.0.60.{h}", sport, 443, ACK, seq=1001, ack=2),
                   tcp(f"127.0.60.{h}", SCANNER, 443, sport, ACK, seq=2, ack=1001,
                       payload=b"\x16\x03\x03\x00\x01\x02")]
    assert run(at(T0, frames)) == []
