"""Cheap pre-checks read from a fingerprint's pattern, run before the pattern itself.

A regex search over a reply costs microseconds to tens of microseconds; most rules fail on
most replies. What the pattern says about every possible match is read once, at load time,
from the standard library's parse of the pattern:

* `first`: the characters a match of an anchored pattern can start with (the catalogue
  indexes rules by it);
* `prefix`: the literal text an anchored pattern's matches start with (`^HTTP/1\\.`);
* `positions`: for an anchored pattern, characters fixed at later offsets
  (`^.{8}\\x00{8}[\\x01\\x21]` says offsets 8-15 are NUL and offset 16 is one of two bytes),
  with the shortest reply such a pattern can match;
* `needles`: literal runs every match contains, each as a set of alternatives of which one
  must occur (`(?:x-varnish|via: 1.1 varnish)` needs "x-varnish" or "varnish"), including
  what positive lookarounds require.

Every check only ever rules a match out when the pattern could not match, so a rule that
passes still runs its regex; a pattern the parser cannot read gets no checks. Texts are
latin-1 decoded replies, so only characters up to U+00FF matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Needle = tuple[tuple[str, ...], bool]  # (alternatives, one of which must occur; lower-cased?)
Position = tuple[int, frozenset[str]]  # the character at this offset is one of these

MAX_OFFSET = 64  # fixed positions looked at
MAX_POSITIONS = 3  # the most selective ones are kept
MIN_NEEDLE = 3  # shorter literal runs are too common to be worth an `in`
_LATIN1 = 256


@dataclass(frozen=True, slots=True)
class Prefilter:
    first: frozenset[str] | None = None
    prefix: str = ""  # the literal text an anchored match starts with
    positions: tuple[Position, ...] = ()
    min_length: int = 0
    needles: tuple[Needle, ...] = ()


def analyse(pattern: str, ignore_case: bool, multiline: bool) -> Prefilter:
    """Everything the pre-checks need, from one parse of the pattern."""
    import re._parser as sre  # type: ignore[import-not-found]  # only at load time

    try:
        parsed = sre.parse(pattern, re.IGNORECASE if ignore_case else 0)
    except (re.error, RecursionError, OverflowError, ValueError):
        return Prefilter()
    fold = ignore_case or bool(parsed.state.flags & re.IGNORECASE)
    multiline = multiline or bool(parsed.state.flags & re.MULTILINE)
    items = list(parsed.data)
    needles = tuple(_Needles(sre).of(items, fold))
    if not _anchored(sre, items, multiline):
        return Prefilter(needles=needles)
    first = _first_characters(sre, items[1:], fold)
    fixed: list[set[int] | None] = []
    _Fixed(sre).walk(items[1:], fold, fixed)
    prefix = ""
    for chars in fixed:
        if chars is None or len(chars) != 1:
            break
        prefix += chr(next(iter(chars)))
    chosen = sorted(
        ((off, chars) for off, chars in enumerate(fixed) if off >= max(1, len(prefix))
         and chars is not None and len(chars) < _LATIN1 // 2),
        key=lambda oc: (len(oc[1]), oc[0]),
    )[:MAX_POSITIONS]
    positions = tuple((off, frozenset(map(chr, chars))) for off, chars in chosen)
    return Prefilter(first, prefix if len(prefix) > 1 else "", positions, len(fixed), needles)


def order_needles(needles: tuple[Needle, ...], prefix: str, corpus: str, lowered: str
                  ) -> tuple[Needle, ...]:
    """The needles worth checking, rarest first: those inside the literal prefix (which a
    match starts with) are dropped, the rest sorted by how often they occur in `corpus` (the
    catalogue's example replies, joined; `lowered`: the same lower-cased), so a rule is
    usually ruled out by its first `in`."""

    def seen(needle: Needle) -> int:
        hay = lowered if needle[1] else corpus
        return sum(hay.count(a) for a in needle[0])

    kept = [n for n in needles if not (len(n[0]) == 1 and not n[1] and n[0][0] in prefix)]
    return tuple(sorted(kept, key=seen))


def _anchored(sre: Any, items: list[tuple[Any, Any]], multiline: bool) -> bool:
    """True when a match can only start at the beginning of the text."""
    if not items or items[0][0] is not sre.AT:
        return False
    anchors = (sre.AT_BEGINNING_STRING,) if multiline else (
        sre.AT_BEGINNING, sre.AT_BEGINNING_STRING)
    return items[0][1] in anchors


def _folded(codes: set[int]) -> set[int]:
    out = set(codes)
    for c in codes:
        ch = chr(c)
        out.update(ord(x) for x in (ch.lower(), ch.upper()) if len(x) == 1 and ord(x) < _LATIN1)
    return out


def _charset(sre: Any, arg: list[tuple[Any, Any]], fold: bool) -> set[int] | None:
    """The latin-1 characters a [...] class matches, or None when it is not read here
    (categories other than \\d)."""
    out: set[int] = set()
    negate = False
    for kind, val in arg:
        if kind is sre.NEGATE:
            negate = True
        elif kind is sre.LITERAL:
            out.add(val)
        elif kind is sre.RANGE:
            out.update(range(val[0], min(val[1], _LATIN1 - 1) + 1))
        elif kind is sre.CATEGORY and val is sre.CATEGORY_DIGIT:
            out.update(range(0x30, 0x3A))  # the only decimal digits below U+0100
        else:
            return None
    out = _folded(out) if fold else out
    return set(range(_LATIN1)) - out if negate else {c for c in out if c < _LATIN1}


def _first_characters(sre: Any, items: list[tuple[Any, Any]], fold: bool
                      ) -> frozenset[str] | None:
    """What a match starting at the anchor can begin with (optional leading items add
    their own first characters); None when unknown or hardly selective."""

    def item(op: Any, arg: Any, ci: bool) -> set[int] | None:
        if op is sre.LITERAL:
            return _folded({arg}) if ci else {arg}
        if op is sre.IN:
            return _charset(sre, arg, ci)
        if op is sre.SUBPATTERN:
            _group, add, delete, sub = arg
            return first(list(sub.data),
                         (ci or bool(add & re.IGNORECASE)) and not delete & re.IGNORECASE)
        if op is sre.BRANCH:
            union: set[int] = set()
            for alt in arg[1]:
                got = first(list(alt.data), ci)
                if got is None:
                    return None
                union |= got
            return union
        return None

    def first(seq: list[tuple[Any, Any]], ci: bool) -> set[int] | None:
        acc: set[int] = set()
        for op, arg in seq:
            if op is sre.AT:
                continue
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                low, _high, sub = arg
                got = first(list(sub.data), ci)
                if got is None:
                    return None
                acc |= got
                if low >= 1:
                    return acc
                continue  # optional: what follows may start the match
            got = item(op, arg, ci)
            return None if got is None else acc | got
        return None  # the whole pattern may match an empty string

    codes = first(items, fold)
    if codes is None or len(codes) > 200:
        return None
    return frozenset(chr(c) for c in codes)


class _Fixed:
    """Per-offset character sets of an anchored pattern's fixed-width beginning."""

    def __init__(self, sre: Any) -> None:
        self.sre = sre

    def walk(self, items: list[tuple[Any, Any]], fold: bool, out: list[set[int] | None]
             ) -> bool:
        """Append one entry per character; False once the width stops being fixed (what was
        appended so far still holds)."""
        sre = self.sre
        for op, arg in items:
            if len(out) >= MAX_OFFSET:
                return False
            if op is sre.LITERAL:
                out.append(_folded({arg}) if fold else {arg})
            elif op in (sre.ANY, sre.NOT_LITERAL):
                out.append(None)
            elif op is sre.IN:
                out.append(_charset(sre, arg, fold))
            elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
                continue  # zero width
            elif op is sre.SUBPATTERN:
                _group, add, delete, sub = arg
                inner = (fold or bool(add & re.IGNORECASE)) and not delete & re.IGNORECASE
                if not self.walk(list(sub.data), inner, out):
                    return False
            elif op is sre.ATOMIC_GROUP:
                if not self.walk(list(arg.data), fold, out):
                    return False
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                low, high, sub = arg
                for _ in range(min(low, MAX_OFFSET)):
                    if not self.walk(list(sub.data), fold, out):
                        return False
                if high != low:
                    return False
            elif op is sre.BRANCH:
                return self._branch(arg[1], fold, out)
            else:
                return False
        return True

    def _branch(self, alts: list[Any], fold: bool, out: list[set[int] | None]) -> bool:
        runs: list[list[set[int] | None]] = []
        complete = True
        for alt in alts:
            run: list[set[int] | None] = []
            complete = self.walk(list(alt.data), fold, run) and complete
            runs.append(run)
        width = min(len(r) for r in runs)
        for i in range(width):
            sets = [r[i] for r in runs]
            out.append(None if any(s is None for s in sets)
                       else set().union(*(s for s in sets if s is not None)))
        return complete and all(len(r) == width for r in runs)


class _Needles:
    """Literal runs every match contains."""

    def __init__(self, sre: Any) -> None:
        self.sre = sre

    def of(self, items: list[tuple[Any, Any]], fold: bool) -> list[Needle]:
        found: list[Needle] = []
        run: list[tuple[int, bool]] = []

        def flush() -> None:
            if len(run) >= MIN_NEEDLE:
                text = "".join(chr(c) for c, _ in run)
                folded = any(f for _, f in run)
                found.append(((text.lower() if folded else text,), folded))
            run.clear()

        self._walk(items, fold, run, found, flush)
        flush()
        return found

    def _walk(self, items: list[tuple[Any, Any]], fold: bool, run: list[tuple[int, bool]],
              found: list[Needle], flush: Any) -> None:
        sre = self.sre
        for op, arg in items:
            if op is sre.LITERAL and arg < 128:
                run.append((arg, fold))
            elif op is sre.AT:
                continue
            elif op is sre.SUBPATTERN:
                _group, add, delete, sub = arg
                inner = (fold or bool(add & re.IGNORECASE)) and not delete & re.IGNORECASE
                self._walk(list(sub.data), inner, run, found, flush)
            elif op is sre.ATOMIC_GROUP:
                self._walk(list(arg.data), fold, run, found, flush)
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT) and arg[0] >= 1:
                flush()  # at least one repetition: what it needs, the text needs
                found.extend(self.of(list(arg[2].data), fold))
            elif op is sre.ASSERT:  # a positive lookaround: its literals are in the text
                flush()
                found.extend(self.of(list(arg[1].data), fold))
            elif op is sre.BRANCH:
                flush()
                needle = self._any_of(arg[1], fold)
                if needle is not None:
                    found.append(needle)
            else:
                flush()

    def _any_of(self, alts: list[Any], fold: bool) -> Needle | None:
        """One literal from each alternative (the longest): one of them must occur."""
        picks: list[tuple[str, bool]] = []
        for alt in alts:
            got = self.of(list(alt.data), fold)
            if not got:
                return None  # an alternative needs no literal: nothing is required
            best = max(got, key=lambda n: min(len(a) for a in n[0]))
            picks.extend((a, best[1]) for a in best[0])
        folded = any(f for _, f in picks)
        texts = tuple(dict.fromkeys(a.lower() if folded else a for a, _ in picks))
        return texts, folded


def leading_characters(pattern: str, ignore_case: bool, multiline: bool) -> frozenset[str] | None:
    """The possible first characters of a match of an anchored pattern that starts with one
    literal character (not followed by a quantifier or an alternation that could skip it).
    A quick textual read for nmap's thousands of rules, which are compiled lazily."""
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


_LITERAL_START = re.compile(r"(?:\^|\\A)(?:\\x([0-9a-fA-F]{2})|([A-Za-z0-9 <>=!@#%&,;:'\"/_~-]))")


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
