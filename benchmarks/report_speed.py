"""How fast a 10,000-record report is made and becomes usable in Debian's chromium.

    python3 benchmarks/report_speed.py            # endpoints and flows, 10,000 each
    python3 benchmarks/report_speed.py --records 50000

Prints the CPU time to render each report (`probescan.report.render_report`), its
size, and the time from navigation to the first rows of the table being visible in headless
chromium (Playwright with /usr/bin/chromium), plus a search and a sort over all records.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probescan.report import render_report
from tests.report.test_browser import CHROMIUM_ARGS, NOW, big_records
from tests.report.test_report import big_flows


def measure(kind: str, records: list[dict[str, object]], rows: str, tmp: Path,
            browser: object) -> None:
    path = tmp / f"{kind}.html"
    t0 = time.process_time()
    page_text = render_report(records, f"{len(records):,} {kind}", NOW)
    cpu = time.process_time() - t0
    path.write_text(page_text, encoding="utf-8")
    page = browser.new_page()  # type: ignore[attr-defined]
    t1 = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_selector(rows)
    visible = time.perf_counter() - t1
    print(f"| {kind} | {len(records):,} | {cpu:.3f} | {path.stat().st_size / 1e6:.1f} | "
          f"{visible:.3f} |")
    page.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        print("| records | count | render CPU (s) | HTML (MB) | first rows visible (s) |")
        print("|---|---:|---:|---:|---:|")
        measure("endpoints", big_records(args.records), "#rows tr.rec", Path(tmp), browser)
        measure("flows", big_flows(args.records), "#flow-rows tr.rec", Path(tmp), browser)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
