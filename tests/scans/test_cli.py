"""`probescan scans`: its outputs (JSON Lines, SQLite, HTML), the schema they follow, and one
line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probescan.cli.main import main
from probescan.report import load_records
from probescan.schema import SCAN, mismatches
from tests.scans.frames import ACK, MSS, RST, SYN, at, tcp, write_pcap
from tests.scans.mmdb import write_asn_db

T0 = 1_700_000_000.0


def capture(tmp_path: Path) -> Path:
    frames = []
    for p in range(1, 31):
        frames += [tcp("127.0.61.1", "127.0.60.1", 40000, p, SYN, win=1024, options=MSS),
                   tcp("127.0.60.1", "127.0.61.1", p, 40000, RST | ACK)]
    return write_pcap(tmp_path / "scan.pcap", at(T0, frames))


def test_outputs_follow_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                   ) -> None:
    pcap = capture(tmp_path)
    out, db, html = tmp_path / "s.jsonl", tmp_path / "s.db", tmp_path / "s.html"
    asn = write_asn_db(tmp_path / "asn.mmdb", {"127.0.61.0/24": (64500, "Example Scans")})
    assert main(["scans", "-r", str(pcap), "-o", str(out), "--db", str(db), "--html",
                 str(html), "--asn-db", str(asn)]) == 0
    [record] = [json.loads(line) for line in out.read_text().splitlines()]
    assert mismatches(SCAN, record) == []
    assert record["source"]["asn"] == 64500 and record["tool"] == "nmap"
    summary = capsys.readouterr().out
    assert "1 scan" in summary
    assert "127.0.61.1 AS64500 Example Scans: syn vertical scan, tool nmap" in summary
    [from_db] = [r for r in load_records([str(db)]) if r.get("kind") == "scan"]
    assert from_db["source"]["ip"] == "127.0.61.1" and from_db["ports"]["count"] == 30
    assert "Scanners" in html.read_text()


def test_thresholds_from_the_command_line(tmp_path: Path) -> None:
    pcap = capture(tmp_path)
    out = tmp_path / "s.jsonl"
    assert main(["scans", "-r", str(pcap), "-q", "-o", str(out), "--ports", "31"]) == 0
    assert out.read_text() == ""


@pytest.mark.parametrize(("argv", "message"), [
    (["-r", "/nonexistent.pcap"], "cannot read capture '/nonexistent.pcap'"),
    (["--ports", "0"], "bad thresholds: ports must be at least 1"),
    (["--asn-db", "/nonexistent.mmdb"], "cannot read ASN database"),
    (["--asn-db", "NOTADB"], "cannot read ASN database"),
])
def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               argv: list[str], message: str) -> None:
    pcap = capture(tmp_path)
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"not a database")
    argv = [str(bad) if a == "NOTADB" else a for a in argv]
    if "-r" not in argv:
        argv = ["-r", str(pcap), *argv]
    assert main(["scans", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_docs_list_the_scan_fields() -> None:
    import re

    from probescan.schema import SCAN

    docs = Path(__file__).resolve().parents[2] / "docs" / "output.md"
    text = docs.read_text(encoding="utf-8")
    table = text[text.index("## Scan records"):]
    table = table[table.index("| field | type | meaning |"):table.index("Example")]
    names = [n for row in table.splitlines()[2:] if row.startswith("| `")
             for n in re.findall(r"`([a-z_]+)`", row.split("|")[1])]
    assert sorted(names) == sorted(SCAN.written())
