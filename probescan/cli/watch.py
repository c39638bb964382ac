"""`probescan watch`: flows of a capture in, flow records out (the outputs: cli/common.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
from pathlib import Path

from probescan.catalog import Catalog, build_catalog
from probescan.catalog.user import RuleFiles
from probescan.classify.layers import LAYERS, parse_classifiers
from probescan.classify.statistical import StatisticalLayer
from probescan.cli.common import (
    FLUSH_EVERY,
    InputError,
    add_shared_options,
    build_sinks,
    describe_outputs,
    on_stop_signals,
    rule_files_of,
    run_into,
)
from probescan.cli.nmapflags import duration, duration_or_zero
from probescan.cli.profiles import load_profiles, load_signatures
from probescan.config import Network, WatchConfig
from probescan.engine.conn import SocketRegistry
from probescan.engine.limits import Limits
from probescan.engine.prober import Prober
from probescan.output.console import WatchConsole
from probescan.output.sink import Sinks
from probescan.scans import ScanConfig, ScanDetector
from probescan.watch.active import ActiveProber, parse_scope
from probescan.watch.bpf import filtered
from probescan.watch.capture import CaptureError, read_file
from probescan.watch.filters import file_keep, live_frames


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-i", dest="iface", metavar="IFACE", help="watch a live interface")
    src.add_argument("-r", dest="read", metavar="FILE", type=Path, help="read a pcap/pcapng file")
    p.add_argument("--bpf", metavar="EXPR", default="",
                   help="capture filter (BPF, tcpdump's syntax), live and on a file; the "
                        "ICMP errors about the packets it takes pass too")
    p.add_argument("--scope", action="append", default=[], metavar="CIDRS",
                   help="only probe addresses inside these networks (default live: the "
                   "watched interface's networks; a pcap: none)")
    p.add_argument("--no-probe", action="store_true", help="passive only: never probe")
    p.add_argument("--probe-ttl", type=duration_or_zero, default=3600.0, metavar="TIME",
                   help="probe an endpoint at most once in this time (default 1h; times take "
                   "ms, s, m, h)")
    p.add_argument("--probe-rate", type=float, default=50.0, metavar="N",
                   help="endpoint probes started per second (default 50)")
    p.add_argument("--queue", type=int, default=1000, metavar="N",
                   help="pending probes kept; beyond that new ones are dropped and counted")
    p.add_argument("--max-flows", type=int, default=100_000, help="flows held at once")
    p.add_argument("--workers", type=int, metavar="N",
                   help="processes that identify flows beside the capture, started after "
                        "the first 2,000 flows (default: 1 with two or more CPUs, else 0: "
                        "all in one process)")
    p.add_argument("--duration", type=duration, metavar="TIME",
                   help="live: stop after this long (10s, 2m, 1h)")
    p.add_argument("--all-flows", action="store_true",
                   help="also write a flow record for each probe of a scan (default: a scan's "
                        "probes are folded into its scan record)")
    p.add_argument("--classifiers", default=",".join(LAYERS), metavar="LAYERS",
                   help="the layers that name flows, in order: rules (fingerprints), parsers "
                   "(protocol parsers and payload detectors), statistics (sizes and timing "
                   f"against profiles) (default {','.join(LAYERS)})")
    p.add_argument("--profiles", action="append", type=Path, metavar="FILE",
                   help="the statistical layer's profiles (default: the shipped ones; made "
                   "by 'probescan profiles train')")
    p.add_argument("--signatures", action="append", type=Path, metavar="FILE",
                   help="more behaviour signatures for flows whose payload was not captured, "
                   "tried after the shipped ones (format: docs/classify.md)")
    add_shared_options(p, "watch", "output", "json", "db", "html", "probes", "fingerprints",
                       "no_user_rules", "nmap_db", "quiet")


def interface_networks(iface: str) -> list[Network]:
    """The networks configured on an interface (iproute2's `ip -j addr`)."""
    try:
        out = subprocess.run(["ip", "-j", "addr", "show", "dev", iface], capture_output=True,
                             text=True, check=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise InputError(f"cannot read the addresses of interface '{iface}'") from e
    specs = [f"{a['local']}/{a['prefixlen']}" for link in json.loads(out)
             for a in link.get("addr_info", []) if a.get("local")]
    return parse_scope(specs)


def watch_config(args: argparse.Namespace) -> WatchConfig:
    if args.max_flows < 1 or args.queue < 1 or args.probe_rate <= 0 or args.probe_ttl < 0:
        raise InputError("--max-flows, --queue and --probe-rate must be positive")
    if args.workers is not None and not 0 <= args.workers <= 64:
        raise InputError(f"--workers {args.workers}: give 0 to 64")
    try:
        classifiers = parse_classifiers(args.classifiers)
    except ValueError as e:
        raise InputError(str(e)) from e
    scope = parse_scope(args.scope)
    if not scope and args.iface and not args.no_probe:
        scope = interface_networks(args.iface)
    return WatchConfig(scope=tuple(scope), probe=not args.no_probe, probe_ttl=args.probe_ttl,
                       probe_rate=args.probe_rate, queue_size=args.queue,
                       max_flows=args.max_flows, workers=args.workers,
                       classifiers=classifiers)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (CaptureError, ValueError) as e:  # a bad scope, capture or capture file
        raise InputError(str(e)) from e


def _run(args: argparse.Namespace) -> int:
    config = watch_config(args)
    if args.read is not None and not args.read.is_file():
        raise InputError(f"cannot read capture '{args.read}': no such file")
    if args.read is not None and args.bpf:
        args.bpf_keep = file_keep(args.bpf)  # a bad expression: one line, before reading
    files = rule_files_of(args)
    catalog = build_catalog(args.nmap_db, files)
    statistics = None
    if "statistics" in config.classifiers:
        statistics = StatisticalLayer(load_profiles(args.profiles),
                                      load_signatures(args.signatures))
    console = WatchConsole(live=not (args.quiet or args.json), summary=not args.quiet,
                           outputs=tuple(describe_outputs(args)))
    sinks = build_sinks(args, "watch", console)
    interrupted = run_into(sinks, lambda: asyncio.run(_watch(args, config, catalog, sinks,
                                                             console, files, statistics)))
    return 130 if interrupted else 0


async def _watch(args: argparse.Namespace, config: WatchConfig, catalog: Catalog, sinks: Sinks,
                 console: WatchConsole, files: RuleFiles,
                 statistics: StatisticalLayer | None) -> bool:
    """Capture until the end of the file, --duration or a signal. True when interrupted."""
    from probescan.watch.watcher import Watcher  # the watcher's parsers load only for `watch`
    from probescan.watch.workers import worth_a_worker

    loop = asyncio.get_running_loop()
    keep = getattr(args, "bpf_keep", None)
    registry = SocketRegistry()
    active: ActiveProber | None = None
    if config.probing:
        probe = config.prober
        prober = Prober(probe, catalog, Limits(probe.concurrency, probe.per_host, 0), registry)
        active = ActiveProber(prober, config)
    watcher = Watcher(catalog, sinks.flow, active, registry.owns if config.probing else None,
                      config=config, scans=ScanDetector(ScanConfig(), sinks.scan),
                      all_flows=args.all_flows, statistics=statistics)
    workers = config.workers if config.workers is not None else int(worth_a_worker())
    if workers:
        watcher.use_worker(workers, args.nmap_db, files)
    stop = on_stop_signals()
    console.follow(watcher)
    try:
        if args.read is not None:
            frames = read_file(args.read)
            if keep is not None:
                frames = filtered(frames, keep)
            task = asyncio.ensure_future(watcher.run_offline(frames))
        else:
            # the flows the user's --bpf takes, and the ICMP errors about them
            frames = live_frames(args.iface, args.bpf)
            if args.duration:
                loop.call_later(args.duration, stop.event.set)
            task = asyncio.ensure_future(watcher.run_live(frames, stop.event))
        while not task.done():
            await asyncio.wait([task], timeout=FLUSH_EVERY)
            sinks.flush()  # what came since the last flush; the live view
            if stop.event.is_set() and args.read is not None and not task.done():
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        if stop.requested:
            await watcher.finish_all(wait_probes=False)
        watcher.close()
        if active is not None:
            await active.close()
    return stop.requested
