"""`probescan watch`: arguments and wiring of the watcher (capture, probing, outputs)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.table import Table

from probescan.catalog import Catalog, CatalogError, build_catalog
from probescan.cliutil import InputError, on_stop_signals, open_output
from probescan.config import Config
from probescan.engine.conn import SocketRegistry
from probescan.engine.limits import Limits
from probescan.engine.prober import Prober
from probescan.output.console import safe
from probescan.output.jsonl import json_line
from probescan.output.store import Store, StoreError
from probescan.watch.active import ActiveProber, Network, parse_scope
from probescan.watch.capture import CaptureError, live, read_file

if TYPE_CHECKING:
    from probescan.watch.label import FlowRecord
    from probescan.watch.watcher import Watcher

BASE_BPF = "tcp or udp or (vlan and (tcp or udp))"
FLUSH_EVERY = 0.25  # seconds: output files and stdout are flushed this often (and at the end)


class WatchUsageError(Exception):
    pass


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-i", dest="iface", metavar="IFACE", help="watch a live interface")
    src.add_argument("-r", dest="read", metavar="FILE", type=Path, help="read a pcap/pcapng file")
    p.add_argument("--bpf", metavar="EXPR", default="", help="extra capture filter (BPF)")
    p.add_argument("--scope", action="append", default=[], metavar="CIDRS",
                   help="only probe addresses inside these networks (default live: the "
                   "watched interface's networks; a pcap: none)")
    p.add_argument("--no-probe", action="store_true", help="passive only: never probe")
    p.add_argument("--probe-ttl", type=float, default=3600.0, metavar="SECONDS",
                   help="probe an endpoint at most once in this time (default 3600)")
    p.add_argument("--probe-rate", type=float, default=50.0, metavar="N",
                   help="endpoint probes started per second (default 50)")
    p.add_argument("--queue", type=int, default=1000, metavar="N",
                   help="pending probes kept; beyond that new ones are dropped and counted")
    p.add_argument("--max-flows", type=int, default=100_000, help="flows held at once")
    p.add_argument("--workers", type=int, metavar="N",
                   help="processes that identify flows beside the capture, started after "
                        "the first 2,000 flows (default: 1 with two or more CPUs, else 0: "
                        "all in one process)")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="live: stop after this long")
    p.add_argument("-o", "--output", metavar="FILE.jsonl", help="write flow records here")
    p.add_argument("--json", action="store_true", help="stream flow records to stdout")
    p.add_argument("--db", metavar="FILE", type=Path, help="also store flows and endpoint "
                   "results in this SQLite file")
    p.add_argument("--html", metavar="FILE", type=Path, help="write an HTML report at the end")
    p.add_argument("--nmap-db", metavar="PATH", type=Path,
                   help="also match with this nmap-service-probes file (slower)")
    p.add_argument("-q", "--quiet", action="store_true", help="no live view or summary")


def interface_networks(iface: str) -> list[Network]:
    """The networks configured on an interface (iproute2's `ip -j addr`)."""
    try:
        out = subprocess.run(["ip", "-j", "addr", "show", "dev", iface], capture_output=True,
                             text=True, check=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise WatchUsageError(f"cannot read the addresses of interface '{iface}'") from e
    specs = [f"{a['local']}/{a['prefixlen']}" for link in json.loads(out)
             for a in link.get("addr_info", []) if a.get("local")]
    return parse_scope(specs)


def view(w: Watcher, active: ActiveProber | None) -> Table:
    s = w.stats
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


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (WatchUsageError, InputError, CatalogError, CaptureError, StoreError,
            ValueError) as e:
        print(f"probescan: error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.max_flows < 1 or args.queue < 1 or args.probe_rate <= 0 or args.probe_ttl < 0:
        raise WatchUsageError("--max-flows, --queue and --probe-rate must be positive")
    if args.workers is not None and not 0 <= args.workers <= 64:
        raise WatchUsageError(f"--workers {args.workers}: give 0 to 64")
    scope = parse_scope(args.scope)
    if not scope and args.iface and not args.no_probe:
        scope = interface_networks(args.iface)
    probing = not args.no_probe and bool(scope)
    if args.read is not None and not args.read.is_file():
        raise WatchUsageError(f"cannot read capture '{args.read}': no such file")
    catalog = build_catalog(args.nmap_db)
    out = open_output(args.output) if args.output else None
    store = Store(args.db, commit_every=FLUSH_EVERY) if args.db else None
    records: list[dict[str, object]] = []
    flushed, unflushed = 0.0, False

    def flush() -> None:
        """Sparse records are flushed as they come; in a burst, at most every FLUSH_EVERY
        seconds (a flush per flow would cost more than labeling some flows), by the loop that
        calls this; closing flushes the rest."""
        nonlocal flushed, unflushed
        if unflushed:
            flushed, unflushed = time.monotonic(), False
            if out:
                out.flush()
            if args.json:
                sys.stdout.flush()
            if store:
                store.commit()

    def on_record(rec: FlowRecord) -> None:
        nonlocal unflushed
        d = rec.to_dict()
        if out:
            out.write(json_line(d) + "\n")
        if args.json:
            sys.stdout.write(json_line(d, ascii_only=True) + "\n")
        unflushed = True
        if time.monotonic() - flushed >= FLUSH_EVERY:
            flush()
        if store:
            store.add_flow(d)
            for probe in (rec.server_probe, rec.client_probe):
                if probe is not None:
                    store.add_endpoint(probe)
        if args.html:
            records.append(d)

    interrupted = False
    watcher: Watcher | None = None
    try:
        interrupted, watcher = asyncio.run(_main(args, catalog, scope, probing, on_record,
                                                 flush))
    finally:
        if out:
            out.close()
        if store:
            store.close()
    if args.html:
        from probescan.report import ReportInputError, write_report

        try:
            write_report(records, args.html, title="probescan watch")
        except (ReportInputError, OSError) as e:
            raise WatchUsageError(f"cannot write report '{args.html}': {e}") from e
    if watcher is not None and not args.quiet:
        s = watcher.stats
        active = watcher.active
        probes = (f", {active.probed} endpoint probes, {active.dropped} dropped (queue full), "
                  f"{active.out_of_scope} out of scope" if active is not None else "")
        lost = f", {s.dropped} dropped (capture backlog full)" if s.dropped else ""
        Console(stderr=True).print(
            f"{s.packets} packets ({s.undecoded} not decoded{lost}), {s.flows} flows, "
            f"{s.labeled} labeled{probes}" + (" (interrupted)" if interrupted else ""))
    return 130 if interrupted else 0


async def _main(
    args: argparse.Namespace,
    catalog: Catalog,
    scope: list[Network],
    probing: bool,
    on_record: object,
    flush: Callable[[], None],
) -> tuple[bool, Watcher]:
    from probescan.watch.watcher import Watcher  # the watcher's parsers load only for `watch`
    from probescan.watch.workers import worth_a_worker

    loop = asyncio.get_running_loop()
    registry = SocketRegistry()
    active: ActiveProber | None = None
    if probing:
        config = Config(endpoint_budget=6.0)
        prober = Prober(config, catalog, Limits(config.concurrency, config.per_host, 0),
                        registry)
        active = ActiveProber(prober, scope, ttl=args.probe_ttl, rate=args.probe_rate,
                              queue_size=args.queue)
    watcher = Watcher(catalog, on_record,  # type: ignore[arg-type]
                      active, registry.owns if probing else None)
    watcher.table.max_flows = args.max_flows
    workers = args.workers if args.workers is not None else int(worth_a_worker())
    if workers:
        watcher.use_worker(workers, args.nmap_db)
    stop = asyncio.Event()
    stopped = False

    def on_signal() -> None:
        nonlocal stopped
        stopped = True
        stop.set()

    on_stop_signals(on_signal)
    err = Console(stderr=True)
    show = err.is_terminal and not args.quiet and not args.json
    try:
        with Live(view(watcher, active), console=err, refresh_per_second=4,
                  transient=True) if show else contextlib.nullcontext() as lv:
            if args.read is not None:
                task = asyncio.ensure_future(watcher.run_offline(read_file(args.read)))
            else:
                # the user's expression first: BPF's `vlan` shifts the offsets of every term
                # after it, so it must come last
                bpf = f"({args.bpf}) and ({BASE_BPF})" if args.bpf else BASE_BPF
                if args.duration:
                    loop.call_later(args.duration, stop.set)
                task = asyncio.ensure_future(watcher.run_live(live(args.iface, bpf), stop))
            while not task.done():
                await asyncio.wait([task], timeout=FLUSH_EVERY)
                flush()
                if lv is not None:
                    lv.update(view(watcher, active))
                if stop.is_set() and args.read is not None and not task.done():
                    task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        if stopped:
            await watcher.finish_all(wait_probes=False)
        watcher.close()
        if active is not None:
            await active.close()
    return stopped, watcher
