"""`probescan scans -r FILE | -i IFACE`: internet-scanner forensics; scan records out (the
detector: probescan/scans/, docs/scans.md)."""

from __future__ import annotations

import argparse
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO

from probescan.cli.common import InputError, open_output
from probescan.output.html import HtmlSink
from probescan.output.jsonl import JsonlSink
from probescan.output.sink import Sink, Sinks
from probescan.output.store import Store
from probescan.scans import AsnDb, AsnError, ScanConfig, ScanDetector, ScanRecord
from probescan.watch.capture import CaptureError, Frame, read_file
from probescan.watch.filters import live_frames

TICK = 0.25  # live: seconds between sweeps when no packet comes


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Find internet scanners in a capture or on an interface: which sources "
                     "scan, by which technique, shape and tool (docs/scans.md).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-i", dest="iface", metavar="IFACE", help="watch a live interface")
    src.add_argument("-r", dest="read", metavar="FILE", type=Path, help="read a pcap/pcapng file")
    p.add_argument("-o", "--output", metavar="FILE.jsonl", help="write scan records here")
    p.add_argument("--json", action="store_true", help="stream scan records to stdout")
    p.add_argument("--db", metavar="FILE", type=Path,
                   help="also store scan records in this SQLite file (read by report)")
    p.add_argument("--html", metavar="FILE", type=Path, help="write an HTML report at the end")
    p.add_argument("--asn-db", metavar="FILE", type=Path,
                   help="group sources per autonomous system from this MaxMind-format "
                        "database (e.g. GeoLite2-ASN.mmdb)")
    d = ScanConfig()
    p.add_argument("--hosts", type=int, default=d.hosts, metavar="N",
                   help=f"hosts on one port that make a scan (default {d.hosts})")
    p.add_argument("--ports", type=int, default=d.ports, metavar="N",
                   help=f"ports of one host that make a scan (default {d.ports})")
    p.add_argument("--window", type=float, default=d.window, metavar="SECONDS",
                   help=f"within this time (default {d.window:g})")
    p.add_argument("--slow-window", type=float, default=d.slow_window, metavar="SECONDS",
                   help=f"or within this longer time, for slow scans (default "
                        f"{d.slow_window:g}; 0: none)")
    p.add_argument("--idle", type=float, default=d.idle, metavar="SECONDS",
                   help=f"a scan's record is written once it is this quiet (default {d.idle:g})")
    p.add_argument("--bpf", metavar="EXPR", default="",
                   help="live: capture filter (BPF, tcpdump's syntax); the ICMP errors about "
                        "the packets it takes pass too")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="live: stop after this long")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary")


def scan_config(args: argparse.Namespace) -> ScanConfig:
    config = ScanConfig(hosts=args.hosts, ports=args.ports, window=args.window,
                        slow_window=args.slow_window, idle=args.idle)
    problems = config.problems()
    if problems:
        raise InputError(f"bad thresholds: {problems[0]}")
    return config


def build_sinks(args: argparse.Namespace) -> Sinks:
    sinks: list[Sink] = []
    if args.output:
        sinks.append(JsonlSink(open_output(args.output), flush_every=0.25))
    if args.json:
        sinks.append(JsonlSink(sys.stdout, flush_every=0.25, close_stream=False))
    if args.db:
        sinks.append(Store(args.db, commit_every=0.25))
    if args.html:
        sinks.append(HtmlSink(args.html, title="probescan scans"))
    return Sinks(sinks)


def run(args: argparse.Namespace) -> int:
    config = scan_config(args)
    if args.read is not None and not args.read.is_file():
        raise InputError(f"cannot read capture '{args.read}': no such file")
    try:
        asn = AsnDb(args.asn_db) if args.asn_db is not None else None
    except AsnError as e:
        raise InputError(str(e)) from e
    sinks = build_sinks(args)
    records: list[ScanRecord] = []

    def on_scan(record: ScanRecord) -> None:
        records.append(record)
        sinks.scan(record)

    detector = ScanDetector(config, on_scan, asn)
    interrupted = False
    started = time.monotonic()
    try:
        if args.read is not None:
            frames = read_file(args.read)
            detector.frames(frames)
        else:
            interrupted = _live(detector, args)
        detector.finish()
    except CaptureError as e:
        sinks.close(interrupted=False, failed=True)
        raise InputError(str(e)) from e
    except KeyboardInterrupt:
        interrupted = True
        detector.finish()
    except BaseException:
        sinks.close(interrupted=False, failed=True)
        raise
    finally:
        if asn is not None:
            asn.close()
    sinks.close(interrupted=interrupted)
    if not args.quiet:
        print_summary(records, detector.packets, time.monotonic() - started,
                      sys.stderr if args.json else sys.stdout)
    return 130 if interrupted else 0


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops a live run as Ctrl-C does: its scans are written


def _live(detector: ScanDetector, args: argparse.Namespace) -> bool:
    """Capture until --duration, Ctrl-C or SIGTERM; True when interrupted."""
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return _capture(detector, args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _capture(detector: ScanDetector, args: argparse.Namespace) -> bool:
    frames = live_frames(args.iface, args.bpf)  # TCP, UDP and the ICMP errors about them
    backlog: queue.Queue[Frame | None] = queue.Queue(maxsize=100_000)
    stop = threading.Event()

    def pump(source: Iterator[Frame]) -> None:
        try:
            for frame in source:
                if stop.is_set():
                    break
                backlog.put(frame)
        finally:
            backlog.put(None)

    threading.Thread(target=pump, args=(frames,), daemon=True, name="scans-capture").start()
    end = time.monotonic() + args.duration if args.duration else None
    try:
        while end is None or time.monotonic() < end:
            try:
                frame = backlog.get(timeout=TICK)
            except queue.Empty:
                detector.sweep(time.time())
                continue
            if frame is None:
                break
            detector.frame(*frame)
    except KeyboardInterrupt:
        stop.set()
        return True
    stop.set()
    return False


def print_summary(records: list[ScanRecord], packets: int, seconds: float, out: IO[str]
                  ) -> None:
    w = out.write
    w(f"probescan scans: {packets:,} packets, {len(records)} scan"
      f"{'' if len(records) == 1 else 's'} ({seconds:.1f} s)\n")
    for r in records:
        who = r.ip or f"{r.group} ({len(r.members)} sources)"
        if r.asn is not None:
            who += f" AS{r.asn}" + (f" {r.as_name}" if r.as_name else "")
        w(f"  {who}: {r.type} {r.shape} scan, tool {r.tool}"
          f"{f' ({r.certainty})' if r.tool != 'unknown' else ''}, {r.targets:,} host"
          f"{'' if r.targets == 1 else 's'} x {r.ports:,} port{'' if r.ports == 1 else 's'}, "
          f"{r.packets:,} packets, open {r.replies['open']}, closed {r.replies['closed']}\n")
