"""HTML report: scan and watch records in, one self-contained HTML file out.

Three steps, all free of terminal I/O:

* `load_records(paths)` reads JSON Lines files (endpoint records as `probescan scan -o`
  writes them, see docs/output.md, and flow records, `"kind": "flow"`, as `probescan watch
  -o` writes them, mixed in any order) and SQLite stores (probescan/output/store.py), checks
  every record and returns them normalized. Bad input raises `ReportInputError`, whose text
  is one line naming the file and line. Input kinds are recognised by their first bytes and
  read by a loader from `LOADERS`.
* `render_report(records, title, generated_at)` returns the HTML text: jinja2 with
  autoescape for everything rendered on the server, the records for the page's script as
  one JSON blob in `<script type="application/json">` (with `<`, `>`, `&` written as
  `\\u003c`, ...), inline CSS, inline JavaScript and inline SVG charts. The page fetches
  nothing: a Content-Security-Policy with `default-src 'none'` and the script's own
  sha256 hash forbids every load and every script but the report's.
* `write_report(records, path, title)` checks and renders records a run collected
  (`probescan scan --html`, `probescan watch --html`) and writes the file atomically.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.resources
import json
import math
import os
import re
import socket
import sys
import tempfile
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
TIMELINE_BUCKETS = 60  # at most this many bars in the flows timeline
TIMELINE_SERVICES = 7  # services with their own colour in the timeline; the rest is "other"

_TEMPLATE_PACKAGE = "probescan.output"
_TEMPLATE_DIR = "templates"


class ReportInputError(Exception):
    """Input that cannot be reported on; `str()` is one line: `FILE[:LINE]: problem`.

    `line` is a line number (JSON Lines), a place in a store (`flows row 3`) or None.
    """

    def __init__(self, source: str, problem: str, line: int | str | None = None) -> None:
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

    where: int | str  # line number (JSON Lines) or table and row (a store: "flows row 3")
    data: object


# An input kind: a name, a test on the first 16 bytes of the file, and a loader that opens
# the file itself (a SQLite store is opened by name, not read as a stream) and yields its
# raw records; it raises ReportInputError for what is not a record at all, and may raise
# OSError. A new kind is one more entry in LOADERS.
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
    """A store written by probescan.output.store.Store: its flows, then its endpoints.

    The endpoints table holds the latest result per endpoint (the watcher stores every probe
    result there too), so it comes last and wins over the probes nested in older flows.
    """
    from probescan.output.store import StoreError, read_store

    try:
        endpoints, flows = read_store(Path(path))
    except StoreError as e:
        cause = e.__cause__ if e.__cause__ is not None else e
        raise ReportInputError(path, f"not a readable probescan store: {cause}") from None
    except (ValueError, RecursionError):  # a stored record that is not JSON
        raise ReportInputError(path, "a stored record is not JSON") from None
    for number, data in enumerate(flows, 1):
        yield RawRecord(f"flows row {number}", data)
    for number, data in enumerate(endpoints, 1):
        yield RawRecord(f"endpoints row {number}", data)


SQLITE_MAGIC = b"SQLite format 3\x00"

# First match wins; the last entry takes anything (JSON Lines has no magic bytes).
LOADERS: list[InputKind] = [
    InputKind("sqlite", lambda head: head.startswith(SQLITE_MAGIC), _load_sqlite),
    InputKind("jsonl", lambda head: True, _load_jsonl),
]


def load_records(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Read and check every record of every input; "-" reads JSON Lines from standard input.

    Returns the flow records in reading order, then the endpoint records: one per endpoint
    (ip, port, transport), the last one read, where an endpoint record nested in a flow
    (`probes.server`, `probes.client`) counts as read where its flow was. So a rescan given
    after the first scan replaces its records, and `render_report` of the result shows the
    same as of the inputs in their order.
    """
    checked = (record for path in paths for record in _load_one(str(path)))
    endpoints, flows = split_records(checked)
    return [*flows, *endpoints]


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


class CheckedRecord(dict[str, Any]):
    """An endpoint record that check_record made: render_report does not check it again."""


class CheckedFlow(dict[str, Any]):
    """A flow record that check_record made (`"kind": "flow"`)."""


def split_records(
    records: Iterable[dict[str, Any]],
) -> tuple[list[CheckedRecord], list[CheckedFlow]]:
    """Checked records -> (endpoint records, flow records).

    Endpoints: one per (ip, port, transport), the last one met, an endpoint nested in a
    flow's probes counting at its flow's place; in the order of their last meeting. Flows:
    all, in order.
    """
    by_endpoint: dict[tuple[str, int, str], CheckedRecord] = {}

    def put(record: CheckedRecord) -> None:
        key = (record["ip"], record["port"], record["transport"])
        by_endpoint.pop(key, None)  # re-insert: keep the order of the last reading
        by_endpoint[key] = record

    flows: list[CheckedFlow] = []
    for record in records:
        if type(record) is CheckedFlow:
            flows.append(record)
            probes = record["probes"]
            for side in ("server", "client"):
                if probes[side] is not None:
                    put(probes[side])
        elif type(record) is CheckedRecord:
            put(record)
        else:
            raise TypeError("split_records takes what check_record returns")
    return list(by_endpoint.values()), flows


_STRING_FIELDS = ("hostname", "service", "product", "version", "info", "host", "os",
                  "device", "tunnel", "method", "error")
_TLS_STRING_FIELDS = ("version", "cipher", "alpn", "subject", "issuer", "not_before",
                      "not_after", "serial", "sha256")
_EVIDENCE_FIELDS = ("probe", "fingerprint", "source", "tunnel", "raw")
_FLOW_STRING_FIELDS = ("service", "product", "version", "info", "method", "roles")
_PASSIVE_STRING_FIELDS = ("fingerprint", "source", "as_reply_to", "protocol", "client_raw",
                          "server_raw")
_LAST_TIME = 253402300800  # 10000-01-01T00:00:00Z: times must be before it


def check_record(data: object, source: str, where: int | str) -> dict[str, Any]:
    """A record checked and completed: an endpoint record or a flow record.

    A record with `"kind": "flow"` is a flow record (FlowRecord.to_dict() of
    probescan/watch/label.py); one without `kind` is an endpoint record (docs/output.md).
    Endpoint records need `ip`, `port`, `transport` and `state`; flow records `client` and
    `server` (each `{"ip", "port"}`) and `transport`. Every other field may be missing (older
    or newer writers) and gets its empty value; fields the report does not show (`timings`)
    are dropped. A field of the wrong type is an error. Strings are kept as they are: the
    page makes control and bidi characters visible when it shows them.
    """
    if type(data) is CheckedRecord or type(data) is CheckedFlow:
        return data

    def fail(problem: str) -> ReportInputError:
        return ReportInputError(source, problem, where)

    if not isinstance(data, dict):
        raise fail("not a JSON object")
    kind = data.get("kind")
    if kind == "flow":
        return _check_flow(data, source, where, fail)
    if kind is not None and kind != "endpoint":
        shown = json.dumps(kind)  # quoted, control characters escaped
        raise fail(f"unknown record kind {shown if len(shown) <= 40 else shown[:40] + '...'}")
    return _check_endpoint(data, f"{source}:{where}", fail)


def _check_endpoint(
    data: dict[str, Any], origin: str, fail: Callable[[str], ReportInputError]
) -> CheckedRecord:
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
        out[name] = _opt_str(get(name), name, fail)
    if out["method"] is None:
        out["method"] = "none"
    out["confidence"] = _confidence(get("confidence"), fail)
    out["cpe"] = _str_list(get("cpe"), "cpe", fail)

    tls = get("tls")
    if tls is not None:
        if not isinstance(tls, dict):
            raise fail("'tls' must be an object or null")
        t: dict[str, Any] = {}
        for name in _TLS_STRING_FIELDS:
            t[name] = _opt_str(tls.get(name), f"tls.{name}", fail)
        t["sans"] = _str_list(tls.get("sans"), "tls.sans", fail)
        t["self_signed"] = _opt_bool(tls.get("self_signed"), "tls.self_signed", fail)
        tls = t
    out["tls"] = tls

    out["evidence"] = _evidence_list(get("evidence"), "evidence", fail)
    out["unmatched"] = _evidence_list(get("unmatched"), "unmatched", fail)
    out["anomalies"] = _text_list(get("anomalies"), "anomalies", fail)
    given = get("origin")
    out["origin"] = given if type(given) is str else origin
    return out


def _check_flow(
    data: dict[str, Any], source: str, where: int | str,
    fail: Callable[[str], ReportInputError],
) -> CheckedFlow:
    get = data.get
    for name in ("client", "server", "transport"):
        if get(name) is None:
            raise fail(f"flow record has no {name!r}")
    transport = get("transport")
    if type(transport) is not str or not transport:
        raise fail("'transport' must be a non-empty string")
    out = CheckedFlow(kind="flow", id=_opt_int(get("id"), "id", fail), transport=transport)
    for side in ("client", "server"):
        out[side] = _address(get(side), side, fail)
    for name in _FLOW_STRING_FIELDS:
        out[name] = _opt_str(get(name), name, fail)
    if out["method"] is None:
        out["method"] = "none"
    out["confidence"] = _confidence(get("confidence"), fail)
    out["cpe"] = _str_list(get("cpe"), "cpe", fail)
    out["midstream"] = _opt_bool(get("midstream"), "midstream", fail)
    out["vlan"] = _opt_int(get("vlan"), "vlan", fail)
    out["first_seen"] = _opt_time(get("first_seen"), "first_seen", fail)
    out["last_seen"] = _opt_time(get("last_seen"), "last_seen", fail)
    for name in ("packets", "bytes"):
        out[name] = _counters(get(name), name, fail)
    out["conflicts"] = _text_list(get("conflicts"), "conflicts", fail)
    out["anomalies"] = _text_list(get("anomalies"), "anomalies", fail)

    passive = get("passive")
    if passive is not None and type(passive) is not dict:
        raise fail("'passive' must be an object or null")
    passive = passive or {}
    p: dict[str, Any] = {}
    for name in _PASSIVE_STRING_FIELDS:
        p[name] = _opt_str(passive.get(name), f"passive.{name}", fail)
    for side in ("client", "server"):
        p[side] = _facts(passive.get(side), f"passive.{side}", fail)
    out["passive"] = p

    probes = get("probes")
    if probes is not None and type(probes) is not dict:
        raise fail("'probes' must be an object or null")
    probes = probes or {}
    origin = f"{source}:{where}"
    checked: dict[str, Any] = {}
    for side in ("server", "client"):
        value = probes.get(side)
        if value is None:
            checked[side] = None
            continue
        name = f"probes.{side}"

        def nested_fail(problem: str, name: str = name) -> ReportInputError:
            return ReportInputError(source, f"{name}: {problem}", where)

        if type(value) is not dict or value.get("kind") is not None:
            raise fail(f"{name!r} must be an endpoint record or null")
        checked[side] = _check_endpoint(value, f"{origin} {name}", nested_fail)
    checked["queued"] = _str_list(probes.get("queued"), "probes.queued", fail)
    out["probes"] = checked
    given = get("origin")
    out["origin"] = given if type(given) is str else origin
    return out


def _opt_str(value: object, name: str, fail: Callable[[str], Exception]) -> str | None:
    if value is not None and type(value) is not str:
        raise fail(f"{name!r} must be a string or null")
    return value


def _opt_int(value: object, name: str, fail: Callable[[str], Exception]) -> int | None:
    if value is not None and type(value) is not int:
        raise fail(f"{name!r} must be an integer or null")
    return value


def _opt_bool(value: object, name: str, fail: Callable[[str], Exception]) -> bool | None:
    if value is not None and type(value) is not bool:
        raise fail(f"{name!r} must be true, false or null")
    return value


def _confidence(value: object, fail: Callable[[str], Exception]) -> int:
    if value is None:
        return 0
    if type(value) is not int:
        raise fail("'confidence' must be an integer")
    return value


def _opt_time(value: object, name: str, fail: Callable[[str], Exception]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        0 <= value < _LAST_TIME  # also refuses NaN
    ):
        raise fail(f"{name!r} must be a time in seconds since 1970 or null")
    return float(value)


def _address(value: object, name: str, fail: Callable[[str], Exception]) -> dict[str, Any]:
    if type(value) is not dict:
        raise fail(f"{name!r} must be an object with 'ip' and 'port'")
    ip, port = value.get("ip"), value.get("port")
    if type(ip) is not str or not ip:
        raise fail(f"'{name}.ip' must be a non-empty string")
    if type(port) is not int or not 0 <= port <= 65535:
        raise fail(f"'{name}.port' must be an integer 0..65535")
    return {"ip": ip, "port": port}


def _counters(value: object, name: str, fail: Callable[[str], Exception]) -> dict[str, Any]:
    if value is None:
        return {"c2s": None, "s2c": None}
    if type(value) is not dict:
        raise fail(f"{name!r} must be an object or null")
    return {d: _opt_int(value.get(d), f"{name}.{d}", fail) for d in ("c2s", "s2c")}


def _str_list(value: object, name: str, fail: Callable[[str], Exception]) -> list[str]:
    if value is None:
        return []
    if type(value) is not list or not all(type(v) is str for v in value):
        raise fail(f"{name!r} must be a list of strings")
    return value


def _as_text(value: object) -> str:
    return value if type(value) is str else json.dumps(value, ensure_ascii=False,
                                                       sort_keys=True)


def _text_list(value: object, name: str, fail: Callable[[str], Exception]) -> list[str]:
    """A list whose items are shown as text: strings as they are, anything else as JSON."""
    if value is None:
        return []
    if type(value) is not list:
        raise fail(f"{name!r} must be a list")
    return [_as_text(v) for v in value]


def _facts(
    value: object, name: str, fail: Callable[[str], Exception]
) -> dict[str, str | list[str] | None]:
    """Passive facts (SNI, JA3, User-Agent, ...): open-ended, so every value becomes text."""
    if value is None:
        return {}
    if type(value) is not dict:
        raise fail(f"{name!r} must be an object or null")
    out: dict[str, str | list[str] | None] = {}
    for key, v in value.items():
        if v is None or type(v) is str:
            out[key] = v
        elif type(v) is list:
            out[key] = [_as_text(x) for x in v]
        else:
            out[key] = _as_text(v)
    return out


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
        out.append({key: _opt_str(item.get(key), f"{name}.{key}", fail)
                    for key in _EVIDENCE_FIELDS})
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


def _flow_unknown(f: dict[str, Any]) -> bool:
    return f["service"] is None or f["service"] in UNKNOWN_SERVICES


@functools.lru_cache(maxsize=65536)
def _ip_key(ip: str) -> tuple[int, int, str]:
    """Addresses in numeric order, IPv4 before IPv6, anything else last."""
    for version, family in ((4, socket.AF_INET), (6, socket.AF_INET6)):
        try:
            return (version, int.from_bytes(socket.inet_pton(family, ip), "big"), "")
        except (OSError, ValueError):
            continue
    return (9, 0, ip)


def _address_text(a: dict[str, Any]) -> str:
    ip = a["ip"]
    return f"[{ip}]:{a['port']}" if ":" in ip else f"{ip}:{a['port']}"


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
    target: str = "services"  # the table a click filters: "services" or "flows"
    empty: str = "nothing open"


def _chart(title: str, counts: Counter[str], query: Callable[[str], str],
           target: str = "services", empty: str = "nothing open") -> Chart:
    top = counts.most_common(CHART_BARS)
    peak = top[0][1] if top else 1
    bars = [Bar(label, n, n / peak, query(label)) for label, n in top]
    return Chart(title, bars, max(0, len(counts) - len(top)), target, empty)


def _quote_query(value: str) -> str:
    return f'"{value}"' if any(c.isspace() or c == '"' for c in value) else value


# ---- the flows timeline: inline SVG, flows per time bucket stacked by service --------------

# Bucket widths in seconds, the smallest that gives at most TIMELINE_BUCKETS bars is used.
_NICE_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                 21600, 43200, 86400, 172800, 604800, 2592000)
TL_WIDTH, TL_LEFT, TL_RIGHT, TL_TOP, TL_PLOT, TL_BOTTOM = 960, 48, 8, 8, 150, 22


@dataclass(frozen=True, slots=True)
class Segment:
    y: float
    height: float
    cls: str  # colour class: c0.. for the top services, co for the others


@dataclass(frozen=True, slots=True)
class Column:
    x: float
    width: float
    segments: list[Segment]
    title: str  # the tooltip: time range, count, count per service
    query: str  # from:... to:... for the flows table


@dataclass(frozen=True, slots=True)
class Legend:
    label: str
    cls: str
    count: int
    query: str  # empty for "other"


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class Timeline:
    columns: list[Column]
    legend: list[Legend]
    ticks: list[Tick]
    peak: int
    bucket: str  # "5 minutes"
    start: str
    end: str
    untimed: int  # flows without a first_seen time
    buckets: int  # bars the time range is cut into (empty ones included)
    width: int = TL_WIDTH
    height: int = TL_TOP + TL_PLOT + TL_BOTTOM
    left: int = TL_LEFT
    top: int = TL_TOP
    bottom: int = TL_TOP + TL_PLOT


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _readable(ts: float) -> str:
    return _utc(ts).strftime("%Y-%m-%d %H:%M:%S")


def _query_time(ts: float) -> str:
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return f"{seconds} second" + ("s" if seconds != 1 else "")


def _bucket_width(first: float, last: float) -> int:
    for width in _NICE_SECONDS:
        if math.floor(last / width) - math.floor(first / width) < TIMELINE_BUCKETS:
            return width
    days = math.ceil((last - first) / (TIMELINE_BUCKETS - 2) / 86400)
    return days * 86400


def timeline(flows: Sequence[dict[str, Any]]) -> Timeline | None:
    """Flows per time bucket, stacked by the TIMELINE_SERVICES most common services."""
    timed = [f for f in flows if f["first_seen"] is not None]
    if not timed:
        return None
    times = [f["first_seen"] for f in timed]
    first, last = min(times), max(times)
    width = _bucket_width(first, last)
    start = math.floor(first / width) * width
    n = math.floor(last / width) - math.floor(first / width) + 1
    services = Counter(f["service"] or "unknown" for f in timed)
    top = [s for s, _ in services.most_common(TIMELINE_SERVICES)]
    cls = {s: f"c{i}" for i, s in enumerate(top)}
    buckets: list[Counter[str]] = [Counter() for _ in range(n)]
    for f in timed:
        i = min(n - 1, int((f["first_seen"] - start) // width))
        buckets[i][f["service"] or "unknown"] += 1
    peak = max(sum(b.values()) for b in buckets)
    plot_w = TL_WIDTH - TL_LEFT - TL_RIGHT
    col_w = plot_w / n
    gap = 1.0 if col_w > 4 else 0.0
    columns: list[Column] = []
    for i, b in enumerate(buckets):
        total = sum(b.values())
        if not total:
            continue
        t0 = start + i * width
        y = float(TL_TOP + TL_PLOT)
        segments = []
        order = [s for s in top if b[s]]
        other = sum(c for s, c in b.items() if s not in cls)
        for s in order:
            h = b[s] / peak * TL_PLOT
            y -= h
            segments.append(Segment(round(y, 2), round(h, 2), cls[s]))
        if other:
            h = other / peak * TL_PLOT
            y -= h
            segments.append(Segment(round(y, 2), round(h, 2), "co"))
        parts = [f"{printable(s)} {b[s]:,}" for s in order]
        if other:
            parts.append(f"other {other:,}")
        title = (f"{_readable(t0)} \u2013 {_utc(t0 + width):%H:%M:%S} UTC: {total:,} "
                 f"flow{'s' if total != 1 else ''} ({', '.join(parts)})")
        columns.append(Column(round(TL_LEFT + i * col_w, 2), round(max(col_w - gap, 0.5), 2),
                              segments, title,
                              f"from:{_query_time(t0)} to:{_query_time(t0 + width)}"))
    if width >= 86400:
        tick_format = "%Y-%m-%d"
    elif math.floor(start / 86400) != math.floor((start + n * width) / 86400):
        tick_format = "%m-%d %H:%M"
    elif width < 60:
        tick_format = "%H:%M:%S"
    else:
        tick_format = "%H:%M"
    step = max(1, math.ceil(n / 6))
    ticks = [Tick(round(TL_LEFT + i * col_w, 2), _utc(start + i * width).strftime(tick_format))
             for i in range(0, n, step)]
    legend = [Legend(printable(s), cls[s], services[s], "service:" + _quote_query(s))
              for s in top]
    others = sum(c for s, c in services.items() if s not in cls)
    if others:
        legend.append(Legend("other", "co", others, ""))
    return Timeline(columns, legend, ticks, peak, _duration(width), _readable(first),
                    _readable(last), len(flows) - len(timed), n)


def summarize(records: Sequence[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The summary cards and charts of endpoint and flow records (as check_record makes)."""
    checked = [check_record(r, "<records>", i) for i, r in enumerate(records, 1)]
    endpoints, flows = split_records(checked)
    return _summarize(endpoints, flows, now)


def _summarize(
    records: Sequence[dict[str, Any]], flows: Sequence[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    open_ = [r for r in records if r["state"] == "open"]
    services = Counter(r["service"] for r in open_ if r["service"] and not _is_unknown(r))
    products = Counter(r["product"] for r in open_ if r["product"])
    ports = Counter(f'{r["port"]}/{r["transport"]}' for r in open_)
    states = Counter(r["state"] for r in records)
    tls = [tls_problems(r["tls"], now) for r in records]
    endpoint_anomalies = sum(1 for r in records if r["anomalies"])
    flow_anomalies = sum(1 for f in flows if f["anomalies"])
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
        "anomalies": endpoint_anomalies + flow_anomalies,
        "endpoint_anomalies": endpoint_anomalies,
        "flow_anomalies": flow_anomalies,
        "errors": sum(1 for r in records if r["error"]),
        "charts": [
            _chart("Services", services, lambda s: "service:" + _quote_query(s)),
            _chart("Ports", ports, lambda p: "port:" + p.split("/")[0]),
            _chart("Products", products, lambda p: "product:" + _quote_query(p)),
        ],
        "flows": _summarize_flows(flows) if flows else None,
    }


def _summarize_flows(flows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    server_ports = Counter(f'{f["server"]["port"]}/{f["transport"]}' for f in flows)
    servers = Counter(f["server"]["ip"] for f in flows)
    clients = Counter(f["client"]["ip"] for f in flows)
    unknown = sum(1 for f in flows if _flow_unknown(f))
    return {
        "flows": len(flows),
        "clients": len(clients),
        "servers": len({(f["server"]["ip"], f["server"]["port"], f["transport"])
                        for f in flows}),
        "identified": len(flows) - unknown,
        "service_kinds": len({f["service"] for f in flows if not _flow_unknown(f)}),
        "unknown": unknown,
        "conflicts": sum(1 for f in flows if f["conflicts"]),
        "anomalies": sum(1 for f in flows if f["anomalies"]),
        "probed": sum(1 for f in flows if f["probes"]["server"] or f["probes"]["client"]),
        "timeline": timeline(flows),
        "charts": [
            _chart("Server ports", server_ports, lambda p: "port:" + p.split("/")[0],
                   "flows", "no flows"),
            _chart("Servers", servers, lambda ip: "server:" + ip, "flows", "no flows"),
            _chart("Clients", clients, lambda ip: "client:" + ip, "flows", "no flows"),
        ],
    }


def _page_data(records: Sequence[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The records for the page's script, in host-then-port order, with derived fields."""
    ordered = sorted(records, key=lambda r: (_ip_key(r["ip"]), r["port"], r["transport"]))
    return [
        {**r, "tls_problems": tls_problems(r["tls"], now), "unknown": _is_unknown(r)}
        for r in ordered
    ]


def _flow_page_data(flows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flows for the page's script, by first_seen, with derived fields.

    `cord` / `sord` rank the client / server address (ip in numeric order, then port) so
    the page sorts by them without parsing addresses.
    """
    order = sorted(range(len(flows)), key=lambda i: (
        flows[i]["first_seen"] is None, flows[i]["first_seen"] or 0.0, i))
    addresses = {(f[side]["ip"], f[side]["port"]) for f in flows for side in ("client", "server")}
    rank = {a: n for n, a in enumerate(sorted(addresses, key=lambda a: (_ip_key(a[0]), a[1])))}
    out = []
    for i in order:
        f = flows[i]
        out.append({**f, "cord": rank[f["client"]["ip"], f["client"]["port"]],
                    "sord": rank[f["server"]["ip"], f["server"]["port"]],
                    "unknown": _flow_unknown(f)})
    return out


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

    `records` are endpoint records (docs/output.md, `ServiceRecord.to_dict()`) and flow
    records (`FlowRecord.to_dict()`), in any mix, or what `load_records` returns; they are
    checked again, so a bad one raises ReportInputError. An endpoint met more than once
    (also inside a flow's probes) shows the last one met.
    """
    now = generated_at if generated_at.tzinfo else generated_at.replace(tzinfo=UTC)
    checked = [check_record(r, "<records>", i) for i, r in enumerate(records, 1)]
    endpoints, flows = split_records(checked)
    script = _asset("report.js")
    style = _asset("report.css")
    page = {"page_size": PAGE_SIZE, "records": _page_data(endpoints, now),
            "flows": _flow_page_data(flows)}
    return _environment().get_template("report.html.j2").render(
        title=title,
        generated_at=now.isoformat(timespec="seconds"),
        summary=_summarize(endpoints, flows, now),
        expiry_days=EXPIRY_WARNING.days,
        data=script_json(page),
        script=Markup(script),
        style=Markup(style),
        script_hash=_csp_hash(script),
    )


def write_report(records: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    """Check `records` (endpoint and flow dicts, as load_records takes them), render them
    and write the report to `path` atomically (beside it, then renamed): a reader never
    sees half a report, and on any error nothing is written.

    For `probescan scan --html` / `probescan watch --html` at the end of a run. Raises
    ReportInputError for a bad record (`<records>:N: problem`) and OSError when the file
    cannot be written.
    """
    write_atomically(Path(path), render_report(records, title, datetime.now(UTC)))


def write_atomically(path: Path, text: str) -> None:
    """Write beside the target and rename, so a reader never sees half a file."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask; read from /proc where it can be (setting it to read it back is
    not thread-safe, and `watch` may still have threads running)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask
