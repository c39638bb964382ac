"""Transcript bytes + fingerprints -> Match. Pure; every regex call is time-bounded."""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterable
from typing import ClassVar

from probescan.catalog.fingerprints import (
    FIELDS,
    Fingerprint,
    FingerprintSet,
    Gate,
    Gated,
    gated,
)
from probescan.catalog.templates import render
from probescan.model import Match

REGEX_TIMEOUT_S = 0.05  # one rule over one response
RESPONSE_BUDGET_S = 0.05  # all rules over one response, per call (callers add their own cap)
GENERIC_PRIORITY = 90  # rules at or above this priority are catch-alls
MATCH_WINDOW = 64 * 1024  # bytes of a response a pattern sees


def _clean(value: str) -> str | None:
    if not value.isprintable():
        value = "".join(c if c.isprintable() else " " for c in value)
    return value.strip() or None


def apply_rule(rule: Fingerprint, text: str, timeout: float = REGEX_TIMEOUT_S) -> Match | None:
    """Run one rule over a latin-1 decoded response; None if it does not match or times out."""
    try:
        m = rule.pattern.search(text, timeout=timeout)
    except TimeoutError:
        return None
    if m is None:
        return None
    groups = m.groups()
    fields = {k: _clean(render(rule.templates[k], groups)) for k in FIELDS if k in rule.templates}
    cpe = tuple(c for c in (render(c, groups).strip() for c in rule.cpe) if c)
    return Match(
        fingerprint_id=rule.id,
        source=rule.source,
        service=rule.service,
        soft=rule.soft,
        cpe=cpe,
        generic=rule.priority >= GENERIC_PRIORITY,
        open_end=m.end() == len(text) and not text.endswith("\n"),
        **fields,
    )


def match_response(
    rules: FingerprintSet | Iterable[Fingerprint], probe: str, data: bytes,
    budget: float = RESPONSE_BUDGET_S,
) -> Match | None:
    """Best match for one probe's response: the first hard match, else the first soft match.
    All regexes together run at most `budget` seconds (each at most REGEX_TIMEOUT_S): a
    hostile response costs a bounded time, and the rules not reached do not match. Compiling
    a lazily compiled pattern for the first time is not counted (it happens once)."""
    if not data or budget <= 0:
        return None
    text = data[:MATCH_WINDOW].decode("latin-1")
    head = text[0]
    if isinstance(rules, FingerprintSet):
        groups = _Gates.of(rules.for_probe_head(probe, head)).passing(text)
    else:
        groups = _passing(gated(r for r in rules if r.applies_to(probe) and (
            r.first is None or head in r.first)), text)
    deadline = time.monotonic() + budget  # after the catalogue's indexes are built (once)
    soft: Match | None = None
    lowered: str | None = None
    for group in groups:
        for rule in group:
            missing = False
            for alternatives, folded in rule.needles:  # literals a match contains
                if folded:
                    if lowered is None:
                        lowered = text.lower()
                    hay = lowered
                else:
                    hay = text
                if len(alternatives) == 1:
                    missing = alternatives[0] not in hay
                else:
                    missing = not any(a in hay for a in alternatives)
                if missing:
                    break
            if missing:
                continue
            if soft is not None and rule.soft:
                continue
            if soft is not None and rule.service != soft.service:
                continue  # after a soft match only rules of that service may refine it
            pattern = rule.pattern
            if getattr(pattern, "compiled", True) is False:  # nmap's rules compile lazily,
                before = time.monotonic()  # once per process: not the reply's cost
                pattern.compile()
                deadline += time.monotonic() - before
            left = deadline - time.monotonic()
            if left <= 0:
                return soft
            got = apply_rule(rule, text, min(REGEX_TIMEOUT_S, left))
            if got is None:
                continue
            if not got.soft:
                return got
            soft = got
    return soft


def _gate_open(gate: Gate, text: str) -> bool:
    """Whether `text` passes a group's fixed-offset checks (long enough, its prefix, its
    characters at fixed offsets)."""
    min_length, prefix, positions = gate
    size = len(text)
    return size >= min_length and (not prefix or text.startswith(prefix)) and (
        not positions or all(off < size and text[off] in chars for off, chars in positions))


def _passing(candidates: Gated, text: str) -> list[tuple[Fingerprint, ...]]:
    """The groups whose fixed-offset checks the text passes (too short, another prefix, or
    other characters at fixed offsets rule a group's matches out), in order."""
    return [group for gate, group in candidates if _gate_open(gate, text)]


class _Gates:
    """One probe's rules for one first character, with the groups each reply passes
    remembered by the reply's first WIDTH characters (and how many of the groups' shortest
    lengths it reaches): replies of one kind mostly start alike (`HTTP/1.1 200 OK\r`,
    `SSH-2.0-OpenSSH_`), so the checks run once for all of them. A group whose checks read
    beyond WIDTH is checked on each reply."""

    WIDTH = 16
    MEMO = 4096  # outcomes remembered per rule set (then forgotten all at once)
    SETS = 4096  # rule sets remembered (then forgotten all at once)
    _all: ClassVar[dict[int, _Gates]] = {}

    def __init__(self, candidates: Gated) -> None:
        self.candidates = candidates  # held: the id below stays this object's
        self.wide = [max([len(prefix), *(off + 1 for off, _ in positions)]) > self.WIDTH
                     for (_, prefix, positions), _ in candidates]
        self.lengths = sorted({min_length for (min_length, _, _), _ in candidates})
        self.memo: dict[tuple[str, int],
                        tuple[list[tuple[Fingerprint, ...] | int], bool]] = {}

    @classmethod
    def of(cls, candidates: Gated) -> _Gates:
        gates = cls._all.get(id(candidates))
        if gates is None or gates.candidates is not candidates:
            if len(cls._all) >= cls.SETS:
                cls._all.clear()
            gates = cls._all[id(candidates)] = cls(candidates)
        return gates

    def passing(self, text: str) -> list[tuple[Fingerprint, ...]]:
        key = (text[:self.WIDTH], bisect_right(self.lengths, len(text)))
        found = self.memo.get(key)
        if found is None:  # the groups passing here; a wide one as its index (checked each time)
            if len(self.memo) >= self.MEMO:
                self.memo.clear()
            passed = [i if wide else group
                      for i, ((gate, group), wide) in enumerate(
                          zip(self.candidates, self.wide, strict=True))
                      if wide or _gate_open(gate, text)]
            found = self.memo[key] = (passed, any(isinstance(g, int) for g in passed))
        passed, recheck = found
        if not recheck:
            return passed  # type: ignore[return-value]
        out: list[tuple[Fingerprint, ...]] = []
        for g in passed:
            if not isinstance(g, int):
                out.append(g)
            elif _gate_open(self.candidates[g][0], text):
                out.append(self.candidates[g][1])
        return out
