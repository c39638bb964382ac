"""Make docs/report-screenshot.png: a report of the real-server lab, shot in Debian's chromium.

    python3 scripts/report_screenshot.py [--out docs/report-screenshot.png]

Starts the TCP lab (tests/lab/), scans it with `probescan scan`, captures real client
traffic to it and labels that with `probescan watch -r`, renders `probescan report` of both
and takes a full-page screenshot with Playwright driving /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from probescan.cli import main as probescan  # noqa: E402
from tests.lab import Lab, start_default_lab  # noqa: E402
from tests.lab.traffic import capture_client_traffic  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "report-screenshot.png")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        services = start_default_lab(lab)
        hosts = sorted({s.ip for s in services})
        ports = ",".join(str(p) for p in sorted({s.port for s in services}))
        probescan(["scan", *hosts, "-p", ports, "-o", str(t / "scan.jsonl"), "--quiet"])
        capture_client_traffic(services, t / "lab.pcap")
        probescan(["watch", "-r", str(t / "lab.pcap"), "--no-probe", "-q",
                   "-o", str(t / "flows.jsonl")])
        probescan(["report", str(t / "scan.jsonl"), str(t / "flows.jsonl"),
                   "-o", str(t / "report.html"), "--title", "probescan: real-server lab"])
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto((t / "report.html").as_uri())
            page.wait_for_timeout(500)
            page.screenshot(path=str(args.out), full_page=False)
            browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
