"""docs/captured-examples.md lists exactly the rules without a captured example, each with why;
`probescan fingerprints stats` prints their number."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from probescan.catalog import load_fingerprints
from probescan.cli import main

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "captured-examples.md"
ROW = re.compile(r"^\| `([^`]+)` \| ([^|]+) \| (.+) \|$")


def _listed() -> dict[str, str]:
    listed: dict[str, str] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            assert m[1] not in listed, f"{m[1]} listed twice"
            listed[m[1]] = m[3].strip()
    return listed


def _without_captured() -> set[str]:
    return {r.id for r in load_fingerprints().rules
            if r.source.startswith("probescan:") and not any(e.captured for e in r.examples)}


def test_the_doc_lists_exactly_the_rules_without_a_captured_example() -> None:
    listed = _listed()
    missing = _without_captured()
    assert sorted(missing - set(listed)) == [], "add these to docs/captured-examples.md"
    assert sorted(set(listed) - missing) == [], "captured now (or gone): remove from the doc"
    assert all(len(why) > 10 for why in listed.values())


def test_captured_examples_name_their_program() -> None:
    rules = load_fingerprints().rules
    captured = [e.captured for r in rules for e in r.examples if e.captured]
    assert len(captured) > 100
    assert all(len(c) > 5 and "not captured" not in c.lower() for c in captured)


def test_stats_prints_the_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fingerprints", "stats"]) == 0
    out = capsys.readouterr().out
    own = sum(1 for r in load_fingerprints().rules if r.source.startswith("probescan:"))
    assert (f"rules without a captured example: {len(_without_captured())} of {own} "
            "(docs/captured-examples.md lists them and why)") in out
