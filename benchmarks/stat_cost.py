"""What the behaviour features and the statistical layer cost `watch -r --no-probe`: the same
big captures read by this checkout and by an older commit (default: the one before the
statistical layer), best of N runs each, interleaved.

    python3 benchmarks/stat_cost.py                       # base = the commit before classify/
    python3 benchmarks/stat_cost.py --base main --runs 5 --packets 300000

Captures (built once in --work): nDPI's Ethernet captures merged (benchmarks/watch_vs_ndpi.py)
and repeated with shifted clients (tests/lab/traffic_large.py) — a real mix, two thirds of it
one-packet scan flows; nDPI's ftp.pcap repeated — few flows, bulk transfers, where the
per-packet cost shows. Reported: packets per second by wall time and by CPU time (user +
system of the watcher and its worker: steadier on a shared machine), and the loss in percent.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.watch_vs_ndpi import merge_ethernet_pcaps  # noqa: E402
from tests.lab.traffic_large import make_large_capture  # noqa: E402

NDPI = ROOT.parent / "shared" / "pcaps" / "ndpi"
FIRST_CLASSIFY_FILE = "probescan/classify/features.py"


def base_commit() -> str:
    """The parent of the commit that added the statistical layer's features."""
    out = subprocess.run(["git", "-C", str(ROOT), "log", "--format=%H", "--diff-filter=A",
                          "--", FIRST_CLASSIFY_FILE], capture_output=True, text=True, check=True)
    first = out.stdout.split()[-1] if out.stdout.split() else "HEAD"
    # the packet sizes came one commit earlier (watch/flows.py's MAX_SIZES)
    out = subprocess.run(["git", "-C", str(ROOT), "log", "--format=%H", "-S", "MAX_SIZES",
                          "--", "probescan/watch/flows.py"], capture_output=True, text=True)
    sizes = out.stdout.split()[-1] if out.stdout.split() else first
    return f"{sizes}~1"


def export(ref: str, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dst)], input=archive, check=True)
    return dst


def run(tree: Path, capture: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the watcher and its children, its peak RSS in KiB)."""
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "probescan", "watch", "-r", str(capture),
                             "--no-probe", "-q"], cwd=tree, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stat_cost: watch failed in {tree}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def frames(capture: Path) -> int:
    from scapy.utils import RawPcapReader

    with RawPcapReader(str(capture)) as r:
        return sum(1 for _ in r)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--base", help="git ref to compare with (default: before the features)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--packets", type=int, default=300_000, help="per capture, at least")
    ap.add_argument("--ndpi", type=Path, default=NDPI)
    ap.add_argument("--work", type=Path, help="keep the captures and the old tree here")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="stat-cost-"))
    work.mkdir(parents=True, exist_ok=True)
    base = a.base or base_commit()
    old = export(base, work / "base")
    caps = []
    mix = work / "mix.pcap"
    if not mix.exists():
        merge_ethernet_pcaps(sorted(a.ndpi.glob("*.pcap")), mix)
    for name, src in (("nDPI mix", mix), ("ftp bulk", a.ndpi / "ftp.pcap")):
        big = work / f"big-{src.stem}.pcap"
        if not big.exists():
            make_large_capture(src, big, max(1, -(-a.packets // frames(src))))
        caps.append((name, big, frames(big)))
    print(f"# watch -r --no-probe: {base} (base) vs this checkout; best of {a.runs}, "
          f"{os.cpu_count()} CPUs\n")
    print("| capture | packets | base pkt/s (wall) | now pkt/s (wall) | loss | "
          "base pkt/s (CPU) | now pkt/s (CPU) | loss | peak RSS base / now (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, big, n in caps:
        best = {"base": [1e9, 1e9, 0.0], "now": [1e9, 1e9, 0.0]}
        for _ in range(a.runs):
            for key, tree in (("base", old), ("now", ROOT)):
                wall, cpu, rss = run(tree, big)
                best[key] = [min(best[key][0], wall), min(best[key][1], cpu),
                             max(best[key][2], rss / 1024)]
        (bw, bc, br), (nw, nc, nr) = best["base"], best["now"]
        print(f"| {name} | {n:,} | {n / bw:,.0f} | {n / nw:,.0f} | {100 * (1 - bw / nw):.1f}% "
              f"| {n / bc:,.0f} | {n / nc:,.0f} | {100 * (1 - bc / nc):.1f}% "
              f"| {br:.0f} / {nr:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
