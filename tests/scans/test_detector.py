"""The scan detector on crafted packets: techniques, replies, thresholds, windows, grouping,
tool tells, and clients that are never scanners."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from probescan.scans import AsnDb, ScanConfig, ScanDetector
from probescan.scans.headers import read
from tests.scans.frames import (
    ACK,
    FIN,
    LINUX,
    MSS,
    PSH,
    RST,
    SYN,
    URG,
    Frame,
    at,
    port_unreachable,
    tcp,
    udp,
)
from tests.scans.mmdb import write_asn_db

SCANNER, TARGET = "127.0.61.1", "127.0.60.1"
T0 = 1_700_000_000.0


def run(frames: Iterable[Frame], config: ScanConfig | None = None,
        asn: AsnDb | None = None) -> list[dict[str, Any]]:
    records: list[Any] = []
    d = ScanDetector(config or ScanConfig(), records.append, asn)
    for ts, link, data in frames:
        d.frame(ts, link, data)
    d.finish()
    return [r.to_dict() for r in records]


def closed_syn(src: str, dst: str, port: int, **kw: Any) -> list[bytes]:
    return [tcp(src, dst, 40000, port, SYN, options=MSS, win=1024, **kw),
            tcp(dst, src, port, 40000, RST | ACK, ack=1001, win=0)]


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


def test_horizontal_threshold() -> None:
    def scan(hosts: int) -> list[dict[str, Any]]:
        return run(at(T0, [f for h in range(1, hosts + 1)
                           for f in closed_syn(SCANNER, f"127.0.60.{h}", 22)]))

    assert scan(24) == []
    [r] = scan(25)
    assert r["shape"] == "horizontal" and r["targets"]["count"] == 25
    assert r["ports"]["top"] == [{"port": 22, "transport": "tcp", "probes": 25}]


def test_vertical_threshold_and_block_shape() -> None:
    assert run(at(T0, [f for p in range(1, 15) for f in closed_syn(SCANNER, TARGET, p)])) == []
    [r] = run(at(T0, [f for h in (1, 2) for p in range(1, 16)
                      for f in closed_syn(SCANNER, f"127.0.60.{h}", p)]))
    assert r["shape"] == "block" and r["targets"]["count"] == 2


def test_window_and_slow_window() -> None:
    # one probe every 30 s: never 15 ports within 300 s, but 20 within a day
    frames = [f for p in range(1, 21) for f in closed_syn(SCANNER, TARGET, p)]
    slow = at(T0, frames, step=15.0)
    assert run(slow, ScanConfig(slow_window=0)) == []
    [r] = run(slow)
    assert r["detected_by"] == "slow-window" and r["ports"]["count"] == 20


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


def test_spread_scan_grouped_per_prefix() -> None:
    frames: list[bytes] = []
    for i, src in enumerate(("127.0.61.10", "127.0.61.11", "127.0.61.12")):
        for p in range(1 + 8 * i, 9 + 8 * i):  # 8 ports each: below 15 alone
            frames += closed_syn(src, TARGET, p)
    [r] = run(at(T0, frames))
    assert r["grouping"] == "prefix" and r["source"]["ip"] is None
    assert r["members"] == ["127.0.61.10", "127.0.61.11", "127.0.61.12"]
    assert r["ports"]["count"] == 24 and r["shape"] == "vertical"


def test_asn_grouping(tmp_path: Path) -> None:
    db = AsnDb(write_asn_db(tmp_path / "asn.mmdb", {"127.0.61.0/24": (64500, "Scan One"),
                                                    "127.0.62.0/24": (64500, "Scan One")}))
    frames = [f for i, src in enumerate(("127.0.61.7", "127.0.62.7"))
              for p in range(1 + 10 * i, 11 + 10 * i) for f in closed_syn(src, TARGET, p)]
    [r] = run(at(T0, frames), asn=db)
    assert r["grouping"] == "asn" and r["members"] == ["127.0.61.7", "127.0.62.7"]
    assert (r["source"]["asn"], r["source"]["as_name"]) == (64500, "Scan One")
    # without the database, each /24 stays below the thresholds
    assert run(at(T0, frames)) == []


def test_masscan_and_zmap_tells() -> None:
    dst = 0x7F003C00
    frames: list[bytes] = []
    for h in range(1, 31):
        seq = 12345 * h
        frames.append(tcp("127.0.61.2", f"127.0.60.{h}", 49402, 80, SYN, seq=seq, win=1024,
                          ttl=255, ipid=((dst + h) ^ 80 ^ seq) & 0xFFFF))
        frames.append(tcp("127.0.62.3", f"127.0.60.{h}", 40000 + h, 443, SYN, win=65535,
                          ttl=255, ipid=54321, seq=777 * h))
    records = {r["source"]["ip"]: r for r in run(at(T0, frames))}
    masscan, zmap = records["127.0.61.2"], records["127.0.62.3"]
    assert (masscan["tool"], masscan["tool_evidence"]["certainty"]) == ("masscan", "certain")
    assert masscan["tool_evidence"]["tells"][0] == {
        "tell": "IP ID = destination ^ port ^ sequence (16 bits)", "packets": 30, "of": 30}
    assert (zmap["tool"], zmap["tool_evidence"]["certainty"]) == ("zmap", "certain")
    assert masscan["shape"] == zmap["shape"] == "horizontal"
    assert masscan["replies"]["filtered"] == 30


def test_headers_of_other_frames() -> None:
    assert read(b"\x00" * 10, 1) is None
    h = read(tcp(SCANNER, TARGET, 1, 2, SYN, options=MSS), 1)
    assert h is not None and h[10] == 1  # OPT_MSS
    raw = tcp(SCANNER, TARGET, 1, 2, SYN, options=LINUX)[14:]
    h = read(raw, 101)  # raw IP goes the general way
    assert h is not None and h[10] == 2 and h[3:5] == (1, 2)
