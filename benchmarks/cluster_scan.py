"""One process vs `--cluster local:2` on the same scan: wall time and records per second.

Starts a few real Debian servers (the lab's recipes: OpenSSH, nginx, Redis, vsftpd) on
127.1.0.1-4, then scans 127.1.0.0/16 on their ports (65,536 addresses, nearly all without a
server: a refused connect each) with `probescan scan` in one process and with
`--cluster local:2` (a local Dask cluster of two worker processes), and prints for each the
wall time, the records per second, and whether both named the servers the same way. A
one-host scan run both ways shows the cluster's fixed cost (start, catalog to the workers).

    python3 benchmarks/cluster_scan.py                  # best of one run each
    python3 benchmarks/cluster_scan.py --runs 3 --targets 127.1.0.0/18

What to expect on two cores: the one-process scan keeps one core busy (the event loop, the
matching); the cluster's two workers can use both, but the client (outputs, merging, and on
`local:N` the scheduler too) shares them, and every record crosses two process boundaries.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _blocks  # noqa: E402
from tests.lab import Lab, LabError, Service  # noqa: E402

QUICK_NEEDS = "lab"

SERVERS = [("ssh", "127.1.0.1", 2222), ("nginx", "127.1.0.2", 18080),
           ("redis", "127.1.0.3", 16379), ("vsftpd", "127.1.0.4", 2121)]
CLUSTER_HOST = "127.1.255.254"  # where the local Dask cluster listens (a port no scan uses)


@dataclass(frozen=True)
class Result:
    label: str
    seconds: float
    cpu: float  # user + system seconds of the scan and every process it started
    records: int
    open: dict[tuple[str, int], tuple[str | None, str | None, str | None]]
    status: int

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def run_scan(label: str, args: list[str], out: Path) -> Result:
    env = {**os.environ, "PROBESCAN_CLUSTER_HOST": CLUSTER_HOST}
    cmd = [sys.executable, "-m", "probescan", "scan", *args, "--all-states", "-q",
           "-o", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        print(f"# {label}: exit {proc.returncode}: {proc.stderr.strip()[-300:]}", file=sys.stderr)
    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    opened = {(r["ip"], r["port"]): (r["service"], r["product"], r["version"])
              for r in records if r["state"] == "open"}
    return Result(label, seconds, cpu, len(records), opened, proc.returncode)


def best(label: str, args: list[str], runs: int, tmp: Path) -> Result:
    results = [run_scan(label, args, tmp / f"{label.replace(' ', '_')}-{i}.jsonl")
               for i in range(runs)]
    return min(results, key=lambda r: r.seconds)


def start_servers(lab: Lab) -> list[Service]:
    started = []
    for kind, ip, port in SERVERS:
        try:
            started.append(lab.start(kind, ip, port))
        except LabError as e:
            print(f"# {kind} on {ip}:{port} not started: {str(e).splitlines()[0]}",
                  file=sys.stderr)
    return started


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="127.1.0.0/16", help="what to scan (inside 127.1/16)")
    ap.add_argument("--runs", type=int, default=1, help="runs of each; the best is shown")
    ap.add_argument("--workers", type=int, default=2, help="local cluster worker processes")
    ap.add_argument("--quick", action="store_true", help="127.1.0.0/28: checks it runs")
    args = ap.parse_args(argv)
    if args.quick:
        args.targets = "127.1.0.0/28"
    started = time.monotonic()
    ports = ",".join(str(p) for _, _, p in SERVERS)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start")
    with Lab() as lab, tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        services = start_servers(lab)
        print(f"servers: {len(services)} ({', '.join(s.name for s in services)}); "
              f"scan: {args.targets} x ports {ports}")
        cluster = ["--cluster", f"local:{args.workers}"]
        tiny = ["127.1.0.1", "-p", ports]
        fixed = [best("one process, 1 host", tiny, args.runs, tmp),
                 best(f"local:{args.workers}, 1 host", [*tiny, *cluster], args.runs, tmp)]
        big = [args.targets, "-p", ports]
        one = best("one process", big, args.runs, tmp)
        many = best(f"local:{args.workers}", [*big, *cluster], args.runs, tmp)
    lines = [_blocks.data_line("addresses without servers", f"{args.targets} x ports {ports}, "
                               f"plus {len(services)} Debian servers; no peer (one process "
                               "is the baseline)."), "",
             "| run | seconds | CPU s | records | records/s | open |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in [*fixed, one, many]:
        lines.append(f"| {r.label} | {r.seconds:.2f} | {r.cpu:.1f} | {r.records} | "
                     f"{r.rate:.0f} | {len(r.open)} |" + ("" if r.status == 0 else
                                                          f" (exit {r.status})"))
    lines += ["", f"Load average {os.getloadavg()[0]:.2f} at the end.", "",
              _blocks.provenance(started)]
    _blocks.emit("cluster-scan", lines, args.quick)
    same = one.open == many.open
    print(f"\nsame open endpoints, services, products and versions: {'yes' if same else 'NO'}")
    overhead = fixed[1].seconds - fixed[0].seconds
    print(f"cluster's fixed cost (1-host scan, cluster minus one process): {overhead:.2f} s")
    if one.records and many.records:
        extra = (many.cpu - fixed[1].cpu) - (one.cpu - fixed[0].cpu)
        print(f"cluster's CPU cost per record (big scan, beyond one process's): "
              f"{1e6 * extra / many.records:.0f} us")
    if one.seconds and many.seconds:
        print(f"speed-up of local:{args.workers} on the big scan: "
              f"{one.seconds / many.seconds:.2f}x; without the fixed cost: "
              f"{one.seconds / max(0.01, many.seconds - overhead):.2f}x")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0 if same and one.status == many.status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
