"""How fast a report of many records is made, and how fast it is usable in Debian's chromium.

    python3 benchmarks/report_speed.py            # 10,000 endpoints and flows, 100,000 endpoints
    python3 benchmarks/report_speed.py --records 50000 --large 0
    python3 benchmarks/report_speed.py --quick    # 300 of each: does it run?

For each report: the records (synthetic, of the shapes `scan` and `watch` write: TLS facts,
evidence, raw excerpts; the generators of tests/report/) are written as JSON Lines, then
timed in CPU seconds: `load_records` (read and check) and `render_report` (the HTML); the
HTML's size; then, in headless chromium (Playwright driving /usr/bin/chromium), the time
from navigation to the first rows being visible, a search over all records (typing a query
into the table's search box until the table shows its result) and a sort (a click on a
column header until the table is redrawn). There is no peer: no other tool renders these
records. Prints the blocks `report-speed` (see benchmarks/_blocks.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _blocks
from probescan.report import load_records, render_report

CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True)
class Kind:
    """Where a report's rows, search box and a sortable header are, and what to search."""

    name: str
    rows: str  # the tbody id
    box: str  # the search box id
    sort: str  # a column header's sort button
    query: str


ENDPOINTS = Kind("endpoints", "rows", "q", "th[data-sort=port] button", "smtp")
FLOWS = Kind("flows", "flow-rows", "fq", "#flw th[data-sort=client] button", "ssh")


@dataclass(frozen=True)
class Timing:
    kind: str
    count: int
    load: float
    render: float
    megabytes: float
    visible: float
    search: float
    sort: float


def _renders(page: Any, tbody: str) -> int:
    return int(page.get_attribute(f"#{tbody}", "data-renders") or 0)


def _wait_redrawn(page: Any, tbody: str, before: int) -> None:
    page.wait_for_function(
        "([id, n]) => +document.getElementById(id).getAttribute('data-renders') > n",
        arg=[tbody, before], timeout=120_000)


def measure(kind: Kind, records: list[dict[str, Any]], tmp: Path, browser: Any,
            now: Any) -> Timing:
    jsonl = tmp / f"{kind.name}.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    t0 = time.process_time()
    loaded = load_records([jsonl])
    load = time.process_time() - t0
    t1 = time.process_time()
    page_text = render_report(loaded, f"{len(records):,} {kind.name}", now)
    render = time.process_time() - t1
    path = tmp / f"{kind.name}.html"
    path.write_text(page_text, encoding="utf-8")
    page = browser.new_page()
    try:
        t2 = time.perf_counter()
        page.goto(path.as_uri(), timeout=120_000)
        page.wait_for_selector(f"#{kind.rows} tr.rec", timeout=120_000)
        visible = time.perf_counter() - t2
        before = _renders(page, kind.rows)
        t3 = time.perf_counter()
        page.fill(f"#{kind.box}", kind.query)
        _wait_redrawn(page, kind.rows, before)
        search = time.perf_counter() - t3
        page.fill(f"#{kind.box}", "")
        _wait_redrawn(page, kind.rows, before + 1)
        before = _renders(page, kind.rows)
        t4 = time.perf_counter()
        page.click(kind.sort)
        _wait_redrawn(page, kind.rows, before)
        sort = time.perf_counter() - t4
    finally:
        page.close()
    return Timing(kind.name, len(records), load, render, path.stat().st_size / 1e6, visible,
                  search, sort)


def table(timings: list[Timing]) -> list[str]:
    lines = ["| records | count | load (CPU s) | render (CPU s) | HTML (MB) | "
             "first rows visible (s) | search (s) | sort (s) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {t.kind} | {t.count:,} | {t.load:.2f} | {t.render:.2f} | {t.megabytes:.1f} | "
              f"{t.visible:.2f} | {t.search:.2f} | {t.sort:.2f} |" for t in timings]
    return lines


def main() -> int:
    started = time.monotonic()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000,
                    help="endpoint records and flow records in the two main reports")
    ap.add_argument("--large", type=int, default=100_000,
                    help="endpoint records in one more report (0: none)")
    ap.add_argument("--quick", action="store_true", help="300 records of each, no large report")
    args = ap.parse_args()
    if args.quick:
        args.records, args.large = 300, 0
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return _blocks.skip("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        return _blocks.skip(f"{CHROMIUM} is missing (Debian package chromium)")
    from tests.report.test_browser import CHROMIUM_ARGS, NOW, big_records
    from tests.report.test_report import big_flows

    runs = [(ENDPOINTS, big_records, args.records), (FLOWS, big_flows, args.records)]
    if args.large:
        runs.append((ENDPOINTS, big_records, args.large))
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for kind, make, count in runs:
                timings.append(measure(kind, make(count), Path(tmp), browser, NOW))
                print("\n".join(table(timings[-1:])[2:]), flush=True)
        finally:
            browser.close()
    lines = [
        _blocks.data_line("synthetic records", "made by the generators of `tests/report/` "
                          "(`big_records`, `big_flows`): endpoint records with TLS facts, "
                          "evidence and raw excerpts; HTTP flows, one in ten probed. No peer: "
                          "no other tool renders these records.") + "",
        "",
        *table(timings),
        "",
        f"Search: typing `{ENDPOINTS.query}` (endpoints) or `{FLOWS.query}` (flows) into the "
        "table's search box until the table shows the result; sort: one click on the port "
        "(endpoints) or client (flows) column header until the table is redrawn. Load and "
        "render are CPU seconds of `load_records` and `render_report`; the browser times "
        "are wall-clock, in headless Debian chromium.",
        "",
        _blocks.provenance(started),
    ]
    _blocks.emit("report-speed", lines, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
