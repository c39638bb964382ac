"""The terminal (rich), as sinks: scan shows a progress bar while it runs and a table of
results at the end; watch a live view of the latest flows and a line of counters."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from probescan.model import ServiceRecord

if TYPE_CHECKING:
    from probescan.watch.label import FlowRecord
    from probescan.watch.watcher import Watcher


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


class ScanConsole:
    """The terminal of a scan, as a sink: a progress bar on stderr while it runs (when `bar`
    and stderr is a terminal), then, unless `table` is False, the table of the records in
    `shown` states (every state if None) and a count on stdout."""

    def __init__(self, total: int | None, *, bar: bool, table: bool,
                 shown: Collection[str] | None) -> None:
        self.total = total
        self.table = table
        self.shown = None if shown is None else frozenset(shown)
        self.records: list[ServiceRecord] = []
        self.opened = 0
        self.started = time.monotonic()
        err = Console(stderr=True)
        self._bar = progress(err) if bar and err.is_terminal else None
        self._task: TaskID | None = None

    def start(self) -> None:
        """The scan starts: show the progress bar, start the clock."""
        if self._bar is not None:
            self._task = self._bar.add_task("scan", total=self.total, open=0)
            self._bar.start()
        self.started = time.monotonic()

    def record(self, record: ServiceRecord) -> None:
        if record.state in ("open", "open|filtered"):
            self.opened += 1
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, open=self.opened)
        if self.shown is None or record.state in self.shown:
            self.records.append(record)

    def flow(self, flow: FlowRecord) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self, *, interrupted: bool, failed: bool = False) -> None:
        if self._bar is not None:
            self._bar.stop()
        if failed or not self.table:
            return
        elapsed = time.monotonic() - self.started
        con = Console() if Console().is_terminal else Console(width=160)
        con.print(results_table(self.records))
        con.print(f"{len(self.records)} record(s), {self.opened} open port(s) in {elapsed:.2f} s"
                  + (" (interrupted)" if interrupted else ""))


def watch_view(w: Watcher) -> Table:
    """The live view of `probescan watch`: counters, the latest flows, the top services."""
    s = w.stats
    active = w.active
    secs = max(1e-6, time.monotonic() - s.started)
    lost = f" ({s.dropped} dropped)" if s.dropped else ""
    t = Table(title=f"probescan watch: {s.packets} packets{lost}, {s.flows} flows "
              f"({s.flows / secs:.1f}/s), {s.labeled} labeled, probe queue "
              f"{active.depth if active else 0} (dropped {active.dropped if active else 0})")
    for col in ("client", "server", "label", "method", "anomalies"):
        t.add_column(col, overflow="fold")
    for r in reversed(s.recent[-12:]):
        f = r.flow
        label = " ".join(x for x in (r.label.service, r.label.product, r.label.version) if x)
        t.add_row(f"{f.client[0]}:{f.client[1]}", f"{f.server[0]}:{f.server[1]}/{f.transport}",
                  safe(label), f"{r.label.method} ({r.label.confidence})",
                  safe("; ".join(r.anomalies)))
    top = sorted(s.services.items(), key=lambda kv: -kv[1])[:8]
    t.caption = "top services: " + ", ".join(f"{k} {v}" for k, v in top)
    return t


class WatchConsole:
    """The terminal of `watch`, as a sink: a live view on stderr while it runs (when `live`
    and stderr is a terminal), refreshed at each flush(); then, unless `summary` is False,
    one line of counters on stderr."""

    def __init__(self, *, live: bool, summary: bool) -> None:
        self.err = Console(stderr=True)
        self.live = live and self.err.is_terminal
        self.summary = summary
        self.watcher: Watcher | None = None
        self._live: Live | None = None

    def follow(self, watcher: Watcher) -> None:
        """The watcher starts: show its live view."""
        self.watcher = watcher
        if self.live:
            self._live = Live(watch_view(watcher), console=self.err, refresh_per_second=4,
                              transient=True)
            self._live.start()

    def record(self, record: ServiceRecord) -> None:
        pass

    def flow(self, flow: FlowRecord) -> None:
        pass

    def flush(self) -> None:
        if self._live is not None and self.watcher is not None:
            self._live.update(watch_view(self.watcher))

    def close(self, *, interrupted: bool, failed: bool = False) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        w = self.watcher
        if w is None or failed or not self.summary:
            return
        s, active = w.stats, w.active
        probes = (f", {active.probed} endpoint probes, {active.dropped} dropped (queue full), "
                  f"{active.out_of_scope} out of scope" if active is not None else "")
        lost = f", {s.dropped} dropped (capture backlog full)" if s.dropped else ""
        self.err.print(
            f"{s.packets} packets ({s.undecoded} not decoded{lost}), {s.flows} flows, "
            f"{s.labeled} labeled, {s.unknown} unknown, {s.no_payload} without payload"
            f"{probes}" + (" (interrupted)" if interrupted else ""))
