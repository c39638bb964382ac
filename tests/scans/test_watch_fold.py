"""`probescan watch` with the scan detector: a scan's payload-less flows are folded into its
scan record; the flows of ordinary clients keep their records; `--all-flows` keeps all."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from probescan.cli.main import main
from tests.scans.frames import ACK, FIN, MSS, PSH, RST, SYN, at, tcp, udp, write_pcap

T0 = 1_700_000_000.0
SCANNER, CLIENT, TARGET = "127.0.61.1", "127.0.60.9", "127.0.60.1"


def capture(tmp_path: Path) -> Path:
    frames = []
    for p in range(1, 41):  # a SYN scan, half of it answered by resets
        frames.append(tcp(SCANNER, TARGET, 40000, p, SYN, win=1024, options=MSS))
        if p % 2:
            frames.append(tcp(TARGET, SCANNER, p, 40000, RST | ACK))
    for i in range(10):  # a client fetching a page ten times
        sport = 30000 + i
        frames += [tcp(CLIENT, TARGET, sport, 80, SYN),
                   tcp(TARGET, CLIENT, 80, sport, SYN | ACK, seq=1, ack=1001),
                   tcp(CLIENT, TARGET, sport, 80, ACK | PSH, seq=1001, ack=2,
                       payload=b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"),
                   tcp(TARGET, CLIENT, 80, sport, ACK | PSH, seq=2, ack=1028,
                       payload=b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
                   tcp(CLIENT, TARGET, sport, 80, FIN | ACK, seq=1028, ack=40),
                   tcp(TARGET, CLIENT, 80, sport, FIN | ACK, seq=40, ack=1029)]
    frames.append(udp(CLIENT, TARGET, 5353, 9999, b"hello"))  # one unanswered datagram
    return write_pcap(tmp_path / "mixed.pcap", at(T0, frames))


def watch(tmp_path: Path, *extra: str) -> list[dict[str, Any]]:
    out = tmp_path / "w.jsonl"
    assert main(["watch", "-r", str(capture(tmp_path)), "--no-probe", "-q", "--workers", "0",
                 "-o", str(out), *extra]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_scan_flows_are_folded(tmp_path: Path) -> None:
    records = watch(tmp_path)
    kinds = Counter(r["kind"] for r in records)
    assert kinds == {"flow": 11, "scan": 1}
    [scan] = [r for r in records if r["kind"] == "scan"]
    assert (scan["type"], scan["shape"], scan["tool"]) == ("syn", "vertical", "nmap")
    assert scan["attempts"] == 40 and scan["replies"]["closed"] == 20
    assert scan["replies"]["filtered"] == 20
    flows = [r for r in records if r["kind"] == "flow"]
    assert {f["client"]["ip"] for f in flows} == {CLIENT}
    assert sum(f["service"] == "http" for f in flows) == 10


def test_all_flows_keeps_them(tmp_path: Path) -> None:
    records = watch(tmp_path, "--all-flows")
    kinds = Counter(r["kind"] for r in records)
    assert kinds == {"flow": 51, "scan": 1}


def test_a_held_flow_comes_back_after_the_hold() -> None:
    from probescan.scans import ScanConfig, ScanDetector
    from probescan.scans.fold import ScanFold
    from tests.scans.frames import LINUX

    released: list[str] = []
    d = ScanDetector(ScanConfig(), lambda r: None)
    fold = ScanFold(d, released.append)
    for ts, link, data in at(T0, [tcp(CLIENT, TARGET, 5000, 81, SYN, options=LINUX),
                                  tcp(TARGET, CLIENT, 81, 5000, RST | ACK)]):
        d.frame(ts, link, data)
    assert d.scanning(CLIENT) is None  # one failure: maybe a scanner
    assert fold.offer(CLIENT, "refused", T0, True)  # held
    assert not fold.offer(CLIENT, "with data", T0, False)
    fold.tick(T0 + 6)
    assert released == []
    fold.tick(T0 + 12, live=True)  # live: 5 s at most
    assert released == ["refused"]
    assert fold.offer(CLIENT, "again", T0 + 20, True)
    fold.tick(T0 + 81)
    assert released == ["refused", "again"]
