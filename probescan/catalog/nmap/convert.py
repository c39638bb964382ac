"""nmap's parsed probes and rules converted into our `Probe`s and `Fingerprint`s.

Every nmap probe becomes a `Probe` named `nmap:<name>` and every `match`/`softmatch` line a
`Fingerprint` with id `nmap:<name>:<line>`, so our engine and matcher run nmap's rules. How
nmap's rules combine with ours (semantics kept from nmap):

* Patterns are PCRE over raw bytes: translated to the `regex` module (`pcre` says how their
  meaning is kept) and run over the response decoded as latin-1 (one byte, one character).
* Priorities: our rules run first (priority 0..100), nmap's after (`PRIORITY` and up), so a
  response is decided by our rule when one matches and by nmap's otherwise.
* Fallbacks: for a response to probe P nmap tries P's own rules, then the rules of each probe
  in P's `fallback` line (left to right; a name is looked up in P's protocol first, then in
  the other one, as nmap does since 7.70), then - for TCP - the NULL probe's rules. Our rules
  name the probes they apply to and run by priority, so a probe's own rules get priority 200
  and a fallback probe's rules are added again, for the probes that fall back to it, with
  priority 200 + depth in the chain (the NULL probe at the end of a TCP chain included). The
  copies share id, line and compiled pattern with the original: they are the same nmap rule.
* Intensity: probes with rarity <= intensity are kept (NULL always). A dropped probe's rules
  still serve the kept probes that fall back to it.
* nmap's NULL probe is our `null` (`probescan.catalog.aliases`): its rules also run on our
  `null` responses.
* `no-payload` (a probe not to be used as a UDP port-scan payload) does not concern version
  detection and is ignored; `tcpwrappedms` is read and checked but has no counterpart here.
* A UDP probe whose name is also a TCP probe's name (nmap keeps names per protocol; we match
  rules by name only) is named `nmap:udp:<name>`.

Compiling all ~12,000 patterns with `regex` takes about 4 s, so by default a pattern is only
translated (which catches most syntax errors) and compiled on first use (`LazyPattern`); a
pattern that then fails to compile never matches. `load_nmap_db(..., compile_patterns=True)`
or `compile_nmap_patterns()` compile everything up front and report what fails.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import regex

from probescan.catalog.fingerprints import Fingerprint, FingerprintSet
from probescan.catalog.lazy import LazyPattern
from probescan.catalog.nmap.parse import DB_NAME, RawProbe, RawRule, parse_rule, read_nmap_file
from probescan.catalog.nmap.pcre import BASE_FLAGS, PatternError, pcre_to_regex
from probescan.catalog.prefilter import leading_characters
from probescan.catalog.probes import Probe, ProbeSet
from probescan.catalog.problems import Problem, display
from probescan.catalog.templates import check_template

PRIORITY = 200  # nmap rules run after ours (0..100); fallback copies get 200 + depth
DEFAULT_RARITY = 5
DEFAULT_WAIT_MS = 5000
MAX_SKIPPED_SHOWN = 20
_OTHER = {"tcp": "udp", "udp": "tcp"}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class NmapStats:
    """What `load_nmap_db` read. Rule counts are nmap lines, not the fallback copies."""

    path: Path
    probes: int  # probes kept (rarity <= intensity, NULL always)
    tcp_probes: int
    udp_probes: int
    dropped_probes: int  # above the intensity
    match_rules: int  # hard rules of kept probes
    softmatch_rules: int  # soft rules of kept probes
    fallback_rules: int  # copies of rules added for fallbacks (see module doc)
    skipped_rules: int  # rules (of kept or fallback probes) that do not parse, translate,
    #                     compile (only checked with compile_patterns) or fit their templates
    skipped: tuple[tuple[int, str], ...]  # (line, why) for the first few
    skip_reasons: Mapping[str, int]  # why (without specifics) -> count
    services: int  # distinct service names the kept rules can name
    exclude_tcp: frozenset[int] = frozenset()  # nmap's `Exclude` directive
    exclude_udp: frozenset[int] = frozenset()
    load_seconds: float = 0.0

    def summary(self) -> str:
        reasons = ", ".join(f"{why} {n}" for why, n in
                            sorted(self.skip_reasons.items(), key=lambda kv: -kv[1]))
        return (
            f"{self.path}: {self.probes} probes ({self.tcp_probes} tcp, {self.udp_probes} udp, "
            f"{self.dropped_probes} above intensity), {self.match_rules} match + "
            f"{self.softmatch_rules} softmatch rules (+{self.fallback_rules} fallback copies), "
            f"{self.services} services, {self.skipped_rules} skipped"
            + (f" ({reasons})" if reasons else "")
            + f", {self.load_seconds:.2f} s"
        )


# --------------------------------------------------------------------------- one rule


@dataclass(frozen=True, slots=True)
class _ParsedRule:
    line: int
    soft: bool
    service: str
    pattern: LazyPattern
    templates: dict[str, str]
    cpe: tuple[str, ...]


def _parse_rule(raw: RawRule, cache: dict[tuple[str, int], LazyPattern],
                compile_now: bool) -> _ParsedRule:
    """One match/softmatch line -> parsed rule; ValueError('category: details') if unusable."""
    fields = parse_rule(raw)
    pcre, templates, cpe = fields.pcre, fields.templates, fields.cpe
    flags = BASE_FLAGS
    if fields.ignore_case:
        flags |= regex.IGNORECASE
    if fields.dot_all:
        flags |= regex.DOTALL
    cache_key = (pcre, flags)
    pattern = cache.get(cache_key)
    if pattern is None:
        try:
            source, groups = pcre_to_regex(pcre)
        except PatternError as e:
            raise ValueError(f"regex not translatable: {e}") from None
        pattern = LazyPattern(source, flags, groups, pcre)
        cache[cache_key] = pattern
    if compile_now:
        pattern.compile()
    if pattern.error is not None:
        raise ValueError(f"regex does not compile: {pattern.error}")
    try:
        for name, tpl in [*templates.items(), *(("cpe", c) for c in cpe)]:
            check_template(tpl, pattern.groups, name)
    except ValueError as e:
        raise ValueError(f"template uses a missing group: {e}") from None
    return _ParsedRule(raw.line, raw.soft, fields.service, pattern, templates, cpe)


# --------------------------------------------------------------------------- loading


def _our_names(probes: list[RawProbe]) -> dict[tuple[str, str], str]:
    tcp = {p.name for p in probes if p.transport == "tcp"}
    return {
        (p.transport, p.name): (f"nmap:udp:{p.name}" if p.transport == "udp" and p.name in tcp
                                else f"nmap:{p.name}")
        for p in probes
    }


def _is_null(p: RawProbe) -> bool:
    return p.transport == "tcp" and p.name == "NULL"


def load_nmap_db(
    path: Path, intensity: int = 7, *, compile_patterns: bool = False
) -> tuple[ProbeSet, FingerprintSet, NmapStats]:
    """Read an `nmap-service-probes` file into our probes and fingerprints.

    Never raises for the file's content: a broken line is a Problem (in the ProbeSet for
    probe directives, in the FingerprintSet for rules) and is skipped. An unreadable file
    raises OSError. With `compile_patterns` every pattern is compiled now (about 4 s for
    nmap's file), otherwise on first use.
    """
    if not 0 <= intensity <= 9:
        raise ValueError(f"intensity must be 0..9, not {intensity}")
    started = time.perf_counter()
    shown = display(path)
    source = f"nmap:{path.name}"
    nmap_file = read_nmap_file(path)
    raw_probes, probe_problems = nmap_file.probes, nmap_file.problems
    names = _our_names(raw_probes)
    by_key = {(p.transport, p.name): p for p in raw_probes}
    null = next((p for p in raw_probes if _is_null(p)), None)

    def rarity(p: RawProbe) -> int:
        return 1 if _is_null(p) else (p.rarity if p.rarity is not None else DEFAULT_RARITY)

    kept = [p for p in raw_probes if _is_null(p) or rarity(p) <= intensity]
    kept_keys = {(p.transport, p.name) for p in kept}

    # Fallback chains of the kept probes: (probe consulted, depth) -> consumers.
    consumers: dict[tuple[tuple[str, str], int], list[str]] = {}
    for p in kept:
        chain: list[RawProbe] = [p]
        for fb in p.fallback:  # same protocol first; nmap >= 7.70 also looks across
            target = by_key.get((p.transport, fb)) or by_key.get((_OTHER[p.transport], fb))
            if target is None:
                probe_problems.append(
                    Problem(shown, p.line, f"probe {p.name}: unknown fallback {fb!r}"))
            elif all(t is not target for t in chain):
                chain.append(target)
        if p.transport == "tcp" and null is not None and all(t is not null for t in chain):
            chain.append(null)
        for depth, target in enumerate(chain[1:], start=1):
            link = ((target.transport, target.name), depth)
            consumers.setdefault(link, []).append(names[(p.transport, p.name)])
    needed = kept_keys | {target_key for target_key, _ in consumers}

    # Rules of every probe that is kept or consulted as a fallback.
    cache: dict[tuple[str, int], LazyPattern] = {}
    parsed: dict[tuple[str, str], list[_ParsedRule]] = {}
    rule_problems: list[Problem] = []
    skip_reasons: Counter[str] = Counter()
    skipped: list[tuple[int, str]] = []
    for p in raw_probes:
        key = (p.transport, p.name)
        if key not in needed:
            continue
        good: list[_ParsedRule] = []
        for raw in p.rules:
            try:
                good.append(_parse_rule(raw, cache, compile_patterns))
            except ValueError as e:
                why = str(e)
                rule_problems.append(Problem(shown, raw.line, why))
                skip_reasons[why.split(":", 1)[0]] += 1
                skipped.append((raw.line, why))
        parsed[key] = good

    rules: list[Fingerprint] = []
    probes: list[Probe] = []
    services: set[str] = set()
    hard = soft = 0
    for p in kept:
        key = (p.transport, p.name)
        our = names[key]
        own = parsed.get(key, [])
        only_me = frozenset({our})
        for r in own:
            rules.append(_fingerprint(r, our, only_me, PRIORITY, source))
            services.add(r.service)
            soft += r.soft
            hard += not r.soft
        probes.append(Probe(
            name=our,
            transport=p.transport,
            payload=p.payload,
            ports=p.ports,
            tls_ports=p.sslports,
            rarity=rarity(p),
            wait_ms=p.wait_ms if p.wait_ms is not None else DEFAULT_WAIT_MS,
            services=tuple(dict.fromkeys(r.service for r in own)),
            description=f"nmap {p.transport.upper()} probe {p.name} ({path.name}:{p.line})",
            source=source,
        ))
    copies = 0
    for (target_key, depth), users in consumers.items():
        who = frozenset(users)
        for r in parsed.get(target_key, []):
            rules.append(_fingerprint(r, names[target_key], who, PRIORITY + depth, source))
            services.add(r.service)
            copies += 1
    rules.sort(key=lambda r: (r.priority, r.line))

    tcp_count = sum(1 for p in probes if p.transport == "tcp")
    stats = NmapStats(
        path=path,
        probes=len(probes),
        tcp_probes=tcp_count,
        udp_probes=len(probes) - tcp_count,
        dropped_probes=len(raw_probes) - len(kept),
        match_rules=hard,
        softmatch_rules=soft,
        fallback_rules=copies,
        skipped_rules=len(skipped),
        skipped=tuple(skipped[:MAX_SKIPPED_SHOWN]),
        skip_reasons=dict(skip_reasons),
        services=len(services),
        exclude_tcp=frozenset(nmap_file.exclude_tcp),
        exclude_udp=frozenset(nmap_file.exclude_udp),
        load_seconds=time.perf_counter() - started,
    )
    return (ProbeSet(tuple(probes), tuple(probe_problems)),
            FingerprintSet(tuple(rules), tuple(rule_problems)), stats)


def _fingerprint(r: _ParsedRule, probe: str, probes: frozenset[str], priority: int,
                 source: str) -> Fingerprint:
    return Fingerprint(
        id=f"{probe}:{r.line}",
        service=r.service,
        pattern=r.pattern,
        probes=probes,
        soft=r.soft,
        priority=priority,
        templates=r.templates,
        cpe=r.cpe,
        examples=(),
        source=source,
        line=r.line,
        first=leading_characters(r.pattern.pattern, bool(r.pattern.flags & regex.IGNORECASE),
                                 bool(r.pattern.flags & regex.MULTILINE)),
    )


def compile_nmap_patterns(
    rules: FingerprintSet | Iterable[Fingerprint], path: str = DB_NAME
) -> list[Problem]:
    """Compile every lazy pattern now (e.g. in a background thread, or to check a file);
    one Problem per rule whose pattern does not compile (such a rule never matches)."""
    items = rules.rules if isinstance(rules, FingerprintSet) else rules
    problems: list[Problem] = []
    seen: set[int] = set()
    for r in items:
        pattern = r.pattern
        if not isinstance(pattern, LazyPattern) or r.line in seen:
            continue
        seen.add(r.line)
        if pattern.compile() is None:
            problems.append(Problem(path, r.line, f"regex does not compile: {pattern.error}"))
    return problems
