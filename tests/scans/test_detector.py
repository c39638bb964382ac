"""The scan detector on crafted packets: thresholds, windows, grouping and tool tells (the
attempts themselves: test_attempts.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from probescan.scans import AsnDb, ScanConfig
from probescan.scans.headers import read
from tests.scans.detecting import SCANNER, T0, TARGET, closed_syn, run
from tests.scans.frames import LINUX, MSS, SYN, at, tcp
from tests.scans.mmdb import write_asn_db


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
