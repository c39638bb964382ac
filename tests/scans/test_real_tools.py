"""Captures of the real tools (nmap -sS -sT -sF -sN -sX -sA -sU, masscan, zmap, curl) on this
test block, read by the scan detector and by `probescan watch`: every record's type, shape,
tool, grouping and counts; the ordinary client never flagged. Needs root (CI runs as root)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from probescan.cli.main import main
from probescan.scans import ScanConfig
from tests.scans.real import (
    MASSCAN_TIMEOUT,
    TARGET,
    capturing,
    detect,
    listener,
    masscan,
    need,
    nmap,
    run,
    web_server,
    zmap,
)

OPEN = 8081  # a listening port on TARGET during the nmap scans
PORTS = f"1-40,{OPEN}"


@pytest.mark.parametrize(("flag", "kind"), [("-sS", "syn"), ("-sT", "connect"),
                                             ("-sF", "fin"), ("-sN", "null"),
                                             ("-sX", "xmas"), ("-sA", "ack")])
def test_nmap_tcp_techniques(tmp_path: Path, flag: str, kind: str) -> None:
    need("nmap")
    with listener(TARGET, OPEN), capturing(tmp_path / "nmap.pcap") as pcap:
        run(nmap(flag, "-p", PORTS))
    [r] = detect(pcap)
    assert (r["type"], r["shape"], r["grouping"]) == (kind, "vertical", "source")
    assert r["source"]["ip"] == "127.0.61.1" and r["members"] == ["127.0.61.1"]
    assert r["targets"]["count"] == 1 and r["ports"]["count"] == 41
    replies = r["replies"]
    if kind in ("syn", "connect"):
        assert replies["open"] == 1 and replies["closed"] == 40
    elif kind == "ack":
        assert replies["unfiltered"] == 41
    else:
        assert replies["closed"] == 40 and replies["open|filtered"] >= 1
    assert r["tool"] == ("unknown" if kind == "connect" else "nmap")
    if kind == "syn":
        assert r["tool_evidence"]["certainty"] == "strong"


def test_nmap_udp(tmp_path: Path) -> None:
    need("nmap")
    with capturing(tmp_path / "udp.pcap") as pcap:
        run(nmap("-sU", "-p", "1-30"))
    [r] = detect(pcap)
    assert (r["type"], r["shape"], r["tool"]) == ("udp", "vertical", "nmap")
    assert r["ports"]["count"] == 30 and r["ports"]["sample"][0] == "1/udp"
    assert r["replies"]["closed"] >= 25


def test_masscan_horizontal(tmp_path: Path) -> None:
    need("masscan")
    with capturing(tmp_path / "masscan.pcap") as pcap:
        run(masscan("80,443", "127.0.60.0/26", "127.0.61.2"), MASSCAN_TIMEOUT)
    [r] = detect(pcap)
    assert (r["type"], r["shape"], r["grouping"]) == ("syn", "horizontal", "source")
    assert (r["tool"], r["tool_evidence"]["certainty"]) == ("masscan", "certain")
    assert r["targets"]["count"] == 64 and r["ports"]["count"] == 2
    assert r["attempts"] == 128 and r["replies"]["filtered"] == 128  # lo drops its frames


def test_masscan_spread_over_a_prefix(tmp_path: Path) -> None:
    need("masscan")
    with capturing(tmp_path / "spread.pcap") as pcap:
        run(masscan("80,443", "127.0.60.0/26", "127.0.61.20-127.0.61.23"), MASSCAN_TIMEOUT)
    [r] = detect(pcap)
    assert r["grouping"] == "prefix" and r["source"]["ip"] is None
    assert r["source"]["group"] == "127.0.61.0/24"
    assert r["members"] == [f"127.0.61.{n}" for n in range(20, 24)]
    assert (r["tool"], r["shape"], r["attempts"]) == ("masscan", "horizontal", 128)


def test_nmap_spread_below_each_threshold(tmp_path: Path) -> None:
    """Three sources, 8 ports each: none is a scanner alone, their /24 is."""
    need("nmap")
    with capturing(tmp_path / "spread.pcap") as pcap:
        for i, source in enumerate(("127.0.61.10", "127.0.61.11", "127.0.61.12")):
            run(nmap("-sS", "-p", f"{1 + 8 * i}-{8 + 8 * i}", source=source))
    [r] = detect(pcap)
    assert (r["grouping"], r["shape"], r["tool"]) == ("prefix", "vertical", "nmap")
    assert r["members"] == ["127.0.61.10", "127.0.61.11", "127.0.61.12"]
    assert r["ports"]["count"] == 24 and r["replies"]["closed"] == 24


def test_zmap(tmp_path: Path) -> None:
    need("zmap")
    allow, block = tmp_path / "allow.txt", tmp_path / "block.txt"
    allow.write_text("127.0.60.0/26\n")
    block.write_text("")
    with capturing(tmp_path / "zmap.pcap") as pcap:
        run(zmap(443, allow, block))
    [r] = detect(pcap)
    assert (r["type"], r["shape"], r["grouping"]) == ("syn", "horizontal", "source")
    assert (r["tool"], r["tool_evidence"]["certainty"]) == ("zmap", "certain")
    assert r["targets"]["count"] == 64 and r["ports"]["top"] == [
        {"port": 443, "transport": "tcp", "probes": 64}]


def test_slow_scan(tmp_path: Path) -> None:
    """One probe a second: too slow for a 3-second window, caught by the slow window."""
    need("nmap")
    with capturing(tmp_path / "slow.pcap") as pcap:
        run(nmap("-sS", "--scan-delay", "1s", "-p", "1-12"))
    assert detect(pcap, ScanConfig(ports=10, window=3, slow_window=0)) == []
    [r] = detect(pcap, ScanConfig(ports=10, window=3, slow_window=60))
    assert r["detected_by"] == "slow-window" and r["ports"]["count"] == 12
    assert r["type"] == "syn" and r["tool"] == "nmap"


@pytest.fixture(scope="module")
def scan_and_clients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("nmap", "curl")
    tmp = tmp_path_factory.mktemp("mixed")
    with web_server("127.0.60.5", 8088), capturing(tmp / "mixed.pcap") as pcap:
        for _ in range(100):
            run(["curl", "-s", "-o", "/dev/null", "--interface", "127.0.60.6",
                 "http://127.0.60.5:8088/index.html"])
        run(nmap("-sS", "-p", "1-100", target="127.0.60.5"))
    return pcap


def test_benign_clients_never_flagged(scan_and_clients: Path) -> None:
    [r] = detect(scan_and_clients)
    assert r["source"]["ip"] == "127.0.61.1" and r["ports"]["count"] == 100
    assert all(not m.startswith("127.0.60.") for m in r["members"])


def test_watch_folds_the_scan_and_keeps_the_clients(scan_and_clients: Path,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "w.jsonl"
    assert main(["watch", "-r", str(scan_and_clients), "--no-probe", "-q", "--workers", "0",
                 "-o", str(out)]) == 0
    records: list[dict[str, Any]] = [json.loads(x) for x in out.read_text().splitlines()]
    assert Counter(r["kind"] for r in records) == {"scan": 1, "flow": 100}
    flows = [r for r in records if r["kind"] == "flow"]
    assert {(f["client"]["ip"], f["server"]["port"], f["service"]) for f in flows} == {
        ("127.0.60.6", 8088, "http")}
