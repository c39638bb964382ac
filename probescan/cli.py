"""Command line: argument parsing and wiring only (scan, watch, report, fingerprints)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from rich.console import Console

from probescan import __version__, report_cli, watch_cli
from probescan.catalog import (
    Catalog,
    CatalogError,
    ProbeSet,
    build_catalog,
    load_fingerprints,
    load_probes,
)
from probescan.catalog.nmap import find_nmap_db, load_nmap_db
from probescan.cliutil import InputError, on_stop_signals, open_output
from probescan.config import Config
from probescan.engine.scan import Sink, scan
from probescan.model import Endpoint, ServiceRecord
from probescan.output.console import progress, results_table
from probescan.output.jsonl import JsonlSink, record_line
from probescan.output.nmapxml import NmapXmlWriter
from probescan.output.store import Store, StoreError
from probescan.targets import (
    Host,
    TargetError,
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




def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="probescan",
        description="Active service fingerprinting: which protocol, product and version "
        "really runs on every port.",
    )
    p.add_argument("--version", action="version", version=f"probescan {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("scan", help="probe targets and identify their services")
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
    s.add_argument("-o", "--output", metavar="FILE.jsonl", help="write JSON Lines records here")
    s.add_argument("-oX", dest="xml_output", metavar="FILE.xml",
                   help="write nmap XML (readable by ndiff, Metasploit, IVRE)")
    s.add_argument("--db", metavar="FILE", type=Path,
                   help="also store records in this SQLite file (read by report and watch)")
    s.add_argument("--html", metavar="FILE", type=Path,
                   help="write a self-contained HTML report at the end")
    s.add_argument("--json", action="store_true", help="stream JSON Lines records to stdout")
    s.add_argument("--all-states", action="store_true",
                   help="also emit closed and filtered ports (default: open only)")
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
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no table")

    s.add_argument("--nmap-db", metavar="PATH", type=Path,
                   help="also use this nmap-service-probes file (default: the one of an "
                   "installed nmap, if any)")
    s.add_argument("--no-nmap-db", action="store_true",
                   help="use only probescan's own probes and fingerprints")

    f = sub.add_parser("fingerprints", help="check or summarise probe and fingerprint files")
    f.add_argument("action", choices=["check", "stats"])
    f.add_argument("paths", nargs="*", type=Path,
                   help="fingerprint/probe files (default: the shipped ones)")
    f.add_argument("--nmap-db", metavar="PATH", type=Path,
                   help="also read this nmap-service-probes file")

    w = sub.add_parser("watch", help="label live or captured flows: passive evidence plus "
                       "active probes of both endpoints")
    watch_cli.add_arguments(w)

    r = sub.add_parser("report", help="write a self-contained HTML report of scan records")
    report_cli.add_arguments(r)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "scan":
            return cmd_scan(args, argv)
        if args.command == "report":
            return report_cli.run(args)
        if args.command == "watch":
            return watch_cli.run(args)
        return cmd_fingerprints(args)
    except (InputError, CatalogError, TargetError) as e:
        print(f"probescan: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


# ---- scan --------------------------------------------------------------------------------
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
    )


def _ports(args: argparse.Namespace) -> list[tuple[str, int]]:
    if args.ports and args.top_ports:
        raise InputError("give -p or --top-ports, not both")
    if args.ports:
        ports = parse_ports(args.ports, default="udp" if args.udp else "tcp")
    else:
        n = args.top_ports if args.top_ports is not None else DEFAULT_TOP_PORTS
        if n < 1:
            raise InputError(f"--top-ports must be at least 1, not {n}")
        ports = [("tcp", p) for p in top_ports(n, "tcp")] if args.tcp or not args.udp else []
        if args.udp:
            ports += [("udp", p) for p in top_ports(n, "udp")]
    return ports


def _endpoint_stream(
    args: argparse.Namespace, specs: list[str], ports: list[tuple[str, int]]
) -> tuple[Iterator[Endpoint], int | None]:
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


def cmd_scan(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    config = _config(args)
    specs = list(args.targets)
    for f in args.input_list:
        specs.extend(read_target_file(f))
    if not specs:
        raise InputError("no targets given (name hosts or use -iL FILE)")
    ports = _ports(args)
    stream, total = _endpoint_stream(args, specs, ports)

    catalog = build_catalog(None if args.no_nmap_db else (args.nmap_db or find_nmap_db()))

    out = open_output(args.output) if args.output else None
    xml_file = open_output(args.xml_output) if args.xml_output else None
    xml = (
        NmapXmlWriter(xml_file, ["probescan", *(argv or sys.argv[1:])], time.time(),
                      list_states=None if args.all_states else {"open", "open|filtered"})
        if xml_file else None
    )
    err = Console(stderr=True)
    interactive = err.is_terminal and not (args.no_progress or args.quiet or args.json)
    records: list[ServiceRecord] = []
    jsonl = JsonlSink(out) if out else None
    try:
        store = Store(args.db) if args.db else None
    except StoreError as e:
        raise InputError(str(e)) from e
    bar = progress(err) if interactive else None
    task_id = bar.add_task("scan", total=total, open=0) if bar else None
    opened = 0

    def on_record(record: ServiceRecord) -> None:
        nonlocal opened
        if record.state in ("open", "open|filtered"):
            opened += 1
        if xml is not None:
            xml(record)
        if bar is not None and task_id is not None:
            bar.update(task_id, advance=1, open=opened)
        if record.state not in ("open", "open|filtered") and not args.all_states:
            return
        records.append(record)
        if jsonl:
            jsonl(record)
        if store:
            store.add_endpoint(record)
        if args.json:
            sys.stdout.write(record_line(record) + "\n")
            sys.stdout.flush()

    started = time.monotonic()
    interrupted = False
    try:
        with bar if bar is not None else contextlib.nullcontext():
            interrupted = asyncio.run(_run(stream, config, catalog, on_record))
    finally:
        if out:
            out.close()
        if store:
            store.close()
        if args.html:
            _write_html([r.to_dict() for r in records], args.html, "probescan scan")
        if xml is not None and xml_file is not None:
            xml.close(time.time(), interrupted=interrupted)
            xml_file.close()
    elapsed = time.monotonic() - started
    if not args.json and not args.quiet:
        con = Console() if Console().is_terminal else Console(width=160)
        con.print(results_table(records))
        con.print(f"{len(records)} record(s), {opened} open port(s) in {elapsed:.2f} s"
                  + (" (interrupted)" if interrupted else ""))
    return 130 if interrupted else 0


def _write_html(records: list[dict[str, object]], path: Path, title: str) -> None:
    from probescan.report import ReportInputError, write_report

    try:
        write_report(records, path, title=title)
    except (ReportInputError, OSError) as e:
        raise InputError(f"cannot write report '{path}': {e}") from e


async def _run(stream: Iterator[Endpoint], config: Config, catalog: Catalog,
               on_record: Sink) -> bool:
    """Run the scan; SIGINT/SIGTERM cancel it cleanly. True when interrupted."""
    task = asyncio.ensure_future(scan(stream, config, catalog, on_record))
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        task.cancel()

    on_stop_signals(stop)
    try:
        await task
    except asyncio.CancelledError:
        if not stopped:
            raise
    return stopped


# ---- fingerprints ------------------------------------------------------------------------
def cmd_fingerprints(args: argparse.Namespace) -> int:
    paths: list[Path] = args.paths
    for path in paths:
        if not path.is_file():
            raise InputError(f"no such file '{path}'")
    probe_paths = [p for p in paths if p.parent.name == "probes"]
    fp_paths = [p for p in paths if p not in probe_paths]
    if paths:  # only the files named
        probes, fps = load_probes(probe_paths), load_fingerprints(fp_paths)
    else:  # the shipped files
        probes, fps = load_probes(), load_fingerprints()
    problems = [*probes.problems, *fps.problems]
    if args.nmap_db is not None:
        if not args.nmap_db.is_file():
            raise InputError(f"cannot read nmap database '{args.nmap_db}': no such file")
        nprobes, nrules, stats = load_nmap_db(args.nmap_db, intensity=9,
                                              compile_patterns=args.action == "check")
        print(stats.summary())
        probes = ProbeSet(probes.probes + nprobes.probes, probes.problems + nprobes.problems)
        fps = fps.merged(nrules)
        problems = [*problems, *nprobes.problems, *nrules.problems]
    if args.action == "check":
        for prob in problems:
            print(prob)
        print(f"{len(probes.probes)} probe(s), {len(fps.rules)} fingerprint(s), "
              f"{sum(len(r.examples) for r in fps.rules)} example(s), "
              f"{len(problems)} problem(s)", file=sys.stderr)
        return 1 if problems else 0
    services = sorted({r.service for r in fps.rules})
    by_source: dict[str, int] = {}
    for r in fps.rules:
        by_source[r.source] = by_source.get(r.source, 0) + 1
    print(f"probes: {len(probes.probes)} "
          f"(tcp {len(probes.for_transport('tcp'))}, udp {len(probes.for_transport('udp'))})")
    print(f"fingerprints: {len(fps.rules)} ({sum(1 for r in fps.rules if r.soft)} soft)")
    shown = ", ".join(services[:150]) + (", ..." if len(services) > 150 else "")
    print(f"services: {len(services)}: {shown}")
    for src, n in sorted(by_source.items()):
        print(f"  {src}: {n}")
    if problems:
        print(f"problems: {len(problems)} (run 'probescan fingerprints check')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
