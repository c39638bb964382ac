"""The report's charts: bar charts of counts and the flows timeline (inline SVG), and
`printable`, which makes control and bidi characters in their labels visible."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CHART_BARS = 15
TIMELINE_BUCKETS = 60  # at most this many bars in the flows timeline
TIMELINE_SERVICES = 7  # services with their own colour in the timeline; the rest is "other"

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


def chart(title: str, counts: Counter[str], query: Callable[[str], str],
           target: str = "services", empty: str = "nothing open") -> Chart:
    top = counts.most_common(CHART_BARS)
    peak = top[0][1] if top else 1
    bars = [Bar(label, n, n / peak, query(label)) for label, n in top]
    return Chart(title, bars, max(0, len(counts) - len(top)), target, empty)


def quote_query(value: str) -> str:
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
    legend = [Legend(printable(s), cls[s], services[s], "service:" + quote_query(s))
              for s in top]
    others = sum(c for s, c in services.items() if s not in cls)
    if others:
        legend.append(Legend("other", "co", others, ""))
    return Timeline(columns, legend, ticks, peak, _duration(width), _readable(first),
                    _readable(last), len(flows) - len(timed), n)
