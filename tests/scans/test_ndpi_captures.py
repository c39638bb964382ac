"""The scans in nDPI's regression captures (../shared/pcaps/ndpi/, not in this repository:
skipped where it is missing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from probescan.scans import ScanConfig, ScanDetector
from probescan.watch.capture import read_file

pytestmark = pytest.mark.allow_skip(reason="nDPI's captures are not part of the repository")

NDPI = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps" / "ndpi"
if not NDPI.is_dir():  # a worktree beside the main checkout
    NDPI = Path("/work/shared/pcaps/ndpi")


def scans(name: str, config: ScanConfig | None = None) -> list[dict[str, Any]]:
    path = NDPI / name
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    out: list[Any] = []
    d = ScanDetector(config or ScanConfig(), out.append)
    for ts, link, data in read_file(path):
        d.frame(ts, link, data)
    d.finish()
    return [r.to_dict() for r in out]


def test_synscan() -> None:
    [r] = scans("synscan.pcap")
    assert (r["type"], r["shape"], r["tool"], r["grouping"]) == ("syn", "vertical", "nmap",
                                                                 "source")
    assert r["source"]["ip"] == "172.16.0.8" and r["targets"]["sample"] == ["64.13.134.52"]
    assert r["ports"]["count"] == 1000 and r["attempts"] == 1994 and r["packets"] == 1994
    assert r["replies"] == {"open": 3, "closed": 5, "filtered": 1986, "unfiltered": 0,
                            "open|filtered": 0}
    assert r["tool_evidence"]["certainty"] == "strong"


def test_tcp_scan() -> None:
    """Seven probes of seven techniques' worth: below the default thresholds; with a port
    threshold of 5, one mixed vertical scan."""
    assert scans("tcp_scan.pcapng") == []
    [r] = scans("tcp_scan.pcapng", ScanConfig(ports=5))
    assert r["type"] == "mixed" and r["shape"] == "vertical"
    assert r["types"] == {"connect": 3, "syn": 1, "fin": 1, "null": 1, "xmas": 1}
    assert r["replies"]["open"] == 2 and r["replies"]["closed"] == 5
    assert r["tool"] == "unknown"
