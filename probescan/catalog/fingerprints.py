"""Fingerprint rules (fingerprints/*.toml): a pattern over a response plus field templates.

Patterns run on the `regex` engine with a per-call time bound (see probescan.match), over the
response bytes decoded as latin-1, so every byte value is one character.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import regex

from probescan.catalog.paths import data_dir
from probescan.catalog.problems import Problem, display, table_lines, toml_error_line
from probescan.catalog.templates import check_template

FIELDS = ("product", "version", "info", "hostname", "os", "device")
_KEYS = {
    "id", "service", "pattern", "flags", "probes", "soft", "priority", "cpe", "examples",
    "description", *FIELDS,
}
_EXAMPLE_KEYS = {"text", "hex", "probe", "service", "cpe", *FIELDS}


@dataclass(frozen=True, slots=True)
class Example:
    data: bytes
    probe: str | None
    expect: dict[str, str]  # field -> expected value (service, product, ...)
    cpe: tuple[str, ...] | None


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
    # The characters a match can start with, when the pattern is anchored and starts with a
    # literal: a cheap pre-check that spares most regex calls (None: no pre-check).
    first: frozenset[str] | None = None
    # Literals every match must contain ((text, lower-cased?)): checked with `in` before the
    # regex runs, which spares the regex's scan of a long reply.
    needles: tuple[tuple[str, bool], ...] = ()

    def applies_to(self, probe: str) -> bool:
        return self.probes is None or probe in self.probes


# Probe names whose rules also apply to another probe's responses: nmap's NULL probe sends
# nothing, exactly like ours, so its banner rules run on our `null` responses.
PROBE_ALIASES = {"null": ("nmap:NULL",)}
# The pseudo-probe of rules over what a *client* sent (used by `watch`): only rules that name
# it apply, never the generic ones written for server replies.
CLIENT_PROBE = "client"


@dataclass(frozen=True)
class FingerprintSet:
    rules: tuple[Fingerprint, ...]
    problems: tuple[Problem, ...] = ()

    @cached_property
    def _index(self) -> dict[str, tuple[Fingerprint, ...]]:
        names: set[str] = {n for r in self.rules if r.probes for n in r.probes}
        names.update(PROBE_ALIASES)
        names.add(CLIENT_PROBE)
        index: dict[str, tuple[Fingerprint, ...]] = {}
        for name in names:
            wanted = {name, *PROBE_ALIASES.get(name, ())}
            index[name] = tuple(
                r for r in self.rules
                if (r.probes is None and name != CLIENT_PROBE)
                or (r.probes is not None and not r.probes.isdisjoint(wanted))
            )
        return index

    @cached_property
    def _generic(self) -> tuple[Fingerprint, ...]:
        return tuple(r for r in self.rules if r.probes is None)

    def for_probe(self, probe: str) -> tuple[Fingerprint, ...]:
        """Rules for one probe's responses, in matching order (indexed once)."""
        return self._index.get(probe, self._generic)

    def for_probe_head(self, probe: str, head: str) -> tuple[Fingerprint, ...]:
        """Rules for one probe's responses that can match a reply starting with `head`
        (rules whose pattern starts with another literal are left out), in matching order."""
        by_head = self._heads.get(probe)
        if by_head is None:
            by_head = self._heads[probe] = {}
        rules = by_head.get(head)
        if rules is None:
            rules = by_head[head] = tuple(
                r for r in self.for_probe(probe) if r.first is None or head in r.first
            )
        return rules

    @cached_property
    def _heads(self) -> dict[str, dict[str, tuple[Fingerprint, ...]]]:
        return {}

    def services_for_probe(self, probe: str) -> set[str]:
        """Services that rules written for this probe (not generic ones) can name."""
        return {r.service for r in self.for_probe(probe) if r.probes is not None}

    def merged(self, other: FingerprintSet) -> FingerprintSet:
        rules = sorted(self.rules + other.rules, key=lambda r: r.priority)
        return FingerprintSet(tuple(rules), self.problems + other.problems)


_LITERAL_START = re.compile(r"(?:\^|\\A)(?:\\x([0-9a-fA-F]{2})|([A-Za-z0-9 <>=!@#%&,;:'\"/_~-]))")


def leading_characters(pattern: str, ignore_case: bool, multiline: bool) -> frozenset[str] | None:
    """The possible first characters of a match of an anchored pattern that starts with one
    literal character (not followed by a quantifier or an alternation that could skip it)."""
    if multiline:
        return None
    m = _LITERAL_START.match(pattern)
    if m is None:
        return None
    rest = pattern[m.end():]
    if rest[:1] in ("?", "*", "{") or _has_top_level_alternation(pattern):
        return None
    char = chr(int(m.group(1), 16)) if m.group(1) else m.group(2)
    return frozenset({char.lower(), char.upper()}) if ignore_case else frozenset(char)


def first_characters(pattern: str, ignore_case: bool) -> frozenset[str] | None:
    """The characters any match must start with, read from the parsed pattern (anchored
    patterns only: a search may start anywhere otherwise). None when unknown."""
    import re._parser as sre_parse  # type: ignore[import-not-found]  # only at load time

    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE if ignore_case else 0)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None
    fold = ignore_case or bool(parsed.state.flags & re.IGNORECASE)
    if parsed.state.flags & re.MULTILINE:
        return None
    items = list(parsed.data)
    if not items or items[0][0] is not sre_parse.AT or items[0][1] not in (
        sre_parse.AT_BEGINNING, sre_parse.AT_BEGINNING_STRING
    ):
        return None

    def item(op: Any, arg: Any) -> set[int] | None:
        if op is sre_parse.LITERAL:
            return {arg}
        if op is sre_parse.IN:
            out: set[int] = set()
            for kind, val in arg:
                if kind is sre_parse.LITERAL:
                    out.add(val)
                elif kind is sre_parse.RANGE and val[1] - val[0] < 256:
                    out.update(range(val[0], val[1] + 1))
                else:
                    return None  # NEGATE, categories (\d, \w, ...)
            return out
        if op is sre_parse.SUBPATTERN:
            return first(list(arg[3].data))
        if op is sre_parse.BRANCH:
            union: set[int] = set()
            for alt in arg[1]:
                got = first(list(alt.data))
                if got is None:
                    return None
                union |= got
            return union
        return None

    def first(seq: list[tuple[Any, Any]]) -> set[int] | None:
        acc: set[int] = set()
        for op, arg in seq:
            if op is sre_parse.AT:
                continue
            if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, sre_parse.POSSESSIVE_REPEAT):
                low, _high, sub = arg
                got = first(list(sub.data))
                if got is None:
                    return None
                acc |= got
                if low >= 1:
                    return acc
                continue  # optional: what follows may start the match
            got = item(op, arg)
            return None if got is None else acc | got
        return None  # the whole pattern may match an empty string

    codes = first(items)
    if codes is None or len(codes) > 200:
        return None
    chars = {chr(c) for c in codes}
    if fold:
        chars |= {c.lower() for c in chars} | {c.upper() for c in chars}
    return frozenset(chars)


Needle = tuple[str, bool]  # (literal, compare lower-cased)


def required_literals(pattern: str, ignore_case: bool) -> tuple[Needle, ...]:
    """Runs (3+ characters) of literal text that every match of the pattern contains: the
    top-level sequence, including groups that must match exactly once. Runs touched by
    case-insensitivity are lower-cased. Patterns the stdlib parser does not read, or with a
    top-level alternation, get none (and simply no pre-check)."""
    import re._parser as sre_parse  # only at load time

    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE if ignore_case else 0)
    except (re.error, RecursionError, OverflowError, ValueError):
        return ()
    ci_all = ignore_case or bool(parsed.state.flags & re.IGNORECASE)  # (?i) at the start

    flat: list[tuple[int | None, bool]] = []  # (ASCII code, case-insensitive) or a break

    def walk(items: list[tuple[Any, Any]], ci: bool) -> bool:
        if any(op is sre_parse.BRANCH for op, _ in items):
            return False
        for op, arg in items:
            if op is sre_parse.LITERAL and arg < 128:
                flat.append((arg, ci))
            elif op is sre_parse.SUBPATTERN:
                _group, add, _del, sub = arg
                if not walk(list(sub.data), ci or bool(add & re.IGNORECASE)):
                    flat.append((None, False))
            elif op is sre_parse.AT:
                continue
            else:
                flat.append((None, False))
        return True

    if not walk(list(parsed.data), ci_all):
        return ()
    needles: list[Needle] = []
    run: list[tuple[int, bool]] = []
    for code, ci in [*flat, (None, False)]:
        if code is None:
            if len(run) >= 3:
                text = "".join(chr(c) for c, _ in run)
                fold = any(f for _, f in run)
                needles.append((text.lower() if fold else text, fold))
            run = []
        else:
            run.append((code, ci))
    return tuple(needles)


def _has_top_level_alternation(pattern: str) -> bool:
    depth, i, in_class = 0, 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":
                i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


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
    return Example(data=data, probe=t.get("probe"), expect=expect, cpe=cpe)


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
    examples = tuple(_example(e, t["service"]) for e in t.get("examples", ()))
    return Fingerprint(
        id=t["id"],
        service=t["service"],
        pattern=pattern,
        probes=frozenset(probes) if probes is not None else None,
        soft=bool(t.get("soft", False)),
        priority=int(t.get("priority", 0)),
        templates=templates,
        cpe=cpe,
        examples=examples,
        source=source,
        line=line,
        first=None if "m" in str(t.get("flags", "")) else first_characters(
            t["pattern"], "i" in str(t.get("flags", ""))),
        needles=required_literals(t["pattern"], "i" in str(t.get("flags", ""))),
    )


def load_fingerprint_file(path: Path) -> tuple[list[Fingerprint], list[Problem]]:
    shown = display(path)
    try:
        text = path.read_text(encoding="utf-8")
        doc = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as e:
        return [], [Problem(shown, 1, f"cannot read: {e}")]
    except tomllib.TOMLDecodeError as e:
        return [], [Problem(shown, toml_error_line(e), f"TOML syntax: {e}")]
    lines = table_lines(text, "fingerprint")
    rules: list[Fingerprint] = []
    problems: list[Problem] = []
    for i, table in enumerate(doc.get("fingerprint", [])):
        line = lines[i] if i < len(lines) else 1
        try:
            rules.append(_rule(table, f"probescan:{path.name}", line))
        except (ValueError, TypeError, KeyError) as e:
            problems.append(Problem(shown, line, str(e)))
    return rules, problems


def load_fingerprints(paths: Iterable[Path] | None = None) -> FingerprintSet:
    """Load fingerprint files in name order; rules then sort by priority (stable)."""
    files = sorted(data_dir("fingerprints").glob("*.toml") if paths is None else paths)
    rules: list[Fingerprint] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for f in files:
        got, bad = load_fingerprint_file(f)
        problems.extend(bad)
        for r in got:
            if r.id in seen:
                problems.append(Problem(display(f), r.line, f"duplicate fingerprint id {r.id!r}"))
                continue
            seen.add(r.id)
            rules.append(r)
    rules.sort(key=lambda r: r.priority)
    return FingerprintSet(tuple(rules), tuple(problems))
