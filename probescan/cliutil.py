"""What the scan and watch commands share: the catalog with nmap's rules, output files,
stop signals. Errors are `InputError`: one line for the user, exit status 2."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

from probescan.catalog import ProbeSet, load_fingerprints, load_probes, port_names
from probescan.catalog.nmap import load_nmap_db
from probescan.engine.prober import PRINTER_PORTS, Catalog


class InputError(Exception):
    """A bad argument or input: one line, exit status 2."""


def build_catalog(nmap_db: Path | None) -> Catalog:
    """Our probes and fingerprints, plus nmap's from `nmap_db` (ours first); problems in the
    data files are reported in one warning line each, never fatal."""
    probes, fingerprints = load_probes(), load_fingerprints()
    problems = [*probes.problems, *fingerprints.problems]
    if problems:
        print(f"probescan: warning: {len(problems)} problem(s) in probe/fingerprint files, "
              f"skipped (see 'probescan fingerprints check'); first: {problems[0]}",
              file=sys.stderr)
    if nmap_db is not None:
        if not nmap_db.is_file():
            raise InputError(f"cannot read nmap database '{nmap_db}': no such file")
        try:
            nprobes, nrules, stats = load_nmap_db(nmap_db, intensity=9)
        except OSError as e:
            raise InputError(f"cannot read nmap database '{nmap_db}': {e.strerror}") from e
        if stats.skipped_rules:
            print(f"probescan: warning: {stats.skipped_rules} rule(s) of {nmap_db} cannot be "
                  "used and were skipped", file=sys.stderr)
        probes = ProbeSet(probes.probes + nprobes.probes, probes.problems)
        fingerprints = fingerprints.merged(nrules)
        excluded = PRINTER_PORTS | {("tcp", p) for p in stats.exclude_tcp} | {
            ("udp", p) for p in stats.exclude_udp}
        return Catalog(probes, fingerprints, port_names(), frozenset(excluded))
    return Catalog(probes, fingerprints, port_names())


def open_output(path: str | Path) -> IO[str]:
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write output file '{path}': {e.strerror}") from e


def on_stop_signals(callback: Callable[[], None]) -> None:
    """Call `callback` on SIGINT or SIGTERM (from the running event loop)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, callback)
