"""Fingerprint rules (fingerprints/*.toml): a pattern over a response plus field templates.

Patterns run on the `regex` engine with a per-call time bound (see probescan.match), over the
response bytes decoded as latin-1, so every byte value is one character.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import regex

from probescan.catalog.aliases import PROBE_ALIASES
from probescan.catalog.paths import data_dir
from probescan.catalog.prefilter import Needle, Position, analyse, order_needles
from probescan.catalog.problems import Problem, display, integer, load_tables
from probescan.catalog.templates import check_template

MAX_PRIORITY = 1_000_000  # nmap's rules take 200 + chain depth; ours below that, some negative
FIELDS = ("product", "version", "info", "hostname", "os", "device")
_KEYS = {
    "id", "service", "pattern", "flags", "probes", "soft", "priority", "cpe", "examples",
    "description", *FIELDS,
}
_EXAMPLE_KEYS = {"text", "hex", "probe", "service", "cpe", "captured", *FIELDS}


@dataclass(frozen=True, slots=True)
class Example:
    data: bytes
    probe: str | None
    expect: dict[str, str]  # field -> expected value (service, product, ...)
    cpe: tuple[str, ...] | None
    # From which real program the bytes were captured ("OpenSSH 9.2p1, Debian 12 openssh-server,
    # greeting"); None for an example written by hand.
    captured: str | None = None


@dataclass(frozen=True, slots=True)
class Fingerprint:
    id: str
    service: str
    pattern: Any  # a compiled regex.Pattern
    probes: frozenset[str] | None  # None: any probe
    soft: bool
    priority: int
    templates: dict[str, str]
    cpe: tuple[str, ...]
    examples: tuple[Example, ...]
    source: str  # "probescan:ssh.toml" / "nmap:nmap-service-probes"
    line: int
    # Pre-checks read from the pattern (probescan.catalog.prefilter), run before the regex:
    # the characters a match can start with (the index uses them; None: any), the literal
    # text it starts with, characters at fixed offsets with the shortest text that can
    # match, and literals a match contains.
    first: frozenset[str] | None = None
    prefix: str = ""
    positions: tuple[Position, ...] = ()
    min_length: int = 0
    needles: tuple[Needle, ...] = ()

    def applies_to(self, probe: str) -> bool:
        return self.probes is None or probe in self.probes


Gate = tuple[int, str, tuple[Position, ...]]  # shortest text, literal prefix, fixed offsets
Gated = tuple[tuple[Gate, tuple[Fingerprint, ...]], ...]


def gated(rules: Iterable[Fingerprint]) -> Gated:
    """Consecutive rules with the same fixed-offset checks, grouped: the checks run once for
    the group (dozens of HTTP rules share `^HTTP/1\\.[01] \\d{3}`), in matching order."""
    groups: list[tuple[Gate, list[Fingerprint]]] = []
    for r in rules:
        gate = (r.min_length, r.prefix, r.positions)
        if groups and groups[-1][0] == gate:
            groups[-1][1].append(r)
        else:
            groups.append((gate, [r]))
    return tuple((gate, tuple(members)) for gate, members in groups)


# The pseudo-probe of rules over what a *client* sent (used by `watch`): only rules that name
# it apply, never the generic ones written for server replies.
CLIENT_PROBE = "client"


@dataclass(frozen=True)
class FingerprintSet:
    rules: tuple[Fingerprint, ...]
    problems: tuple[Problem, ...] = ()

    @cached_property
    def _by_probe(self) -> dict[str, tuple[Fingerprint, ...]]:
        return {}

    @cached_property
    def _generic(self) -> tuple[Fingerprint, ...]:
        return tuple(r for r in self.rules if r.probes is None)

    def for_probe(self, probe: str) -> tuple[Fingerprint, ...]:
        """Rules for one probe's responses, in matching order: the generic ones (for every
        probe but the client pseudo-probe) and those naming it or a probe it stands for
        (catalog/aliases.py: nmap's NULL rules run on our null). Each probe's list is made
        on first use: nmap's rules with their fallback copies would make half a million
        entries for every probe at once."""
        rules = self._by_probe.get(probe)
        if rules is None:
            rules = self._by_probe[probe] = self._rules_for(probe)
        return rules

    def _rules_for(self, probe: str) -> tuple[Fingerprint, ...]:
        wanted = {probe, *PROBE_ALIASES.get(probe, ())}
        client = probe == CLIENT_PROBE
        named = False
        out: list[Fingerprint] = []
        for r in self.rules:
            if r.probes is None:
                if not client:
                    out.append(r)
            elif not r.probes.isdisjoint(wanted):
                out.append(r)
                named = True
        if not (named or client or probe in PROBE_ALIASES):
            return self._generic
        return tuple(out)

    def for_probe_head(self, probe: str, head: str) -> Gated:
        """Rules for one probe's responses that can match a reply starting with `head`
        (rules whose pattern starts with another literal are left out), in matching order,
        grouped by their shared fixed-offset checks (see `gated`)."""
        by_head = self._heads.get(probe)
        if by_head is None:
            by_head = self._heads[probe] = {}
        rules = by_head.get(head)
        if rules is None:
            rules = by_head[head] = gated(
                r for r in self.for_probe(probe) if r.first is None or head in r.first
            )
        return rules

    @cached_property
    def _heads(self) -> dict[str, dict[str, Gated]]:
        return {}

    def services_for_probe(self, probe: str) -> set[str]:
        """Services that rules written for this probe (not generic ones) can name."""
        return {r.service for r in self.for_probe(probe) if r.probes is not None}

    def merged(self, other: FingerprintSet) -> FingerprintSet:
        rules = sorted(self.rules + other.rules, key=lambda r: r.priority)
        return FingerprintSet(tuple(rules), self.problems + other.problems)


def compile_pattern(pattern: str, flags: str = "") -> Any:
    f = 0
    for ch in flags:
        if ch == "i":
            f |= regex.IGNORECASE
        elif ch == "s":
            f |= regex.DOTALL
        elif ch == "m":
            f |= regex.MULTILINE
        else:
            raise ValueError(f"unknown flag {ch!r} (use i, s, m)")
    return regex.compile(pattern, f | regex.VERSION0)


def _example(t: dict[str, Any], service: str) -> Example:
    unknown = set(t) - _EXAMPLE_KEYS
    if unknown:
        raise ValueError(f"example has unknown key(s): {', '.join(sorted(unknown))}")
    if ("text" in t) == ("hex" in t):
        raise ValueError("example needs exactly one of 'text' or 'hex'")
    if "text" in t:
        data = str(t["text"]).encode("latin-1")
    else:
        data = bytes.fromhex("".join(str(t["hex"]).split()))
    expect = {k: str(t[k]) for k in ("service", *FIELDS) if k in t}
    expect.setdefault("service", service)
    cpe = tuple(str(c) for c in t["cpe"]) if "cpe" in t else None
    captured = t.get("captured")
    if captured is not None and not (isinstance(captured, str) and captured.strip()):
        raise ValueError("example's 'captured' must name the program the bytes came from")
    return Example(data=data, probe=t.get("probe"), expect=expect, cpe=cpe, captured=captured)


def _rule(t: dict[str, Any], source: str, line: int) -> Fingerprint:
    unknown = set(t) - _KEYS
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")
    for key in ("id", "service", "pattern"):
        if not isinstance(t.get(key), str) or not t[key]:
            raise ValueError(f"fingerprint needs a non-empty string '{key}'")
    try:
        pattern = compile_pattern(t["pattern"], str(t.get("flags", "")))
    except regex.error as e:
        raise ValueError(f"pattern does not compile: {e}") from e
    groups = pattern.groups
    templates = {k: str(t[k]) for k in FIELDS if k in t}
    cpe = tuple(str(c) for c in t.get("cpe", ()))
    for name, tpl in [*templates.items(), *(("cpe", c) for c in cpe)]:
        check_template(tpl, groups, name)
    probes = t.get("probes")
    flags = str(t.get("flags", ""))
    checks = analyse(t["pattern"], "i" in flags, "m" in flags)
    examples = tuple(_example(e, t["service"]) for e in t.get("examples", ()))
    return Fingerprint(
        id=t["id"],
        service=t["service"],
        pattern=pattern,
        probes=frozenset(probes) if probes is not None else None,
        soft=bool(t.get("soft", False)),
        priority=integer(t, "priority", 0, -MAX_PRIORITY, MAX_PRIORITY),
        templates=templates,
        cpe=cpe,
        examples=examples,
        source=source,
        line=line,
        first=checks.first,
        prefix=checks.prefix,
        positions=checks.positions,
        min_length=checks.min_length,
        needles=checks.needles,
    )


def load_fingerprint_file(path: Path, origin: str = "probescan"
                          ) -> tuple[list[Fingerprint], list[Problem]]:
    source = f"{origin}:{path.name}"
    return load_tables(path, "fingerprint", lambda table, line: _rule(table, source, line))


def load_fingerprints(paths: Iterable[Path] | None = None, origin: str = "probescan"
                      ) -> FingerprintSet:
    """Load fingerprint files in name order; rules then sort by priority (stable). `origin`
    starts each rule's source (`user:a.toml`)."""
    files = sorted(data_dir("fingerprints").glob("*.toml") if paths is None else paths)
    rules: list[Fingerprint] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for f in files:
        got, bad = load_fingerprint_file(f, origin)
        problems.extend(bad)
        for r in got:
            if r.id in seen:
                problems.append(Problem(display(f), r.line, f"duplicate fingerprint id {r.id!r}"))
                continue
            seen.add(r.id)
            rules.append(r)
    rules.sort(key=lambda r: r.priority)
    corpus = "\0".join(e.data.decode("latin-1") for r in rules for e in r.examples)
    lowered = corpus.lower()
    rules = [replace(r, needles=order_needles(r.needles, r.prefix, corpus, lowered))
             for r in rules]
    return FingerprintSet(tuple(rules), tuple(problems))
