"""`benchmarks/run_all`: re-run every benchmark and rewrite the figures in README.md and docs/.

Every `benchmarks/*.py` whose name does not start with `_` is a benchmark: run from the
repository root as `python3 benchmarks/NAME.py` (with `--quick` in quick mode), it prints its
tables as blocks between `<!-- bench:NAME -->` markers (benchmarks/_blocks.py), and exits 0,
or 77 after one line saying why it cannot run here. A new benchmark needs nothing else: drop
it in benchmarks/, put its markers where its tables belong in the docs. EXTRA_RUNS lists the
runs with other arguments (held-out data).

    benchmarks/run_all                     # every benchmark, then rewrite the docs' blocks
    benchmarks/run_all scan_vs_nmap        # only these
    benchmarks/run_all --quick             # small inputs; never writes the docs
    benchmarks/run_all --held-out DIR      # also score nDPI captures nobody tuned to
    benchmarks/run_all --dry-run           # run, print what would change, write nothing

Prints, at the end, which blocks went where, which blocks no document holds, which markers no
run refreshed (their figures are older than this run), and every benchmark that failed or
skipped. Exit status: 0 when every benchmark ran, 1 otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _blocks

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Names of the benchmark scripts in benchmarks/, sorted."""
    return sorted(p.stem for p in HERE.glob("*.py")
                  if not p.name.startswith("_") and p.name != "__init__.py")


def extra_runs(held_out: Path | None) -> list[tuple[str, list[str]]]:
    """Runs with other arguments than the defaults."""
    runs: list[tuple[str, list[str]]] = []
    if held_out is not None:
        runs.append(("ndpi_agreement", [str(held_out), "--data", "held-out"]))
    return runs


@dataclass
class Outcome:
    name: str
    argv: list[str]
    status: int
    seconds: float
    blocks: dict[str, str]
    why: str = ""  # the last line on stderr (the reason of a skip or a failure)


def run_one(name: str, args: list[str], quick: bool, timeout: float | None = None) -> Outcome:
    argv = [sys.executable, str(HERE / f"{name}.py"), *args, *(["--quick"] if quick else [])]
    print(f"\n=== {' '.join(['python3', f'benchmarks/{name}.py', *argv[2:]])}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=_blocks.ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\nrun_all: {name} ran past {timeout:.0f} s"
    sys.stdout.write(out)
    sys.stderr.write(err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    status = proc.returncode if proc.returncode is not None else 1
    return Outcome(name, argv, status, time.monotonic() - started,
                   _blocks.parse_blocks(out), lines[-1] if lines else "")


def write_docs(blocks: dict[str, str], docs: tuple[Path, ...], dry_run: bool) -> list[str]:
    """Replace the blocks in the documents; returns one line per document changed."""
    report: list[str] = []
    for path in docs:
        text = path.read_text(encoding="utf-8")
        new, names = _blocks.replace_blocks(text, blocks)
        if names:
            shown = path.relative_to(_blocks.ROOT) if path.is_relative_to(_blocks.ROOT) else path
            report.append(f"{shown}: {', '.join(sorted(set(names)))}"
                          + ("" if new != text else " (unchanged)"))
        if new != text and not dry_run:
            path.write_text(new, encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default all: "
                    f"{', '.join(discover())})")
    ap.add_argument("--quick", action="store_true", help="small inputs; the docs are not written")
    ap.add_argument("--dry-run", action="store_true", help="write nothing")
    ap.add_argument("--held-out", type=Path, metavar="DIR",
                    help="also score these nDPI captures as data probescan was not tuned on")
    a = ap.parse_args(argv)
    known = discover()
    unknown = [n for n in a.names if n not in known]
    if unknown:
        print(f"run_all: no benchmark named {', '.join(unknown)} (known: {', '.join(known)})",
              file=sys.stderr)
        return 2
    names = a.names or known
    runs = [(n, []) for n in names] + [r for r in extra_runs(a.held_out) if r[0] in names]
    outcomes = [run_one(name, args, a.quick) for name, args in runs]
    blocks: dict[str, str] = {}
    for o in outcomes:
        blocks.update(o.blocks)
    print("\n=== run_all")
    for o in outcomes:
        state = {0: "ok", _blocks.SKIP_STATUS: "SKIPPED"}.get(o.status, f"FAILED ({o.status})")
        print(f"{o.name}: {state} in {o.seconds:.0f} s, {len(o.blocks)} block(s)"
              + (f": {o.why}" if o.status else ""))
    where = _blocks.markers_in(_blocks.DOCS)
    if a.quick:
        print("quick mode: the documents are not written")
    else:
        for line in write_docs(blocks, _blocks.DOCS, a.dry_run):
            print(("would write " if a.dry_run else "wrote ") + line)
    homeless = sorted(set(blocks) - set(where))
    if homeless:
        print(f"printed but in no document: {', '.join(homeless)}")
    stale = sorted(set(where) - set(blocks)) if not a.names else []
    for name in stale:
        files = ", ".join(str(p.relative_to(_blocks.ROOT)) for p in where[name])
        print(f"NOT refreshed by this run (older figures): {name} in {files}")
    return 0 if all(o.status == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
