"""`probescan scan`: targets and ports in, records out (the outputs: cli/common.py)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from probescan.catalog.ports import MAX_PORT, find_nmap_services, port_ranking
from probescan.cli.common import (
    InputError,
    add_shared_options,
    build_sinks,
    describe_outputs,
    rule_files_of,
    run_into,
    shown_states,
    until_stopped,
    writes_stdout,
)
from probescan.cli.nmapflags import add_options as add_nmap_options
from probescan.cli.nmapflags import duration, scan_config
from probescan.cli.sweep import (
    add_sweep_arguments,
    choose_sweep,
    discovery_catalog,
    discovery_only,
)
from probescan.config import Config
from probescan.engine.scan import scan
from probescan.gctune import collector_at_ease
from probescan.model import Endpoint, ServiceRecord
from probescan.output.console import ScanConsole, TableOptions
from probescan.targets import (
    Host,
    Resolver,
    endpoints,
    iter_hosts,
    parse_ports,
    parse_shard,
    read_target_file,
    resolve_name,
    shard,
    split_exclude,
    top_ports_selection,
)

if TYPE_CHECKING:
    from probescan.catalog import Catalog
    from probescan.output.hosts import Names

DEFAULT_TOP_PORTS = 1000
FAST_TOP_PORTS = 100  # -F
PING_PORTS = (("tcp", 80), ("tcp", 443))  # -sn
DEFAULTS = Config()
SWEEP_STATES = ("open", "closed", "filtered")  # a sweep's verdicts (engine/sweep.py)
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
                   help=f"the N most common ports (default {DEFAULT_TOP_PORTS}), by nmap's "
                   "nmap-services when installed, else by probescan's ranking")
    s.add_argument("-sU", dest="udp", action="store_true",
                   help="UDP: unprefixed ports and --top-ports mean UDP ports")
    s.add_argument("-sT", dest="tcp", action="store_true",
                   help="TCP connect sweep (the default without root; -sS as root); with -sU, "
                   "--top-ports covers both")
    add_sweep_arguments(s)
    add_shared_options(s, "scan", "output", "xml_output", "normal_output", "grepable_output",
                       "all_outputs", "db", "html", "json", "all_states")
    s.add_argument("--rate", type=float,
                   help="new connections (SYN sweep: packets) per second (default: no cap)")
    s.add_argument("--concurrency", type=int,
                   help=f"connections in flight, all hosts (default {DEFAULTS.concurrency})")
    s.add_argument("--per-host", type=int,
                   help=f"connections in flight to one host (default {DEFAULTS.per_host})")
    s.add_argument("--connect-timeout", type=duration, metavar="TIME",
                   help=f"for a TCP connect (default {DEFAULTS.connect_timeout:g}s; times take "
                   "ms, s, m, h: 500ms, 10s, 2m)")
    s.add_argument("--retries", type=int,
                   help=f"extra connect attempts for silent ports (default {DEFAULTS.retries})")
    s.add_argument("--banner-wait", type=duration, metavar="TIME",
                   help=f"to wait for a banner (default {DEFAULTS.banner_wait:g}s)")
    s.add_argument("--host-timeout", type=duration, metavar="TIME",
                   help=f"for all probes of one endpoint (default {DEFAULTS.endpoint_budget:g}s)")
    s.add_argument("--version-intensity", type=int, choices=range(10), metavar="0-9",
                   help=f"try probes up to this rarity (default {DEFAULTS.intensity})")
    s.add_argument("--no-version", action="store_true", help="port discovery only")
    s.add_argument("--no-tls", action="store_true", help="never try a TLS handshake")
    s.add_argument("--allports", action="store_true",
                   help="also probe the excluded ports (printers' raw ports 9100-9107 and "
                   "nmap's Exclude list), which may print what they receive")
    s.add_argument("--shard", metavar="I/N", help="scan only shard I of N (1-based)")
    s.add_argument("--cluster", metavar="local:N|tcp://HOST:PORT",
                   help="run the scan's shards on a Dask cluster: N local worker processes, "
                   "or a scheduler's workers; outputs are written here (docs/cluster.md)")
    add_shared_options(s, "scan", "no_progress", "quiet", "probes", "fingerprints",
                       "no_user_rules", "nmap_db")
    s.add_argument("--no-nmap-db", action="store_true",
                   help="use only probescan's own probes and fingerprints")
    add_nmap_options(s)


def _config(args: argparse.Namespace) -> Config:
    try:
        config = scan_config(args)
    except ValueError as e:
        raise InputError(str(e)) from e
    # A cluster's workers connect unless -sS asks for raw SYNs (each worker needs root then).
    sweep = "connect" if args.cluster and not getattr(args, "syn", False) else choose_sweep(args)
    return replace(config, sweep=sweep)


def _ports(args: argparse.Namespace) -> list[tuple[str, int]]:
    if args.ping_scan:  # nmap's unprivileged ping: a TCP connect to 80 and 443
        return list(PING_PORTS)
    if args.ports is not None and (args.top_ports is not None or args.fast):
        raise InputError(f"give -p or {'-F' if args.fast else '--top-ports'}, not both")
    if args.fast and args.top_ports is not None:
        raise InputError("give -F or --top-ports, not both")
    if args.ports is not None:
        found = parse_ports(args.ports, default="udp" if args.udp else "tcp")
    else:
        n = FAST_TOP_PORTS if args.fast else (
            args.top_ports if args.top_ports is not None else DEFAULT_TOP_PORTS)
        if not 1 <= n <= MAX_PORT:
            raise InputError(f"bad --top-ports {n}: give 1 to {MAX_PORT} (there are "
                             f"{MAX_PORT} ports; -p- scans them all)")
        transports = (["tcp"] if args.tcp or not args.udp else []) + (["udp"] if args.udp else [])
        ranking = port_ranking(None if args.no_nmap_db else find_nmap_services(args.nmap_db))
        found, note = top_ports_selection(n, transports, ranking)
        for line in (ranking.note, note):
            if line:
                print(f"probescan: warning: {line}", file=sys.stderr)
    if args.exclude_ports is not None:  # unprefixed ports leave both transports
        drop = {*parse_ports(args.exclude_ports, "tcp"), *parse_ports(args.exclude_ports, "udp")}
        found = [tp for tp in found if tp not in drop]
        if not found:
            raise InputError(f"--exclude-ports '{args.exclude_ports}' leaves no port to scan")
    return found


# `10.0.0.1-` is nmap's 10.0.0.1-255, but typed on a command line it is far more often a range
# whose end was forgotten: refused, with what to write instead.
_OPEN_END = re.compile(r"(?:[0-9*,-]+\.){3}(?:[0-9]+,)*([0-9]+)-")


def check_open_ends(specs: Iterable[str], kind: str = "target") -> None:
    for spec in specs:
        for token in spec.split():
            m = _OPEN_END.fullmatch(token)
            if m:
                raise InputError(f"bad {kind} '{token}': the range has no end (write "
                                 f"{token}255 for the rest of the block)")


def ipv6_first(resolve: Resolver) -> Resolver:
    """-6: a name scans its first IPv6 address."""
    def only_v6(name: str) -> list[str]:
        return [a for a in resolve(name) if ":" in a]
    return only_v6


def _endpoint_stream(
    args: argparse.Namespace, specs: list[str], ports: list[tuple[str, int]]
) -> tuple[Iterator[Endpoint], int | None]:
    """The endpoints to scan, lazily, and how many (None: too many hosts to count)."""
    exclude = [x for e in args.exclude for x in split_exclude(e)]
    check_open_ends(specs)
    check_open_ends(exclude, "exclude")
    resolve = ipv6_first(resolve_name) if args.ipv6 else resolve_name
    hosts = list(itertools.islice(iter_hosts(specs, exclude, resolve), COUNT_CAP + 1))
    if not hosts and exclude:
        raise InputError(f"--exclude {' '.join(args.exclude)} leaves no target to scan")
    if len(hosts) <= COUNT_CAP:
        total: int | None = len(hosts) * len(ports)
        host_iter: Iterator[Host] = iter(hosts)
    else:  # too many to count: expand lazily again, without a progress total
        total, host_iter = None, iter_hosts(specs, exclude, resolve)
    stream: Iterator[Endpoint] = endpoints(host_iter, ports)
    if args.shard:
        i, n = parse_shard(args.shard)
        stream = shard(stream, i, n)
        total = None if total is None else (total + n - i) // n
    return stream, total


def _reverse_names() -> Names:
    from probescan.targets.reverse import reverse_names

    return reverse_names


def run(args: argparse.Namespace) -> int:
    config = _config(args)
    specs = list(args.targets)
    for f in args.input_list:
        specs.extend(read_target_file(f))
    if not specs:
        raise InputError("no targets given (name hosts or use -iL FILE)")
    ports = _ports(args)
    stream, total = _endpoint_stream(args, specs, ports)
    catalog: Catalog | Callable[[], Catalog]
    if discovery_only(args, ports):
        catalog = discovery_catalog  # made only if a worker ever needs it (none does)
    else:
        from probescan.catalog import build_catalog
        from probescan.catalog.nmap import find_nmap_db

        catalog = build_catalog(None if args.no_nmap_db else (args.nmap_db or find_nmap_db()),
                                rule_files_of(args))

    quiet = args.quiet or writes_stdout(args)
    options = TableOptions(reason=args.reason or args.verbose > 0, verbose=args.verbose,
                           debug=args.debug, ping=args.ping_scan,
                           outputs=tuple(describe_outputs(args)),
                           names=_reverse_names() if args.reverse_dns else None)
    console = ScanConsole(total, bar=not (args.no_progress or quiet),
                          table=not quiet, shown=shown_states(args), options=options)
    sinks = build_sinks(args, "scan", console)
    console.start()
    if args.cluster:  # the shards run on a Dask cluster; the outputs stay here
        from probescan.cluster.run import scan_on_cluster
        return scan_on_cluster(args, specs, ports, total, config,
                               catalog() if callable(catalog) else catalog, sinks)
    # The states no output lists (the closed ports, usually) are only counted by the terminal.
    counted = frozenset(s for s in SWEEP_STATES if not sinks.wants(s))
    with collector_at_ease():
        interrupted = run_into(sinks, lambda: asyncio.run(
            _scan(stream, config, catalog, sinks.record, counted, console.count)))
    return 130 if interrupted else 0


async def _scan(stream: Iterator[Endpoint], config: Config,
                catalog: Catalog | Callable[[], Catalog],
                on_record: Callable[[ServiceRecord], None], counted: frozenset[str] = frozenset(),
                on_count: Callable[[str], None] | None = None) -> bool:
    """Run the scan; SIGINT/SIGTERM cancel it cleanly. True when interrupted."""
    return await until_stopped(scan(stream, config, catalog, on_record, counted, on_count))
