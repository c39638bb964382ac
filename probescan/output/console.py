"""The terminal: a progress bar while scanning and a table of results at the end (rich)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from probescan.model import ServiceRecord


def safe(value: str | None) -> str:
    """Banners are untrusted: drop control characters before they reach a terminal."""
    if not value:
        return ""
    return "".join(c if c.isprintable() else "?" for c in value)


def progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[open]} open"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def results_table(records: Iterable[ServiceRecord]) -> Table:
    table = Table(title="probescan results", show_lines=False, header_style="bold")
    table.add_column("endpoint", no_wrap=True)
    for col in ("state", "service", "product", "version", "info", "tls", "method"):
        table.add_column(col, overflow="fold")

    def order(r: ServiceRecord) -> tuple[str, int]:
        return (r.endpoint.ip, r.endpoint.port)

    for r in sorted(records, key=order):
        service = safe(r.service)
        if r.tunnel:
            service = f"{r.tunnel}/{service}"
        tls = ""
        if r.tls is not None:
            tls = safe(" ".join(x for x in (r.tls.version, r.tls.subject) if x))
        table.add_row(
            Text(str(r.endpoint)), Text(r.state), Text(service), Text(safe(r.product)),
            Text(safe(r.version)), Text(safe(r.info)), Text(tls),
            Text(f"{r.method} ({r.confidence})"),
        )
    return table
