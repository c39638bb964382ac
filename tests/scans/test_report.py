"""Scan records in the HTML report: checked from the schema, a Scanners section with its
charts and tables, and one-line errors for bad scan records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from probescan.report import ReportInputError, check_record, load_records, render_report
from probescan.scans import ScanConfig
from probescan.scans.record import build_record
from probescan.scans.units import STATES, TECHNIQUES, Source, Unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def record(ip: int, ports: int, kind: str = "syn", asn: int | None = None) -> dict[str, Any]:
    unit = Unit(ip >> 8 << 8, asn, "Example AS" if asn else None, 1_700_000_000.0)
    s = Source(ip, unit, 1_700_000_000.0)
    for p in range(1, ports + 1):
        s.ports[p] = 1
        s.probes += 1
        s.packets += 1
        s.failures += 1
    s.targets.add(0x7F003C01)
    s.outcomes[TECHNIQUES.index(kind) * 5 + STATES.index("closed")] = ports
    s.last = 1_700_003_700.0
    unit.detected_by = "window"
    return build_record(1, unit, [s], ScanConfig()).to_dict()


def test_scanners_section() -> None:
    scans = [record(0x7F003D01, 20), record(0x7F003D02, 1000, "fin", asn=64500)]
    page = render_report(scans, "t", NOW)
    assert 'id="scanners"' in page and "2 scans" in page
    for title in ("Scan types", "Vertical scans by ports scanned", "Most probed TCP ports",
                  "Probe packets by hour of the day", "Per /24 (/48)", "Per AS"):
        assert title in page, title
    assert "AS64500 Example AS" in page and "127.0.61.2" in page


def test_no_section_without_scans() -> None:
    assert 'id="scanners"' not in render_report([], "t", NOW)


def test_load_and_check(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [record(0x7F003D01, 20)]) + "\n")
    [scan] = load_records([str(path)])
    assert scan["kind"] == "scan" and scan["ports"]["count"] == 20
    bad = record(0x7F003D01, 20)
    bad["replies"] = {"open": "many"}
    with pytest.raises(ReportInputError, match="'replies' must be an object of numbers"):
        check_record(bad, "f", 3)
    del bad["type"]
    with pytest.raises(ReportInputError, match="scan record has no 'type'"):
        check_record(bad, "f", 3)
