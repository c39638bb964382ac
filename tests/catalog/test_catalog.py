"""Loading probe and fingerprint files: problems come out as `file:line: why`; the rest loads."""

from __future__ import annotations

from pathlib import Path

import pytest

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


HOSTILE_PROBES = {
    "huge range": ('ports = ["1-300000000"]', "port '1-300000000' out of range 0..65535"),
    "backwards range": ('ports = ["900-80"]', "port range '900-80' runs backwards"),
    "rarity inf": ("rarity = inf", "rarity must be an integer 1..9, not inf"),
    "wait nan": ("wait_ms = nan", "wait_ms must be an integer 0..600000, not nan"),
    "rarity float": ("rarity = 3.5", "rarity must be an integer 1..9, not 3.5"),
    "port word": ('ports = ["http"]', "port 'http' is not a number or a range"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_PROBES))
def test_hostile_probe_numbers_are_refused_before_anything_is_built(
        tmp_path: Path, case: str) -> None:
    line, why = HOSTILE_PROBES[case]
    f = write(tmp_path, "p.toml", f'[[probe]]\nname = "x"\npayload = "a"\n{line}\n')
    got = load_probes([f])
    assert got.probes == ()
    assert [str(p) for p in got.problems] == [f"{f}:1: {why}"]


HOSTILE_FINGERPRINTS = {
    "priority inf": ("[[fingerprint]]\nid = 'a'\nservice = 'x'\npattern = 'x'\npriority = inf\n",
                     "1: priority must be an integer -1000000..1000000, not inf"),
    "not tables": ("fingerprint = 1\n", "1: 'fingerprint' must be [[fingerprint]] tables"),
    "deep toml": ("[[fingerprint]]\nid = 'a'\nservice = 'x'\npattern = 'x'\nx = "
                  + "[" * 2000 + "]" * 2000 + "\n", "1: TOML nested too deeply"),
    "deep pattern": ("[[fingerprint]]\nid = 'a'\nservice = 'x'\npattern = '"
                     + "(" * 5000 + "a" + ")" * 5000 + "'\n", "1: nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_FINGERPRINTS))
def test_hostile_fingerprint_files_are_one_problem_line_each(tmp_path: Path, case: str) -> None:
    text, why = HOSTILE_FINGERPRINTS[case]
    f = write(tmp_path, "f.toml", text)
    got = load_fingerprints([f])
    assert got.rules == ()
    assert [str(p) for p in got.problems] == [f"{f}:{why}"]
