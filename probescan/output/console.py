"""The terminal (rich), as sinks: scan shows a progress bar while it runs and a table of
results at the end; watch a live view of the latest flows and a line of counters.

rich is imported when something is shown (a quiet sweep never loads it: start-up time)."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from probescan.model import ServiceRecord
from probescan.output.text import record_key, safe
from probescan.output.verbose import debug_lines, discovered

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.progress import Progress, TaskID
    from rich.table import Table

    from probescan.output.hosts import Names
    from probescan.watch.label import FlowRecord
    from probescan.watch.watcher import Watcher


def progress(console: Console) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("[bold]scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[open]} open"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@dataclass(frozen=True, slots=True)
class TableOptions:
    """What the scan's terminal shows beyond the defaults (nmap's flags)."""

    reason: bool = False  # --reason, -v: a reason column
    verbose: int = 0  # -v: open ports as found (stderr); -vv: every port, in the table too
    debug: int = 0  # -d: each record's details as found; -dd: its unmatched replies too
    ping: bool = False  # -sn: hosts up, not ports
    outputs: tuple[str, ...] = ()  # where the outputs went, for the last line
    names: Names | None = None  # -R: addresses -> DNS names, asked once at the end


def endpoint_text(r: ServiceRecord, names: Mapping[str, str]) -> str:
    """`192.0.2.10:443/tcp (web.example)`: the name the user gave, else -R's."""
    name = r.endpoint.hostname or names.get(r.endpoint.ip)
    return f"{r.endpoint} ({safe(name)})" if name else str(r.endpoint)


def results_table(records: Iterable[ServiceRecord], reason: bool = False,
                  names: Mapping[str, str] | None = None) -> Table:
    """One row a record, in numeric address, transport and port order; a reason column with
    `reason`, a note column when a record says why it is partial (its `error`)."""
    from rich.table import Table
    from rich.text import Text

    rows = sorted(records, key=record_key)
    notes = any(r.error for r in rows)
    table = Table(title="probescan results", show_lines=False, header_style="bold")
    table.add_column("endpoint", no_wrap=True)
    for col in ("state", *(["reason"] if reason else []), "service", "product", "version",
                "info", "tls", "method", *(["note"] if notes else [])):
        table.add_column(col, overflow="fold")
    for r in rows:
        service = safe(r.service)
        if r.tunnel:
            service = f"{r.tunnel}/{service}"
        tls = ""
        if r.tls is not None:
            tls = safe(" ".join(x for x in (r.tls.version, r.tls.subject) if x))
        table.add_row(
            Text(endpoint_text(r, names or {})), Text(r.state),
            *([Text(r.why)] if reason else []), Text(service), Text(safe(r.product)),
            Text(safe(r.version)), Text(safe(r.info)), Text(tls),
            Text(f"{r.method} ({r.confidence})"), *([Text(safe(r.error))] if notes else []),
        )
    return table


def hosts_table(records: Iterable[ServiceRecord], names: Mapping[str, str]) -> Table:
    """-sn: each host that answered, and the port that proved it."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="probescan: hosts up", header_style="bold")
    for col in ("host", "name", "proof"):
        table.add_column(col, overflow="fold")
    seen: dict[str, ServiceRecord] = {}
    for r in sorted(records, key=record_key):
        seen.setdefault(r.endpoint.ip, r)
    for ip, r in seen.items():
        name = r.endpoint.hostname or names.get(ip) or ""
        table.add_row(Text(ip), Text(safe(name)),
                      Text(f"{r.endpoint.port}/{r.endpoint.transport} {r.state} ({r.why})"))
    return table


def state_counts(counts: Mapping[str, int]) -> str:
    """`2 open, 1 open|filtered, 997 closed`: each state apart, open ones first."""
    order = ("open", "open|filtered", "closed", "filtered")
    keys = [k for k in order if counts.get(k)] + sorted(k for k in counts if k not in order)
    return ", ".join(f"{counts[k]} {k}" for k in keys) or "no ports"


class ScanConsole:
    """The terminal of a scan, as a sink: a progress bar on stderr while it runs (when `bar`
    and stderr is a terminal), the lines -v and -d ask for as records come (stderr), then,
    unless `table` is False, the table of the records in `shown` states (every state if None)
    and a line of counts, each state apart, and where the outputs went."""

    def __init__(self, total: int | None, *, bar: bool, table: bool,
                 shown: Collection[str] | None, options: TableOptions | None = None) -> None:
        self.total = total
        self.table = table
        self.options = options or TableOptions()
        everything = self.options.verbose >= 2 and not self.options.ping
        self.shown = None if shown is None or everything else frozenset(shown)
        self.records: list[ServiceRecord] = []
        self.counts: dict[str, int] = {}
        self.opened = 0
        self.started = time.monotonic()
        self._err: Console | None = None
        self._bar = progress(self.err) if bar and self.err.is_terminal else None
        self._task: TaskID | None = None

    @property
    def err(self) -> Console:
        """The terminal's stderr (rich), made when first used."""
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, highlight=False)
        return self._err

    def start(self) -> None:
        """The scan starts: show the progress bar, start the clock."""
        if self._bar is not None:
            self._task = self._bar.add_task("scan", total=self.total, open=0)
            self._bar.start()
        self.started = time.monotonic()

    def record(self, record: ServiceRecord) -> None:
        self.counts[record.state] = self.counts.get(record.state, 0) + 1
        if record.state == "open":
            self.opened += 1
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, open=self.opened)
        if self.shown is None or record.state in self.shown:
            self.records.append(record)
        o = self.options
        if o.verbose >= 2 or (o.verbose and record.state == "open"):
            self.say(discovered(record))
        if o.debug:
            for line in debug_lines(record, o.debug):
                self.say(line)

    def wants(self, state: str) -> bool:
        """Does the terminal need the records of `state` (the table lists them, -v or -d
        print them)? When not, `count` is enough: the scan may skip making them."""
        o = self.options
        return ((self.table and (self.shown is None or state in self.shown))
                or o.verbose >= 2 or bool(o.verbose and state == "open") or bool(o.debug))

    def count(self, state: str) -> None:
        """A port of `state` was scanned, its record not made (`wants` said no): counted as
        `record` counts it."""
        self.counts[state] = self.counts.get(state, 0) + 1
        if state == "open":
            self.opened += 1
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, open=self.opened)

    def say(self, line: str) -> None:
        """One line on stderr (above the progress bar); never read as markup."""
        from rich.text import Text

        self.err.print(Text(line), soft_wrap=True)

    def flow(self, flow: FlowRecord) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self, *, interrupted: bool, failed: bool = False) -> None:
        if self._bar is not None:
            self._bar.stop()
        if failed or not self.table:
            return
        o = self.options
        elapsed = time.monotonic() - self.started
        ips = sorted({r.endpoint.ip for r in self.records if not r.endpoint.hostname})
        names = dict(o.names(ips)) if o.names is not None and ips else {}
        from rich.console import Console
        from rich.text import Text

        con = Console() if Console().is_terminal else Console(width=160)
        if o.ping:
            con.print(hosts_table(self.records, names))
            up = len({r.endpoint.ip for r in self.records})
            line = f"{up} host(s) up in {elapsed:.2f} s"
        else:
            con.print(results_table(self.records, o.reason, names))
            hosts = len({r.endpoint.ip for r in self.records})
            line = (f"{len(self.records)} record(s) shown on {hosts} host(s); ports: "
                    f"{state_counts(self.counts)}; in {elapsed:.2f} s")
        con.print(Text(line + (" (interrupted)" if interrupted else "")))
        if o.outputs:
            con.print(Text("outputs: " + ", ".join(o.outputs)))


def watch_view(w: Watcher) -> Table:
    """The live view of `probescan watch`: counters, the latest flows, the top services."""
    from rich.table import Table

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

    def __init__(self, *, live: bool, summary: bool, outputs: tuple[str, ...] = ()) -> None:
        from rich.console import Console

        self.err = Console(stderr=True)
        self.live = live and self.err.is_terminal
        self.summary = summary
        self.outputs = outputs  # where the outputs went, said after the summary
        self.watcher: Watcher | None = None
        self._live: Live | None = None

    def follow(self, watcher: Watcher) -> None:
        """The watcher starts: show its live view."""
        self.watcher = watcher
        if self.live:
            from rich.live import Live

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
        if self.outputs:
            from rich.text import Text

            self.err.print(Text("outputs: " + ", ".join(self.outputs)))
