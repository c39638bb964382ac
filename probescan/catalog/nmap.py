"""nmap's `nmap-service-probes` as an optional extra source of probes and fingerprints.

The user's own nmap install is read (never copied): every `Probe` becomes a `Probe` named
`nmap:<name>` and every `match`/`softmatch` line a `Fingerprint` with id `nmap:<name>:<line>`,
so our engine and matcher run nmap's rules. Nothing here is nmap code; the file format is
described at https://nmap.org/book/vscan-fileformat.html.

Semantics kept from nmap:

* Patterns are PCRE over raw bytes. They are translated to the `regex` module
  (`pcre_to_regex`) and run over the response decoded as latin-1 (one byte, one character)
  with ASCII classes and ASCII-only case folding, as PCRE does without UTF mode. nmap calls
  PCRE unanchored, like our matcher's `search`; `i` = IGNORECASE, `s` = DOTALL; `$` means "end,
  or before a final newline" in both engines.
* Fallbacks: for a response to probe P nmap tries P's own rules, then the rules of each probe
  in P's `fallback` line (left to right; a name is looked up in P's protocol first, then in
  the other one, as nmap does since 7.70), then - for TCP - the NULL probe's rules. Our rules
  name the probes they apply to and run by priority, so a probe's own rules get priority 200
  and a fallback probe's rules are added again, for the probes that fall back to it, with
  priority 200 + depth in the chain (the NULL probe at the end of a TCP chain included). The
  copies share id, line and compiled pattern with the original: they are the same nmap rule.
* Intensity: probes with rarity <= intensity are kept (NULL always). A dropped probe's rules
  still serve the kept probes that fall back to it.
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

import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from probescan.catalog.fingerprints import Fingerprint, FingerprintSet
from probescan.catalog.prefilter import leading_characters
from probescan.catalog.probes import Probe, ProbeSet
from probescan.catalog.problems import Problem, display
from probescan.catalog.templates import check_template

NULL_ALIAS = "nmap:NULL"
"""Our name for nmap's NULL probe (send nothing, wait for a banner): our `null`."""

PRIORITY = 200  # nmap rules run after ours (0..100); fallback copies get 200 + depth
DEFAULT_RARITY = 5
DEFAULT_WAIT_MS = 5000
MAX_SKIPPED_SHOWN = 20
_DB_NAME = "nmap-service-probes"
_SEARCH_DIRS = (Path("/usr/share/nmap"), Path("/usr/local/share/nmap"))
_FIELDS = {"p": "product", "v": "version", "i": "info", "h": "hostname", "o": "os",
           "d": "device"}
_BASE_FLAGS = regex.VERSION0 | regex.ASCII
_OTHER = {"tcp": "udp", "udp": "tcp"}


# --------------------------------------------------------------------------- finding the file


def find_nmap_db() -> Path | None:
    """The user's own `nmap-service-probes`: `$NMAPDIR` first, then the usual install paths."""
    candidates: list[Path] = []
    nmapdir = os.environ.get("NMAPDIR")
    if nmapdir:
        candidates.append(Path(nmapdir) / _DB_NAME)
    candidates.extend(d / _DB_NAME for d in _SEARCH_DIRS)
    for c in candidates:
        if c.is_file():
            return c
    return None


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


class LazyPattern:
    """A translated pattern compiled with `regex` on first use.

    Quacks like the compiled pattern where the matcher and catalog use it: `search(...)`,
    `groups`, `pattern`, `flags`. If compiling fails, `error` says why and it never matches.
    """

    __slots__ = ("_compiled", "error", "flags", "groups", "pattern", "pcre")

    def __init__(self, pattern: str, flags: int, groups: int, pcre: str) -> None:
        self.pattern = pattern  # the translated (regex-module) source
        self.flags = flags
        self.groups = groups  # capture groups, counted while translating
        self.pcre = pcre  # nmap's original text
        self._compiled: Any = None
        self.error: str | None = None

    def compile(self) -> Any:
        """The compiled pattern, or None (and `error` set) if it does not compile."""
        if self._compiled is None and self.error is None:
            try:
                compiled = regex.compile(self.pattern, self.flags)
            except (regex.error, ValueError, TypeError, OverflowError, RecursionError) as e:
                self.error = str(e)
                return None
            if compiled.groups != self.groups:
                self.error = f"group count {compiled.groups} != {self.groups} (translation bug)"
                return None
            self._compiled = compiled
        return self._compiled

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def search(self, string: str, *args: Any, **kwargs: Any) -> Any:
        compiled = self.compile()
        if compiled is None:
            return None
        return compiled.search(string, *args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r}, flags={self.flags})"


# --------------------------------------------------------------------------- PCRE -> regex


class PatternError(ValueError):
    """A PCRE pattern that cannot be translated (a syntax error or an unsupported construct)."""


_HEX = "0123456789abcdefABCDEF"
_OCT = "01234567"
_VSPACE = r"\n\x0b\x0c\r\x85"  # PCRE's \v without UTF
_HSPACE = r"\t\x20\xa0"  # PCRE's \h without UTF
# PCRE escapes the regex module spells differently (or lacks), and their translations.
_PCRE_ESCAPES = {
    "z": r"\Z",
    "Z": r"(?=\n?\Z)",
    "v": f"[{_VSPACE}]",
    "V": f"[^{_VSPACE}]",
    "h": f"[{_HSPACE}]",
    "H": f"[^{_HSPACE}]",
    "R": rf"(?:\r\n|[{_VSPACE}])",
    "C": r"(?s:.)",
}
_QUANT = regex.compile(r"\{\d+(?:,\d*)?\}")
_PCRE_ERRORS = set("LlUu")  # PCRE1 refuses these escapes
_NAMED_GROUP = regex.compile(r"\(\?(?:P?<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')")
_INLINE_FLAGS = regex.compile(r"\(\?([imsx]*)(?:-([imsx]*))?([:)])")


def _char(value: int) -> str:
    if value > 0xFF:
        raise PatternError(f"character value {value:#x} is too large (no UTF mode)")
    return f"\\x{value:02x}"


def _numeric_escape(p: str, i: int) -> tuple[int, int] | None:
    """\\x, \\o, \\c, \\e, \\a at p[i] (the letter after the backslash): (value, next index)."""
    c = p[i]
    if c == "x":
        if i + 1 < len(p) and p[i + 1] == "{":
            end = p.find("}", i + 2)
            digits = p[i + 2:end] if end > 0 else ""
            if not digits or any(ch not in _HEX for ch in digits):
                raise PatternError("bad \\x{...} escape")
            return int(digits, 16), end + 1
        j = i + 1
        while j < len(p) and j < i + 3 and p[j] in _HEX:
            j += 1
        return (int(p[i + 1:j], 16) if j > i + 1 else 0), j
    if c == "o":
        end = p.find("}", i + 2) if p.startswith("{", i + 1) else -1
        digits = p[i + 2:end] if end > 0 else ""
        if not digits or any(ch not in _OCT for ch in digits):
            raise PatternError("bad \\o{...} escape")
        return int(digits, 8), end + 1
    if c == "c":
        if i + 1 >= len(p) or not 0x20 <= ord(p[i + 1]) < 0x7F:
            raise PatternError("\\c at end of pattern or before a non-printable")
        return ord(p[i + 1].upper()) ^ 0x40, i + 2
    if c == "e":
        return 0x1B, i + 1
    if c == "a":
        return 0x07, i + 1
    return None


def _octal(p: str, i: int, limit: int = 3) -> tuple[int, int]:
    j = i
    while j < len(p) and j < i + limit and p[j] in _OCT:
        j += 1
    return int(p[i:j], 8), j


def pcre_to_regex(pattern: str) -> tuple[str, int]:
    """Translate a PCRE (non-UTF) pattern to `regex` VERSION0 syntax: (source, group count).

    Raises PatternError for what PCRE would refuse (unbalanced parentheses, an unterminated
    class, a trailing backslash, a back reference to a missing group) and for the few PCRE
    constructs with no faithful translation (branch reset, `(?J)`, `(?U)`, `(*VERB)`).
    """
    out: list[str] = []
    p = pattern
    n = len(p)
    i = 0
    groups = 0
    depth = 0
    max_backref = 0
    names: set[str] = set()
    backref_names: set[str] = set()
    while i < n:
        c = p[i]
        if c == "\\":
            if i + 1 >= n:
                raise PatternError("trailing backslash")
            e = p[i + 1]
            if e.isdigit():
                if e == "0":  # \0 plus up to two more octal digits
                    value, i = _octal(p, i + 1)
                    out.append(_char(value))
                    continue
                j = i + 1
                while j < n and p[j].isdigit():
                    j += 1
                number = int(p[i + 1:j])
                if number < 10 or number <= groups:
                    out.append(f"\\g<{number}>")
                    max_backref = max(max_backref, number)
                    i = j
                elif e in _OCT:
                    value, i = _octal(p, i + 1)
                    out.append(_char(value & 0xFF))
                else:  # \8 or \9 followed by digits: literal digits
                    out.append(p[i + 1:j])
                    i = j
                continue
            numeric = _numeric_escape(p, i + 1)
            if numeric is not None:
                out.append(_char(numeric[0]))
                i = numeric[1]
                continue
            i += 2
            if e == "Q":
                end = p.find("\\E", i)
                literal = p[i:] if end < 0 else p[i:end]
                out.append(regex.escape(literal, special_only=True) if literal else "")
                i = n if end < 0 else end + 2
            elif e == "E":
                pass
            elif e in "bBdDsSwWAGKfnrtX":
                out.append("\\" + e)
            elif e in _PCRE_ESCAPES:
                out.append(_PCRE_ESCAPES[e])
            elif e == "N":
                if i < n and p[i] == "{":
                    raise PatternError("\\N{name} is not supported by PCRE")
                out.append(r"[^\n]")
            elif e in "pP":
                if i < n and p[i] == "{":
                    end = p.find("}", i)
                    if end < 0:
                        raise PatternError("unterminated \\p{...}")
                    out.append("\\" + e + p[i:end + 1])
                    i = end + 1
                elif i < n:
                    out.append("\\" + e + p[i])
                    i += 1
                else:
                    raise PatternError("\\p at end of pattern")
            elif e == "g":
                ref, i = _g_reference(p, i, groups)
                if isinstance(ref, int):
                    max_backref = max(max_backref, ref)
                else:
                    backref_names.add(ref)
                out.append(f"\\g<{ref}>")
            elif e == "k":
                close = {"<": ">", "'": "'", "{": "}"}.get(p[i] if i < n else "")
                end = p.find(close, i + 1) if close else -1
                if end < 0:
                    raise PatternError("bad \\k reference")
                name = p[i + 1:end]
                backref_names.add(name)
                out.append(f"(?P={name})")
                i = end + 1
            elif e in _PCRE_ERRORS:
                raise PatternError(f"PCRE does not support \\{e}")
            elif e.isascii() and e.isalpha():
                out.append(e)  # PCRE1: an unknown letter escape is the letter itself
            else:
                out.append("\\" + e)
            continue
        if c == "[":
            piece, i = _char_class(p, i)
            out.append(piece)
            continue
        if c == "(":
            if p.startswith("(*", i):
                raise PatternError("(*VERB) is not supported")
            if p.startswith("(?#", i):
                end = p.find(")", i)
                if end < 0:
                    raise PatternError("unterminated (?# comment")
                i = end + 1
                continue
            depth += 1
            if not p.startswith("(?", i):
                groups += 1
                out.append("(")
                i += 1
                continue
            named = _NAMED_GROUP.match(p, i)
            if named:
                name = named.group(1) or named.group(2)
                groups += 1
                names.add(name)
                out.append(f"(?P<{name}>")
                i = named.end()
                continue
            flags = _INLINE_FLAGS.match(p, i)
            if flags:
                if flags.group(3) == ")":
                    depth -= 1  # (?i) opens no group
                out.append(flags.group(0))
                i = flags.end()
                continue
            two = p[i + 2:i + 3]
            if two in (":", "=", "!", ">") or p.startswith(("(?<=", "(?<!"), i):
                out.append("(")
                i += 1  # the rest (?:, ?=, ...) is copied as ordinary characters
                continue
            if two == "|":
                raise PatternError("branch reset (?|...) is not supported")
            if p.startswith(("(?P=", "(?P>", "(?R)", "(?("), i) or (two and two in "+-0123456789"):
                out.append("(")
                i += 1
                continue
            raise PatternError(f"unsupported group {p[i:i + 4]!r}")
        if c == ")":
            depth -= 1
            if depth < 0:
                raise PatternError("unmatched )")
            out.append(")")
            i += 1
            continue
        if c == "{":
            q = _QUANT.match(p, i)
            if q:
                out.append(q.group(0))
                i = q.end()
            else:
                out.append(r"\{")  # PCRE: a brace that is not a quantifier is a literal
                i += 1
            continue
        out.append(c)
        i += 1
    if depth > 0:
        raise PatternError("missing )")
    if max_backref > groups:
        raise PatternError(f"back reference to group {max_backref} of {groups}")
    missing = backref_names - names
    if missing:
        raise PatternError(f"back reference to unknown group {sorted(missing)[0]!r}")
    return "".join(out), groups


def _g_reference(p: str, i: int, groups: int) -> tuple[int | str, int]:
    """\\g forms (i points after `g`): \\gN, \\g{N}, \\g{-N}, \\g{name}."""
    n = len(p)
    if i < n and p[i] == "{":
        end = p.find("}", i)
        if end < 0:
            raise PatternError("unterminated \\g{")
        body = p[i + 1:end]
        i = end + 1
    elif i < n and p[i] == "<":
        raise PatternError("\\g<...> subroutine calls are not supported")
    else:
        j = i + 1 if i < n and p[i] in "+-" else i
        while j < n and p[j].isdigit():
            j += 1
        body = p[i:j]
        i = j
    if body.lstrip("-").isdigit():
        number = int(body)
        if number < 0:
            number = groups + 1 + number
        if number < 1:
            raise PatternError("bad relative back reference")
        return number, i
    if not body or not (body[0].isalpha() or body[0] == "_"):
        raise PatternError("bad \\g reference")
    return body, i


def _char_class(p: str, i: int) -> tuple[str, int]:
    """Translate the class opening at p[i] == '['; return (translation, index after it)."""
    n = len(p)
    out = ["["]
    i += 1
    if i < n and p[i] == "^":
        out.append("^")
        i += 1
    first = True
    while True:
        if i >= n:
            raise PatternError("missing ] for a character class")
        c = p[i]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        first = False
        if c == "]":
            out.append(r"\]")
            i += 1
        elif c == "[":
            posix = regex.match(r"\[:\^?[a-z]+:\]", p[i:])
            if posix:
                out.append(posix.group(0))
                i += posix.end()
            elif p.startswith(("[.", "[="), i):
                raise PatternError("POSIX collating elements are not supported")
            else:
                out.append(r"\[")
                i += 1
        elif c in "&~|":
            out.append("\\" + c)  # never a set operation
            i += 1
        elif c == "\\":
            if i + 1 >= n:
                raise PatternError("trailing backslash")
            e = p[i + 1]
            numeric = _numeric_escape(p, i + 1) if e in "xocea" else None
            if numeric is not None:
                out.append(_char(numeric[0]))
                i = numeric[1]
            elif e in _OCT:
                value, i = _octal(p, i + 1)
                out.append(_char(value))
            elif e == "b":
                out.append(r"\x08")
                i += 2
            elif e in "dDsSwWfnrt":
                out.append("\\" + e)
                i += 2
            elif e == "v":
                out.append(_VSPACE)
                i += 2
            elif e == "h":
                out.append(_HSPACE)
                i += 2
            elif e in "pP":
                end = p.find("}", i) if p.startswith("{", i + 2) else i + 2
                if end < 0:
                    raise PatternError("unterminated \\p{...}")
                out.append(p[i:end + 1])
                i = end + 1
            elif e == "Q":
                end = p.find("\\E", i + 2)
                literal = p[i + 2:] if end < 0 else p[i + 2:end]
                out.append("".join("\\" + ch if not ch.isalnum() else ch for ch in literal))
                i = n if end < 0 else end + 2
            elif e == "E":
                i += 2
            elif e in "VHRNXLlUugkC" or e in _PCRE_ERRORS:
                raise PatternError(f"\\{e} is not allowed in a character class")
            elif e.isascii() and e.isalnum():
                out.append(e)  # \8, \9 and unknown letters are literals
                i += 2
            else:
                out.append("\\" + e)
                i += 2
        else:
            out.append(c)
            i += 1


# --------------------------------------------------------------------------- file parsing


@dataclass(slots=True)
class _RawRule:
    line: int
    soft: bool
    text: str  # the line after `match `/`softmatch `


@dataclass(slots=True)
class _RawProbe:
    line: int
    transport: str
    name: str  # nmap's name
    payload: bytes
    ports: frozenset[int] = frozenset()
    sslports: frozenset[int] = frozenset()
    rarity: int | None = None
    wait_ms: int | None = None
    fallback: tuple[str, ...] = ()
    rules: list[_RawRule] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _ParsedRule:
    line: int
    soft: bool
    service: str
    pattern: LazyPattern
    templates: dict[str, str]
    cpe: tuple[str, ...]


def _delimited(s: str, i: int, *, escapes: bool) -> tuple[str, int]:
    """The text between the delimiter at s[i] and its next occurrence; index after it.

    With `escapes`, a backslash protects the next character (nmap itself ends at the next
    delimiter: a file nmap accepts never escapes it, so this only accepts more)."""
    if i >= len(s):
        raise ValueError("missing delimiter")
    delim = s[i]
    if delim.isspace() or delim.isalnum() or delim == "\\":
        raise ValueError(f"bad delimiter {delim!r}")
    j = i + 1
    while j < len(s):
        if escapes and s[j] == "\\":
            j += 2
            continue
        if s[j] == delim:
            return s[i + 1:j], j + 1
        j += 1
    raise ValueError(f"no closing {delim!r}")


def unescape_payload(text: str) -> bytes:
    """nmap's C-style escapes of a probe string: \\0 \\a \\b \\f \\n \\r \\t \\v \\xHH \\\\
    and a backslash before any other punctuation (the delimiter too) for that character."""
    simple = {"0": 0, "a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out.append(ord(c) & 0xFF)
            i += 1
            continue
        if i + 1 >= len(text):
            raise ValueError("probe string ends with a backslash")
        e = text[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e == "x":
            digits = text[i + 2:i + 4]
            if len(digits) != 2 or any(ch not in _HEX for ch in digits):
                raise ValueError(f"bad \\x escape {text[i:i + 4]!r} (needs two hex digits)")
            out.append(int(digits, 16))
            i += 4
        elif e.isalnum():
            raise ValueError(f"unknown escape \\{e} in probe string")
        else:
            out.append(ord(e) & 0xFF)
            i += 2
    return bytes(out)


def _port_list(spec: str) -> frozenset[int]:
    out: set[int] = set()
    for item in spec.replace(" ", "").split(","):
        if not item:
            continue
        if "-" in item:
            lo, hi = item.split("-", 1)
            a, b = int(lo), int(hi)
            if a > b:
                raise ValueError(f"bad port range {item!r}")
            out.update(range(a, b + 1))
        else:
            out.add(int(item))
    if any(not 0 <= x <= 65535 for x in out):
        raise ValueError("port out of range 0..65535")
    return frozenset(out)


def _exclude(spec: str) -> tuple[set[int], set[int]]:
    """nmap's port spec in `Exclude`: `T:`/`U:` switch protocol; no prefix means both."""
    tcp: set[int] = set()
    udp: set[int] = set()
    targets: list[set[int]] = [tcp, udp]
    for item in spec.replace(" ", "").split(","):
        if not item:
            continue
        if len(item) > 2 and item[1] == ":":
            proto = item[0].upper()
            if proto == "T":
                targets = [tcp]
            elif proto == "U":
                targets = [udp]
            elif proto in "SP":
                targets = []  # SCTP / IP protocols: not ours
            else:
                raise ValueError(f"bad protocol prefix in {item!r}")
            item = item[2:]
        ports = _port_list(item)
        for t in targets:
            t.update(ports)
    return tcp, udp


def _int_arg(directive: str, arg: str, lo: int, hi: int) -> int:
    try:
        value = int(arg)
    except ValueError:
        raise ValueError(f"{directive} needs a number, not {arg!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{directive} must be {lo}..{hi}, not {value}")
    return value


def _parse_probe_line(rest: str, line: int) -> _RawProbe:
    parts = rest.split(None, 2)
    if len(parts) < 3:
        raise ValueError("Probe needs: TCP|UDP name q|payload|")
    transport, name, tail = parts[0].lower(), parts[1], parts[2]
    if transport not in ("tcp", "udp"):
        raise ValueError(f"Probe protocol must be TCP or UDP, not {parts[0]!r}")
    if not tail.startswith("q"):
        raise ValueError("Probe string must start with q<delimiter>")
    text, end = _delimited(tail, 1, escapes=True)
    extra = tail[end:].split()
    if any(word != "no-payload" for word in extra):
        raise ValueError(f"unexpected text after the probe string: {' '.join(extra)!r}")
    return _RawProbe(line=line, transport=transport, name=name, payload=unescape_payload(text))


def _utf8(text: str) -> str:
    """Template text is read as latin-1; nmap's file writes literal non-ASCII text in UTF-8."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return text


_SUBST = regex.compile(
    r'\$SUBST\(\s*([1-9])\s*,\s*"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)'
)
_I_FORM = regex.compile(r'\$I\(\s*([1-9])\s*,\s*"([<>])"\s*\)')
_P_FORM = regex.compile(r"\$P\(\s*([1-9])\s*\)")


def _normalise_template(text: str) -> str:
    """Write nmap's helper calls the way our templates module reads them: no blanks around
    arguments, C escapes in $SUBST strings turned into the characters they stand for."""
    if "$" not in text:
        return text

    def subst(m: Any) -> str:
        a = unescape_payload(m.group(2)).decode("latin-1")
        b = unescape_payload(m.group(3)).decode("latin-1")
        if '"' in a or '"' in b:
            raise ValueError('$SUBST with a " in its strings is not supported')
        return f'$SUBST({m.group(1)},"{a}","{b}")'

    text = _SUBST.sub(subst, text)
    text = _I_FORM.sub(lambda m: f'$I({m.group(1)},"{m.group(2)}")', text)
    return str(_P_FORM.sub(lambda m: f"$P({m.group(1)})", text))


def _parse_rule(raw: _RawRule, cache: dict[tuple[str, int], LazyPattern],
                compile_now: bool) -> _ParsedRule:
    """One match/softmatch line -> parsed rule; ValueError('category: details') if unusable."""
    text = raw.text
    parts = text.split(None, 1)
    if len(parts) < 2:
        raise ValueError("malformed rule: needs a service and m<delim>regex<delim>")
    service, tail = parts
    if not tail.startswith("m"):
        raise ValueError("malformed rule: pattern must start with m<delimiter>")
    try:
        pcre, i = _delimited(tail, 1, escapes=True)
    except ValueError as e:
        raise ValueError(f"malformed rule: pattern {e}") from None
    flags = _BASE_FLAGS
    while i < len(tail) and not tail[i].isspace():
        if tail[i] == "i":
            flags |= regex.IGNORECASE
        elif tail[i] == "s":
            flags |= regex.DOTALL
        else:
            raise ValueError(f"malformed rule: unknown pattern flag {tail[i]!r}")
        i += 1
    templates: dict[str, str] = {}
    cpe: list[str] = []
    while True:
        while i < len(tail) and tail[i].isspace():
            i += 1
        if i >= len(tail):
            break
        try:
            if tail.startswith("cpe:", i):
                value, i = _delimited(tail, i + 4, escapes=False)
                while i < len(tail) and tail[i] == "a":
                    i += 1  # the `a` flag: nmap's hint that the CPE names an application
                cpe.append("cpe:/" + _normalise_template(_utf8(value)))
            elif tail[i] in _FIELDS:
                name = _FIELDS[tail[i]]
                value, i = _delimited(tail, i + 1, escapes=False)
                templates[name] = _normalise_template(_utf8(value))
            else:
                word = tail[i:].split(None, 1)[0]
                raise ValueError(f"unknown version field {word[:20]!r}")
        except ValueError as e:
            raise ValueError(f"malformed version info: {e}") from None
        if i < len(tail) and not tail[i].isspace():
            raise ValueError(f"malformed version info: text after a field: {tail[i:i + 20]!r}")
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
    return _ParsedRule(raw.line, raw.soft, service, pattern, templates, tuple(cpe))


def _read(path: Path) -> tuple[list[_RawProbe], set[int], set[int], list[Problem]]:
    shown = display(path)
    text = path.read_bytes().decode("latin-1")  # bytes stay bytes: patterns are byte regexes
    probes: list[_RawProbe] = []
    problems: list[Problem] = []
    exclude_tcp: set[int] = set()
    exclude_udp: set[int] = set()
    seen: set[tuple[str, str]] = set()
    current: _RawProbe | None = None
    skipping = False  # inside a probe that was rejected: its lines go with it
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        directive, *tail = line.split(None, 1)
        rest = tail[0].strip() if tail else ""
        try:
            if directive == "Probe":
                current, skipping = None, True
                probe = _parse_probe_line(rest, number)
                if (probe.transport, probe.name) in seen:
                    raise ValueError(f"duplicate {probe.transport.upper()} probe {probe.name!r}")
                seen.add((probe.transport, probe.name))
                probes.append(probe)
                current, skipping = probe, False
            elif directive == "Exclude":
                tcp, udp = _exclude(rest)
                exclude_tcp |= tcp
                exclude_udp |= udp
            elif skipping:
                continue
            elif current is None:
                raise ValueError(f"{directive!r} before the first Probe line")
            elif directive in ("match", "softmatch"):
                current.rules.append(_RawRule(number, directive == "softmatch", rest))
            elif directive == "ports":
                current.ports = _port_list(rest)
            elif directive == "sslports":
                current.sslports = _port_list(rest)
            elif directive == "rarity":
                current.rarity = _int_arg("rarity", rest, 1, 9)
            elif directive == "totalwaitms":
                current.wait_ms = _int_arg("totalwaitms", rest, 1, 3_600_000)
            elif directive == "tcpwrappedms":
                _int_arg("tcpwrappedms", rest, 1, 3_600_000)
            elif directive == "fallback":
                names = tuple(x for x in rest.replace(",", " ").split() if x)
                if not names:
                    raise ValueError("fallback needs probe names")
                current.fallback = names
            else:
                raise ValueError(f"unknown directive {directive!r}")
        except ValueError as e:
            problems.append(Problem(shown, number, str(e)))
    return probes, exclude_tcp, exclude_udp, problems


# --------------------------------------------------------------------------- loading


def _our_names(probes: list[_RawProbe]) -> dict[tuple[str, str], str]:
    tcp = {p.name for p in probes if p.transport == "tcp"}
    return {
        (p.transport, p.name): (f"nmap:udp:{p.name}" if p.transport == "udp" and p.name in tcp
                                else f"nmap:{p.name}")
        for p in probes
    }


def _is_null(p: _RawProbe) -> bool:
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
    raw_probes, exclude_tcp, exclude_udp, probe_problems = _read(path)
    names = _our_names(raw_probes)
    by_key = {(p.transport, p.name): p for p in raw_probes}
    null = next((p for p in raw_probes if _is_null(p)), None)

    def rarity(p: _RawProbe) -> int:
        return 1 if _is_null(p) else (p.rarity if p.rarity is not None else DEFAULT_RARITY)

    kept = [p for p in raw_probes if _is_null(p) or rarity(p) <= intensity]
    kept_keys = {(p.transport, p.name) for p in kept}

    # Fallback chains of the kept probes: (probe consulted, depth) -> consumers.
    consumers: dict[tuple[tuple[str, str], int], list[str]] = {}
    for p in kept:
        chain: list[_RawProbe] = [p]
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
        exclude_tcp=frozenset(exclude_tcp),
        exclude_udp=frozenset(exclude_udp),
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
    rules: FingerprintSet | Iterable[Fingerprint], path: str = _DB_NAME
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
