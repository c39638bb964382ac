"""`probescan report INPUT... -o report.html`: scan and watch records in, one HTML file out.

Wiring only; the work is in probescan/report/. `add_arguments(parser)`, then `run(args)`
gives the exit status (it reports its own errors, in one line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from probescan.cli.common import fail
from probescan.report import ReportInputError, load_records, write_report

DEFAULT_TITLE = "probescan report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write one self-contained HTML report (no network requests, works offline and as an "
        "e-mail attachment) of scan and watch records."
    )
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT",
        help="JSON Lines files written by 'probescan scan -o' or 'probescan watch -o', or "
        "SQLite stores of 'probescan watch --db' ('-' reads JSON Lines from standard "
        "input); an endpoint found in several keeps the last one read",
    )
    parser.add_argument("-o", "--output", required=True, metavar="REPORT.html",
                        help="write the report here")
    parser.add_argument("--title", default=None,
                        help=f"the report's title (default: '{DEFAULT_TITLE}: INPUT names')")


def default_title(inputs: list[str]) -> str:
    names = [Path(i).name if i != "-" else "stdin" for i in inputs]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{DEFAULT_TITLE}: {shown}"


def run(args: argparse.Namespace) -> int:
    inputs: list[str] = list(args.inputs)
    output = Path(args.output)
    try:
        records = load_records(inputs)
    except ReportInputError as e:
        return fail(e)
    title = args.title if args.title else default_title(inputs)
    try:
        write_report(records, output, title)
    except ReportInputError as e:  # records are checked by load_records; kept for safety
        return fail(e)
    except OSError as e:
        return fail(f"{output}: cannot write: {e.strerror or e}")
    flows = sum(1 for r in records if r.get("kind") == "flow")
    scans = sum(1 for r in records if r.get("kind") == "scan")
    endpoints = [r for r in records if r.get("kind") not in ("flow", "scan")]
    hosts = len({r["ip"] for r in endpoints})
    counts = f"{len(endpoints)} records, {hosts} hosts"
    if flows:
        counts += f", {flows} flows"
    if scans:
        counts += f", {scans} scans"
    print(f"probescan: wrote {output}: {counts}", file=sys.stderr)
    return 0
