"""The report's Scanners section (scan records, `"kind": "scan"`): shares of scan types,
scan-size histograms of horizontal and vertical scans, the most probed TCP and UDP ports,
packets by hour of the day, and tables per /24 (/48), per AS and per scan. Server-rendered:
it needs no script."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from probescan.report.charts import Chart, chart

TABLE_ROWS = 200  # rows of the per-scan table (the biggest scans)
GROUP_ROWS = 50  # rows of the per-/24 and per-AS tables
# scan-size buckets: (label, lowest size)
SIZES = ((1, "1"), (2, "2-9"), (10, "10-24"), (25, "25-99"), (100, "100-999"),
         (1000, "1k-9.9k"), (10000, "10k-99k"), (100000, "100k+"))


@dataclass(frozen=True, slots=True)
class Hours:
    """Packets by hour of the day (UTC): 24 columns."""

    columns: list[tuple[int, float, int]]  # (hour, height 0..1, packets)
    peak: int


def _size_label(n: int) -> str:
    label = SIZES[0][1]
    for low, name in SIZES:
        if n >= low:
            label = name
    return label


def _histogram(title: str, sizes: list[int], unit: str) -> Chart:
    counts: Counter[str] = Counter(_size_label(n) for n in sizes)
    order = [name for _, name in SIZES]
    ordered = Counter({name: counts[name] for name in order if counts[name]})
    c = chart(title, ordered, lambda s: "", "scans", f"no {unit}")
    bars = sorted(c.bars, key=lambda b: order.index(b.label))  # by size, not by count
    return Chart(c.title, bars, 0, "scans", c.empty)


def _hours(scans: Sequence[dict[str, Any]]) -> Hours | None:
    """Each scan's packets spread evenly over the hours it lasted."""
    by_hour = [0.0] * 24
    for s in scans:
        first, last, packets = s["first_seen"], s["last_seen"], s["packets"]
        if first is None or not packets:
            continue
        last = max(first, last if last is not None else first)
        start, end = math.floor(first / 3600), math.floor(last / 3600)
        hours = end - start + 1
        for h in range(start, min(end, start + 23) + 1):
            by_hour[h % 24] += packets / min(hours, 24)
    peak = max(by_hour)
    if not peak:
        return None
    return Hours([(h, v / peak, round(v)) for h, v in enumerate(by_hour)], round(peak))


def _ports(scans: Sequence[dict[str, Any]], transport: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for s in scans:
        for p in s["ports"]["top"]:
            if p["transport"] == transport:
                out[str(p["port"])] += p["probes"]
    return out


def _table(scans: Sequence[dict[str, Any]], key: Any) -> list[dict[str, Any]]:
    rows: dict[Any, dict[str, Any]] = {}
    for s in scans:
        k = key(s)
        if k is None:
            continue
        row = rows.setdefault(k, {"key": k, "scans": 0, "sources": set(), "packets": 0,
                                  "tools": Counter(), "types": Counter()})
        row["scans"] += 1
        row["sources"].update(s["members"])
        row["packets"] += s["packets"]
        row["tools"][s["tool"]] += 1
        row["types"][s["type"]] += 1
    out = []
    for row in sorted(rows.values(), key=lambda r: (-r["packets"], str(r["key"]))):
        out.append({**row, "sources": len(row["sources"]),
                    "tools": ", ".join(t for t, _ in row["tools"].most_common()),
                    "types": ", ".join(t for t, _ in row["types"].most_common())})
    return out[:GROUP_ROWS]


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def summarize_scans(scans: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The Scanners section of checked scan records; None without any."""
    if not scans:
        return None
    types: Counter[str] = Counter(s["type"] for s in scans)
    tools: Counter[str] = Counter(s["tool"] for s in scans)
    horizontal = [s["targets"]["count"] for s in scans if s["shape"] == "horizontal"]
    vertical = [s["ports"]["count"] for s in scans if s["shape"] == "vertical"]
    biggest = sorted(scans, key=lambda s: -s["packets"])[:TABLE_ROWS]
    return {
        "scans": len(scans),
        "sources": len({m for s in scans for m in s["members"]}),
        "packets": sum(s["packets"] for s in scans),
        "prefixes": len({s["source"]["group"] for s in scans}),
        "charts": [
            chart("Scan types", types, lambda t: "", "scans", "no scans"),
            chart("Tools", tools, lambda t: "", "scans", "no scans"),
            _histogram("Horizontal scans by hosts scanned", horizontal, "horizontal scans"),
            _histogram("Vertical scans by ports scanned", vertical, "vertical scans"),
            chart("Most probed TCP ports", _ports(scans, "tcp"), lambda p: "", "scans",
                  "no TCP probes"),
            chart("Most probed UDP ports", _ports(scans, "udp"), lambda p: "", "scans",
                  "no UDP probes"),
        ],
        "hours": _hours(scans),
        "prefix_rows": _table(scans, lambda s: s["source"]["group"]),
        "asn_rows": _table(scans, lambda s: (
            f"AS{s['source']['asn']}" + (f" {s['source']['as_name']}"
                                         if s["source"]["as_name"] else ""))
            if s["source"]["asn"] is not None else None),
        "rows": [{**s, "who": s["source"]["ip"] or
                  f"{s['source']['group']} ({len(s['members'])} sources)",
                  "first": _when(s["first_seen"]), "last": _when(s["last_seen"])}
                 for s in biggest],
        "more": max(0, len(scans) - TABLE_ROWS),
    }

