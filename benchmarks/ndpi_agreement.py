"""How often the passive labels of probescan and of Debian's ndpiReader agree with nDPI's own.

Runs the scorer the project was given (`../shared/tools/ndpi_agreement.py`) twice over one
folder of nDPI's regression captures (each NAME beside nDPI's expected NAME.out): once for
`probescan watch -r NAME --no-probe`, once with `--ndpi-reader` for Debian's ndpiReader, the
peer. nDPI's labels come from a newer nDPI than Debian's 4.2, so ndpiReader does not score
100% on nDPI's own captures. Prints both totals and, with --write, puts them (with the commit,
the machine and the command) into docs/benchmarks-watch.md between the markers
`<!-- ndpi-agreement:NAME -->` and `<!-- /ndpi-agreement:NAME -->`.

    python3 benchmarks/ndpi_agreement.py ../shared/pcaps/ndpi --name development --write
    python3 benchmarks/ndpi_agreement.py DIR --ignore-method table,port   # payload only
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCORER = ROOT.parent / "shared" / "tools" / "ndpi_agreement.py"
DOC = ROOT / "docs" / "benchmarks-watch.md"
TOTAL = re.compile(r"agreement: (\d+)/(\d+) flows \(([\d.]+)%\), masters covered: (\d+)/(\d+)")


def score(scorer: Path, folder: Path, extra: list[str], keep: Path | None) -> tuple[str, str]:
    """(the scorer's totals line, its whole output)."""
    argv = [sys.executable, str(scorer), str(folder), *extra]
    if keep is not None:
        argv += ["--keep", str(keep)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    lines = [ln for ln in done.stdout.splitlines() if TOTAL.search(ln)]
    if not lines:
        raise SystemExit(f"ndpi_agreement: no totals in the scorer's output:\n{done.stdout}")
    return lines[-1], done.stdout


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{platform.system()} {platform.machine()}, {cpus} CPUs, "
            f"Python {platform.python_version()}")


def commit() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                          capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def write(name: str, text: str) -> None:
    begin, end = f"<!-- ndpi-agreement:{name} -->", f"<!-- /ndpi-agreement:{name} -->"
    doc = DOC.read_text()
    block = f"{begin}\n{text}\n{end}"
    if begin in doc and end in doc:
        doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(doc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="captures beside nDPI's .out files")
    ap.add_argument("--scorer", type=Path, default=SCORER, help="ndpi_agreement.py to run")
    ap.add_argument("--name", default="development", help="which data this is (doc marker)")
    ap.add_argument("--ignore-method", default="", help="passed to the scorer")
    ap.add_argument("--keep", type=Path, help="keep probescan's outputs here")
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks-watch.md")
    ap.add_argument("--per-protocol", action="store_true", help="print the per-master lines")
    a = ap.parse_args()
    if not a.scorer.exists():
        raise SystemExit(f"ndpi_agreement: scorer not found: {a.scorer}")
    extra = ["--ignore-method", a.ignore_method] if a.ignore_method else []
    started = time.monotonic()
    ours, ours_all = score(a.scorer, a.folder, extra, a.keep)
    peer, _ = score(a.scorer, a.folder, ["--ndpi-reader"], None)
    if a.per_protocol:
        print(ours_all)
    captures = sum(1 for p in a.folder.iterdir() if p.suffix != ".out")
    text = "\n".join([
        f"{a.name}: {captures} captures in `{a.folder.name}/`, scored flow by flow against "
        f"nDPI's DPI labels by `ndpi_agreement.py`{' ' + ' '.join(extra) if extra else ''}",
        "",
        "| tool | agreement |",
        "|---|---|",
        f"| probescan watch --no-probe | {ours} |",
        f"| ndpiReader 4.2 (Debian) | {peer} |",
        "",
        f"`python3 benchmarks/ndpi_agreement.py {a.folder} --name {a.name}"
        f"{' --ignore-method ' + a.ignore_method if a.ignore_method else ''} --write` at "
        f"commit {commit()}, {machine()}, {time.monotonic() - started:.0f} s.",
    ])
    print(text)
    if a.write:
        write(a.name, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
