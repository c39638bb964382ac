#!/usr/bin/env python3
"""A long fuzz campaign over every parser of probescan/protocols: by default a million inputs
per parser (random bytes, and recorded or sample messages changed at random; the targets and
the mutator are tests/protocols/fuzz_targets.py, which the property tests also use).

Each parser runs in a process of its own, bounded in memory (RLIMIT_AS) and time (killed
after --seconds); its contract is to return, raise NeedMore or raise ParseError. The table
counts each outcome per parser, any other exception (a bug: the first inputs of each kind are
saved under --crashes), the slowest input and inputs per second (CPU time, so that a busy
machine does not inflate them) and the peak memory.

    python3 benchmarks/fuzz_campaign.py                       # 1,000,000 inputs a parser
    python3 benchmarks/fuzz_campaign.py --inputs 20000 --only tls
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's probescan and tests

SLOW_MS = 100.0  # an input taking more CPU time than this is counted apart


def worker(name: str, inputs: int, seed: int, seconds: float, crashes: Path) -> dict[str, object]:
    """Run one parser over `inputs` inputs (or until `seconds`); the result as a dict."""
    warnings.simplefilter("ignore")  # cryptography's notes on odd certificates
    from tests.protocols.fuzz_targets import BY_NAME, mutate, run_one

    target = BY_NAME[name]
    rng = random.Random(f"{seed}:{name}")
    seeds = target.seeds
    counts: dict[str, int] = {"ok": 0, "NeedMore": 0, "ParseError": 0}
    bugs: dict[str, int] = {}
    slowest = 0.0
    slow = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    done = 0
    for done in range(1, inputs + 1):
        data = mutate(rng, seeds)
        t0 = time.process_time()  # CPU time: a busy machine's waits are not the parser's
        try:
            counts[run_one(target, data)] += 1
        except Exception as e:  # a bug: the parser's contract is broken
            kind = f"{type(e).__name__} in {traceback.extract_tb(e.__traceback__)[-1].name}"
            bugs[kind] = bugs.get(kind, 0) + 1
            if bugs[kind] <= 3:
                crashes.mkdir(parents=True, exist_ok=True)
                (crashes / f"{name}-{len(bugs)}-{bugs[kind]}.bin").write_bytes(data)
        took = time.process_time() - t0
        slowest = max(slowest, took)
        slow += took * 1000 > SLOW_MS
        if done % 4096 == 0 and time.perf_counter() - start > seconds:
            break
    elapsed = time.perf_counter() - start
    return {"parser": name, "inputs": done, "seeds": len(seeds), **counts,
            "bugs": bugs, "slowest_ms": slowest * 1000, "slow": slow, "seconds": elapsed,
            "cpu_seconds": time.process_time() - cpu_start,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_worker(args: argparse.Namespace) -> int:
    limit = args.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    result = worker(args.worker, args.inputs, args.seed, args.seconds, Path(args.crashes))
    print(json.dumps(result))
    return 0


def campaign(args: argparse.Namespace) -> int:
    from benchmarks import _blocks
    from tests.protocols.fuzz_targets import TARGETS

    started = time.monotonic()
    rows: list[str] = []

    names = [t.name for t in TARGETS if not args.only or any(o in t.name for o in args.only)]
    print(f"# fuzz campaign: {len(names)} parsers, {args.inputs:,} inputs each (seed "
          f"{args.seed}), at most {args.seconds:.0f} s and {args.memory_mb} MB each")
    print(f"# {platform.node()}: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    head = (f"{'parser':42} {'inputs':>10} {'ok':>9} {'NeedMore':>9} {'ParseError':>10} "
            f"{'other':>6} {'slowest':>9} {'>100ms':>6} {'inputs/s':>9} {'peak MB':>8}")
    print("# slowest, >100ms and inputs/s in CPU time of the parser's process")
    print(head)
    total = {"inputs": 0, "bugs": 0, "seconds": 0.0}
    failed = 0
    for name in names:
        command = [sys.executable, __file__, "--worker", name, "--inputs", str(args.inputs),
                   "--seed", str(args.seed), "--seconds", str(args.seconds),
                   "--memory-mb", str(args.memory_mb), "--crashes", args.crashes]
        try:
            out = subprocess.run(command, capture_output=True, text=True,
                                 timeout=args.seconds + 120)
            r = json.loads(out.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            print(f"{name:42} killed: no answer after {args.seconds + 120:.0f} s")
            failed += 1
            continue
        except (ValueError, IndexError):
            print(f"{name:42} died: {out.stderr.strip().splitlines()[-1:]}")
            failed += 1
            continue
        bugs = sum(r["bugs"].values())
        rows.append(f"{name:42} {r['inputs']:>10,} {r['ok']:>9,} {r['NeedMore']:>9,} "
                    f"{r['ParseError']:>10,} {bugs:>6,} {r['slowest_ms']:>7.1f}ms "
                    f"{r['slow']:>6,} {r['inputs'] / max(r['cpu_seconds'], 1e-9):>9,.0f} "
                    f"{r['rss_mb']:>8.0f}")
        print(rows[-1], flush=True)
        for kind, n in r["bugs"].items():
            print(f"    {n:,} x {kind} (inputs saved in {args.crashes})")
        total["inputs"] += r["inputs"]
        total["bugs"] += bugs
        total["seconds"] += r["seconds"]
        total["cpu"] = float(total.get("cpu", 0.0)) + r["cpu_seconds"]
        failed += bool(bugs) or r["inputs"] < args.inputs
    summary = (f"total: {total['inputs']:,} inputs in {total['seconds']:.0f} s "
               f"({float(total.get('cpu', 0.0)):.0f} s CPU), "
               f"{total['bugs']} contract violations, {failed} parser(s) short of "
               f"{args.inputs:,} inputs or failing")
    print(f"# {summary}")
    _blocks.emit("fuzz-campaign", [
        _blocks.data_line("random and mutated inputs", f"{args.inputs:,} per parser entry "
                          f"point (seed {args.seed}); no peer: no other tool fuzzes these "
                          "parsers."), "", "```", head, *rows, "```", "", summary, "",
        _blocks.provenance(started)], args.quick)
    return 1 if failed else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=1_000_000, help="inputs per parser")
    p.add_argument("--seconds", type=float, default=1800.0, help="time cap per parser")
    p.add_argument("--memory-mb", type=int, default=1024, help="address space cap per parser")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", action="append", default=[], metavar="TEXT",
                   help="only the parsers whose name holds TEXT (repeatable)")
    p.add_argument("--crashes", default="fuzz-crashes", help="where failing inputs go")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="200 inputs per parser: checks it runs")
    args = p.parse_args()
    if args.quick:
        args.inputs = 200
    return run_worker(args) if args.worker else campaign(args)


if __name__ == "__main__":
    sys.exit(main())
