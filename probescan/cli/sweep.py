"""`-sS` and the choice of sweep for `probescan scan` (engine/sweep.py), as nmap chooses:
a SYN sweep when asked (`-sS`) or by default when raw sockets can be opened (root), a
connect sweep when asked (`-sT`) or otherwise."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from probescan.cli.common import InputError

if TYPE_CHECKING:
    from probescan.catalog import Catalog

Sweep = Literal["connect", "syn"]


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-sS", dest="syn", action="store_true",
                        help="TCP SYN sweep: raw SYNs, no handshake (needs root; the default "
                        "as root, -sT otherwise); open ports go on to version detection")


def discovery_only(args: argparse.Namespace, ports: Sequence[tuple[str, int]]) -> bool:
    """TCP discovery only (--no-version without UDP ports): the sweep alone answers, no probe
    or rule is ever used, and loading them would be the slowest part of the run."""
    return bool(args.no_version) and all(transport == "tcp" for transport, _ in ports)


def discovery_catalog() -> Catalog:
    """The catalog of a discovery-only scan: no probes, no rules."""
    from probescan.catalog import Catalog, FingerprintSet, ProbeSet, port_names

    return Catalog(ProbeSet(()), FingerprintSet(()), port_names())


def choose_sweep(args: argparse.Namespace) -> Sweep:
    """The sweep the options ask for; -sS also means TCP (as -sT does) for the port lists."""
    syn: bool = getattr(args, "syn", False)
    if syn and args.tcp:
        raise InputError("give -sS (SYN sweep) or -sT (connect sweep), not both")
    if args.tcp:
        return "connect"
    from probescan.engine.syn.rawio import raw_unavailable  # ctypes: only when it may be used

    if syn:
        why = raw_unavailable()
        if why is not None:
            raise InputError(f"-sS: {why}; use -sT")
        args.tcp = True
        return "syn"
    return "syn" if raw_unavailable() is None else "connect"
