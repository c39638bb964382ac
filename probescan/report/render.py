"""Rendering the report: jinja2 (autoescape on), the records as one JSON blob for the page's
script, inline CSS and JavaScript, and an atomic write of the file."""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.resources
import json
import os
import re
import socket
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from probescan.report.charts import printable
from probescan.report.scanners import summarize_scans
from probescan.report.schema import check_record, scan_records, split_records
from probescan.report.summary import (
    EXPIRY_WARNING,
    flow_unknown,
    is_unknown,
    summarize_checked,
    tls_problems,
)

PAGE_SIZE = 200  # table rows the page shows at a time

_TEMPLATE_PACKAGE = "probescan.report"
_TEMPLATE_DIR = "templates"


@functools.lru_cache(maxsize=65536)
def _ip_key(ip: str) -> tuple[int, int, str]:
    """Addresses in numeric order, IPv4 before IPv6, anything else last."""
    for version, family in ((4, socket.AF_INET), (6, socket.AF_INET6)):
        try:
            return (version, int.from_bytes(socket.inet_pton(family, ip), "big"), "")
        except (OSError, ValueError):
            continue
    return (9, 0, ip)


def _page_data(records: Sequence[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The records for the page's script, in host-then-port order, with derived fields."""
    ordered = sorted(records, key=lambda r: (_ip_key(r["ip"]), r["port"], r["transport"]))
    return [
        {**r, "tls_problems": tls_problems(r["tls"], now), "unknown": is_unknown(r)}
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
                    "unknown": flow_unknown(f)})
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

    `records` are endpoint records (docs/output.md, `ServiceRecord.to_dict()`), flow
    records (`FlowRecord.to_dict()`) and scan records (`ScanRecord.to_dict()`), in any mix,
    or what `load_records` returns; they are checked again, so a bad one raises
    ReportInputError. An endpoint met more than once (also inside a flow's probes) shows the
    last one met.
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
        summary=summarize_checked(endpoints, flows, now),
        scanners=summarize_scans(scan_records(checked)),
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
