"""HTML report: scan and watch records in, one self-contained HTML file out.

Three steps, all free of terminal I/O:

* `load_records(paths)` (load.py) reads JSON Lines files (endpoint records as `probescan
  scan -o` writes them, see docs/output.md, and flow records, `"kind": "flow"`, as
  `probescan watch -o` writes them, mixed in any order) and SQLite stores
  (probescan/output/store.py), checks every record (schema.py, driven by the record schema
  of probescan/schema.py) and returns them normalized. Bad input raises `ReportInputError`,
  whose text is one line naming the file and line. Input kinds are recognised by their
  first bytes and read by a loader from `LOADERS`.
* `render_report(records, title, generated_at)` (render.py) returns the HTML text: jinja2
  with autoescape for everything rendered on the server (the summary of summary.py, the
  charts and timeline of charts.py), the records for the page's script as one JSON blob in
  `<script type="application/json">` (with `<`, `>`, `&` written as `\\u003c`, ...),
  inline CSS, inline JavaScript and inline SVG charts (templates/). The page fetches
  nothing: a Content-Security-Policy with `default-src 'none'` and the script's own
  sha256 hash forbids every load and every script but the report's.
* `write_report(records, path, title)` (render.py) checks and renders records a run
  collected (`probescan scan --html`, `probescan watch --html`) and writes the file
  atomically.
"""

from probescan.report.charts import Timeline, printable, timeline
from probescan.report.load import LOADERS, InputKind, RawRecord, load_records
from probescan.report.render import render_report, script_json, write_atomically, write_report
from probescan.report.schema import (
    CheckedFlow,
    CheckedRecord,
    ReportInputError,
    check_record,
    split_records,
)
from probescan.report.summary import EXPIRY_WARNING, summarize, tls_problems

__all__ = [
    "EXPIRY_WARNING",
    "LOADERS",
    "CheckedFlow",
    "CheckedRecord",
    "InputKind",
    "RawRecord",
    "ReportInputError",
    "Timeline",
    "check_record",
    "load_records",
    "printable",
    "render_report",
    "script_json",
    "split_records",
    "summarize",
    "timeline",
    "tls_problems",
    "write_atomically",
    "write_report",
]
