"""`probescan fingerprints check|stats`: check or summarise the probe and fingerprint files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from probescan.catalog import ProbeSet, load_fingerprints, load_probes
from probescan.catalog.nmap import load_nmap_db
from probescan.cli.common import InputError


def add_arguments(f: argparse.ArgumentParser) -> None:
    f.add_argument("action", choices=["check", "stats"])
    f.add_argument("paths", nargs="*", type=Path,
                   help="fingerprint/probe files (default: the shipped ones)")
    f.add_argument("--nmap-db", metavar="PATH", type=Path,
                   help="also read this nmap-service-probes file")


def run(args: argparse.Namespace) -> int:
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
    own = [r for r in fps.rules if r.source.startswith("probescan:")]
    hand = sum(1 for r in own if not any(e.captured for e in r.examples))
    print(f"rules without a captured example: {hand} of {len(own)} "
          "(docs/captured-examples.md lists them and why)")
    if problems:
        print(f"problems: {len(problems)} (run 'probescan fingerprints check')")
    return 0
