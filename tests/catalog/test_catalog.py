"""Loading probe and fingerprint files: problems come out as `file:line: why`; the rest loads."""

from __future__ import annotations

from pathlib import Path

from probescan.catalog import load_fingerprints, load_probes
from probescan.cli import main

GOOD = """
[[fingerprint]]
id = "t.good"
service = "demo"
pattern = '^DEMO ([\\d.]+)'
version = "$1"
  [[fingerprint.examples]]
  text = "DEMO 1.2"
  version = "1.2"
"""

BAD_ENTRIES = GOOD + """
[[fingerprint]]
id = "t.badregex"
service = "demo"
pattern = '^(unclosed'

[[fingerprint]]
id = "t.badgroup"
service = "demo"
pattern = '^X(\\d)'
version = "$2"

[[fingerprint]]
id = "t.good"
service = "demo"
pattern = 'dup'
"""


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return p


def test_bad_entries_are_reported_with_their_line_and_good_ones_load(tmp_path: Path) -> None:
    f = write(tmp_path, "a.toml", BAD_ENTRIES)
    fps = load_fingerprints([f])
    assert [r.id for r in fps.rules] == ["t.good"]
    lines = {p.line: p.why for p in fps.problems}
    assert "pattern does not compile" in lines[11]
    assert "uses $2 but the pattern has 1 group" in lines[16]
    assert "duplicate fingerprint id 't.good'" in lines[22]


def test_a_file_with_a_syntax_error_does_not_stop_the_others(tmp_path: Path) -> None:
    good = write(tmp_path, "b.toml", GOOD)
    broken = write(tmp_path, "a.toml", "[[fingerprint]]\nid = = 'x'\n")
    fps = load_fingerprints([broken, good])
    assert [r.id for r in fps.rules] == ["t.good"]
    assert len(fps.problems) == 1
    assert fps.problems[0].line == 2
    assert str(fps.problems[0]).startswith(str(broken))


def test_probe_with_both_payload_kinds_is_refused(tmp_path: Path) -> None:
    f = write(tmp_path, "p.toml", '[[probe]]\nname = "x"\npayload = "a"\npayload_hex = "00"\n')
    ps = load_probes([f])
    assert ps.probes == ()
    assert "not both" in ps.problems[0].why
    assert ps.problems[0].line == 1


def test_probe_payload_escapes_become_bytes(tmp_path: Path) -> None:
    f = write(tmp_path, "p.toml", '[[probe]]\nname = "x"\npayload = "A\\r\\n\\u0000\\u00ff"\n'
              'ports = [80, "8000-8002"]\n')
    (probe,) = load_probes([f]).probes
    assert probe.payload == b"A\r\n\x00\xff"
    assert probe.ports == frozenset({80, 8000, 8001, 8002})


def test_check_command_prints_file_line_why_and_fails(
    tmp_path: Path, capsys: object
) -> None:
    f = write(tmp_path, "a.toml", BAD_ENTRIES)
    assert main(["fingerprints", "check", str(f)]) == 1
    out = capsys.readouterr().out
    assert f"{f}:11: pattern does not compile" in out


def test_shipped_files_pass_the_check() -> None:
    assert main(["fingerprints", "check"]) == 0
