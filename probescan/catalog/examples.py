"""Running the examples of fingerprint files: each example must be matched, by its own rule
first (no earlier rule claims it), with the fields it states; every failure is a Problem at
the example's `file:line` (`probescan fingerprints check`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from probescan.catalog.fingerprints import FIELDS, Example, Fingerprint, FingerprintSet
from probescan.catalog.problems import Problem, display, table_lines
from probescan.match import match_response

_EXAMPLE = re.compile(r"^\s*\[\[\s*fingerprint\.examples\s*\]\]\s*(#.*)?$")
CHECK_BUDGET_S = 1.0  # matching time of one example: generous, a check is not a scan


def example_lines(text: str, rules: list[Fingerprint]) -> dict[tuple[str, int], int]:
    """(rule id, example index) -> the line of its `[[fingerprint.examples]]` header (the
    rule's own line for examples written inline)."""
    headers = [i + 1 for i, line in enumerate(text.splitlines()) if _EXAMPLE.match(line)]
    starts = table_lines(text, "fingerprint")
    out: dict[tuple[str, int], int] = {}
    for rule in rules:
        later = [s for s in starts if s > rule.line]
        end = later[0] if later else 1 << 30
        mine = [h for h in headers if rule.line < h < end]
        for i in range(len(rule.examples)):
            out[(rule.id, i)] = mine[i] if i < len(mine) else rule.line
    return out


def example_probe(rule: Fingerprint, example: Example) -> str:
    """The probe an example answers: its own `probe`, else the rule's first, else null."""
    return example.probe or (sorted(rule.probes)[0] if rule.probes else "null")


def example_problems(rule: Fingerprint, index: int, example: Example, full: FingerprintSet
                     ) -> list[str]:
    """Why one example fails against the whole rule set (empty when it passes)."""
    name = f"example {index + 1} of '{rule.id}'"
    probe = example_probe(rule, example)
    got = match_response(full, probe, example.data, CHECK_BUDGET_S)
    if got is None:
        return [f"{name} does not match (as a reply to probe '{probe}')"]
    if got.fingerprint_id != rule.id:
        other = next((r for r in full.rules if r.id == got.fingerprint_id), None)
        where = f" ({other.source}, line {other.line})" if other else ""
        return [f"{name} is claimed first by rule '{got.fingerprint_id}'{where}"]
    out = []
    for field in ("service", *FIELDS):
        if field not in example.expect:
            continue
        want = example.expect[field] or None
        have = getattr(got, field)
        if have != want:
            out.append(f"{name}: {field} is {have!r}, the example says {want!r}")
    if example.cpe is not None and list(got.cpe) != list(example.cpe):
        out.append(f"{name}: cpe is {list(got.cpe)}, the example says {list(example.cpe)}")
    return out


def check_examples(files: Iterable[tuple[Path, list[Fingerprint]]], full: FingerprintSet
                   ) -> list[Problem]:
    """Every example of the rules loaded from each file, run against `full` (the rules a scan
    would use, these among them)."""
    problems: list[Problem] = []
    for path, rules in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # its loading already reported it
        lines = example_lines(text, rules)
        for rule in rules:
            for i, example in enumerate(rule.examples):
                for why in example_problems(rule, i, example, full):
                    problems.append(Problem(display(path), lines[(rule.id, i)], why))
    return problems
