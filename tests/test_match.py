"""The matcher: templates, hard versus soft, and the time bound on every pattern."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import probescan.engine.schedule
import probescan.match
from probescan.catalog import Catalog, build_catalog, load_fingerprints
from probescan.catalog.fingerprints import Fingerprint, FingerprintSet
from probescan.catalog.nmap import compile_nmap_patterns, find_nmap_db
from probescan.catalog.templates import render
from probescan.engine.schedule import RESPONSE_BUDGET_S, EndpointRun
from probescan.match import REGEX_TIMEOUT_S, apply_rule, match_response
from probescan.model import Match
from tests.conftest import lab_unavailable

RULES = """
[[fingerprint]]
id = "soft.demo"
service = "demo"
soft = true
pattern = '^DEMO'
  [[fingerprint.examples]]
  text = "DEMO"

[[fingerprint]]
id = "other.hard"
service = "other"
pattern = '^DEMO other'
  [[fingerprint.examples]]
  text = "DEMO other"

[[fingerprint]]
id = "hard.demo"
service = "demo"
pattern = '^DEMO server ([\\d.]+)'
product = "Demo"
version = "$1"
cpe = ["cpe:/a:demo:demo:$1"]
  [[fingerprint.examples]]
  text = "DEMO server 2.1"

[[fingerprint]]
id = "slow"
service = "slow"
probes = ["evil"]
pattern = '^(a|a)+$'
  [[fingerprint.examples]]
  text = "aaa"
"""


def rules(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = tmp_path / "r.toml"
    p.write_text(RULES, encoding="utf-8")
    fps = load_fingerprints([p])
    assert fps.problems == ()
    return fps


def test_hard_match_fills_templates_and_cpe(tmp_path: Path) -> None:
    m = match_response(rules(tmp_path), "null", b"DEMO server 2.1\r\n")
    assert m is not None and not m.soft
    assert (m.fingerprint_id, m.product, m.version, m.cpe) == (
        "hard.demo", "Demo", "2.1", ("cpe:/a:demo:demo:2.1",)
    )


def test_soft_match_only_lets_rules_of_its_service_refine_it(tmp_path: Path) -> None:
    m = match_response(rules(tmp_path), "null", b"DEMO other")
    assert m is not None
    assert m.fingerprint_id == "soft.demo"  # other.hard is of another service
    assert m.soft


class CutPattern:
    """A rule's compiled pattern that records the time limit of each search and whether the
    regex engine cut the search at that limit (TimeoutError) rather than finishing it."""

    def __init__(self, pattern: Any) -> None:
        self.pattern = pattern
        self.timeouts: list[float | None] = []
        self.cut = 0

    def search(self, text: str, timeout: float | None = None) -> Any:
        self.timeouts.append(timeout)
        assert timeout is not None, "searched without a time limit"  # would run for hours
        try:
            return self.pattern.search(text, timeout=timeout)
        except TimeoutError:
            self.cut += 1
            raise


def test_catastrophic_pattern_is_cut_by_the_time_bound(tmp_path: Path) -> None:
    fps = rules(tmp_path)
    slow = next(r for r in fps.rules if r.id == "slow")
    spy = CutPattern(slow.pattern)  # '^(a|a)+$': 2**40 ways to try on the reply
    spied = FingerprintSet(tuple(replace(r, pattern=spy) if r is slow else r for r in fps.rules))
    m = match_response(spied, "evil", b"a" * 40 + b"!")
    assert m is None
    assert spy.timeouts and all(t is not None and 0 < t <= REGEX_TIMEOUT_S for t in spy.timeouts)
    assert spy.cut == len(spy.timeouts)  # stopped at its time limit every time, not finished


def test_rules_for_other_probes_do_not_apply(tmp_path: Path) -> None:
    assert match_response(rules(tmp_path), "null", b"aaa") is None


def test_templates_substitute_groups_and_helpers() -> None:
    groups = ["1_2_3", "ab\x01c", "\x01\x00"]
    assert render("v$1", groups) == "v1_2_3"
    assert render('$SUBST(1,"_",".")', groups) == "1.2.3"
    assert render("$P(2)", groups) == "abc"
    assert render('$I(3,">")', groups) == "256"
    assert render('$I(3,"<")', groups) == "1"
    assert render("$9", groups) == ""


SLOW_REPLIES = [  # replies that cost nmap's rules hundreds of milliseconds unbounded
    ("nmap:RTSPRequest", b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 679),
    ("null", b"a" * 4096),
]


class RegexClock:
    """The matcher's clock, moved only by the regexes, each by all the time it was allowed
    (the worst case: every rule runs to its timeout), so the test does not depend on how
    fast this machine is or how loaded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.allowed: list[float] = []  # the timeout each regex was given
        self.late = 0  # regexes started once the reply's budget was spent

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize(("probe", "reply"), SLOW_REPLIES, ids=["rtsp-headers", "letters"])
def test_a_growing_hostile_reply_costs_a_bounded_matching_time_in_all(
        probe: str, reply: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    db = find_nmap_db()
    if db is None:
        lab_unavailable("nmap's nmap-service-probes is not installed")
    catalog = nmap_catalog(db)
    compile_nmap_patterns(catalog.fingerprints.for_probe(probe))  # compiled once per scan
    run = EndpointRun(catalog, None)
    clock = RegexClock()

    def timed_rule(rule: Fingerprint, text: str, timeout: float = REGEX_TIMEOUT_S) -> Match | None:
        clock.allowed.append(timeout)
        clock.late += run.spent.get(probe, 0.0) >= RESPONSE_BUDGET_S
        clock.now += timeout
        return apply_rule(rule, text, timeout)

    monkeypatch.setattr(probescan.match, "time", clock)
    monkeypatch.setattr(probescan.engine.schedule, "time", clock)
    monkeypatch.setattr(probescan.match, "apply_rule", timed_rule)
    for end in range(64, len(reply) + 1, 64):  # matched again as every chunk arrives
        run.consider(probe, reply[:end])
    assert run.spent[probe] <= RESPONSE_BUDGET_S + REGEX_TIMEOUT_S
    assert clock.allowed and all(0 < t <= REGEX_TIMEOUT_S for t in clock.allowed)  # bounded
    assert run.spent[probe] >= RESPONSE_BUDGET_S  # spent early on: the later chunks ...
    assert clock.late == 0  # ... ran no regex at all


@functools.cache
def nmap_catalog(db: Path) -> Catalog:
    return build_catalog(db)
