"""Transcript bytes + fingerprints -> Match. Pure; every regex call is time-bounded."""

from __future__ import annotations

import time
from collections.abc import Iterable

from probescan.catalog.fingerprints import FIELDS, Fingerprint, FingerprintSet, gated
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
    candidates = (
        rules.for_probe_head(probe, head) if isinstance(rules, FingerprintSet)
        else gated(r for r in rules if r.applies_to(probe) and (r.first is None or head in r.first))
    )
    deadline = time.monotonic() + budget  # after the catalogue's indexes are built (once)
    soft: Match | None = None
    lowered: str | None = None
    size = len(text)
    for (min_length, prefix, positions), group in candidates:
        if size < min_length or (prefix and not text.startswith(prefix)) or (
            positions and not all(text[off] in chars for off, chars in positions)
        ):
            continue  # too short, or the text at fixed offsets rules these matches out
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
