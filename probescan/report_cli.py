"""`probescan report INPUT... -o report.html`: scan records in, one self-contained HTML file out.

Wiring only; the work is in probescan/output/html.py. Registered by cli.py as the
`report` subcommand: `report_cli.add_arguments(sub.add_parser("report"))`, then
`report_cli.run(args)` gives the exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from probescan.output.html import ReportInputError, load_records, render_report

DEFAULT_TITLE = "probescan report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write one self-contained HTML report (no network requests, works offline and as an "
        "e-mail attachment) of scan records."
    )
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT",
        help="JSON Lines files written by 'probescan scan -o' ('-' reads standard input); "
        "an endpoint found in several keeps the last one read",
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
        return _error(str(e))
    title = args.title if args.title else default_title(inputs)
    try:
        html = render_report(records, title, datetime.now(UTC))
    except ReportInputError as e:  # records are checked by load_records; kept for safety
        return _error(str(e))
    try:
        _write_atomically(output, html)
    except OSError as e:
        return _error(f"{output}: cannot write: {e.strerror or e}")
    hosts = len({r["ip"] for r in records})
    print(f"probescan: wrote {output}: {len(records)} records, {hosts} hosts", file=sys.stderr)
    return 0


def _error(message: str) -> int:
    print(f"probescan: error: {message}", file=sys.stderr)
    return 2


def _write_atomically(path: Path, text: str) -> None:
    """Write beside the target and rename, so a reader never sees half a report."""
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
    mask = os.umask(0)
    os.umask(mask)
    return mask
