"""HTML report: scan records in, one self-contained HTML file out.

Two steps, both free of terminal I/O:

* `load_records(paths)` reads JSON Lines files (as `probescan scan -o` writes them, see
  docs/output.md), checks every record and returns them normalized. Bad input raises
  `ReportInputError`, whose text is one line naming the file and line. Input kinds are
  recognised by their first bytes and read by a loader from `LOADERS`: a SQLite store
  needs a new loader there, nothing else.
* `render_report(records, title, generated_at)` returns the HTML text: jinja2 with
  autoescape for everything rendered on the server, the records for the page's script as
  one JSON blob in `<script type="application/json">` (with `<`, `>`, `&` written as
  `\\u003c`, ...), inline CSS, inline JavaScript and inline SVG charts. The page fetches
  nothing: a Content-Security-Policy with `default-src 'none'` and the script's own
  sha256 hash forbids every load and every script but the report's.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.resources
import json
import re
import socket
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import jinja2
from markupsafe import Markup

EXPIRY_WARNING = timedelta(days=30)
CHART_BARS = 15
PAGE_SIZE = 200  # table rows the page shows at a time
UNKNOWN_SERVICES = frozenset({"unknown"})

_TEMPLATE_PACKAGE = "probescan.output"
_TEMPLATE_DIR = "templates"


class ReportInputError(Exception):
    """Input that cannot be reported on; `str()` is one line: `FILE[:LINE]: problem`."""

    def __init__(self, source: str, problem: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {problem}")


# ---------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as an input kind yields it, before checking."""

    where: int  # line number (JSON Lines) or row id (a store)
    data: object


# An input kind: a name, a test on the first 16 bytes of the file, and a loader that opens
# the file itself (a SQLite store is opened by name, not read as a stream) and yields its
# raw records; it raises ReportInputError for what is not a record at all, and may raise
# OSError. A new kind (the SQLite store) is one more entry in LOADERS.
Loader = Callable[[str], Iterator[RawRecord]]
HEAD_BYTES = 16


@dataclass(frozen=True, slots=True)
class InputKind:
    name: str
    sniff: Callable[[bytes], bool]
    load: Loader


def _iter_jsonl(stream: IO[bytes], name: str) -> Iterator[RawRecord]:
    for number, raw in enumerate(stream, 1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise ReportInputError(name, "not UTF-8", number) from None
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise ReportInputError(name, "not JSON", number) from None
        yield RawRecord(number, data)


def _load_jsonl(path: str) -> Iterator[RawRecord]:
    with open(path, "rb") as stream:
        yield from _iter_jsonl(stream, path)


def _load_sqlite(path: str) -> Iterator[RawRecord]:
    raise ReportInputError(path, "a SQLite store: not supported yet (use JSON Lines)")


SQLITE_MAGIC = b"SQLite format 3\x00"

# First match wins; the last entry takes anything (JSON Lines has no magic bytes).
LOADERS: list[InputKind] = [
    InputKind("sqlite", lambda head: head.startswith(SQLITE_MAGIC), _load_sqlite),
    InputKind("jsonl", lambda head: True, _load_jsonl),
]


def load_records(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Read and check every record of every input; "-" reads JSON Lines from standard input.

    The same endpoint (ip, port, transport) read twice keeps the last one read, so a
    rescan given after the first scan replaces its records.
    """
    by_endpoint: dict[tuple[str, int, str], dict[str, Any]] = {}
    for path in paths:
        for record in _load_one(str(path)):
            key = (record["ip"], record["port"], record["transport"])
            by_endpoint.pop(key, None)  # re-insert: keep the order of the last reading
            by_endpoint[key] = record
    return list(by_endpoint.values())


def _load_one(path: str) -> Iterator[dict[str, Any]]:
    if path == "-":
        raws = _iter_jsonl(sys.stdin.buffer, "<stdin>")
        name = "<stdin>"
    else:
        try:
            with open(path, "rb") as f:
                head = f.read(HEAD_BYTES)
        except FileNotFoundError:
            raise ReportInputError(path, "no such file") from None
        except IsADirectoryError:
            raise ReportInputError(path, "a directory, not a file") from None
        except OSError as e:
            raise ReportInputError(path, f"cannot read: {e.strerror or e}") from None
        kind = next(k for k in LOADERS if k.sniff(head))
        raws = kind.load(path)
        name = path
    try:
        for raw in raws:
            yield check_record(raw.data, name, raw.where)
    except OSError as e:
        raise ReportInputError(name, f"cannot read: {e.strerror or e}") from None


_STRING_FIELDS = ("hostname", "service", "product", "version", "info", "host", "os",
                  "device", "tunnel", "method", "error")
_TLS_STRING_FIELDS = ("version", "cipher", "alpn", "subject", "issuer", "not_before",
                      "not_after", "serial", "sha256")
_EVIDENCE_FIELDS = ("probe", "fingerprint", "source", "tunnel", "raw")


class CheckedRecord(dict[str, Any]):
    """A record that check_record made: render_report does not check it again."""


def check_record(data: object, source: str, where: int) -> dict[str, Any]:
    """A record as docs/output.md describes it, checked and completed.

    `ip`, `port`, `transport` and `state` are required; every other field may be missing
    (older or newer writers) and gets its empty value; fields the report does not show
    (`timings`) are dropped. A field of the wrong type is an error. Strings are kept as
    they are: the page makes control and bidi characters visible when it shows them.
    """
    if type(data) is CheckedRecord:
        return data

    def fail(problem: str) -> ReportInputError:
        return ReportInputError(source, problem, where)

    if not isinstance(data, dict):
        raise fail("not a JSON object")
    for name in ("ip", "port", "transport", "state"):
        if data.get(name) is None:
            raise fail(f"record has no {name!r}")
    ip, port, transport, state = data["ip"], data["port"], data["transport"], data["state"]
    if type(port) is not int or not 0 <= port <= 65535:
        raise fail("'port' must be an integer 0..65535")
    for name, value in (("ip", ip), ("transport", transport), ("state", state)):
        if type(value) is not str or not value:
            raise fail(f"{name!r} must be a non-empty string")

    out = CheckedRecord(ip=ip, port=port, transport=transport, state=state)
    get = data.get
    for name in _STRING_FIELDS:
        value = get(name)
        if value is not None and type(value) is not str:
            raise fail(f"{name!r} must be a string or null")
        out[name] = value
    if out["method"] is None:
        out["method"] = "none"
    confidence = get("confidence")
    if confidence is None:
        confidence = 0
    elif type(confidence) is not int:
        raise fail("'confidence' must be an integer")
    out["confidence"] = confidence
    out["cpe"] = _str_list(get("cpe"), "cpe", fail)

    tls = get("tls")
    if tls is not None:
        if not isinstance(tls, dict):
            raise fail("'tls' must be an object or null")
        t: dict[str, Any] = {}
        for name in _TLS_STRING_FIELDS:
            value = tls.get(name)
            if value is not None and type(value) is not str:
                raise fail(f"'tls.{name}' must be a string or null")
            t[name] = value
        t["sans"] = _str_list(tls.get("sans"), "tls.sans", fail)
        self_signed = tls.get("self_signed")
        if self_signed is not None and type(self_signed) is not bool:
            raise fail("'tls.self_signed' must be true, false or null")
        t["self_signed"] = self_signed
        tls = t
    out["tls"] = tls

    out["evidence"] = _evidence_list(get("evidence"), "evidence", fail)
    out["unmatched"] = _evidence_list(get("unmatched"), "unmatched", fail)
    anomalies = get("anomalies")
    if anomalies is None:
        out["anomalies"] = []
    elif isinstance(anomalies, list):
        out["anomalies"] = [
            a if type(a) is str else json.dumps(a, ensure_ascii=False, sort_keys=True)
            for a in anomalies
        ]
    else:
        raise fail("'anomalies' must be a list")
    origin = get("origin")
    out["origin"] = origin if type(origin) is str else f"{source}:{where}"
    return out


def _str_list(value: object, name: str, fail: Callable[[str], Exception]) -> list[str]:
    if value is None:
        return []
    if type(value) is not list or not all(type(v) is str for v in value):
        raise fail(f"{name!r} must be a list of strings")
    return value


def _evidence_list(
    value: object, name: str, fail: Callable[[str], Exception]
) -> list[dict[str, str | None]]:
    if value is None:
        return []
    if type(value) is not list:
        raise fail(f"{name!r} must be a list of objects")
    out = []
    for item in value:
        if type(item) is not dict:
            raise fail(f"{name!r} must be a list of objects")
        e: dict[str, str | None] = {}
        for key in _EVIDENCE_FIELDS:
            v = item.get(key)
            if v is not None and type(v) is not str:
                raise fail(f"'{name}.{key}' must be a string or null")
            e[key] = v
        out.append(e)
    return out


# C0 and C1 controls, DEL, the characters that reorder or hide text (bidi overrides,
# isolates, marks, zero-width ones, the BOM), lone surrogates (from JSON's \\udcff: they
# cannot be written as UTF-8) and the noncharacters U+FFFE, U+FFFF.
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069"
    "\ud800-\udfff\ufeff\ufffe\uffff]"
)


def _escape_char(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{{{c:04x}}}"


def printable(text: str) -> str:
    """Control and bidi characters as `\\xNN` / `\\u{NNNN}`; other text unchanged."""
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(_escape_char, text)


# ---------------------------------------------------------------------------------------
# Rendering


def tls_problems(tls: dict[str, Any] | None, now: datetime) -> list[str]:
    """`expired`, `expiring` (within EXPIRY_WARNING of `now`), `self-signed`."""
    if not tls:
        return []
    problems: list[str] = []
    not_after = _parse_time(tls.get("not_after"))
    if not_after is not None:
        if not_after < now:
            problems.append("expired")
        elif not_after - now <= EXPIRY_WARNING:
            problems.append("expiring")
    if tls.get("self_signed"):
        problems.append("self-signed")
    return problems


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _is_unknown(r: dict[str, Any]) -> bool:
    return r["state"] == "open" and (r["service"] is None or r["service"] in UNKNOWN_SERVICES)


def _ip_key(ip: str) -> tuple[int, int, str]:
    """Addresses in numeric order, IPv4 before IPv6, anything else last."""
    for version, family in ((4, socket.AF_INET), (6, socket.AF_INET6)):
        try:
            return (version, int.from_bytes(socket.inet_pton(family, ip), "big"), "")
        except (OSError, ValueError):
            continue
    return (9, 0, ip)


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    count: int
    width: float  # 0..1 of the longest bar
    query: str  # what a click puts in the search box


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    bars: list[Bar]
    more: int  # distinct values left out


def _chart(title: str, counts: Counter[str], query: Callable[[str], str]) -> Chart:
    top = counts.most_common(CHART_BARS)
    peak = top[0][1] if top else 1
    bars = [Bar(label, n, n / peak, query(label)) for label, n in top]
    return Chart(title, bars, max(0, len(counts) - len(top)))


def _quote_query(value: str) -> str:
    return f'"{value}"' if any(c.isspace() or c == '"' for c in value) else value


def summarize(records: Sequence[dict[str, Any]], now: datetime) -> dict[str, Any]:
    open_ = [r for r in records if r["state"] == "open"]
    services = Counter(r["service"] for r in open_ if r["service"] and not _is_unknown(r))
    products = Counter(r["product"] for r in open_ if r["product"])
    ports = Counter(f'{r["port"]}/{r["transport"]}' for r in open_)
    states = Counter(r["state"] for r in records)
    tls = [tls_problems(r["tls"], now) for r in records]
    return {
        "records": len(records),
        "hosts": len({r["ip"] for r in records}),
        "hosts_open": len({r["ip"] for r in open_}),
        "open": len(open_),
        "states": sorted(states.items(), key=lambda kv: (-kv[1], kv[0])),
        "identified": sum(services.values()),
        "service_kinds": len(services),
        "unknown": sum(1 for r in records if _is_unknown(r)),
        "tls": sum(1 for r in records if r["tls"]),
        "expired": sum("expired" in p for p in tls),
        "expiring": sum("expiring" in p for p in tls),
        "self_signed": sum("self-signed" in p for p in tls),
        "anomalies": sum(1 for r in records if r["anomalies"]),
        "errors": sum(1 for r in records if r["error"]),
        "charts": [
            _chart("Services", services, lambda s: "service:" + _quote_query(s)),
            _chart("Ports", ports, lambda p: "port:" + p.split("/")[0]),
            _chart("Products", products, lambda p: "product:" + _quote_query(p)),
        ],
    }


def _page_data(records: Sequence[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The records for the page's script, in host-then-port order, with derived fields."""
    ordered = sorted(records, key=lambda r: (_ip_key(r["ip"]), r["port"], r["transport"]))
    return [
        {**r, "tls_problems": tls_problems(r["tls"], now), "unknown": _is_unknown(r)}
        for r in ordered
    ]


def script_json(data: object) -> Markup:
    """JSON safe to place inside a `<script>` element: no `</script>`, no `<!--`."""
    # ensure_ascii: every control, bidi or line-separator character is a \\u escape too.
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(_TEMPLATE_PACKAGE, _TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["printable"] = printable
    env.filters["n"] = _thousands
    return env


def _thousands(value: int) -> str:
    return f"{value:,}"


@functools.cache
def _asset(name: str) -> str:
    text = (
        importlib.resources.files(_TEMPLATE_PACKAGE)
        .joinpath(_TEMPLATE_DIR, name)
        .read_text(encoding="utf-8")
    )
    if re.search(r"</(script|style)|<!--", text, re.IGNORECASE):
        raise RuntimeError(f"{name} must not contain a closing script/style tag")
    return text


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def render_report(
    records: Sequence[dict[str, Any]], title: str, generated_at: datetime
) -> str:
    """The whole report as one HTML document.

    `records` are dicts as docs/output.md describes (`ServiceRecord.to_dict()`, or what
    `load_records` returns); they are checked again, so a bad one raises ReportInputError.
    """
    now = generated_at if generated_at.tzinfo else generated_at.replace(tzinfo=UTC)
    records = [check_record(r, "<records>", i) for i, r in enumerate(records, 1)]
    script = _asset("report.js")
    style = _asset("report.css")
    page = {"page_size": PAGE_SIZE, "records": _page_data(records, now)}
    return _environment().get_template("report.html.j2").render(
        title=title,
        generated_at=now.isoformat(timespec="seconds"),
        summary=summarize(records, now),
        expiry_days=EXPIRY_WARNING.days,
        data=script_json(page),
        script=Markup(script),
        style=Markup(style),
        script_hash=_csp_hash(script),
    )
