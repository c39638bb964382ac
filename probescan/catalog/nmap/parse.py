"""Finding and reading `nmap-service-probes` into plain parsed directives.

`read_nmap_file` reads the probe directives (`Probe`, `ports`, `sslports`, `rarity`,
`totalwaitms`, `tcpwrappedms`, `fallback`) and `Exclude`; each `match`/`softmatch` line is
kept as its text, and `parse_rule` splits it into service, PCRE, flags and version fields
(templates written the way our templates module reads them) when the conversion needs it:
rules of probes it drops are never looked at. A broken line is a Problem and is skipped,
with the lines of a broken probe. Nothing here translates a pattern or builds our objects
(see `convert`). The file format is described at
https://nmap.org/book/vscan-fileformat.html.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from probescan.catalog.problems import Problem, display

DB_NAME = "nmap-service-probes"
_SEARCH_DIRS = (Path("/usr/share/nmap"), Path("/usr/local/share/nmap"))
_FIELDS = {"p": "product", "v": "version", "i": "info", "h": "hostname", "o": "os",
           "d": "device"}
_HEX = "0123456789abcdefABCDEF"


def find_nmap_db() -> Path | None:
    """The user's own `nmap-service-probes`: `$NMAPDIR` first, then the usual install paths."""
    candidates: list[Path] = []
    nmapdir = os.environ.get("NMAPDIR")
    if nmapdir:
        candidates.append(Path(nmapdir) / DB_NAME)
    candidates.extend(d / DB_NAME for d in _SEARCH_DIRS)
    for c in candidates:
        if c.is_file():
            return c
    return None


# --------------------------------------------------------------------------- directives


@dataclass(slots=True)
class RawRule:
    """A `match`/`softmatch` line, not parsed yet (see `parse_rule`)."""

    line: int
    soft: bool
    text: str  # the line after `match `/`softmatch `


@dataclass(slots=True)
class RawProbe:
    """A `Probe` line with the directives that follow it (None: the directive is absent)."""

    line: int
    transport: str  # "tcp" or "udp"
    name: str  # nmap's name
    payload: bytes
    ports: frozenset[int] = frozenset()
    sslports: frozenset[int] = frozenset()
    rarity: int | None = None
    wait_ms: int | None = None  # totalwaitms
    fallback: tuple[str, ...] = ()
    rules: list[RawRule] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RuleFields:
    """A parsed `match`/`softmatch` line; `pcre` is nmap's pattern text, untranslated."""

    line: int
    soft: bool
    service: str
    pcre: str
    ignore_case: bool  # nmap's `i` flag
    dot_all: bool  # nmap's `s` flag
    templates: dict[str, str]  # field name (product, version, ...) -> template
    cpe: tuple[str, ...]  # `cpe:/...` templates


@dataclass(frozen=True, slots=True)
class NmapFile:
    """What `read_nmap_file` read: the probes in file order, `Exclude`, the broken lines."""

    probes: list[RawProbe]
    exclude_tcp: set[int]
    exclude_udp: set[int]
    problems: list[Problem]


# --------------------------------------------------------------------------- pieces of a line


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


def _parse_probe_line(rest: str, line: int) -> RawProbe:
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
    return RawProbe(line=line, transport=transport, name=name, payload=unescape_payload(text))


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


# --------------------------------------------------------------------------- the file


def parse_rule(raw: RawRule) -> RuleFields:
    """One match/softmatch line -> its fields; ValueError('category: details') if malformed."""
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
    ignore_case = dot_all = False
    while i < len(tail) and not tail[i].isspace():
        if tail[i] == "i":
            ignore_case = True
        elif tail[i] == "s":
            dot_all = True
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
    return RuleFields(raw.line, raw.soft, service, pcre, ignore_case, dot_all, templates,
                      tuple(cpe))


def read_nmap_file(path: Path) -> NmapFile:
    """Read the file's directives; never raises for its content (a broken line is a Problem).

    An unreadable file raises OSError."""
    shown = display(path)
    text = path.read_bytes().decode("latin-1")  # bytes stay bytes: patterns are byte regexes
    probes: list[RawProbe] = []
    problems: list[Problem] = []
    exclude_tcp: set[int] = set()
    exclude_udp: set[int] = set()
    seen: set[tuple[str, str]] = set()
    current: RawProbe | None = None
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
                current.rules.append(RawRule(number, directive == "softmatch", rest))
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
    return NmapFile(probes, exclude_tcp, exclude_udp, problems)
