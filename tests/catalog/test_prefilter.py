"""The pre-checks read from a pattern rule out only texts the pattern cannot match."""

from __future__ import annotations

import pytest

from probescan.catalog import load_fingerprints
from probescan.catalog.fingerprints import CLIENT_PROBE, Fingerprint
from probescan.catalog.prefilter import analyse
from probescan.match import match_response

RULES = load_fingerprints().rules
EXAMPLES = [(r, e) for r in RULES for e in r.examples]


def _probe(rule: Fingerprint) -> str:
    return sorted(rule.probes)[0] if rule.probes else "null"


def _regex_matches(rule: Fingerprint, data: bytes) -> bool:
    return rule.pattern.search(data[: 64 * 1024].decode("latin-1")) is not None


def test_fixed_offsets_of_an_anchored_binary_pattern_are_read() -> None:
    checks = analyse(r"^.{8}\x00{8}[\x01\x21][\x10\x20]", False, False)
    assert checks.min_length == 18
    assert checks.first is None  # "." says nothing about the first byte
    offsets = dict(checks.positions)
    assert offsets  # the most selective ones are kept
    for off, chars in offsets.items():
        assert 8 <= off < 18
        assert chars in ({"\x00"}, {"\x01", "\x21"}, {"\x10", "\x20"})


def test_literal_start_of_an_anchored_pattern_is_one_prefix_check() -> None:
    checks = analyse(r"^HTTP/1\.[01] \d{3}", False, False)
    assert checks.prefix == "HTTP/1."
    assert (7, frozenset("01")) in checks.positions
    assert checks.min_length == 12


def test_case_insensitive_positions_admit_both_cases() -> None:
    checks = analyse(r"^(?i:abc)d", False, False)
    assert checks.first == {"a", "A"}
    assert {"b", "B"} in [set(c) for _, c in checks.positions]


def test_a_pattern_that_is_not_anchored_gets_no_positions() -> None:
    checks = analyse(r"HTTP/1\.[01] 200", False, False)
    assert checks.first is None and checks.positions == () and checks.min_length == 0
    assert checks.needles == ((("HTTP/1.",), False), ((" 200",), False))


def test_multiline_pattern_is_anchored_only_by_backslash_a() -> None:
    assert analyse(r"\A220 ", False, True).first == {"2"}
    assert analyse(r"^220 ", False, True).first is None  # any line may start the match


def test_alternatives_give_a_needle_of_which_one_must_occur() -> None:
    pattern = r"^HTTP/1\.1 \d+(?:.*?)(?:(?i:x-varnish): \d+|via: 1\.1 varnish)"
    checks = analyse(pattern, False, False)
    assert (("x-varnish: ", "via: 1.1 varnish"), True) in checks.needles
    assert (("HTTP/1.1 ",), False) in checks.needles


def test_an_alternative_without_literals_makes_the_branch_require_nothing() -> None:
    checks = analyse(r"(?:foobar|\d+)", False, False)
    assert checks.needles == ()


def test_positive_lookahead_literals_are_required_and_negative_ones_are_not() -> None:
    needles = analyse(r"^HTTP(?=.*i_like_gitea=)(?!.*nothere)", False, False).needles
    texts = {a for alts, _ in needles for a in alts}
    assert "i_like_gitea=" in texts
    assert "nothere" not in texts


def test_a_pattern_the_parser_cannot_read_gets_no_checks() -> None:
    checks = analyse(r"^\p{L}+ abc", False, False)  # `regex` syntax the stdlib lacks
    assert checks.first is None and checks.positions == () and checks.needles == ()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_pre_checks_never_hide_a_match_of_any_example(rule: Fingerprint) -> None:
    """Over every example of every rule (and each of the rule's own examples cut short), the
    pre-checked matcher finds this rule exactly when its regex alone matches."""
    probe = _probe(rule) if rule.probes != frozenset({CLIENT_PROBE}) else CLIENT_PROBE
    texts = [e.data for _, e in EXAMPLES]
    texts += [e.data[:n] for e in rule.examples for n in range(1, len(e.data))]
    for data in texts:
        found = match_response([rule], probe, data)
        assert (found is not None) == _regex_matches(rule, data), (rule.id, data[:80])
