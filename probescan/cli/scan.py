"""`probescan scan`: targets and ports in, records out (the outputs: cli/common.py)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
from collections.abc import Callable, Iterator

from probescan.catalog import Catalog, build_catalog
from probescan.catalog.nmap import find_nmap_db
from probescan.cli.common import (
    InputError,
    add_shared_options,
    build_sinks,
    on_stop_signals,
    run_into,
)
from probescan.cli.sweep import (
    add_sweep_arguments,
    choose_sweep,
    discovery_catalog,
    discovery_only,
)
from probescan.config import Config
from probescan.engine.scan import scan
from probescan.model import Endpoint, ServiceRecord
from probescan.output.console import ScanConsole
from probescan.output.sink import SHOWN_STATES
from probescan.targets import (
    Host,
    endpoints,
    iter_hosts,
    parse_ports,
    parse_shard,
    read_target_file,
    shard,
    split_exclude,
    top_ports,
)

DEFAULT_TOP_PORTS = 1000
DEFAULTS = Config()
COUNT_CAP = 1_000_000  # hosts counted for the progress bar before giving up on a total


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("targets", nargs="*", help="addresses, names, CIDRs, ranges (10.0.0.1-20)")
    s.add_argument("-iL", dest="input_list", metavar="FILE", action="append", default=[],
                   help="read targets from FILE (# comments allowed)")
    s.add_argument("--exclude", action="append", default=[], metavar="SPECS",
                   help="targets to leave out (comma-separated)")
    s.add_argument("-p", dest="ports", metavar="PORTS",
                   help="ports: 22,80,8000-8100, '-' for all, T:/U: prefixes")
    s.add_argument("--top-ports", type=int, metavar="N",
                   help=f"the N most common ports (default {DEFAULT_TOP_PORTS})")
    s.add_argument("-sU", dest="udp", action="store_true",
                   help="UDP: unprefixed ports and --top-ports mean UDP ports")
    s.add_argument("-sT", dest="tcp", action="store_true",
                   help="TCP (the default); with -sU, --top-ports covers both")
    add_sweep_arguments(s)
    add_shared_options(s, "scan", "output", "xml_output", "db", "html", "json", "all_states")
    s.add_argument("--rate", type=float, default=0.0, help="new connections per second (0: no cap)")
    s.add_argument("--concurrency", type=int, default=DEFAULTS.concurrency,
                   help="connections in flight, all hosts")
    s.add_argument("--per-host", type=int, default=DEFAULTS.per_host,
                   help="connections in flight to one host")
    s.add_argument("--connect-timeout", type=float, default=DEFAULTS.connect_timeout,
                   help="seconds for a TCP connect")
    s.add_argument("--retries", type=int, default=DEFAULTS.retries,
                   help="extra connect attempts for silent ports")
    s.add_argument("--banner-wait", type=float, default=DEFAULTS.banner_wait,
                   help="seconds to wait for a banner")
    s.add_argument("--host-timeout", type=float, default=DEFAULTS.endpoint_budget,
                   help="seconds for all probes of one endpoint")
    s.add_argument("--version-intensity", type=int, default=DEFAULTS.intensity, choices=range(10),
                   metavar="0-9", help="try probes up to this rarity (default 7)")
    s.add_argument("--no-version", action="store_true", help="port discovery only")
    s.add_argument("--no-tls", action="store_true", help="never try a TLS handshake")
    s.add_argument("--allports", action="store_true",
                   help="also probe the excluded ports (printers' raw ports 9100-9107 and "
                   "nmap's Exclude list), which may print what they receive")
    s.add_argument("--shard", metavar="I/N", help="scan only shard I of N (1-based)")
    add_shared_options(s, "scan", "no_progress", "quiet", "nmap_db")
    s.add_argument("--no-nmap-db", action="store_true",
                   help="use only probescan's own probes and fingerprints")


def _config(args: argparse.Namespace) -> Config:
    for name in ("concurrency", "per_host"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("connect_timeout", "banner_wait", "host_timeout"):
        if getattr(args, name) <= 0:
            raise InputError(f"--{name.replace('_', '-')} must be positive")
    if args.rate < 0:
        raise InputError("--rate must not be negative")
    return Config(
        connect_timeout=args.connect_timeout,
        retries=max(0, args.retries),
        banner_wait=args.banner_wait,
        endpoint_budget=args.host_timeout,
        concurrency=args.concurrency,
        per_host=args.per_host,
        rate=args.rate,
        intensity=args.version_intensity,
        tls=not args.no_tls,
        version_scan=not args.no_version,
        all_ports=args.allports,
        sweep=choose_sweep(args),
    )


def _ports(args: argparse.Namespace) -> list[tuple[str, int]]:
    if args.ports and args.top_ports:
        raise InputError("give -p or --top-ports, not both")
    if args.ports:
        found = parse_ports(args.ports, default="udp" if args.udp else "tcp")
    else:
        n = args.top_ports if args.top_ports is not None else DEFAULT_TOP_PORTS
        if n < 1:
            raise InputError(f"--top-ports must be at least 1, not {n}")
        found = [("tcp", p) for p in top_ports(n, "tcp")] if args.tcp or not args.udp else []
        if args.udp:
            found += [("udp", p) for p in top_ports(n, "udp")]
    return found


def _endpoint_stream(
    args: argparse.Namespace, specs: list[str], ports: list[tuple[str, int]]
) -> tuple[Iterator[Endpoint], int | None]:
    """The endpoints to scan, lazily, and how many (None: too many hosts to count)."""
    exclude = [x for e in args.exclude for x in split_exclude(e)]
    hosts = list(itertools.islice(iter_hosts(specs, exclude), COUNT_CAP + 1))
    if len(hosts) <= COUNT_CAP:
        total: int | None = len(hosts) * len(ports)
        host_iter: Iterator[Host] = iter(hosts)
    else:  # too many to count: expand lazily again, without a progress total
        total, host_iter = None, iter_hosts(specs, exclude)
    stream: Iterator[Endpoint] = endpoints(host_iter, ports)
    if args.shard:
        i, n = parse_shard(args.shard)
        stream = shard(stream, i, n)
        total = None if total is None else (total + n - i) // n
    return stream, total


def run(args: argparse.Namespace) -> int:
    config = _config(args)
    specs = list(args.targets)
    for f in args.input_list:
        specs.extend(read_target_file(f))
    if not specs:
        raise InputError("no targets given (name hosts or use -iL FILE)")
    ports = _ports(args)
    stream, total = _endpoint_stream(args, specs, ports)
    catalog = (discovery_catalog() if discovery_only(args, ports) else
               build_catalog(None if args.no_nmap_db else (args.nmap_db or find_nmap_db())))

    console = ScanConsole(total, bar=not (args.no_progress or args.quiet or args.json),
                          table=not (args.json or args.quiet),
                          shown=None if args.all_states else SHOWN_STATES)
    sinks = build_sinks(args, "scan", console)
    console.start()
    interrupted = run_into(sinks, lambda: asyncio.run(_scan(stream, config, catalog, sinks.record)))
    return 130 if interrupted else 0


async def _scan(stream: Iterator[Endpoint], config: Config, catalog: Catalog,
                on_record: Callable[[ServiceRecord], None]) -> bool:
    """Run the scan; SIGINT/SIGTERM cancel it cleanly. True when interrupted."""
    task = asyncio.ensure_future(scan(stream, config, catalog, on_record))
    stop = on_stop_signals(cancel=task)
    try:
        await task
    except asyncio.CancelledError:
        if not stop.requested:
            raise
    return stop.requested
