"""`probescan scan --cluster`: the entry from cli/scan.py, the `--cluster` value, and what
the user is told at the end (failed shards, shards that ran again).

Dask is imported only here, when the scan starts (`probescan.cluster.client`); without it
the user gets one line naming the extra to install.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from probescan.catalog import Catalog
from probescan.cli.common import InputError, run_into, until_stopped
from probescan.cluster.merge import Merger
from probescan.cluster.plan import TargetPlan, make_plan
from probescan.config import Config
from probescan.output.sink import Sinks
from probescan.targets import parse_shard, split_exclude

MISSING_DASK = ("--cluster needs Dask's distributed scheduler: "
                "pip install 'probescan[cluster]'")
_ADDRESS = re.compile(r"(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}")


@dataclass(frozen=True, slots=True)
class Where:
    """`--cluster`: a local cluster of `workers` processes, or a scheduler's address."""

    workers: int = 0
    address: str | None = None

    def __str__(self) -> str:
        return self.address or f"local:{self.workers}"


@dataclass
class Outcome:
    """How the cluster scan went, for the last lines on stderr and the exit status."""

    shards: int = 0
    workers: int = 0
    threads: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (shard "I/N", reason)


def parse_where(text: str) -> Where:
    """`local`, `local:N` (N worker processes; `local`: one per CPU), `tcp://HOST:PORT` or
    `tls://HOST:PORT` (a running scheduler)."""
    value = text.strip()
    if value == "local":
        return Where(workers=os.cpu_count() or 1)
    match = re.fullmatch(r"local:([0-9]+)", value)
    if match and 1 <= int(match[1]) <= 1024:
        return Where(workers=int(match[1]))
    if _ADDRESS.fullmatch(value):
        return Where(address=value)
    raise InputError(f"bad --cluster '{text}': expected local:N (1-1024 worker processes) "
                     "or tcp://HOST:PORT (a Dask scheduler)")


def scan_on_cluster(args: argparse.Namespace, specs: Sequence[str],
                    ports: Sequence[tuple[str, int]], total: int | None, config: Config,
                    catalog: Catalog, sinks: Sinks) -> int:
    """Run the scan's shards on the cluster `args.cluster` names; every record goes to
    `sinks` here. Returns the exit status: 130 stopped, 1 when a shard failed, else 0."""
    merger, outcome = Merger(sinks.record), Outcome()

    def run() -> bool:  # a bad value closes the outputs as failed (run_into), then one line
        where = parse_where(args.cluster)
        exclude = [x for e in args.exclude for x in split_exclude(e)]
        outer = parse_shard(args.shard) if args.shard else None
        plan = make_plan(specs, exclude, ports, outer)
        session = _load_session()
        return asyncio.run(until_stopped(
            session(where, plan, total, config, catalog, merger, outcome)))

    interrupted = run_into(sinks, run)
    _report(outcome, merger)
    return 130 if interrupted else (1 if outcome.failures else 0)


Session = Callable[[Where, TargetPlan, int | None, Config, Catalog, Merger, Outcome],
                   Coroutine[Any, Any, None]]


def _load_session() -> Session:
    try:
        from probescan.cluster.client import session
    except ImportError as e:
        if (e.name or "").split(".")[0] in ("dask", "distributed"):
            raise InputError(MISSING_DASK) from e
        raise
    return session


def _report(outcome: Outcome, merger: Merger) -> None:
    by_reason: dict[str, list[str]] = {}
    for shard, reason in outcome.failures:
        by_reason.setdefault(reason, []).append(shard)
    for reason, shards in by_reason.items():
        print(f"probescan: error: shard{'s' if len(shards) > 1 else ''} {', '.join(shards)} "
              f"failed: {reason}", file=sys.stderr)
    if merger.rerun:
        again = ", ".join(f"{i}/{outcome.shards}" for i in sorted(merger.rerun))
        print(f"probescan: note: shard(s) {again} ran again (a worker was lost); "
              f"{merger.duplicates} record(s) already written were dropped", file=sys.stderr)
