"""Every example of every shipped fingerprint is claimed first by its own rule, with its fields."""

from __future__ import annotations

import pytest

from probescan.catalog import Fingerprint, load_fingerprints
from probescan.catalog.fingerprints import Example
from probescan.match import match_response

RULES = load_fingerprints()
CASES = [
    pytest.param(rule, ex, id=f"{rule.id}#{i}")
    for rule in RULES.rules
    for i, ex in enumerate(rule.examples)
]


def test_shipped_fingerprints_load_without_problems() -> None:
    assert [str(p) for p in RULES.problems] == []


def test_every_fingerprint_has_an_example() -> None:
    assert [r.id for r in RULES.rules if not r.examples] == []


@pytest.mark.parametrize(("rule", "example"), CASES)
def test_example_is_claimed_by_its_own_rule_with_its_fields(
    rule: Fingerprint, example: Example
) -> None:
    probe = example.probe or (sorted(rule.probes)[0] if rule.probes else "null")
    got = match_response(RULES, probe, example.data)
    assert got is not None, f"{rule.id}: example does not match ({probe=})"
    assert got.fingerprint_id == rule.id, f"claimed first by {got.fingerprint_id}"
    for field, want in example.expect.items():
        assert getattr(got, field) == (want or None), field
    if example.cpe is not None:
        assert list(got.cpe) == list(example.cpe)
